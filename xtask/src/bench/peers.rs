//! The clients of the benchmark: how each is built or fetched, and how it
//! is run for a workload. Every client but the Java tools follows one
//! command-line contract (see `bench/peers/` and `ferrokafka bench`); the
//! Java client runs Kafka's own `ProducerPerformance` and
//! `ConsumerPerformance`, whose output is translated here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::measure::Measurement;
use crate::broker::{self, jars};

/// The newest `org.apache.kafka:kafka-tools` on Maven Central (4.4.0's was
/// not published there).
pub const JAVA_TOOLS_VERSION: &str = "4.3.1";

/// A client under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum PeerKind {
    /// This project, `ferrokafka bench` (release build).
    Ferrokafka,
    /// librdkafka through the rdkafka crate (bundled build).
    Rdkafka,
    /// The Java client, Kafka's own performance tools.
    Java,
    /// krafka, a pure-Rust client.
    Krafka,
    /// Confluent's pure-Rust client (the `confluent-kafka` crate).
    Confluent,
    /// kafka-python, the seeds' client.
    KafkaPython,
    /// Another build of ferrokafka's CLI given with `--baseline PATH` (say,
    /// from an older commit), for a before/after in one run.
    Baseline,
}

impl PeerKind {
    /// Every client, ferrokafka first.
    pub const ALL: [PeerKind; 6] = [
        PeerKind::Ferrokafka,
        PeerKind::Rdkafka,
        PeerKind::Java,
        PeerKind::Krafka,
        PeerKind::Confluent,
        PeerKind::KafkaPython,
    ];

    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            PeerKind::Ferrokafka => "ferrokafka",
            PeerKind::Rdkafka => "librdkafka (rdkafka crate)",
            PeerKind::Java => "Java client",
            PeerKind::Krafka => "krafka",
            PeerKind::Confluent => "confluent-kafka (Rust)",
            PeerKind::KafkaPython => "kafka-python",
            PeerKind::Baseline => "ferrokafka baseline",
        }
    }
}

/// A client ready to run: the program and the arguments before the
/// workload's.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Which client.
    pub kind: PeerKind,
    program: PathBuf,
    prefix: Vec<String>,
}

/// What a client is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Produce `records` records.
    Produce {
        /// Value size (ignored with `json_ints`).
        record_size: usize,
        /// `1` or `all`.
        acks: &'static str,
        /// `linger.ms`.
        linger_ms: u32,
        /// none, gzip, snappy, lz4, zstd.
        compression: &'static str,
        /// Record `i`'s value is the JSON text of `i`.
        json_ints: bool,
        /// Records per second, or 0 for as fast as the client goes.
        rate: u64,
        /// Tasks or threads sending through the one producer.
        tasks: u64,
        /// `max.request.size`, when the records need more than 1 MiB.
        max_request_size: Option<u64>,
    },
    /// Read `records` records in a fresh group.
    Consume {
        /// `batch` or `iter`.
        mode: &'static str,
        /// The group to read in.
        group: String,
        /// Members of the group, in the one client process.
        consumers: u64,
    },
    /// Read `records` records as members of a share group (KIP-932),
    /// accepting each.
    Share {
        /// The share group (its `share.auto.offset.reset` set beforehand).
        group: String,
        /// Members of the share group, in the one client process.
        consumers: u64,
    },
}

/// Clients left out of a run, with why.
pub type Unavailable = Vec<(PeerKind, String)>;

/// Prepares each of `kinds` once, in order: the clients ready to run, and
/// those left out with why (also said on standard error).
pub fn prepare_each(kinds: impl IntoIterator<Item = PeerKind>) -> (Vec<Peer>, Unavailable) {
    let mut ready: Vec<Peer> = Vec::new();
    let mut unavailable: Unavailable = Vec::new();
    for kind in kinds {
        if ready.iter().any(|p| p.kind == kind) || unavailable.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        match prepare(kind) {
            Ok(peer) => ready.push(peer),
            Err(error) => {
                eprintln!("{} is left out: {error:#}", kind.label());
                unavailable.push((kind, format!("{error:#}")));
            }
        }
    }
    (ready, unavailable)
}

