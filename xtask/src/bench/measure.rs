//! Running one client for one workload: bounded in time, its output line
//! read, its CPU time taken from the kernel's account of reaped children.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// What one client reported for one run (the JSON line every client of
/// the benchmark prints last), plus the CPU it used.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Measurement {
    /// The client and its version, as it names itself.
    pub client: String,
    /// Records sent or received.
    pub records: u64,
    /// Value bytes sent or received.
    pub bytes: u64,
    /// Wall-clock seconds of the measured part.
    pub elapsed_s: f64,
    /// Median delivery latency (producers only).
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile delivery latency (producers only).
    pub latency_p99_ms: Option<f64>,
    /// User + system CPU seconds of the whole client process (not in the
    /// client's line: measured from outside).
    #[serde(default)]
    pub cpu_s: f64,
}

impl Measurement {
    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        as_f64(self.records) / self.elapsed_s
    }

    /// Value megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        as_f64(self.bytes) / 1e6 / self.elapsed_s
    }

    /// CPU seconds per million records.
    pub fn cpu_s_per_million(&self) -> f64 {
        self.cpu_s / as_f64(self.records) * 1e6
    }
}

#[allow(clippy::cast_precision_loss)]
fn as_f64(n: u64) -> f64 {
    n as f64
}

/// Runs `command` to completion (killed after `timeout`) and returns its
/// standard output and the CPU seconds it used.
pub fn run_bounded(mut command: Command, timeout: Duration) -> anyhow::Result<(String, f64)> {
    let before = children_cpu_seconds()?;
    let output = crate::golden::java::run_bounded(&mut command, timeout)?;
    let cpu = children_cpu_seconds()? - before;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        bail!(
            "{command:?} failed ({}):\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok((String::from_utf8_lossy(&output.stdout).into_owned(), cpu))
}

/// Parses the last JSON line of `stdout` (CPU left at 0).
pub fn parse_result_line(stdout: &str) -> anyhow::Result<Measurement> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("no JSON result line in the output:\n{stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("reading the result line {line:?}"))
}

/// User + system CPU seconds of this process's reaped children, from
/// `/proc/self/stat` (the `cutime` and `cstime` fields).
fn children_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    cpu_from_stat(&stat, clock_ticks_per_second())
}

fn cpu_from_stat(stat: &str, ticks_per_second: f64) -> anyhow::Result<f64> {
    // The command name (field 2) may hold spaces; fields after it are plain.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/self/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state); cutime is field 16, cstime 17.
    let field = |n: usize| -> anyhow::Result<f64> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("field {n} of /proc/self/stat"))
    };
    Ok((field(16)? + field(17)?) / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_cpu_is_read_after_the_command_name() {
        let stat = "4242 (x task) S 1 2 3 4 5 6 7 8 9 10 11 12 250 150 14 15 16 17";
        assert!((cpu_from_stat(stat, 100.0).unwrap() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_child_is_measured_and_a_slow_one_is_killed() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo noise; echo '{\"client\":\"c 1\",\"records\":2,\"bytes\":20,\"elapsed_s\":0.5,\"latency_p50_ms\":null,\"latency_p99_ms\":null}'"]);
        let (out, cpu) = run_bounded(command, Duration::from_secs(10)).unwrap();
        assert!(cpu >= 0.0);
        let line = parse_result_line(&out).unwrap();
        assert_eq!((line.records, line.bytes), (2, 20));

        let mut slow = Command::new("sleep");
        slow.arg("30");
        let started = std::time::Instant::now();
        assert!(run_bounded(slow, Duration::from_millis(200)).is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
