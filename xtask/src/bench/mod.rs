//! `cargo xtask bench`: ferrokafka and its peers on one broker, in one run,
//! each client in its own process on the same workloads, written to
//! `BENCHMARKS.md` as a table per workload with ratios to ferrokafka.

pub mod bench_broker;
pub mod measure;
pub mod peers;
pub mod plot;
pub mod python;
pub mod python_report;
pub mod report;
pub mod rounds;
pub mod scale;
pub mod share;
pub mod share_report;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::CreateTopicsRequest;
use ferrokafka_transport::Client;

pub use bench_broker::BenchBroker;
pub use measure::Measurement;
pub use peers::{PeerKind, Task};

use crate::broker;

/// Which half of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// Producer workloads.
    Produce,
    /// Consumer workloads.
    Consume,
    /// Both.
    All,
    /// The scaling curves (`SCALING.md`): one axis of the work at a time.
    Scale,
    /// The Python clients (`PYTHON-BENCHMARKS.md`): ferrokafka's package,
    /// kafka-python, confluent-kafka-python and aiokafka.
    Python,
    /// Share groups (KIP-932): ferrokafka's share consumer and the Java
    /// client's, one member and three (the share section of
    /// `BENCHMARKS.md`).
    Share,
}

/// `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Producer workloads, consumer workloads, or both.
    #[arg(value_enum, default_value_t = Side::All)]
    pub side: Side,
    /// Records per run.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// The clients to run (default: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub peers: Vec<PeerKind>,
    /// Partitions of every benchmark topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// A running cluster to use; by default a broker is started for the run.
    #[arg(long)]
    pub bootstrap_servers: Option<String>,
    /// Where to write the report (default: BENCHMARKS.md at the workspace
    /// root when every client ran on 1,000,000 records, else only stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only the workloads whose name contains this text (e.g. `lz4`, `paced`).
    #[arg(long)]
    pub only: Option<String>,
    /// A run taking longer than this fails.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// Runs of every client on every workload; each client's median run is
    /// reported, and the order of the clients rotates from round to round.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// A ferrokafka CLI built from another commit, run as one more client
    /// (`ferrokafka baseline`) for a before/after in the same run.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// `scale` only: the axes to run (default: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub axes: Vec<scale::Axis>,
    /// `python` only: the Python clients to run (default: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub python_clients: Vec<python::PyClient>,
    /// `python` only: a ferrokafka extension module (`lib_core.so`) to run
    /// instead of building one (to compare a build from before a change).
    #[arg(long)]
    pub python_extension: Option<PathBuf>,
}

impl Args {
    /// The arguments of `cargo xtask bench ARGS...` (for tests).
    pub fn parse_for_test(args: &[&str]) -> Args {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            args: Args,
        }
        <Command as clap::Parser>::parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .args
    }
}

/// One named workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The table heading.
    pub name: String,
    /// What each client does.
    pub task: Task,
    /// Fewer records than `--records` (a paced run would take too long).
    pub max_records: Option<u64>,
}

/// The producer workloads.
pub fn produce_workloads() -> Vec<Workload> {
    let plain = |compression: &'static str, acks: &'static str| Task::Produce {
        record_size: 100,
        acks,
        linger_ms: 5,
        compression,
        json_ints: false,
        rate: 0,
        tasks: 1,
        max_request_size: None,
    };
    vec![
        Workload {
            name: "produce 100 B, acks=1, linger 5 ms, uncompressed".into(),
            task: plain("none", "1"),
            max_records: None,
        },
        Workload {
            name: "produce 100 B, acks=1, linger 5 ms, lz4".into(),
            task: plain("lz4", "1"),
            max_records: None,
        },
        Workload {
            name: "produce 100 B, acks=1, linger 5 ms, zstd".into(),
            task: plain("zstd", "1"),
            max_records: None,
        },
        Workload {
            name: "produce 100 B, acks=all (idempotent), linger 5 ms, uncompressed".into(),
            task: plain("none", "all"),
            max_records: None,
        },
        Workload {
            name: "produce the seeds' JSON integers, acks=all (idempotent), linger 5 ms".into(),
            task: Task::Produce {
                record_size: 0,
                acks: "all",
                linger_ms: 5,
                compression: "none",
                json_ints: true,
                rate: 0,
                tasks: 1,
                max_request_size: None,
            },
            max_records: None,
        },
        Workload {
            name: "produce 100 B, acks=all (idempotent), paced at 10,000 records/s: latency below saturation".into(),
            task: Task::Produce {
                record_size: 100,
                acks: "all",
                linger_ms: 5,
                compression: "none",
                json_ints: false,
                rate: 10_000,
                tasks: 1,
                max_request_size: None,
            },
            max_records: Some(100_000),
        },
    ]
}