/// [`prepare_each`], and the ferrokafka build given with `--baseline`, if
/// any, as one more client (which `kinds` may name too).
pub fn prepare_with_baseline(
    kinds: impl IntoIterator<Item = PeerKind>,
    baseline: Option<&std::path::Path>,
) -> anyhow::Result<(Vec<Peer>, Unavailable)> {
    let kinds = kinds
        .into_iter()
        .filter(|&kind| kind != PeerKind::Baseline || baseline.is_none());
    let (mut ready, unavailable) = prepare_each(kinds);
    if let Some(program) = baseline {
        ready.push(Peer::baseline(program.to_path_buf())?);
    }
    Ok((ready, unavailable))
}

/// The ferrokafka client among `ready`, or prepared now: it fills the
/// topics and warms the broker up whichever clients are compared.
pub fn ferrokafka_among(ready: &[Peer]) -> anyhow::Result<Peer> {
    match ready.iter().find(|p| p.kind == PeerKind::Ferrokafka) {
        Some(peer) => Ok(peer.clone()),
        None => prepare(PeerKind::Ferrokafka),
    }
}

/// Builds or fetches `kind` (ferrokafka and the Rust peers in release mode,
/// Kafka's tools from Maven Central, kafka-python into the project's venv).
pub fn prepare(kind: PeerKind) -> anyhow::Result<Peer> {
    let root = crate::workspace_root();
    let peer = |program: PathBuf, prefix: &[&str]| Peer {
        kind,
        program,
        prefix: prefix.iter().map(|s| (*s).to_string()).collect(),
    };
    match kind {
        PeerKind::Ferrokafka => {
            cargo_release(&root.join("Cargo.toml"), &["-p", "ferrokafka-cli"])?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), PathBuf::from);
            Ok(peer(target.join("release/ferrokafka"), &["bench"]))
        }
        PeerKind::Rdkafka | PeerKind::Krafka | PeerKind::Confluent => {
            let manifest = root.join("bench/peers/Cargo.toml");
            let bin = match kind {
                PeerKind::Rdkafka => "rdkafka",
                PeerKind::Krafka => "krafka",
                _ => "confluent",
            };
            cargo_release(&manifest, &["--bin", bin])?;
            Ok(peer(root.join("bench/peers/target/release").join(bin), &[]))
        }
        PeerKind::Java => {
            let libs = java_tools()?;
            let classpath = jars::classpath(&libs)?;
            Ok(peer(PathBuf::from("java"), &["-Xmx1g", "-cp", &classpath]))
        }
        PeerKind::Baseline => {
            anyhow::bail!("the baseline is another ferrokafka binary, given with --baseline PATH")
        }
        PeerKind::KafkaPython => {
            let python = crate::python::interop_python()?;
            let script = root.join("bench/peers/kafka_python_bench.py");
            Ok(Peer {
                kind,
                program: python,
                prefix: vec![script.display().to_string()],
            })
        }
    }
}

