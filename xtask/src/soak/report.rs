//! The soak's samples, the rules they are judged by, and the table: printed
//! at the end of every run and written into `RELIABILITY.md` as a marked
//! section that `cargo xtask chaos` keeps when it rewrites the rest.

use std::fmt::Write as _;

use super::probe::Held;
use crate::marked::Marked;

/// The soak's section of `RELIABILITY.md`.
pub const SECTION: Marked = Marked {
    begin: "<!-- soak: written by `cargo xtask soak` -->",
    end: "<!-- end of soak -->",
};

/// Resident memory the client may gain after the warm-up. A leak of 10 B a
/// record at the default 1000 records/s adds about 17 MiB over the default
/// 30 minutes, so it fails; what a healthy process still does after the
/// warm-up (allocator arenas settling, buffers grown once to the largest
/// batch) stays within a few MiB. A relative bound would let a large
/// process hide a large leak; the client's size does not depend on the
/// run's length, so an absolute one fits.
pub const RSS_GROWTH_BYTES: u64 = 16 << 20;

/// One count a sample holds.
type Count = fn(&Sample) -> u64;

/// One sample of the client process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Seconds since the load started.
    pub at_s: f64,
    /// What the process held.
    pub held: Held,
    /// Tokio tasks alive in the clients' runtime.
    pub tasks: u64,
    /// Records acknowledged so far.
    pub produced: u64,
    /// Records consumed so far.
    pub consumed: u64,
}

/// How the run ended, beyond the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Records acknowledged.
    pub produced: u64,
    /// Records consumed (distinct, in offset order).
    pub consumed: u64,
    /// Sends or deliveries that failed.
    pub failed: u64,
    /// Records handed to the consumer again.
    pub duplicated: u64,
    /// Offsets the consumer never saw below one it did.
    pub skipped: u64,
    /// Errors `poll` returned.
    pub poll_errors: u64,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Soak {
    /// Seconds of load.
    pub seconds: u64,
    /// Seconds between samples.
    pub sample_seconds: u64,
    /// Records a second sent.
    pub rate: u64,
    /// Samples that are the warm-up, first in `samples`.
    pub warmup: usize,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Counts at the end, after the consumer drained.
    pub totals: Totals,
}

impl Soak {
    /// Every rule broken, in words; empty when the run holds.
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.samples.len() <= self.warmup {
            broken.push(format!(
                "only {} samples, none after the {}-sample warm-up: run longer or sample more often",
                self.samples.len(),
                self.warmup
            ));
            return broken;
        }
        let (warm, after) = self.samples.split_at(self.warmup.max(1));
        let baseline = warm.last().map_or(0, |s| s.held.rss_bytes);
        let peak = after.iter().map(|s| s.held.rss_bytes).max().unwrap_or(0);
        if peak > baseline + RSS_GROWTH_BYTES {
            broken.push(format!(
                "RSS grew {:.1} MiB after the warm-up (from {:.1} to {:.1} MiB; at most {} MiB)",
                mib(peak - baseline),
                mib(baseline),
                mib(peak),
                RSS_GROWTH_BYTES >> 20
            ));
        }
        let held: [(&str, Count); 3] = [
            ("threads", |s| s.held.threads),
            ("open file descriptors", |s| s.held.fds),
            ("TCP connections", |s| s.held.tcp),
        ];
        for (what, of) in held {
            let ceiling = warm.iter().map(of).max().unwrap_or(0);
            if let Some(over) = after.iter().find(|s| of(s) > ceiling) {
                broken.push(format!(
                    "{what}: {} at {:.0} s, above the warm-up's most, {ceiling}",
                    of(over),
                    over.at_s
                ));
            }
        }
        // Tasks come and go (a metadata refresh, a commit, a delivery
        // being settled), so one sample may catch a few in flight; leaked
        // ones raise the floor. The fewest over the later half of the run
        // may not exceed the warm-up's most.
        let ceiling = warm.iter().map(|s| s.tasks).max().unwrap_or(0);
        let later = &after[after.len() / 2..];
        let floor = later.iter().map(|s| s.tasks).min().unwrap_or(0);
        if floor > ceiling {
            broken.push(format!(
                "tokio tasks: at least {floor} over the last {} samples, above the warm-up's most, {ceiling}",
                later.len()
            ));
        }
        let t = &self.totals;
        if t.produced == 0 {
            broken.push("no record was acknowledged".to_string());
        }
        if t.consumed != t.produced {
            broken.push(format!(
                "{} records acknowledged, {} consumed",
                t.produced, t.consumed
            ));
        }
        if t.skipped > 0 {
            broken.push(format!("the consumer skipped {} offsets", t.skipped));
        }
        if t.failed > 0 {
            broken.push(format!("{} sends failed", t.failed));
        }
        broken
    }
}

/// Bytes in MiB, for display.
#[allow(clippy::cast_precision_loss)] // Exact up to 2^52 bytes.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// The samples as a Markdown table.
pub fn table(soak: &Soak) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| at | RSS (MiB) | threads | fds | TCP | tokio tasks | produced | consumed |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, s) in soak.samples.iter().enumerate() {
        let warm = if i < soak.warmup { " (warm-up)" } else { "" };
        let _ = writeln!(
            out,
            "| {:.0} s{warm} | {:.1} | {} | {} | {} | {} | {} | {} |",
            s.at_s,
            mib(s.held.rss_bytes),
            s.held.threads,
            s.held.fds,
            s.held.tcp,
            s.tasks,
            s.produced,
            s.consumed
        );
    }
    out
}

