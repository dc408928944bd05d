//! `cargo xtask bench scale`: how each client's cost grows along one axis
//! of the work at a time (partitions on freshly created and on warm topics,
//! record size, tasks sharing one producer, consumers in one group, linger),
//! every client on the same broker in one run, with the rounds and medians
//! of the main benchmark. Written to `SCALING.md` with a plot per axis.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::BenchBroker;
use super::peers::{self, Peer, PeerKind, Task};
use super::plot::{self, Curve};
use super::rounds::{self, Runs};
use super::{Args, measure};
use crate::broker;

/// One axis of the work, varied alone from the standard workload (100 B
/// records, acks=1, linger 5 ms, uncompressed, one sending task, 6
/// partitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Axis {
    /// Partitions of the topic: 1 to 4,000, fresh and warm.
    Partitions,
    /// Value size: 10 B to 1 MiB.
    RecordSize,
    /// Tasks sending through one producer: 1 to 64.
    Tasks,
    /// Consumers in one group on a 64-partition topic: 1 to 16.
    Consumers,
    /// `linger.ms` 0 and 5.
    Linger,
}

impl Axis {
    /// Every axis, in the report's order.
    pub const ALL: [Axis; 5] = [
        Axis::Partitions,
        Axis::RecordSize,
        Axis::Tasks,
        Axis::Consumers,
        Axis::Linger,
    ];

    /// The axis in prose, as a heading.
    pub fn title(self) -> &'static str {
        match self {
            Axis::Partitions => "partitions",
            Axis::RecordSize => "record size",
            Axis::Tasks => "tasks sending through one producer",
            Axis::Consumers => "consumers in one group",
            Axis::Linger => "linger",
        }
    }

    /// The plot's file name, without its extension.
    pub fn slug(self) -> &'static str {
        match self {
            Axis::Partitions => "partitions",
            Axis::RecordSize => "record-size",
            Axis::Tasks => "tasks",
            Axis::Consumers => "consumers",
            Axis::Linger => "linger",
        }
    }

    /// How a point of this axis is written.
    pub fn label(self, x: u64) -> String {
        match self {
            Axis::RecordSize => size_label(x),
            Axis::Linger => format!("{x} ms"),
            _ => x.to_string(),
        }
    }
}

fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// The topic a point's runs use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Created right before each run and deleted after it: a topic as new
    /// as a new user's, whose partitions have never been written.
    Fresh {
        /// Its partitions.
        partitions: i32,
    },
    /// Created and filled once, before the first run that needs it, and
    /// written by every producing run after.
    Warm {
        /// Its partitions.
        partitions: i32,
        /// The size of the values it is filled with.
        record_size: usize,
    },
    /// Made as a warm topic is, for consumers: only read after, so that it
    /// holds the records a run reads (and one more a partition) and no
    /// consumer is measured fetching records it never hands out, as the
    /// main benchmark's consumers read a topic of the size they read.
    Filled {
        /// Its partitions.
        partitions: i32,
        /// The size of the values it is filled with.
        record_size: usize,
    },
}

/// One point of a curve.
#[derive(Debug, Clone)]
pub struct Point {
    /// The axis value.
    pub x: u64,
    /// Where the runs go.
    pub topic: Topic,
    /// What every client does.
    pub task: Task,
    /// Records per run.
    pub records: u64,
}

/// One curve: a workload whose one axis varies.
#[derive(Debug, Clone)]
pub struct Series {
    /// The axis it varies.
    pub axis: Axis,
    /// The workload, e.g. "produce, freshly created topic".
    pub name: String,
    /// Its points, by increasing `x`.
    pub points: Vec<Point>,
}

/// Records larger than this need a request larger than Kafka's default
/// 1 MiB `max.request.size`.
const LARGE_RECORD: usize = 512 * 1024;
/// `max.request.size` and the topics' `max.message.bytes` for large records.
pub const MAX_REQUEST_SIZE: u64 = 4 << 20;

fn produce(record_size: usize, linger_ms: u32, tasks: u64) -> Task {
    Task::Produce {
        record_size,
        acks: "1",
        linger_ms,
        compression: "none",
        json_ints: false,
        rate: 0,
        tasks,
        max_request_size: (record_size >= LARGE_RECORD).then_some(MAX_REQUEST_SIZE),
    }
}

