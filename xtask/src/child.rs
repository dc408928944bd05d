//! A child process run to completion within a time bound, with its output
//! captured and its own resource usage (CPU time and peak resident memory)
//! taken from the kernel when it is reaped, so that two runs measured one
//! after another never mix their figures.
//!
//! Linux counts in a process's peak resident memory the memory of the
//! process it was forked from (`ru_maxrss` takes the old address space's
//! high-water mark at `exec`): a client started straight from this
//! process, which holds a benchmark's results, would show this process's
//! size as its floor. So the client is started from a small process of its
//! own (`xtask measure-child`), which reaps it and hands its usage back.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::PathBuf;
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

impl Usage {
    /// What the kernel reported for a reaped child.
    fn of(rusage: &wait4::ResourceUsage) -> Usage {
        Usage {
            cpu_s: (rusage.utime + rusage.stime).as_secs_f64(),
            max_rss_bytes: rusage.maxrss,
        }
    }
}

/// A child that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status and what it wrote.
    pub output: Output,
    /// What it used.
    pub usage: Usage,
}

/// `xtask measure-child`'s arguments.
#[derive(clap::Args, Debug)]
pub struct MeasureArgs {
    /// Where to write the command's usage (`cpu_s max_rss_bytes`).
    #[arg(long)]
    pub usage_file: PathBuf,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

/// `xtask measure-child`: runs the command with this process's standard
/// streams, writes its usage, and exits as it did.
pub fn measure(args: &MeasureArgs) -> anyhow::Result<()> {
    let (program, rest) = args.command.split_first().context("no command")?;
    let mut child = Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let reaped = child.wait4()?;
    let usage = Usage::of(&reaped.rusage);
    std::fs::write(
        &args.usage_file,
        format!("{} {}", usage.cpu_s, usage.max_rss_bytes),
    )
    .with_context(|| format!("writing {}", args.usage_file.display()))?;
    let code = reaped.status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&reaped.status).unwrap_or(0)
    });
    std::process::exit(code);
}

/// `command` started from `xtask measure-child`, when this is the xtask
/// binary (a test binary starts it straight), and where the usage will be.
fn through_measurer(command: &Command) -> Option<(Command, PathBuf)> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let this = crate::chaos::processes::this_binary().ok()?;
    let name = std::fs::canonicalize(&this).ok()?;
    if name.file_stem()? != "xtask" {
        return None;
    }
    let usage_file = std::env::temp_dir().join(format!(
        "xtask-usage-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut wrapped = Command::new(this);
    wrapped
        .arg("measure-child")
        .arg("--usage-file")
        .arg(&usage_file)
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    // Its own process group: a timeout kills the client with it.
    std::os::unix::process::CommandExt::process_group(&mut wrapped, 0);
    Some((wrapped, usage_file))
}

/// Runs `command` to completion with its output captured, killing it when
/// it takes longer than `timeout` (then an error holding what it wrote).
pub fn run_bounded(command: &mut Command, timeout: Duration) -> anyhow::Result<Finished> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut measured = through_measurer(command);
    let command = match &mut measured {
        Some((wrapped, _)) => wrapped,
        None => command,
    };
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
        if measured.is_some() {
            // The measurer's process group: it and the client.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        } else {
            broker::process::signal("-KILL", &[pid]);
        }
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
    let usage = match measured {
        Some((_, usage_file)) => {
            let text = std::fs::read_to_string(&usage_file)
                .with_context(|| format!("{program}'s usage ({})", usage_file.display()));
            let _ = std::fs::remove_file(&usage_file);
            let text = text?;
            let (cpu_s, max_rss_bytes) = text
                .split_once(' ')
                .and_then(|(cpu, rss)| Some((cpu.parse().ok()?, rss.parse().ok()?)))
                .with_context(|| format!("{program}'s usage: {text:?}"))?;
            Usage {
                cpu_s,
                max_rss_bytes,
            }
        }
        None => Usage::of(&reaped.rusage),
    };
    Ok(Finished { output, usage })
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
