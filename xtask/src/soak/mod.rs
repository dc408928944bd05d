//! `cargo xtask soak`: steady produce and consume against one real broker
//! for a long while, sampling what the client process holds, then checking
//! that none of it grew after the warm-up and that every record was
//! consumed; writes its section of `RELIABILITY.md`.
//!
//! The clients run in this process, in their own tokio runtime, so the
//! runtime's task count can be read; the workload keeps counters only, so
//! the process's growth is the clients'. Everything ends with the run: the
//! broker is tied to this process (its watchdog kills it however the
//! process ends, Ctrl-C and panics included), the load stops by itself
//! after `--seconds`, and the consumer's catching up is bounded.

pub mod probe;
pub mod report;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};

use crate::broker::{self, StartOptions, jars};
use report::{Sample, Soak, Totals};
use workload::Counters;

/// Options of `cargo xtask soak`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Seconds of steady load (the broker's start and the consumer's
    /// catching up come besides).
    #[arg(long, default_value_t = 1800)]
    pub seconds: u64,
    /// Seconds between two samples of the client process.
    #[arg(long, default_value_t = 60)]
    pub sample_seconds: u64,
    /// Samples, from the first, that are the warm-up the others are
    /// compared with.
    #[arg(long, default_value_t = 2)]
    pub warmup_samples: usize,
    /// Records a second the producer sends.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Apache Kafka release of the broker.
    #[arg(long, default_value = jars::DEFAULT_KAFKA_VERSION)]
    pub kafka_version: String,
    /// Write the section into this file instead of the workspace's
    /// RELIABILITY.md (the CI's short run writes under target/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Seconds of load in the CI's short run, sampled every [`CI_SAMPLE_SECONDS`].
pub const CI_SECONDS: u64 = 120;
/// Seconds between samples in the CI's short run: eight samples, two of
/// them the warm-up.
pub const CI_SAMPLE_SECONDS: u64 = 15;

/// Partitions of the soak's topic.
const PARTITIONS: i32 = 6;

/// Runs the soak; fails when a rule was broken (after printing the table
/// and writing the section).
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.sample_seconds == 0 || args.rate == 0 {
        bail!("--sample-seconds and --rate must be above 0");
    }
    eprintln!(
        "soak: starting Apache Kafka {} (one node) ...",
        args.kafka_version
    );
    let cluster = broker::start_for_this_process(
        &StartOptions {
            version: args.kafka_version.clone(),
            ..StartOptions::single_node()
        },
        "soak",
    )?;
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let run_id = std::process::id();
    let topic = format!("soak-{run_id}");
    runtime.block_on(create_topic(&bootstrap, &topic))?;

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = runtime.spawn(workload::consume(
        bootstrap.clone(),
        topic.clone(),
        format!("soak-{run_id}"),
        PARTITIONS,
        counters.clone(),
        stop.clone(),
    ));
    let producer = runtime.spawn(workload::produce(
        bootstrap,
        topic,
        PARTITIONS,
        args.rate,
        counters.clone(),
        stop.clone(),
    ));
    let clock = Instant::now();
    let every = Duration::from_secs(args.sample_seconds);
    let mut samples = Vec::new();
    let mut next = every;
    // A workload that ends early (an error) ends the sampling too.
    while next <= Duration::from_secs(args.seconds)
        && !producer.is_finished()
        && !consumer.is_finished()
    {
        std::thread::sleep(
            next.saturating_sub(clock.elapsed())
                .min(Duration::from_secs(1)),
        );
        if clock.elapsed() < next {
            continue;
        }
        let sample = Sample {
            at_s: clock.elapsed().as_secs_f64(),
            held: probe::look(std::process::id())?,
            tasks: runtime.metrics().num_alive_tasks() as u64,
            produced: counters.produced.load(Ordering::Relaxed),
            consumed: counters.consumed.load(Ordering::Relaxed),
        };
        eprintln!(
            "soak: {:>6.0}s RSS {:.1} MiB, {} threads, {} fds, {} TCP, {} tasks, {} produced, {} consumed",
            sample.at_s,
            report::mib(sample.held.rss_bytes),
            sample.held.threads,
            sample.held.fds,
            sample.held.tcp,
            sample.tasks,
            sample.produced,
            sample.consumed
        );
        samples.push(sample);
        next += every;
    }
    stop.store(true, Ordering::Relaxed);
    eprintln!("soak: load stopped; the consumer reads what is left ...");
    let produced = runtime
        .block_on(producer)
        .context("the producer panicked")?;
    let consumed = runtime
        .block_on(consumer)
        .context("the consumer panicked")?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    cluster.stop();
    produced.context("the producer failed")?;
    consumed.context("the consumer failed")?;

    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let soak = Soak {
        seconds: args.seconds,
        sample_seconds: args.sample_seconds,
        rate: args.rate,
        warmup: args.warmup_samples,
        samples,
        totals: Totals {
            produced: load(&counters.produced),
            consumed: load(&counters.consumed),
            failed: load(&counters.failed),
            duplicated: load(&counters.duplicated),
            skipped: load(&counters.skipped),
            poll_errors: load(&counters.poll_errors),
        },
    };
    println!("{}\n{}", report::table(&soak), report::verdict(&soak));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::workspace_root().join("RELIABILITY.md"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let old = std::fs::read_to_string(&out).unwrap_or_default();
    let versions = [
        (
            "ferrokafka",
            format!(
                "{} (commit {})",
                env!("CARGO_PKG_VERSION"),
                crate::git_commit()
            ),
        ),
        (
            "broker",
            format!(
                "Apache Kafka {}, one KRaft node, the harness's settings",
                args.kafka_version
            ),
        ),
        (
            "build",
            // The figures are the client's as built here: `cargo xtask`
            // runs the dev profile.
            if cfg!(debug_assertions) {
                "dev profile (unoptimized), as `cargo xtask` builds it".to_string()
            } else {
                "release profile".to_string()
            },
        ),
    ];
    std::fs::write(
        &out,
        report::SECTION.splice(&old, &report::render(&soak, &versions)),
    )
    .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("soak: wrote {}", out.display());
    if !soak.violations().is_empty() {
        bail!("the soak found growth or lost records; see the verdict above");
    }
    Ok(())
}

async fn create_topic(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    let admin =
        Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", bootstrap)])?).await?;
    for (name, created) in admin
        .create_topics(
            &[NewTopic::new(topic.to_string(), PARTITIONS, 1)],
            false,
            &AdminOptions::new().timeout(Duration::from_secs(60)),
        )
        .await
    {
        created.with_context(|| format!("creating {name}"))?;
    }
    Ok(())
}