fn consume(consumers: u64) -> Task {
    Task::Consume {
        mode: "batch",
        group: String::new(),
        consumers,
    }
}

/// Writes one record of `record_size` bytes to every partition of `topic`
/// and waits for each to be acknowledged.
async fn write_every_partition(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    record_size: usize,
) -> anyhow::Result<()> {
    use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
    let max_request_size = MAX_REQUEST_SIZE.to_string();
    let producer = Producer::new(ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap),
        ("acks", "1"),
        ("max_request_size", max_request_size.as_str()),
    ])?)
    .await?;
    let value = bytes::Bytes::from(vec![b'w'; record_size]);
    let mut deliveries = Vec::new();
    for partition in 0..partitions {
        let record = ProducerRecord::new(topic)
            .partition(partition)
            .value(value.clone());
        deliveries.push(producer.send(record).await?);
    }
    for delivery in deliveries {
        delivery.await?;
    }
    producer.close(Duration::from_secs(30)).await?;
    Ok(())
}

/// Records per run for values of `record_size`: the bytes of `records`
/// 100 B records, at least 200 records and at most `records`.
pub fn records_for(records: u64, record_size: usize) -> u64 {
    let bytes = records.saturating_mul(100);
    (bytes / record_size.max(1) as u64).clamp(200.min(records), records)
}

/// The curves of `axis`, with `records` records per standard run.
pub fn plan(axis: Axis, records: u64) -> Vec<Series> {
    let series = |name: &str, points: Vec<Point>| Series {
        axis,
        name: name.to_string(),
        points,
    };
    let standard = produce(100, 5, 1);
    match axis {
        Axis::Partitions => {
            let xs: [i32; 5] = [1, 10, 100, 1_000, 4_000];
            let points = |topic: fn(i32) -> Topic, task: &Task| {
                xs.iter()
                    .map(|&p| Point {
                        x: u64::from(p.unsigned_abs()),
                        topic: topic(p),
                        task: task.clone(),
                        records,
                    })
                    .collect()
            };
            let fresh = |partitions| Topic::Fresh { partitions };
            let warm = |partitions| Topic::Warm {
                partitions,
                record_size: 100,
            };
            let filled = |partitions| Topic::Filled {
                partitions,
                record_size: 100,
            };
            vec![
                series("produce, freshly created topic", points(fresh, &standard)),
                series("produce, warm topic", points(warm, &standard)),
                series("consume, batched poll", points(filled, &consume(1))),
            ]
        }
        Axis::RecordSize => {
            let sizes = [10, 100, 1 << 10, 10 << 10, 100 << 10, 1 << 20];
            let points = |consuming: bool| {
                sizes
                    .iter()
                    .map(|&size| Point {
                        x: size as u64,
                        topic: if consuming {
                            Topic::Filled {
                                partitions: 6,
                                record_size: size,
                            }
                        } else {
                            Topic::Fresh { partitions: 6 }
                        },
                        task: if consuming {
                            consume(1)
                        } else {
                            produce(size, 5, 1)
                        },
                        records: records_for(records, size),
                    })
                    .collect()
            };
            vec![
                series("produce", points(false)),
                series("consume, batched poll", points(true)),
            ]
        }
        Axis::Tasks => vec![series(
            "produce",
            [1, 4, 16, 64]
                .into_iter()
                .map(|tasks| Point {
                    x: tasks,
                    topic: Topic::Fresh { partitions: 6 },
                    task: produce(100, 5, tasks),
                    records,
                })
                .collect(),
        )],
        Axis::Consumers => vec![series(
            "consume, one group on a 64-partition topic",
            [1, 2, 4, 8, 16]
                .into_iter()
                .map(|consumers| Point {
                    x: consumers,
                    topic: Topic::Filled {
                        partitions: 64,
                        record_size: 100,
                    },
                    task: consume(consumers),
                    records,
                })
                .collect(),
        )],
        Axis::Linger => vec![series(
            "produce",
            [0, 5]
                .into_iter()
                .map(|linger| Point {
                    x: u64::from(linger),
                    topic: Topic::Fresh { partitions: 6 },
                    task: produce(100, linger, 1),
                    records,
                })
                .collect(),
        )],
    }
}

