//! Running one client for one workload: bounded in time, its output line
//! read, its CPU time and peak memory taken from the kernel when it is
//! reaped.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

pub use crate::child::Usage;

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
    /// The client process's peak resident memory in bytes (measured from
    /// outside, as the CPU).
    #[serde(default)]
    pub max_rss_bytes: u64,
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

    /// The measured process usage, set on the client's line.
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.cpu_s = usage.cpu_s;
        self.max_rss_bytes = usage.max_rss_bytes;
        self
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
/// standard output and what the process used.
pub fn run_bounded(mut command: Command, timeout: Duration) -> anyhow::Result<(String, Usage)> {
    let finished = crate::child::run_bounded(&mut command, timeout)?;
    let output = finished.output;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        bail!(
            "{command:?} failed ({}):\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok((
        String::from_utf8_lossy(&output.stdout).into_owned(),
        finished.usage,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_and_a_slow_one_is_killed() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo noise; echo '{\"client\":\"c 1\",\"records\":2,\"bytes\":20,\"elapsed_s\":0.5,\"latency_p50_ms\":null,\"latency_p99_ms\":null}'"]);
        let (out, usage) = run_bounded(command, Duration::from_secs(10)).unwrap();
        assert!(usage.cpu_s >= 0.0);
        let line = parse_result_line(&out).unwrap();
        assert_eq!((line.records, line.bytes), (2, 20));

        let mut slow = Command::new("sleep");
        slow.arg("30");
        let started = std::time::Instant::now();
        assert!(run_bounded(slow, Duration::from_millis(200)).is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