fn cargo_release(manifest: &Path, selection: &[&str]) -> anyhow::Result<()> {
    eprintln!(
        "building {} {} (release)",
        manifest.display(),
        selection.join(" ")
    );
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("build")
        .arg("--release")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(manifest)
        .args(selection)
        .output()
        .context("running cargo")?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(20).collect();
        bail!(
            "cargo build --release {} failed:\n{}",
            selection.join(" "),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Kafka's tools jar (ProducerPerformance, ConsumerPerformance) and what it
/// needs, resolved from Maven Central once.
fn java_tools() -> anyhow::Result<PathBuf> {
    crate::tools::require("java", "a Java runtime (17 or newer)")?;
    let version = JAVA_TOOLS_VERSION;
    let dependencies = format!(
        "<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{version}</version></dependency>\n    {}",
        jars::logging_backend(version)
    );
    jars::resolve_artifacts(
        &broker::harness_dir()
            .join("jars")
            .join(format!("tools-{version}")),
        &format!("org.apache.kafka:kafka-tools:{version}"),
        &dependencies,
        &format!("kafka-tools-{version}.jar"),
    )
}

impl Peer {
    /// `program`, a ferrokafka CLI built elsewhere, as the baseline peer.
    pub fn baseline(program: PathBuf) -> anyhow::Result<Peer> {
        anyhow::ensure!(
            program.is_file(),
            "--baseline {} is not a file (build it with cargo build --release -p ferrokafka-cli)",
            program.display()
        );
        Ok(Peer {
            kind: PeerKind::Baseline,
            program,
            prefix: vec!["bench".to_string()],
        })
    }

    /// Whether this client's benchmark program can run `task`: Kafka's
    /// performance tools have one sending thread and one consumer.
    pub fn supports(&self, task: &Task) -> bool {
        match task {
            Task::Produce { tasks, .. } => *tasks == 1 || self.kind != PeerKind::Java,
            Task::Consume { consumers, .. } => *consumers == 1 || self.kind != PeerKind::Java,
            // ShareConsumerPerformance has `--threads`; the Rust peers
            // have no share consumer.
            Task::Share { .. } => matches!(self.kind, PeerKind::Ferrokafka | PeerKind::Java),
        }
    }

    /// The command that runs `task` with `records` records on `topic`.
    /// `json_ints_file` holds one integer per line, for the Java producer.
    pub fn command(
        &self,
        bootstrap: &str,
        topic: &str,
        records: u64,
        task: &Task,
        json_ints_file: &Path,
    ) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.prefix);
        if self.kind == PeerKind::Java {
            java_arguments(
                &mut command,
                bootstrap,
                topic,
                records,
                task,
                json_ints_file,
            );
            return command;
        }
        let records = records.to_string();
        match task {
            Task::Produce {
                record_size,
                acks,
                linger_ms,
                compression,
                json_ints,
                rate,
                tasks,
                max_request_size,
            } => {
                command.args(["produce", "--bootstrap", bootstrap, "--topic", topic]);
                command.args([
                    "--records",
                    &records,
                    "--record-size",
                    &record_size.to_string(),
                ]);
                command.args(["--acks", acks, "--linger-ms", &linger_ms.to_string()]);
                command.args(["--compression", compression]);
                if *json_ints {
                    command.arg("--json-ints");
                }
                if *rate > 0 {
                    command.args(["--rate", &rate.to_string()]);
                }
                if *tasks > 1 {
                    command.args(["--tasks", &tasks.to_string()]);
                }
                if let Some(size) = max_request_size {
                    command.args(["--max-request-size", &size.to_string()]);
                }
            }
            Task::Consume {
                mode,
                group,
                consumers,
            } => {
                command.args(["consume", "--bootstrap", bootstrap, "--topic", topic]);
                command.args(["--records", &records, "--group", group, "--mode", mode]);
                if *consumers > 1 {
                    command.args(["--consumers", &consumers.to_string()]);
                }
            }
            Task::Share { group, consumers } => {
                command.args(["share", "--bootstrap", bootstrap, "--topic", topic]);
                command.args(["--records", &records, "--group", group]);
                command.args(["--consumers", &consumers.to_string()]);
            }
        }
        command
    }

    /// Reads a run's output into the common result line.
    pub fn result(&self, stdout: &str, records: u64, task: &Task) -> anyhow::Result<Measurement> {
        if self.kind != PeerKind::Java {
            return super::measure::parse_result_line(stdout);
        }
        match task {
            Task::Produce {
                record_size,
                json_ints,
                ..
            } => {
                let bytes = if *json_ints {
                    json_ints_bytes(records)
                } else {
                    records * *record_size as u64
                };
                parse_producer_performance(stdout, bytes)
            }
            Task::Consume { .. } => parse_consumer_performance(stdout),
            Task::Share { .. } => parse_share_consumer_performance(stdout),
        }
    }
}