/// A measured point: every client's runs.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The axis value.
    pub x: u64,
    /// Records per run.
    pub records: u64,
    /// Each client that could run it, with its rounds.
    pub rows: Vec<(PeerKind, Runs)>,
}

/// A measured curve.
#[derive(Debug, Clone)]
pub struct MeasuredSeries {
    /// The axis it varies.
    pub axis: Axis,
    /// The workload.
    pub name: String,
    /// Its points.
    pub points: Vec<Measured>,
}

/// The clients the scale runs compare when `--peers` names none: ours and
/// the two the issue measures against.
pub const DEFAULT_PEERS: [PeerKind; 3] = [PeerKind::Ferrokafka, PeerKind::Rdkafka, PeerKind::Java];

/// Runs `cargo xtask bench scale`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let axes: Vec<Axis> = if args.axes.is_empty() {
        Axis::ALL.to_vec()
    } else {
        args.axes.clone()
    };
    let kinds = if args.peers.is_empty() {
        DEFAULT_PEERS.to_vec()
    } else {
        args.peers.clone()
    };
    let (ready, _) = peers::prepare_with_baseline(kinds, args.baseline.as_deref())?;
    let ferrokafka = peers::ferrokafka_among(&ready)?;
    let bench = BenchBroker::connect(args.bootstrap_servers.as_deref(), "bench-scale")?;
    let bootstrap = bench.bootstrap.clone();
    let mut runner = Runner {
        bench: &bench,
        bootstrap: &bootstrap,
        ferrokafka,
        timeout: Duration::from_secs(args.timeout_s),
        rounds: usize::try_from(args.rounds).unwrap_or(1),
        warm: BTreeMap::new(),
        run_id: std::process::id(),
        json_ints_file: broker::harness_dir().join("bench-scale-unused.txt"),
        next: 0,
    };
    // One unmeasured run warms the fresh broker's JVM up, as in the main
    // benchmark.
    runner.warm_topic(6, 100, args.records, true)?;
    let mut measured = Vec::new();
    for axis in &axes {
        for series in plan(*axis, args.records) {
            if let Some(only) = &args.only
                && !series.name.contains(only.as_str())
            {
                continue;
            }
            eprintln!("== {}: {}", axis.title(), series.name);
            measured.push(runner.series(&series, &ready));
        }
    }
    for topic in std::mem::take(&mut runner.warm).into_values() {
        bench.delete_topic(&topic)?;
    }
    bench.stop();

    let text = render(&measured, args);
    println!("{text}");
    let root = crate::workspace_root();
    // The report is the full campaign's: every axis, every default client,
    // and at least the 500,000 records a standard run.
    let full = args.records >= 500_000
        && args.axes.is_empty()
        && args.only.is_none()
        && args.peers.is_empty()
        && args.baseline.is_none();
    let out = args
        .out
        .clone()
        .or_else(|| full.then(|| root.join("SCALING.md")));
    if let Some(out) = out {
        let plots = out.parent().unwrap_or(&root).join("scaling");
        draw_plots(&measured, &plots)?;
        std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "wrote {} and the plots in {}",
            out.display(),
            plots.display()
        );
    }
    Ok(())
}

struct Runner<'a> {
    bench: &'a BenchBroker,
    bootstrap: &'a str,
    ferrokafka: Peer,
    timeout: Duration,
    rounds: usize,
    /// (partitions, record size, only read) → the warm or filled topic
    /// already made.
    warm: BTreeMap<(i32, usize, bool), String>,
    run_id: u32,
    json_ints_file: std::path::PathBuf,
    next: u64,
}

