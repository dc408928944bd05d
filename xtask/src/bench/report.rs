//! `BENCHMARKS.md`: the machine, the method, and one table per workload
//! with every client's numbers and their ratios to ferrokafka's.

use std::fmt::Write as _;
use std::process::Command;

use super::measure::Measurement;
use super::peers::PeerKind;
use super::rounds::Runs;

/// One workload's results.
pub struct Section {
    /// The workload's name.
    pub workload: String,
    /// Whether the clients were paced to one rate: then latency, not
    /// throughput, is what the workload compares.
    pub paced: bool,
    /// Each client's runs, one a round.
    pub rows: Vec<(PeerKind, Runs)>,
}

/// A whole run.
pub struct Report {
    /// Records per run.
    pub records: u64,
    /// Partitions per topic.
    pub partitions: i32,
    /// Runs of each client on each workload.
    pub rounds: u32,
    /// The workloads.
    pub sections: Vec<Section>,
    /// Clients that could not be built or fetched, and why.
    pub unavailable: Vec<(PeerKind, String)>,
}

/// Where the scaling curves are, said right under the title.
pub const SCALING_LINK: &str = "How each client's costs grow with partitions (on fresh and warm topics), record size, \
tasks sharing a producer and consumers in a group: [SCALING.md](SCALING.md), written by `cargo xtask bench scale`, \
with a plot per axis.";