fn java_arguments(
    command: &mut Command,
    bootstrap: &str,
    topic: &str,
    records: u64,
    task: &Task,
    json_ints_file: &Path,
) {
    match task {
        Task::Produce {
            record_size,
            acks,
            linger_ms,
            compression,
            json_ints,
            rate,
            max_request_size,
            ..
        } => {
            command.arg("org.apache.kafka.tools.ProducerPerformance");
            command.args(["--topic", topic, "--num-records", &records.to_string()]);
            let throughput = if *rate > 0 {
                rate.to_string()
            } else {
                "-1".into()
            };
            command.args(["--throughput", &throughput]);
            if *json_ints {
                command.arg("--payload-file").arg(json_ints_file);
            } else {
                command.args(["--record-size", &record_size.to_string()]);
            }
            command.arg("--producer-props");
            command.arg(format!("bootstrap.servers={bootstrap}"));
            command.arg(format!("acks={acks}"));
            command.arg(format!("linger.ms={linger_ms}"));
            command.arg(format!("compression.type={compression}"));
            command.arg("batch.size=16384");
            command.arg(format!("enable.idempotence={}", *acks == "all"));
            if let Some(size) = max_request_size {
                command.arg(format!("max.request.size={size}"));
            }
        }
        Task::Consume { group, .. } => {
            command.arg("org.apache.kafka.tools.ConsumerPerformance");
            command.args(["--bootstrap-server", bootstrap, "--topic", topic]);
            command.args(["--messages", &records.to_string(), "--group", group]);
            command.args(["--timeout", "60000"]);
        }
        Task::Share { group, consumers } => {
            command.arg("org.apache.kafka.tools.ShareConsumerPerformance");
            command.args(["--bootstrap-server", bootstrap, "--topic", topic]);
            command.args(["--num-records", &records.to_string(), "--group", group]);
            command.args(["--threads", &consumers.to_string(), "--timeout", "60000"]);
        }
    }
}

/// The value bytes of records `0..records` as JSON integers.
pub fn json_ints_bytes(records: u64) -> u64 {
    (0..records).map(|i| i.to_string().len() as u64).sum()
}

/// `ProducerPerformance`'s summary: "N records sent, R records/sec (M MB/sec),
/// A ms avg latency, X ms max latency, P ms 50th, Q ms 95th, S ms 99th, ...".
fn parse_producer_performance(stdout: &str, bytes: u64) -> anyhow::Result<Measurement> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent") && l.contains("50th"))
        .with_context(|| format!("no ProducerPerformance summary in:\n{stdout}"))?;
    let parts: Vec<&str> = line.split(", ").collect();
    let number_before = |suffix: &str| -> anyhow::Result<f64> {
        let part = parts
            .iter()
            .find(|p| p.contains(suffix))
            .with_context(|| format!("no {suffix:?} in {line:?}"))?;
        part.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no number before {suffix:?} in {line:?}"))
    };
    let records = number_before("records sent")?;
    let rate = number_before("records/sec")?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Measurement {
        client: format!("Java client {JAVA_TOOLS_VERSION}"),
        records: records as u64,
        bytes,
        elapsed_s: records / rate,
        latency_p50_ms: Some(number_before("50th")?),
        latency_p99_ms: Some(number_before("99th")?),
        cpu_s: 0.0,
        max_rss_bytes: 0,
    })
}

/// `ConsumerPerformance`'s header line and values line.
fn parse_consumer_performance(stdout: &str) -> anyhow::Result<Measurement> {
    let lines: Vec<&str> = stdout.lines().collect();
    let header_at = lines
        .iter()
        .position(|l| l.contains("nMsg.sec"))
        .with_context(|| format!("no ConsumerPerformance header in:\n{stdout}"))?;
    let header: Vec<&str> = lines[header_at].split(',').map(str::trim).collect();
    let values: Vec<&str> = lines
        .get(header_at + 1)
        .context("no ConsumerPerformance values line")?
        .split(',')
        .map(str::trim)
        .collect();
    let field = |name: &str| -> anyhow::Result<f64> {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in ConsumerPerformance output"))
    };
    let records = field("data.consumed.in.nMsg")?;
    let rate = field("nMsg.sec")?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Measurement {
        client: format!("Java client {JAVA_TOOLS_VERSION}"),
        records: records as u64,
        bytes: (field("data.consumed.in.MB")? * 1024.0 * 1024.0) as u64,
        elapsed_s: records / rate,
        latency_p50_ms: None,
        latency_p99_ms: None,
        cpu_s: 0.0,
        max_rss_bytes: 0,
    })
}

