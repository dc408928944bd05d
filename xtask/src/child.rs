//! A child process run to completion within a time bound, with its output
//! captured and its own resource usage (CPU time and peak resident memory)
//! taken from the kernel when it is reaped, so that two runs measured one
//! after another never mix their figures.

use std::io::Read as _;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use wait4::Wait4 as _;

use crate::broker;

/// What one child used over its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_s: f64,
    /// Peak resident set size, in bytes.
    pub max_rss_bytes: u64,
}

/// A child that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status and what it wrote.
    pub output: Output,
    /// What it used.
    pub usage: Usage,
}

/// Runs `command` to completion with its output captured, killing it when
/// it takes longer than `timeout` (then an error holding what it wrote).
pub fn run_bounded(command: &mut Command, timeout: Duration) -> anyhow::Result<Finished> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().context("child stdout")?;
    let mut stderr = child.stderr.take().context("child stderr")?;
    // Both pipes are drained while the child runs, so a chatty child never
    // blocks on a full pipe.
    let stdout_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let (exited, exit) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait4());
    });
    let (reaped, timed_out) = if let Ok(reaped) = exit.recv_timeout(timeout) {
        (reaped?, false)
    } else {
        broker::process::signal("-KILL", &[pid]);
        (exit.recv().context("waiting for a killed child")??, true)
    };
    let output = Output {
        status: reaped.status,
        stdout: stdout_reader.join().unwrap_or_default(),
        stderr: stderr_reader.join().unwrap_or_default(),
    };
    if timed_out {
        bail!(
            "{program} did not finish within {}s and was killed:\n{}{}",
            timeout.as_secs(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Finished {
        output,
        usage: Usage {
            cpu_s: (reaped.rusage.utime + reaped.rusage.stime).as_secs_f64(),
            max_rss_bytes: reaped.rusage.maxrss,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_s_own_cpu_and_memory_are_measured() {
        // About 64 MiB touched and a little CPU burnt, by this child alone.
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "head -c 67108864 /dev/zero | tr '\\0' x | wc -c; echo done",
        ]);
        let finished = run_bounded(&mut command, Duration::from_secs(60)).unwrap();
        assert!(finished.output.status.success());
        assert!(String::from_utf8_lossy(&finished.output.stdout).contains("done"));
        // The shell's own usage includes its reaped pipeline.
        assert!(finished.usage.cpu_s > 0.0, "{:?}", finished.usage);
        assert!(finished.usage.max_rss_bytes > 0, "{:?}", finished.usage);
    }

    #[test]
    fn a_slow_child_is_killed() {
        let mut slow = Command::new("sleep");
        slow.arg("30");
        let started = std::time::Instant::now();
        assert!(run_bounded(&mut slow, Duration::from_millis(200)).is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