impl Runner<'_> {
    fn name(&mut self, what: &str) -> String {
        self.next += 1;
        format!("scale-{}-{what}-{}", self.run_id, self.next)
    }

    fn create(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        self.bench.runtime.block_on(super::create_topic_with(
            &self.bench.client,
            topic,
            partitions,
            &[("max.message.bytes", &MAX_REQUEST_SIZE.to_string())],
        ))
    }

    /// The warm topic of `partitions` filled with `records` values of
    /// `record_size` bytes, made on first use by one unmeasured ferrokafka
    /// run, then one more record written to each partition: a fill of
    /// keyless records leaves partitions unwritten (each batch goes to one),
    /// and a broker's first write to a partition costs it much more than
    /// the next (at 4,000 partitions the runs after the fill sped up
    /// round by round until every partition had been written).
    ///
    /// `only_read`: a [`Topic::Filled`], apart from the warm topic of the
    /// same shape that producing runs write to.
    fn warm_topic(
        &mut self,
        partitions: i32,
        record_size: usize,
        records: u64,
        only_read: bool,
    ) -> anyhow::Result<String> {
        let key = (partitions, record_size, only_read);
        if let Some(topic) = self.warm.get(&key) {
            return Ok(topic.clone());
        }
        let kind = if only_read { "filled" } else { "warm" };
        let topic = self.name(&format!("{kind}-{partitions}p-{record_size}b"));
        self.create(&topic, partitions)?;
        eprintln!("   filling {topic}: {records} records of {record_size} B");
        let fill = produce(record_size, 5, 1);
        measure::run_bounded(
            self.ferrokafka
                .command(self.bootstrap, &topic, records, &fill, &self.json_ints_file),
            self.timeout,
        )
        .with_context(|| format!("filling {topic}"))?;
        self.bench
            .runtime
            .block_on(write_every_partition(
                self.bootstrap,
                &topic,
                partitions,
                record_size,
            ))
            .with_context(|| format!("writing every partition of {topic}"))?;
        self.warm.insert(key, topic.clone());
        Ok(topic)
    }

    fn series(&mut self, series: &Series, peers: &[Peer]) -> MeasuredSeries {
        let mut points = Vec::new();
        for point in &series.points {
            let clients: Vec<&Peer> = peers.iter().filter(|p| p.supports(&point.task)).collect();
            let mut runs = vec![Runs::default(); clients.len()];
            for round in 0..self.rounds {
                let order: Vec<(usize, &Peer)> = clients.iter().copied().enumerate().collect();
                for (c, peer) in rounds::rotation(&order, round) {
                    let outcome = self.one_run(point, peer);
                    match &outcome {
                        Ok(m) => eprintln!(
                            "   {:>8} round {} {:<28} {:>10.0} records/s  cpu {:>6.2} us/record  rss {:>6.1} MiB",
                            series.axis.label(point.x),
                            round + 1,
                            peer.kind.label(),
                            m.records_per_s(),
                            cpu_us_per_record(m),
                            mib(m.max_rss_bytes),
                        ),
                        Err(error) => eprintln!(
                            "   {:>8} round {} {:<28} failed: {error:#}",
                            series.axis.label(point.x),
                            round + 1,
                            peer.kind.label()
                        ),
                    }
                    runs[c].outcomes.push(outcome.map_err(|e| format!("{e:#}")));
                }
            }
            points.push(Measured {
                x: point.x,
                records: point.records,
                rows: clients.iter().map(|p| p.kind).zip(runs).collect(),
            });
        }
        MeasuredSeries {
            axis: series.axis,
            name: series.name.clone(),
            points,
        }
    }

    fn one_run(&mut self, point: &Point, peer: &Peer) -> anyhow::Result<measure::Measurement> {
        let (topic, fresh) = match &point.topic {
            Topic::Fresh { partitions } => {
                let topic = self.name(&format!("fresh-{partitions}p"));
                self.create(&topic, *partitions)?;
                (topic, true)
            }
            Topic::Warm {
                partitions,
                record_size,
            }
            | Topic::Filled {
                partitions,
                record_size,
            } => {
                let only_read = matches!(point.topic, Topic::Filled { .. });
                let topic = self.warm_topic(*partitions, *record_size, point.records, only_read)?;
                (topic, false)
            }
        };
        let task = match &point.task {
            Task::Consume {
                mode, consumers, ..
            } => Task::Consume {
                mode,
                group: self.name("group"),
                consumers: *consumers,
            },
            task @ (Task::Produce { .. } | Task::Share { .. }) => task.clone(),
        };
        let command = peer.command(
            self.bootstrap,
            &topic,
            point.records,
            &task,
            &self.json_ints_file,
        );
        let outcome = measure::run_bounded(command, self.timeout).and_then(|(stdout, usage)| {
            Ok(peer
                .result(&stdout, point.records, &task)?
                .with_usage(usage))
        });
        if fresh {
            self.bench.delete_topic(&topic)?;
        }
        outcome
    }
}