/// The verdict lines under the table.
pub fn verdict(soak: &Soak) -> String {
    let t = &soak.totals;
    let mut out = format!(
        "At the end: {} records acknowledged, {} consumed, {} duplicated, {} skipped, {} sends \
         failed, {} poll errors.\n\n",
        t.produced, t.consumed, t.duplicated, t.skipped, t.failed, t.poll_errors
    );
    let broken = soak.violations();
    if broken.is_empty() {
        out.push_str("Verdict: holds (nothing grew after the warm-up; every record consumed).\n");
    } else {
        out.push_str("Verdict: **VIOLATED**\n\n");
        for b in broken {
            let _ = writeln!(out, "- {b}");
        }
    }
    out
}

/// The `RELIABILITY.md` section, markers included.
pub fn render(soak: &Soak, versions: &[(&str, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", SECTION.begin);
    let _ = writeln!(out, "## Soak\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask soak --seconds {} --sample-seconds {}` (kept when `cargo xtask \
         chaos` rewrites the rest of this file). One Apache Kafka node started by the harness; \
         in one process, an idempotent ferrokafka producer sends {} records of 100 B a second \
         round-robin to a 6-partition topic while a ferrokafka group consumer reads it. Every {} s \
         the process's resident memory, threads, open file descriptors, TCP sockets (from \
         `/proc`) and the tokio runtime's live tasks are sampled. The first {} samples are the \
         warm-up; after it, RSS may grow at most {} MiB over the last warm-up sample, and \
         threads, descriptors and connections may not exceed the warm-up's most, nor may the \
         fewest tasks over the run's later half (tasks come and go; leaked ones raise the \
         floor). Once \
         the producer stops, the consumer must read every acknowledged record, each once, in \
         offset order.\n",
        soak.seconds,
        soak.sample_seconds,
        soak.rate,
        soak.sample_seconds,
        soak.warmup,
        RSS_GROWTH_BYTES >> 20
    );
    out.push_str(&table(soak));
    let _ = writeln!(out);
    out.push_str(&verdict(soak));
    let _ = writeln!(out);
    for (what, version) in versions {
        let _ = writeln!(out, "- {what}: {version}");
    }
    let _ = writeln!(out, "{}", SECTION.end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: f64, rss_mib: u64, threads: u64, tasks: u64) -> Sample {
        Sample {
            at_s,
            held: Held {
                rss_bytes: rss_mib << 20,
                threads,
                fds: 20,
                tcp: 4,
            },
            tasks,
            produced: 0,
            consumed: 0,
        }
    }

    fn soak(samples: Vec<Sample>) -> Soak {
        Soak {
            seconds: 120,
            sample_seconds: 15,
            rate: 1000,
            warmup: 2,
            samples,
            totals: Totals {
                produced: 10,
                consumed: 10,
                ..Totals::default()
            },
        }
    }

    #[test]
    fn a_flat_run_holds() {
        let run = soak(vec![
            sample(15.0, 40, 8, 30),
            sample(30.0, 42, 9, 31),
            sample(45.0, 50, 9, 31),
            sample(60.0, 57, 8, 29),
        ]);
        assert!(run.violations().is_empty(), "{:?}", run.violations());
        assert!(verdict(&run).contains("holds"));
    }

    #[test]
    fn growth_after_the_warm_up_is_a_violation() {
        let run = soak(vec![
            sample(15.0, 40, 8, 30),
            sample(30.0, 42, 8, 30),
            sample(45.0, 59, 10, 31),
        ]);
        let broken = run.violations().join("\n");
        assert!(broken.contains("RSS grew 17.0 MiB"), "{broken}");
        assert!(broken.contains("threads: 10 at 45 s"), "{broken}");
        assert!(broken.contains("tokio tasks: at least 31"), "{broken}");
        assert!(!broken.contains("descriptors"), "{broken}");
        assert!(verdict(&run).contains("VIOLATED"));
    }

    #[test]
    fn tasks_in_flight_now_and_then_are_not_a_leak() {
        let run = soak(vec![
            sample(15.0, 40, 8, 30),
            sample(30.0, 40, 8, 30),
            sample(45.0, 40, 8, 33),
            sample(60.0, 40, 8, 30),
            sample(75.0, 40, 8, 32),
            sample(90.0, 40, 8, 30),
        ]);
        assert!(run.violations().is_empty(), "{:?}", run.violations());
        let mut leaking = run.clone();
        for (i, s) in leaking.samples.iter_mut().enumerate().skip(2) {
            s.tasks = 30 + i as u64;
        }
        assert!(leaking.violations()[0].contains("tokio tasks: at least 34"));
    }

    #[test]
    fn a_lost_record_or_a_short_run_is_a_violation() {
        let mut run = soak(vec![sample(15.0, 40, 8, 30), sample(30.0, 40, 8, 30)]);
        assert!(run.violations()[0].contains("none after the 2-sample warm-up"));
        run.samples.push(sample(45.0, 40, 8, 30));
        run.totals.consumed = 9;
        assert_eq!(run.violations(), ["10 records acknowledged, 9 consumed"]);
    }

    #[test]
    fn the_section_has_its_markers_and_table() {
        let text = render(
            &soak(vec![sample(15.0, 40, 8, 30)]),
            &[("ferrokafka", "0.1.0".into())],
        );
        assert!(text.starts_with(SECTION.begin) && text.trim_end().ends_with(SECTION.end));
        assert!(
            text.contains("| 15 s (warm-up) | 40.0 | 8 | 20 | 4 | 30 | 0 | 0 |"),
            "{text}"
        );
    }
}