/// `ShareConsumerPerformance`'s header and the group's totals line (the
/// last line with as many fields; per-member lines, with
/// `--show-consumer-stats`, start with "Share consumer"). Fewer records
/// than asked (its `--timeout` passed) is a failed run.
fn parse_share_consumer_performance(stdout: &str) -> anyhow::Result<Measurement> {
    let lines: Vec<&str> = stdout.lines().collect();
    let header_at = lines
        .iter()
        .position(|l| l.contains("nMsg.sec"))
        .with_context(|| format!("no ShareConsumerPerformance header in:\n{stdout}"))?;
    let header: Vec<&str> = lines[header_at].split(',').map(str::trim).collect();
    if let Some(warning) = lines.iter().find(|l| l.starts_with("WARNING")) {
        bail!("ShareConsumerPerformance: {warning}");
    }
    let values: Vec<&str> = lines[header_at + 1..]
        .iter()
        .rev()
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>())
        .find(|fields| fields.len() == header.len() && !fields[0].starts_with("Share consumer"))
        .context("no ShareConsumerPerformance totals line")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in ShareConsumerPerformance output"))
    };
    let records = field("data.consumed.in.nMsg")?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Measurement {
        client: format!("Java client {JAVA_TOOLS_VERSION}"),
        records: records as u64,
        bytes: (field("data.consumed.in.MB")? * 1024.0 * 1024.0) as u64,
        elapsed_s: field("fetch.time.ms")? / 1000.0,
        latency_p50_ms: None,
        latency_p99_ms: None,
        cpu_s: 0.0,
        max_rss_bytes: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_consumer_performance_totals_are_read() {
        let out = "start.time, end.time, data.consumed.in.MB, MB.sec, nMsg.sec, data.consumed.in.nMsg, fetch.time.ms\n\
            Share consumer 1 consumption metrics- 2026-12-05 21:00:00:000, 2026-12-05 21:00:04:000, 47.6837, 11.9209, 125000.0000, 500000, 4000\n\
            2026-12-05 21:00:00:000, 2026-12-05 21:00:04:000, 95.3674, 23.8419, 250000.0000, 1000000, 4000\n";
        let line = parse_share_consumer_performance(out).unwrap();
        assert_eq!(line.records, 1_000_000);
        assert!((line.elapsed_s - 4.0).abs() < 1e-9);
        assert!(line.bytes.abs_diff(100_000_000) < 1_000, "{}", line.bytes);

        let short = format!(
            "{}\nWARNING: Exiting before consuming the expected number of records: timeout (60000 ms) exceeded.\n",
            out.lines().next().unwrap()
        );
        let error = parse_share_consumer_performance(&short).unwrap_err();
        assert!(format!("{error}").contains("timeout"), "{error}");
    }

    #[test]
    fn producer_performance_summary_is_read() {
        let out = "12 records sent, 3.0 records/sec\n1000000 records sent, 250000.0 records/sec (23.84 MB/sec), 12.50 ms avg latency, 300.00 ms max latency, 9 ms 50th, 40 ms 95th, 61 ms 99th, 90 ms 99.9th.\n";
        let line = parse_producer_performance(out, 100_000_000).unwrap();
        assert_eq!(line.records, 1_000_000);
        assert!((line.elapsed_s - 4.0).abs() < 1e-9);
        assert_eq!(line.latency_p50_ms, Some(9.0));
        assert_eq!(line.latency_p99_ms, Some(61.0));
    }

    #[test]
    fn consumer_performance_values_are_read_by_header() {
        let out = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n2026-11-23 08:00:00:000, 2026-11-23 08:00:02:000, 95.3674, 47.6837, 1000000, 500000.0, 300, 1700, 56.1, 588235.3\n";
        let line = parse_consumer_performance(out).unwrap();
        assert_eq!(line.records, 1_000_000);
        assert!((line.elapsed_s - 2.0).abs() < 1e-9);
        assert!(line.bytes.abs_diff(100_000_000) < 1_000, "{}", line.bytes);
    }

    #[test]
    fn json_integer_bytes_count_digits() {
        assert_eq!(json_ints_bytes(12), 10 + 2 * 2);
    }
}
