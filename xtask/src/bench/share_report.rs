//! The share-group section of `BENCHMARKS.md`: a table per share group
//! size with ferrokafka's and the Java client's medians and their ratios,
//! the goal of issue #19 checked against them, and how the section is
//! put into the file without touching the rest (and carried over when
//! `cargo xtask bench` rewrites the rest).

use std::fmt::Write as _;

use super::measure::Measurement;
use super::peers::{JAVA_TOOLS_VERSION, PeerKind};
use super::report::{failure_summary, over_runs, ratios};
use super::rounds::Runs;
use crate::marked::Marked;

/// The line that starts the section.
const BEGIN: &str = "<!-- share groups: written by `cargo xtask bench share` -->";
/// The line that ends it.
const END: &str = "<!-- end of share groups -->";
/// The section, between its markers.
const SECTION: Marked = Marked {
    begin: BEGIN,
    end: END,
};

/// The goal: ferrokafka's median throughput at least this many times the
/// Java client's, with less CPU per record.
const GOAL: f64 = 1.5;

/// One share group size's results.
pub struct Section {
    /// Members of the share group.
    pub members: u64,
    /// Each client's runs, one a round.
    pub rows: Vec<(PeerKind, Runs)>,
}

/// A whole run.
pub struct Report {
    /// Records per run.
    pub records: u64,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Runs of each client on each workload.
    pub rounds: u32,
    /// The workloads.
    pub sections: Vec<Section>,
    /// Clients left out, and why.
    pub unavailable: Vec<(PeerKind, String)>,
}

/// The section, from its begin marker to its end marker.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(out, "## Share groups (KIP-932)\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench share` on the machine above. One topic of {} partitions \
         (replication factor 1) filled with {} records of 100 B by an unmeasured ferrokafka run \
         (which warms the broker up); every run reads all of them in a fresh share group whose \
         `share.auto.offset.reset` is `earliest`, with one member or three in the client's one \
         process, accepting every record (implicit acknowledgement). The Java client is Kafka's \
         `ShareConsumerPerformance` (org.apache.kafka:kafka-tools {JAVA_TOOLS_VERSION}, \
         `--threads` members); ferrokafka is `ferrokafka bench share` (`--consumers` members), \
         both with 1 MiB `fetch.max.bytes` and no CRC check, as that tool sets them. The clock \
         runs from the subscription (group join included) until the group has read every record. \
         CPU and peak RSS are the whole client process's, from the kernel. Each client ran {} \
         times per group size, the order rotating each round; each row is its median run by \
         throughput.\n",
        report.partitions, report.records, report.rounds,
    );
    for (kind, why) in &report.unavailable {
        let first = why.lines().next().unwrap_or_default();
        let _ = writeln!(out, "- left out: {}: {first}", kind.label());
    }
    if !report.unavailable.is_empty() {
        let _ = writeln!(out);
    }
    for section in &report.sections {
        let _ = writeln!(
            out,
            "### Share group of {} member{}\n",
            section.members,
            if section.members == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "| client | records/s | MB/s | CPU s per 1M records | peak RSS MiB | throughput vs ferrokafka | CPU vs ferrokafka | records/s over the runs |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let ours = median_of(section, PeerKind::Ferrokafka);
        for (kind, runs) in &section.rows {
            let _ = writeln!(out, "{}", row(*kind, runs, ours));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "### Against the goal of issue #19\n");
    for section in &report.sections {
        let _ = writeln!(out, "- {}", goal_line(section));
    }
    let _ = writeln!(out, "{END}");
    out
}

fn row(kind: PeerKind, runs: &Runs, ours: Option<&Measurement>) -> String {
    let Some(m) = runs.median(false) else {
        let first = failure_summary(runs.first_failure().unwrap_or("not run"));
        return format!(
            "| {} | failed in every run: {first} | | | | | | |",
            kind.label()
        );
    };
    let (throughput, cpu) = ratios(m, ours);
    let over_runs = over_runs(runs, false);
    format!(
        "| {} | {:.0} | {:.1} | {:.2} | {} | {throughput} | {cpu} | {over_runs} |",
        m.client,
        m.records_per_s(),
        m.mb_per_s(),
        m.cpu_s_per_million(),
        m.max_rss_bytes >> 20,
    )
}

fn median_of(section: &Section, kind: PeerKind) -> Option<&Measurement> {
    section
        .rows
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, runs)| runs.median(false))
}