/// How the async Rust clients run, for the Method of every report.
pub const RUNTIME_NOTE: &str = "The clients written for tokio (ferrokafka, krafka, \
     confluent-kafka, and librdkafka's record stream) run on a runtime of one worker thread, \
     as ferrokafka's blocking producer and consumer do: a client needs no second one to keep \
     up with one broker, and on a machine whose cores the broker shares, a second worker \
     costs CPU in wake-ups and hand-offs between the two.";

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench` (do not edit by hand; run it again). Every client ran \
         in its own process, one after another, against the same single-node Apache Kafka \
         broker started by the harness for this run, on the same workloads, {} times; each \
         row is the client's median run. Throughput and CPU ratios are relative to \
         ferrokafka: a throughput ratio below 1 means the peer is slower, a CPU ratio above 1 \
         means it used more CPU for the same records.\n",
        report.rounds
    );
    let _ = writeln!(out, "{SCALING_LINK}\n");
    let _ = writeln!(out, "{}\n", super::python_report::LINK);
    let _ = writeln!(out, "## Machine\n");
    for (what, value) in machine() {
        let _ = writeln!(out, "- {what}: {value}");
    }
    let _ = writeln!(out, "\n## Method\n");
    let _ = writeln!(
        out,
        "- {} records per run (the paced run: at most 100,000); every producer run writes to a fresh topic of {} partitions \
         (replication factor 1), deleted after the run; consumers read one topic of that size, pre-filled, each in a \
         fresh consumer group from the earliest offset.\n\
         - Rounds: every client runs every workload {} times, the workloads one after another and, \
         within a workload, round by round; the order of the clients rotates by one place each \
         round, so none always runs first. Each row is the client's median run by throughput \
         (by p99 latency in the paced run), and the last column gives the range over its runs. \
         Before the first workload one unmeasured ferrokafka run of the same size warms the \
         fresh broker's JVM up (it is the run that fills the consumers' topic).\n\
         - Values are 100 bytes of pseudo-random uppercase letters (1,024 distinct values, the same \
         generator in every client; the Java tool draws its own random uppercase letters), no \
         keys; the seeds' workload sends the JSON text of the integers 0..N (the Java tool \
         draws lines of a file holding those integers at random).\n\
         - Producers: `batch.size` 16384, the given `acks`, `linger.ms` and compression, \
         idempotence on exactly when acks=all; the clock runs from the first send until every \
         record is acknowledged (client start-up and the first metadata request excluded). \
         Latency is per record, from the send call to its acknowledgement. In the unpaced \
         runs every client sends as fast as it can, so latency there is mostly time queued \
         in the client's buffer (`buffer.memory`, 32 MiB, filled when the broker is the \
         bottleneck, near-empty when the client itself is); the paced run sends 10,000 \
         records/s, which every client sustains, and is the latency comparison.\n\
         - Consumers: the clock runs from the first poll (group join included) until the last \
         record arrives; each record's value is touched. Every consumer checks each batch's \
         CRC-32C, as the Java client, kafka-python and ferrokafka do by default: librdkafka, \
         whose default skips the check, runs with `check.crcs=true`.\n\
         - CPU is the user + system time of the client's whole process, start-up included, \
         from the kernel's account of the reaped child.\n\
         - {RUNTIME_NOTE}\n\
         - The peers: librdkafka through the rdkafka crate (its bundled build), Kafka's own \
         `ProducerPerformance` / `ConsumerPerformance` (org.apache.kafka:kafka-tools {}, the \
         newest on Maven Central), krafka and confluent-kafka (Rust) from crates.io, \
         kafka-python with the seeds' loops. Their programs are in `bench/peers/`, outside \
         the library's dependency graph.\n",
        report.records,
        report.partitions,
        report.rounds,
        super::peers::JAVA_TOOLS_VERSION,
    );
    if !report.unavailable.is_empty() {
        let _ = writeln!(out, "Clients left out of this run:\n");
        for (kind, why) in &report.unavailable {
            let first = why.lines().next().unwrap_or_default();
            let _ = writeln!(out, "- {}: {first}", kind.label());
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Results\n");
    let mut behind = Vec::new();
    for section in &report.sections {
        let paced = section.paced;
        let _ = writeln!(out, "### {}\n", section.workload);
        let _ = writeln!(
            out,
            "| client | records/s | MB/s | p50 ms | p99 ms | CPU s per 1M records | throughput vs ferrokafka | CPU vs ferrokafka | {} over the runs |",
            if paced { "p99 ms" } else { "records/s" }
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let ours_runs = section
            .rows
            .iter()
            .find_map(|(kind, runs)| (*kind == PeerKind::Ferrokafka).then_some(runs));
        let ours = ours_runs.and_then(|runs| runs.median(paced));
        for (kind, runs) in &section.rows {
            let Some(m) = runs.median(paced) else {
                let first = failure_summary(runs.first_failure().unwrap_or("not run"));
                let _ = writeln!(
                    out,
                    "| {} | failed in every run: {first} | | | | | | | |",
                    kind.label()
                );
                continue;
            };
            let (throughput, cpu) = ratios(m, ours);
            if let Some(o) = ours
                && *kind != PeerKind::Ferrokafka
            {
                let spread = |runs: &Runs| {
                    runs.range(paced)
                        .map_or_else(String::new, |(lo, hi)| range_text(lo, hi, paced))
                };
                let ours_spread = ours_runs.map_or_else(String::new, spread);
                if !paced && m.records_per_s() > o.records_per_s() {
                    behind.push(format!(
                        "{}: {} is faster ({:.2}× in the medians; records/s over the runs: theirs {}, ferrokafka's {ours_spread})",
                        section.workload,
                        kind.label(),
                        m.records_per_s() / o.records_per_s(),
                        spread(runs),
                    ));
                }
                if let (true, Some(theirs), Some(mine)) =
                    (paced, m.latency_p99_ms, o.latency_p99_ms)
                    && theirs < mine
                {
                    behind.push(format!(
                        "{}: {} has the lower p99 latency (medians {theirs:.1} ms against {mine:.1} ms, at {:.0} against {:.0} records/s; p99 over the runs: theirs {}, ferrokafka's {ours_spread})",
                        section.workload,
                        kind.label(),
                        m.records_per_s(),
                        o.records_per_s(),
                        spread(runs),
                    ));
                }
            }
            let over_runs = over_runs(runs, paced);
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.1} | {} | {} | {:.2} | {throughput} | {cpu} | {over_runs} |",
                // Both ferrokafka builds call themselves by the same version.
                if *kind == PeerKind::Baseline {
                    format!("{} (baseline)", m.client)
                } else {
                    m.client.clone()
                },
                m.records_per_s(),
                m.mb_per_s(),
                optional(m.latency_p50_ms),
                optional(m.latency_p99_ms),
                m.cpu_s_per_million(),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Where ferrokafka does not lead\n");
    let _ = writeln!(
        out,
        "Throughput in the unpaced runs, p99 latency in the paced one (unpaced latency is \
         mostly queueing, see the method).\n"
    );
    if behind.is_empty() {
        let _ = writeln!(out, "Nowhere in this run.");
    } else {
        for line in behind {
            let _ = writeln!(out, "- {line}");
        }
    }
    out
}

/// The last line of a failure (the end of the client's standard error, where
/// it says what went wrong; the first line only names the command).
pub(super) fn failure_summary(error: &str) -> String {
    error
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .replace('|', "\\|")
}

/// `lo–hi` in the workload's measure: records/s in thousands, or ms.
pub(super) fn range_text(lo: f64, hi: f64, paced: bool) -> String {
    if paced {
        format!("{lo:.1}–{hi:.1} ms")
    } else {
        format!("{:.0}k–{:.0}k", lo / 1000.0, hi / 1000.0)
    }
}

/// The throughput and CPU ratios of `m` to `ours` (dashes without ours).
pub(super) fn ratios(m: &Measurement, ours: Option<&Measurement>) -> (String, String) {
    ours.map_or(("–".into(), "–".into()), |o| {
        (
            format!("{:.2}×", m.records_per_s() / o.records_per_s()),
            format!("{:.2}×", m.cpu_s_per_million() / o.cpu_s_per_million()),
        )
    })
}

/// The range of `runs` in the workload's measure, and how many failed.
pub(super) fn over_runs(runs: &Runs, paced: bool) -> String {
    let mut text = runs
        .range(paced)
        .map_or_else(String::new, |(lo, hi)| range_text(lo, hi, paced));
    if runs.failures() > 0 {
        let _ = write!(
            text,
            " ({} of {} failed: {})",
            runs.failures(),
            runs.outcomes.len(),
            failure_summary(runs.first_failure().unwrap_or_default())
        );
    }
    text
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

/// What the numbers were measured on (also used by the chaos report,
/// which replaces the broker line with its own).
pub fn machine() -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim())
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown".to_string(),
            |kb| format!("{} GiB", kb / 1024 / 1024),
        );
    let first_line = |program: &str, args: &[&str]| -> String {
        Command::new(program).args(args).output().ok().map_or_else(
            || "unknown".into(),
            |o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            },
        )
    };
    vec![
        (
            "CPU",
            format!("{model}, {cpus} logical CPUs (shared by the broker and the client)"),
        ),
        ("memory", memory),
        ("kernel", first_line("uname", &["-sr"])),
        ("Rust", first_line("rustc", &["--version"])),
        ("Java", first_line("java", &["-version"])),
        (
            "broker",
            format!(
                "Apache Kafka {} (KRaft, one combined node, the harness's settings)",
                crate::broker::jars::DEFAULT_KAFKA_VERSION
            ),
        ),
    ]
}