/// The consumer workloads: batched poll and one record at a time.
fn consume_workloads() -> Vec<Workload> {
    ["batch", "iter"]
        .into_iter()
        .map(|mode| Workload {
            name: match mode {
                "batch" => "consume 100 B records, batched poll".into(),
                _ => "consume 100 B records, one record at a time (stream / iterator)".into(),
            },
            task: Task::Consume {
                mode,
                group: String::new(),
                consumers: 1,
            },
            max_records: None,
        })
        .collect()
}

/// Runs the benchmark.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.side == Side::Scale {
        return scale::run(args);
    }
    if args.side == Side::Python {
        return python::run(args);
    }
    if args.side == Side::Share {
        return share::run(args);
    }
    let kinds: Vec<PeerKind> = if args.peers.is_empty() {
        PeerKind::ALL.to_vec()
    } else {
        let mut kinds = args.peers.clone();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    let (ready, unavailable) = peers::prepare_with_baseline(kinds, args.baseline.as_deref())?;
    let bench = BenchBroker::connect(args.bootstrap_servers.as_deref(), "bench")?;
    let (runtime, client, bootstrap) = (&bench.runtime, &bench.client, bench.bootstrap.clone());
    let run_id = std::process::id();
    let json_ints_file =
        broker::harness_dir().join(format!("bench-json-ints-{}.txt", args.records));
    if !json_ints_file.exists() {
        let mut text = String::new();
        for i in 0..args.records {
            let _ = writeln!(text, "{i}");
        }
        std::fs::write(&json_ints_file, text)?;
    }
    let timeout = Duration::from_secs(args.timeout_s);

    let mut workloads = Vec::new();
    if args.side != Side::Consume {
        workloads.extend(produce_workloads());
    }
    let ferrokafka = peers::ferrokafka_among(&ready)?;
    let fill = Task::Produce {
        record_size: 100,
        acks: "1",
        linger_ms: 5,
        compression: "none",
        json_ints: false,
        rate: 0,
        tasks: 1,
        max_request_size: None,
    };
    // A fresh broker's JVM has compiled little of its request path yet, and
    // whichever client ran first would pay for that. One unmeasured run
    // warms it up; when consumers are benchmarked, that run is the one
    // filling their topic.
    let mut consume_topic = None;
    let warm_topic = if args.side == Side::Produce {
        format!("bench-warm-up-{run_id}")
    } else {
        let topic = format!("bench-consume-{run_id}");
        consume_topic = Some(topic.clone());
        workloads.extend(consume_workloads());
        topic
    };
    runtime.block_on(create_topic(client, &warm_topic, args.partitions))?;
    eprintln!(
        "warming the broker up: {} records to {warm_topic}",
        args.records
    );
    measure::run_bounded(
        ferrokafka.command(
            &bootstrap,
            &warm_topic,
            args.records,
            &fill,
            &json_ints_file,
        ),
        timeout,
    )
    .context("the warm-up run")?;
    if consume_topic.is_none() {
        bench.delete_topic(&warm_topic)?;
    }

    if let Some(only) = &args.only {
        workloads.retain(|w| w.name.contains(only.as_str()));
    }
    let rounds = usize::try_from(args.rounds).unwrap_or(1);
    let mut sections = Vec::new();
    for (w, workload) in workloads.iter().enumerate() {
        eprintln!("== {}", workload.name);
        let records = workload
            .max_records
            .map_or(args.records, |max| max.min(args.records));
        let clients: Vec<&peers::Peer> = ready
            .iter()
            // ConsumerPerformance has one loop; it is in the batched table.
            .filter(|peer| {
                !(peer.kind == PeerKind::Java
                    && matches!(workload.task, Task::Consume { mode: "iter", .. }))
            })
            .collect();
        let mut runs = vec![rounds::Runs::default(); clients.len()];
        for round in 0..rounds {
            for (c, peer) in rounds::rotation(
                &clients.iter().copied().enumerate().collect::<Vec<_>>(),
                round,
            ) {
                let name = format!("bench-{run_id}-{w}-{round}-{:?}", peer.kind).to_lowercase();
                let (topic, task) = match &workload.task {
                    Task::Consume { mode, .. } => (
                        consume_topic.clone().context("no consumer topic")?,
                        Task::Consume {
                            mode,
                            group: name,
                            consumers: 1,
                        },
                    ),
                    Task::Produce { .. } | Task::Share { .. } => {
                        runtime.block_on(create_topic(client, &name, args.partitions))?;
                        (name, workload.task.clone())
                    }
                };
                let command = peer.command(&bootstrap, &topic, records, &task, &json_ints_file);
                let outcome = measure::run_bounded(command, timeout).and_then(|(stdout, usage)| {
                    Ok(peer.result(&stdout, records, &task)?.with_usage(usage))
                });
                if matches!(task, Task::Produce { .. }) {
                    // Every producer run writes 100 MB; a full run would
                    // otherwise leave gigabytes in the broker's log and cache.
                    bench.delete_topic(&topic)?;
                }
                match &outcome {
                    Ok(m) => eprintln!(
                        "   round {} {:<28} {:>12.0} records/s  {:>7.1} MB/s  p99 {:>7.1} ms  cpu {:>5.1} s/M",
                        round + 1,
                        peer.kind.label(),
                        m.records_per_s(),
                        m.mb_per_s(),
                        m.latency_p99_ms.unwrap_or(f64::NAN),
                        m.cpu_s_per_million()
                    ),
                    Err(error) => eprintln!(
                        "   round {} {:<28} failed: {error:#}",
                        round + 1,
                        peer.kind.label()
                    ),
                }
                runs[c].outcomes.push(outcome.map_err(|e| format!("{e:#}")));
            }
        }
        sections.push(report::Section {
            workload: workload.name.clone(),
            paced: matches!(workload.task, Task::Produce { rate, .. } if rate > 0),
            rows: clients.iter().map(|p| p.kind).zip(runs).collect(),
        });
    }
    bench.stop();

    let text = report::render(&report::Report {
        records: args.records,
        partitions: args.partitions,
        rounds: args.rounds,
        sections,
        unavailable,
    });
    println!("{text}");
    let full = args.records == 1_000_000
        && args.peers.is_empty()
        && args.side == Side::All
        && args.only.is_none()
        && args.baseline.is_none();
    let out = args
        .out
        .clone()
        .or_else(|| full.then(|| crate::workspace_root().join("BENCHMARKS.md")));
    if let Some(out) = out {
        // The share-group section comes from its own command: keep it.
        let old = std::fs::read_to_string(&out).unwrap_or_default();
        let text = match share_report::existing(&old) {
            Some(section) => share_report::splice(&text, section),
            None => text,
        };
        std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// Deletes `topic` (one already gone is fine).
pub(crate) async fn delete_topic(client: &Client, topic: &str) -> anyhow::Result<()> {
    let admin = Admin::with_client(client.clone());
    let options = AdminOptions::new().timeout(Duration::from_secs(30));
    for (name, result) in admin.delete_topics(&[topic], &options).await {
        match result {
            Ok(()) => {}
            Err(error) if error.code() == Some(ErrorCode::UnknownTopicOrPartition) => {}
            Err(error) => anyhow::bail!("deleting {name}: {error}"),
        }
    }
    Ok(())
}

/// Creates `topic` (replication factor 1) and waits until it has leaders.
async fn create_topic(client: &Client, topic: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic_with(client, topic, partitions, &[]).await
}

/// Creates `topic` (replication factor 1) with topic `configs` and waits
/// until it has leaders.
pub(crate) async fn create_topic_with(
    client: &Client,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let response = client
        .send_any(&CreateTopicsRequest {
            topics: vec![
                configs
                    .iter()
                    .fold(NewTopic::new(topic, partitions, 1), |t, (k, v)| {
                        t.config(*k, *v)
                    })
                    .to_request(),
            ],
            timeout_ms: 30_000,
            ..CreateTopicsRequest::default()
        })
        .await?;
    for result in &response.topics {
        match ErrorCode::from_code(result.error_code) {
            ErrorCode::None | ErrorCode::TopicAlreadyExists => {}
            error => anyhow::bail!("creating {topic}: {error}"),
        }
    }
    client.add_topics([topic]);
    let view = client.topic(topic).await?;
    anyhow::ensure!(
        view.partitions.len() == usize::try_from(partitions).unwrap_or(0),
        "{topic} has {} partitions, not {partitions}",
        view.partitions.len()
    );
    Ok(())
}