/// Whether ferrokafka's median is at least [`GOAL`] times the Java
/// client's throughput with less CPU per record.
fn goal_line(section: &Section) -> String {
    let what = format!("{} member(s)", section.members);
    match (
        median_of(section, PeerKind::Ferrokafka),
        median_of(section, PeerKind::Java),
    ) {
        (Some(ours), Some(java)) => {
            let speed = ours.records_per_s() / java.records_per_s();
            let cpu = ours.cpu_s_per_million() / java.cpu_s_per_million();
            let met = speed >= GOAL && cpu < 1.0;
            format!(
                "{what}: ferrokafka {speed:.2}× the Java client's records/s with {cpu:.2}× its CPU per record (goal ≥ {GOAL}× with less CPU): {}",
                if met { "met" } else { "not met" }
            )
        }
        _ => format!("{what}: not measured (a client failed every run or was left out)"),
    }
}

/// `document` with its share-group section replaced by `section` (added
/// at the end when it has none).
pub fn splice(document: &str, section: &str) -> String {
    SECTION.splice(document, section)
}

/// The share-group section of `document`, markers included, if any: what
/// a rewrite of the rest must keep.
pub fn existing(document: &str) -> Option<&str> {
    SECTION.existing(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(client: &str, records_per_s: f64, cpu_s: f64) -> Measurement {
        Measurement {
            client: client.into(),
            records: 1000,
            bytes: 100_000,
            elapsed_s: 1000.0 / records_per_s,
            latency_p50_ms: None,
            latency_p99_ms: None,
            cpu_s,
            max_rss_bytes: 32 << 20,
        }
    }

    fn report(java: Result<Measurement, String>) -> String {
        render(&Report {
            records: 1000,
            partitions: 6,
            rounds: 1,
            sections: vec![Section {
                members: 3,
                rows: vec![
                    (
                        PeerKind::Ferrokafka,
                        Runs {
                            outcomes: vec![Ok(run("ferrokafka 0.1.0", 300_000.0, 0.5))],
                        },
                    ),
                    (
                        PeerKind::Java,
                        Runs {
                            outcomes: vec![java],
                        },
                    ),
                ],
            }],
            unavailable: vec![(PeerKind::Rdkafka, "no share consumer".into())],
        })
    }

    #[test]
    fn rows_ratios_and_the_goal_are_rendered() {
        let text = report(Ok(run("Java client 4.3.1", 150_000.0, 1.0)));
        assert!(
            text.contains("| ferrokafka 0.1.0 | 300000 | 30.0 | 500.00 | 32 | 1.00× | 1.00× |"),
            "{text}"
        );
        assert!(
            text.contains("| Java client 4.3.1 | 150000 | 15.0 | 1000.00 | 32 | 0.50× | 2.00× |"),
            "{text}"
        );
        assert!(text.contains("ferrokafka 2.00× the Java client's records/s with 0.50× its CPU per record (goal ≥ 1.5× with less CPU): met"), "{text}");
        assert!(text.contains("left out: librdkafka (rdkafka crate): no share consumer"));

        let slow = report(Ok(run("Java client 4.3.1", 250_000.0, 1.0)));
        assert!(slow.contains("1.20× the Java client's records/s"), "{slow}");
        assert!(slow.contains(": not met"), "{slow}");

        let failed = report(Err("java failed\nWARNING: timeout".into()));
        assert!(
            failed.contains("| Java client | failed in every run:"),
            "{failed}"
        );
        assert!(failed.contains("3 member(s): not measured"), "{failed}");
    }

    #[test]
    fn the_section_replaces_its_old_self_and_nothing_else() {
        let first = report(Ok(run("Java client 4.3.1", 150_000.0, 1.0)));
        let document = "# Benchmarks\n\nthe rest\n";
        let once = splice(document, &first);
        assert!(once.starts_with("# Benchmarks\n\nthe rest\n\n<!-- share groups"));
        assert_eq!(existing(&once), Some(first.trim_end()));

        let second = report(Ok(run("Java client 4.3.1", 250_000.0, 1.0)));
        let tail = "\n\n## After\n";
        let twice = splice(&format!("{once}{tail}"), &second);
        assert_eq!(twice.matches(BEGIN).count(), 1, "{twice}");
        assert!(twice.contains("1.20×") && !twice.contains("2.00× the Java"));
        assert!(twice.starts_with("# Benchmarks\n\nthe rest\n") && twice.ends_with(tail));
        assert_eq!(splice("", &first), first);
    }
}
