//! `PYTHON-BENCHMARKS.md`: the Python clients' table per workload, with
//! ratios to ferrokafka's package and the goals checked against
//! the medians.

use std::fmt::Write as _;

use super::python::{PyClient, PyWorkload};
use super::report::{failure_summary, machine, over_runs, ratios};
use super::rounds::Runs;

/// The report's file, at the workspace root.
pub const FILE: &str = "PYTHON-BENCHMARKS.md";

/// Said in `BENCHMARKS.md` under its title.
pub const LINK: &str = "The Python clients (ferrokafka's Python package, kafka-python, confluent-kafka-python, \
aiokafka) on the seeds' loops: [PYTHON-BENCHMARKS.md](PYTHON-BENCHMARKS.md), written by `cargo xtask bench python`.";

/// One workload's results.
pub struct Section {
    /// The workload.
    pub workload: PyWorkload,
    /// Each client's runs, one a round.
    pub rows: Vec<(PyClient, Runs)>,
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
}

/// The goals: ferrokafka's median throughput at least `ratio`
/// times `peer`'s on `workload`.
const GOALS: [(PyWorkload, PyClient, f64); 4] = [
    (PyWorkload::SeedsLoop, PyClient::KafkaPython, 10.0),
    (PyWorkload::ProduceBytes, PyClient::ConfluentKafka, 1.2),
    (PyWorkload::ConsumeIter, PyClient::ConfluentKafka, 1.2),
    (PyWorkload::ConsumePoll, PyClient::ConfluentKafka, 1.2),
];

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Python clients\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench python` (do not edit by hand; run it again). Every client \
         ran in its own Python process, one after another, against the same single-node Apache \
         Kafka broker started for this run, {} times per workload; each row is the client's \
         median run by throughput. Ratios are relative to ferrokafka's package: a throughput \
         ratio below 1 means the peer is slower, a CPU ratio above 1 means it used more CPU for \
         the same records. The Rust clients are in [BENCHMARKS.md](BENCHMARKS.md).\n",
        report.rounds
    );
    let _ = writeln!(out, "## Machine\n");
    for (what, value) in machine() {
        let _ = writeln!(out, "- {what}: {value}");
    }
    let _ = writeln!(out, "\n## Method\n");
    let _ = writeln!(
        out,
        "- {} records per run; every producer run writes to a fresh topic of {} partitions \
         (replication factor 1), deleted after it; consumers read one topic of that size, \
         filled before the first workload by an unmeasured ferrokafka run (which also warms the \
         broker's JVM up), each in a fresh consumer group from the earliest offset.\n\
         - The clients, from PyPI at the versions pinned in `bench/peers/python-requirements.txt`, \
         in one venv under `target/`; ferrokafka's package with its extension module built in \
         release mode. One program runs them all, `bench/peers/python_clients_bench.py --client …`, \
         with each client's own API: kafka-python's for ferrokafka and kafka-python (the same \
         program text), `Producer`/`Consumer` for confluent-kafka, asyncio for aiokafka.\n\
         - Producers: `send` per record, then `flush`, no per-record callback, `batch.size` 16384; \
         the clock runs from the first send until `flush` returns. Bytes values are 100 bytes of \
         pseudo-random uppercase letters (the generator of `cargo xtask bench`); the seeds' loop \
         sends the integers 0..N through `value_serializer=lambda m: json.dumps(m).encode()` \
         (confluent-kafka's `Producer` takes no serializer: the same lambda is called in the loop).\n\
         - Consumers: `for message in consumer` (confluent-kafka: `poll()` one record at a time), \
         or `poll(timeout_ms=1000, max_records=500)` (confluent-kafka: `consume(500)`, aiokafka: \
         `getmany`); the clock runs from the first poll (group join included) until the last \
         record; each record's value is touched.\n\
         - CPU is the user + system time of the client's whole process (interpreter start-up and \
         imports included), peak RSS its peak resident memory, both from the kernel's account of \
         the reaped child.\n\
         - Rounds: every client runs every workload {} times; the order of the clients rotates by \
         one place each round.\n",
        report.records, report.partitions, report.rounds,
    );
    let _ = writeln!(out, "## Results\n");
    for section in &report.sections {
        let _ = writeln!(out, "### {}\n", section.workload.name());
        let _ = writeln!(
            out,
            "| client | records/s | MB/s | CPU s per 1M records | peak RSS MiB | throughput vs ferrokafka | CPU vs ferrokafka | records/s over the runs |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let ours = median_of(section, PyClient::Ferrokafka);
        for (client, runs) in &section.rows {
            let Some(m) = runs.median(false) else {
                let first = failure_summary(runs.first_failure().unwrap_or("not run"));
                let _ = writeln!(
                    out,
                    "| {} | failed in every run: {first} | | | | | | |",
                    client.flag()
                );
                continue;
            };
            let (throughput, cpu) = ratios(m, ours);
            let over_runs = over_runs(runs, false);
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.1} | {:.2} | {} | {throughput} | {cpu} | {over_runs} |",
                m.client,
                m.records_per_s(),
                m.mb_per_s(),
                m.cpu_s_per_million(),
                m.max_rss_bytes / (1024 * 1024),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Against the goals of issue #18\n");
    for line in goals(report) {
        let _ = writeln!(out, "- {line}");
    }
    out
}

fn median_of(section: &Section, client: PyClient) -> Option<&super::Measurement> {
    section
        .rows
        .iter()
        .find(|(c, _)| *c == client)
        .and_then(|(_, runs)| runs.median(false))
}

/// One line per goal: the medians' ratio and whether it is met.
fn goals(report: &Report) -> Vec<String> {
    GOALS
        .iter()
        .filter_map(|(workload, peer, wanted)| {
            let section = report.sections.iter().find(|s| s.workload == *workload)?;
            let text = match (
                median_of(section, PyClient::Ferrokafka),
                median_of(section, *peer),
            ) {
                (Some(ours), Some(theirs)) => {
                    let ratio = ours.records_per_s() / theirs.records_per_s();
                    format!(
                        "{}: ferrokafka {ratio:.2}× {} (goal {wanted}×): {}",
                        workload.name(),
                        peer.flag(),
                        if ratio >= *wanted { "met" } else { "not met" }
                    )
                }
                _ => format!(
                    "{}: not measured (a client failed every run)",
                    workload.name()
                ),
            };
            Some(text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Measurement;

    fn run(client: &str, records_per_s: f64) -> Measurement {
        Measurement {
            client: client.into(),
            records: 1000,
            bytes: 100_000,
            elapsed_s: 1000.0 / records_per_s,
            latency_p50_ms: None,
            latency_p99_ms: None,
            cpu_s: 0.5,
            max_rss_bytes: 64 << 20,
        }
    }

    #[test]
    fn tables_ratios_failures_and_goals_are_rendered() {
        let section = Section {
            workload: PyWorkload::SeedsLoop,
            rows: vec![
                (
                    PyClient::Ferrokafka,
                    Runs {
                        outcomes: vec![Ok(run("ferrokafka 0.1.0", 200_000.0))],
                    },
                ),
                (
                    PyClient::KafkaPython,
                    Runs {
                        outcomes: vec![Ok(run("kafka-python 3.0.12", 25_000.0))],
                    },
                ),
                (
                    PyClient::Aiokafka,
                    Runs {
                        outcomes: vec![Err("python failed\nModuleNotFoundError: aiokafka".into())],
                    },
                ),
            ],
        };
        let text = render(&Report {
            records: 1000,
            partitions: 6,
            rounds: 1,
            sections: vec![section],
        });
        assert!(
            text.contains("| ferrokafka 0.1.0 | 200000 | 20.0 | 500.00 | 64 | 1.00× | 1.00× |"),
            "{text}"
        );
        assert!(
            text.contains("| kafka-python 3.0.12 | 25000 | 2.5 | 500.00 | 64 | 0.12× |"),
            "{text}"
        );
        assert!(
            text.contains("| aiokafka | failed in every run: ModuleNotFoundError: aiokafka |"),
            "{text}"
        );
        assert!(
            text.contains("ferrokafka 8.00× kafka-python (goal 10×): not met"),
            "{text}"
        );
        // Only the goals of workloads that ran are listed.
        assert_eq!(text.matches("(goal ").count(), 1, "{text}");
    }
}