fn cpu_us_per_record(m: &measure::Measurement) -> f64 {
    m.cpu_s_per_million()
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// The median run of `kind` at `point`, if it had one.
fn median(point: &Measured, kind: PeerKind) -> Option<&measure::Measurement> {
    point
        .rows
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, runs)| runs.median(false))
}

/// `SCALING.md`.
pub fn render(measured: &[MeasuredSeries], args: &Args) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Scaling\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench scale` (do not edit by hand; run it again). How each \
         client's throughput, CPU and memory grow along one axis of the work at a time, every \
         client in its own process against the same single-node broker in one run, {} rounds \
         with the order of the clients rotating; each figure is the client's median run by \
         throughput. The standard workload, from which one axis at a time varies: 100 B \
         values, acks=1, linger 5 ms, uncompressed, `batch.size` 16384, one sending task, 6 \
         partitions, {} records per run (other record sizes: the same bytes, 200 to {} \
         records). See [BENCHMARKS.md](BENCHMARKS.md) for the method shared with the main \
         benchmark.\n",
        args.rounds, args.records, args.records
    );
    let _ = writeln!(out, "## Machine\n");
    for (what, value) in super::report::machine() {
        let _ = writeln!(out, "- {what}: {value}");
    }
    let _ = writeln!(
        out,
        "\n## Method\n\n\
         - Freshly created topic: created right before each run (the run starts once the \
         topic's leaders are in the metadata) and deleted after it. Warm topic: created and \
         filled once by an unmeasured ferrokafka run, with one more record written to each \
         of its partitions (a broker's first write to a partition costs it far more than the \
         next ones), then written by every producing run. Consumers read a topic made the \
         same way that no run writes to, holding the records they read.\n\
         - CPU per record is the user + system time of the client's whole process (start-up \
         included) divided by the records; peak RSS is the process's resident high-water mark. \
         Both come from the kernel when the process is reaped (`wait4`). Linux counts the \
         memory of the process a program was started from in its peak, so each client is \
         started from a small process of its own, whose size (about 14 MiB) is the column's \
         floor.\n\
         - {}\n\
         - Records of 1 MiB need requests over Kafka's default 1 MiB: every client's \
         `max.request.size` (librdkafka's `message.max.bytes`) and the topics' \
         `max.message.bytes` are {} MiB for them.\n\
         - Kafka's performance tools have one sending thread and one consumer: the Java client \
         is left out of the tasks and consumers axes.\n",
        super::report::RUNTIME_NOTE,
        MAX_REQUEST_SIZE >> 20
    );
    let _ = writeln!(out, "## Goals\n");
    for line in goals(measured) {
        let _ = writeln!(out, "- {line}");
    }
    let mut axes: Vec<Axis> = measured.iter().map(|s| s.axis).collect();
    axes.dedup();
    for axis in axes {
        let _ = writeln!(out, "\n## {}\n", capitalised(axis.title()));
        let _ = writeln!(out, "![{}](scaling/{}.svg)\n", axis.title(), axis.slug());
        for series in measured.iter().filter(|s| s.axis == axis) {
            let _ = writeln!(out, "### {}\n", series.name);
            let _ = writeln!(
                out,
                "| {} | client | records/run | records/s | MB/s | CPU µs per record | peak RSS MiB | CPU vs ferrokafka | records/s over the runs |",
                axis.title()
            );
            let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
            for point in &series.points {
                let ours = median(point, PeerKind::Ferrokafka);
                for (kind, runs) in &point.rows {
                    let label = axis.label(point.x);
                    if let Some(m) = runs.median(false) {
                        let ratio = ours.map_or("–".to_string(), |o| {
                            format!("{:.2}×", cpu_us_per_record(m) / cpu_us_per_record(o))
                        });
                        let range = runs.range(false).map_or(String::new(), |(lo, hi)| {
                            format!("{}–{}", thousands(lo), thousands(hi))
                        });
                        let failed = match runs.failures() {
                            0 => String::new(),
                            n => format!(" ({n} failed)"),
                        };
                        let _ = writeln!(
                            out,
                            "| {label} | {} | {} | {:.0} | {:.1} | {:.3} | {:.1} | {ratio} | {range}{failed} |",
                            kind.label(),
                            point.records,
                            m.records_per_s(),
                            m.mb_per_s(),
                            cpu_us_per_record(m),
                            mib(m.max_rss_bytes),
                        );
                    } else {
                        let why = runs.first_failure().unwrap_or("no run");
                        let why: String =
                            why.lines().next().unwrap_or("").chars().take(120).collect();
                        let _ = writeln!(
                            out,
                            "| {label} | {} | {} | failed | | | | | {why} |",
                            kind.label(),
                            point.records
                        );
                    }
                }
            }
            let _ = writeln!(out);
        }
    }
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn thousands(records_per_s: f64) -> String {
    if records_per_s >= 1_000.0 {
        format!("{:.0}k", records_per_s / 1_000.0)
    } else {
        format!("{records_per_s:.0}")
    }
}

/// The goals, each with the ratio measured and whether it holds.
pub fn goals(measured: &[MeasuredSeries]) -> Vec<String> {
    let mut lines = Vec::new();
    let verdict = |ok: bool| if ok { "met" } else { "not met" };
    let find = |axis: Axis, name: &str| {
        measured
            .iter()
            .find(|s| s.axis == axis && s.name.starts_with(name))
    };
    let at = |series: &MeasuredSeries, x: u64, kind: PeerKind| {
        series
            .points
            .iter()
            .find(|p| p.x == x)
            .and_then(|p| median(p, kind))
            .map(cpu_us_per_record)
    };
    for name in ["produce, freshly created", "produce, warm", "consume"] {
        if let Some(series) = find(Axis::Partitions, name)
            && let (Some(small), Some(large)) = (
                at(series, 10, PeerKind::Ferrokafka),
                at(series, 4_000, PeerKind::Ferrokafka),
            )
        {
            let ratio = large / small;
            lines.push(format!(
                "Flat ({}): ferrokafka's CPU per record at 4,000 partitions is {ratio:.2}× its cost at 10 (goal at most 1.5×): {}.",
                series.name,
                verdict(ratio <= 1.5)
            ));
        }
    }
    if let Some(series) = find(Axis::Partitions, "produce, freshly created") {
        let ratios: Vec<(u64, f64)> = series
            .points
            .iter()
            .filter_map(|p| {
                let ours = median(p, PeerKind::Ferrokafka)?.records_per_s();
                let theirs = median(p, PeerKind::Rdkafka)?.records_per_s();
                Some((p.x, ours / theirs))
            })
            .collect();
        if let Some(worst) = ratios.iter().map(|(_, r)| *r).reduce(f64::min) {
            let each: Vec<String> = ratios
                .iter()
                .map(|(x, r)| format!("{x}: {r:.2}×"))
                .collect();
            lines.push(format!(
                "Fresh topics: ferrokafka's throughput over librdkafka's, by partitions, {} (goal at least 1× at every size): {}.",
                each.join(", "),
                verdict(worst >= 1.0)
            ));
        }
    }
    for (name, goal) in [("produce", 0.3), ("consume", 0.15)] {
        if let Some(series) = find(Axis::RecordSize, name)
            && let Some(cpu) = at(series, 100, PeerKind::Ferrokafka)
        {
            lines.push(format!(
                "Near the limit ({name}, 100 B): {cpu:.3} µs of client CPU per record (goal at most {goal} µs): {}.",
                verdict(cpu <= goal)
            ));
        }
    }
    let mut least: Option<(f64, String)> = None;
    for series in measured {
        for point in &series.points {
            if let (Some(ours), Some(theirs)) = (
                median(point, PeerKind::Ferrokafka),
                median(point, PeerKind::Rdkafka),
            ) {
                let ratio = cpu_us_per_record(theirs) / cpu_us_per_record(ours);
                if least.as_ref().is_none_or(|(r, _)| ratio < *r) {
                    least = Some((
                        ratio,
                        format!(
                            "{}, {} {}",
                            series.name,
                            series.axis.label(point.x),
                            series.axis.title()
                        ),
                    ));
                }
            }
        }
    }
    if let Some((ratio, place)) = least {
        lines.push(format!(
            "librdkafka's CPU per record over ferrokafka's, at the point where it is least: {ratio:.2}× ({place}; goal at least 2× everywhere): {}.",
            verdict(ratio >= 2.0)
        ));
    }
    if let Some(series) = find(Axis::RecordSize, "produce")
        && let Some(point) = series.points.iter().find(|p| p.x == 1 << 20)
        && let (Some(ours), Some(java)) = (
            median(point, PeerKind::Ferrokafka),
            median(point, PeerKind::Java),
        )
    {
        let ratio = ours.records_per_s() / java.records_per_s();
        lines.push(format!(
            "1 MiB records: ferrokafka's throughput is {ratio:.2}× the Java client's (goal at least 0.9×): {}.",
            verdict(ratio >= 0.9)
        ));
    }
    if lines.is_empty() {
        lines.push("No goal could be computed from the axes run.".to_string());
    }
    lines
}

/// One SVG per axis: records/s and CPU per record of every client on
/// every curve of the axis.
pub fn draw_plots(measured: &[MeasuredSeries], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut axes: Vec<Axis> = measured.iter().map(|s| s.axis).collect();
    axes.dedup();
    for axis in axes {
        let mut x_values: Vec<u64> = Vec::new();
        let mut curves = Vec::new();
        for (marker, series) in measured.iter().filter(|s| s.axis == axis).enumerate() {
            for point in &series.points {
                if !x_values.contains(&point.x) {
                    x_values.push(point.x);
                }
            }
            let mut kinds: Vec<PeerKind> = series
                .points
                .iter()
                .flat_map(|p| p.rows.iter().map(|(k, _)| *k))
                .collect();
            kinds.sort();
            kinds.dedup();
            for kind in kinds {
                let points = series
                    .points
                    .iter()
                    .filter_map(|p| {
                        let m = median(p, kind)?;
                        Some((p.x, m.records_per_s(), cpu_us_per_record(m)))
                    })
                    .collect();
                curves.push(Curve {
                    label: format!("{}, {}", kind.label(), series.name),
                    client: PeerKind::ALL.iter().position(|k| *k == kind).unwrap_or(0),
                    marker,
                    points,
                });
            }
        }
        x_values.sort_unstable();
        let labels: Vec<String> = x_values.iter().map(|x| axis.label(*x)).collect();
        plot::draw(
            &dir.join(format!("{}.svg", axis.slug())),
            axis.title(),
            &x_values,
            &labels,
            &curves,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_axis_varies_alone_from_the_standard_workload() {
        for axis in Axis::ALL {
            let plan = plan(axis, 500_000);
            assert!(!plan.is_empty());
            for series in &plan {
                assert!(series.points.len() >= 2, "{}", series.name);
                let xs: Vec<u64> = series.points.iter().map(|p| p.x).collect();
                let mut sorted = xs.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(xs, sorted, "{}: increasing", series.name);
            }
        }
        let partitions = plan(Axis::Partitions, 1_000);
        assert_eq!(partitions.len(), 3);
        assert_eq!(
            partitions[0].points[4].topic,
            Topic::Fresh { partitions: 4_000 }
        );
        assert!(matches!(
            partitions[1].points[0].topic,
            Topic::Warm { partitions: 1, .. }
        ));
        // The consumers read a topic no producing run writes to.
        assert!(matches!(
            partitions[2].points[4].topic,
            Topic::Filled {
                partitions: 4_000,
                ..
            }
        ));
    }

    #[test]
    fn large_records_get_fewer_records_and_a_larger_request() {
        let sizes = plan(Axis::RecordSize, 500_000);
        let produce = &sizes[0];
        let mib = produce.points.last().unwrap();
        assert_eq!(mib.x, 1 << 20);
        assert_eq!(mib.records, 200);
        assert!(matches!(
            mib.task,
            Task::Produce {
                max_request_size: Some(MAX_REQUEST_SIZE),
                ..
            }
        ));
        assert!(matches!(
            produce.points[0].task,
            Task::Produce {
                max_request_size: None,
                ..
            }
        ));
        assert_eq!(records_for(500_000, 10), 500_000);
        assert_eq!(records_for(500_000, 1024), 48_828);
        assert_eq!(records_for(100, 1 << 20), 100);
    }

    #[test]
    fn labels_name_sizes_and_milliseconds() {
        assert_eq!(Axis::RecordSize.label(10), "10 B");
        assert_eq!(Axis::RecordSize.label(10 << 10), "10 KiB");
        assert_eq!(Axis::RecordSize.label(1 << 20), "1 MiB");
        assert_eq!(Axis::Linger.label(0), "0 ms");
        assert_eq!(Axis::Partitions.label(4_000), "4000");
    }

    fn run(records: u64, elapsed_s: f64, cpu_s: f64) -> measure::Measurement {
        measure::Measurement {
            client: "c".into(),
            records,
            bytes: records * 100,
            elapsed_s,
            latency_p50_ms: None,
            latency_p99_ms: None,
            cpu_s,
            max_rss_bytes: 50 << 20,
        }
    }

    fn point(x: u64, ours_cpu: f64, theirs_cpu: f64) -> Measured {
        Measured {
            x,
            records: 1_000_000,
            rows: vec![
                (
                    PeerKind::Ferrokafka,
                    Runs {
                        outcomes: vec![Ok(run(1_000_000, 1.0, ours_cpu))],
                    },
                ),
                (
                    PeerKind::Rdkafka,
                    Runs {
                        outcomes: vec![Ok(run(1_000_000, 2.0, theirs_cpu)), Err("x".into())],
                    },
                ),
            ],
        }
    }

    #[test]
    fn goals_are_computed_from_the_medians() {
        let measured = vec![MeasuredSeries {
            axis: Axis::Partitions,
            name: "produce, freshly created topic".into(),
            points: vec![point(10, 0.4, 1.0), point(4_000, 0.8, 1.2)],
        }];
        let goals = goals(&measured);
        let text = goals.join("\n");
        // 0.8 / 0.4 µs per record: twice the cost, not flat.
        assert!(text.contains("is 2.00× its cost at 10"), "{text}");
        assert!(text.contains("not met"), "{text}");
        // Throughput 1M/s against 0.5M/s at both sizes.
        assert!(text.contains("10: 2.00×, 4000: 2.00×"), "{text}");
        // librdkafka's CPU over ours is least at 4,000: 1.2 / 0.8.
        assert!(
            text.contains("1.50× (produce, freshly created topic, 4000"),
            "{text}"
        );

        let rendered = render(
            &measured,
            &Args::parse_for_test(&["scale", "--records", "1000000", "--rounds", "2"]),
        );
        assert!(rendered.contains("![partitions](scaling/partitions.svg)"));
        assert!(
            rendered.contains("| 4000 | ferrokafka | 1000000 | 1000000 |"),
            "{rendered}"
        );
        assert!(rendered.contains("| 0.800 |"), "{rendered}");
    }

    #[test]
    fn plots_are_written_per_axis() {
        let dir =
            std::env::temp_dir().join(format!("ferrokafka-scale-plot-{}", std::process::id()));
        let measured = vec![MeasuredSeries {
            axis: Axis::Partitions,
            name: "produce, warm topic".into(),
            points: vec![
                point(1, 0.4, 1.0),
                point(10, 0.5, 1.1),
                point(4_000, 0.8, 1.2),
            ],
        }];
        draw_plots(&measured, &dir).unwrap();
        let svg = std::fs::read_to_string(dir.join("partitions.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("4000"));
        assert!(svg.contains("ferrokafka, produce, warm topic"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
