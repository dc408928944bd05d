//! `cargo xtask chaos`: a seeded schedule of faults (kills, pauses, clean
//! restarts, elections, reassignments) against a real 3-node KRaft cluster
//! while ferrokafka's producers write, then every record's fate checked by
//! an independent reader; writes `RELIABILITY.md`.
//!
//! Everything it starts ends with it: the cluster is tied to this process
//! (its watchdog kills the nodes however the process ends, Ctrl-C and
//! panics included), a paused node is continued on every path out, and the
//! Java reader runs bounded.

pub mod checker;
pub mod faults;
pub mod groups;
pub mod proxy;
pub mod report;
pub mod schedule;
pub mod transactions;
pub mod workload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};

use crate::broker::{self, StartOptions, jars};
use faults::Injector;
use proxy::Proxy;
use report::Campaign;
use schedule::{FaultKind, Schedule};
use workload::ProducerKind;

/// Options of `cargo xtask chaos`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Seconds the fault schedule runs (the read-back and the report come after).
    #[arg(long, default_value_t = 1200)]
    pub seconds: u64,
    /// The schedule's seed: the same seed gives the same faults in the same order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Apache Kafka release of the cluster (and of the Java reader).
    #[arg(long, default_value = jars::DEFAULT_KAFKA_VERSION)]
    pub kafka_version: String,
    /// Print the verdict only; leave RELIABILITY.md as it is (the CI's short run).
    #[arg(long)]
    pub no_report: bool,
}

/// Seconds of faults in the CI's short run: with the cluster's start, the
/// last fault's healing and the read-back, the step stays under 4 minutes.
pub const CI_SECONDS: u64 = 60;

/// How often a group member is killed and replaced.
const GROUP_CHURN: Duration = Duration::from_secs(15);

/// Partitions of each workload's topic.
const PARTITIONS: i32 = 6;
/// Time between two sends of one producer workload: 200 records/s each,
/// enough to have records in flight through every fault on a shared machine.
const PACE: Duration = Duration::from_millis(5);

/// Runs a campaign; fails when a scenario's contract was violated (after
/// printing the verdict and writing the report).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let reader = checker::compile_reader(&args.kafka_version)?;
    eprintln!(
        "chaos: starting a 3-node Apache Kafka {} cluster ...",
        args.kafka_version
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The proxies are bound first: the brokers advertise their ports.
    let (bound, advertised) = runtime.block_on(Proxy::bind_per_node(3))?;
    let mut cluster = broker::start_for_this_process(
        &StartOptions {
            version: args.kafka_version.clone(),
            brokers: 3,
            extra_properties: vec![advertised],
            ..StartOptions::single_node()
        },
        "chaos",
    )?;
    let proxies: Vec<Proxy> = {
        let _entered = runtime.enter();
        bound
            .into_iter()
            .zip(&cluster.info.brokers)
            .map(|((proxy, listener), node)| {
                proxy.forward_to(listener, SocketAddr::from(([127, 0, 0, 1], node.port)));
                proxy
            })
            .collect()
    };
    let bootstrap = proxies
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.port))
        .collect::<Vec<_>>()
        .join(",");
    let admin = runtime.block_on(Admin::connect(AdminConfig::from_pairs([(
        "bootstrap_servers",
        bootstrap.as_str(),
    )])?))?;
    let run_id = std::process::id();
    let producers = [ProducerKind::Idempotent, ProducerKind::Retrying];
    let mut topics: Vec<(String, i32)> = producers
        .iter()
        .map(|k| (format!("chaos-{}-{run_id}", k.tag()), PARTITIONS))
        .collect();
    let transactional_topic = format!("chaos-txn-{run_id}");
    let transactional_id = format!("chaos-txn-{run_id}");
    topics.push((transactional_topic.clone(), PARTITIONS));
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(name.clone(), *partitions, 3).config("min.insync.replicas", "2")
        })
        .collect();
    for (name, created) in runtime.block_on(admin.create_topics(
        &new_topics,
        false,
        &AdminOptions::new().timeout(Duration::from_secs(60)),
    )) {
        created.with_context(|| format!("creating {name}"))?;
    }

    let clock = Instant::now();
    let mut injector = Injector {
        cluster: &mut cluster,
        admin: &admin,
        runtime: runtime.handle().clone(),
        clock,
        topics: topics.clone(),
        transactional_id: Some(transactional_id.clone()),
        proxies: &proxies,
    };
    injector.wait_until_whole()?;

    let stop = Arc::new(AtomicBool::new(false));
    let workloads: Vec<_> = producers
        .iter()
        .zip(&topics)
        .map(|(&kind, (topic, partitions))| {
            runtime.spawn(workload::run_producer(
                kind,
                bootstrap.clone(),
                topic.clone(),
                *partitions,
                PACE,
                clock,
                stop.clone(),
            ))
        })
        .collect();
    let transactional = runtime.spawn(transactions::run(
        bootstrap.clone(),
        transactional_topic.clone(),
        PARTITIONS,
        transactional_id,
        clock,
        stop.clone(),
    ));
    let group_protocols = [groups::Protocol::Classic, groups::Protocol::Consumer];
    let group_workloads: Vec<_> = group_protocols
        .iter()
        .enumerate()
        .map(|(i, &protocol)| {
            runtime.spawn(groups::run(
                protocol,
                bootstrap.clone(),
                topics[0].0.clone(),
                format!("chaos-group-{i}-{run_id}"),
                GROUP_CHURN,
                schedule::picks(args.seed + i as u64, 64),
                stop.clone(),
            ))
        })
        .collect();

    let mut schedule = Schedule::new(args.seed, &FaultKind::ALL);
    let mut injected = Vec::new();
    let budget = Duration::from_secs(args.seconds);
    let schedule_result = (|| -> anyhow::Result<()> {
        while clock.elapsed() < budget {
            let fault = schedule.next_fault();
            // The quiet time between faults is the schedule's, not a
            // synchronisation: the workloads keep writing through it.
            std::thread::sleep(fault.gap);
            if clock.elapsed() >= budget {
                break;
            }
            eprintln!(
                "chaos: {:>6.1}s {} (hold {:.1}s)",
                clock.elapsed().as_secs_f64(),
                fault.kind.label(),
                fault.hold.as_secs_f64()
            );
            let done = injector.inject(&fault)?;
            eprintln!(
                "chaos: {:>6.1}s   {} healed, whole again after {:.1}s",
                clock.elapsed().as_secs_f64(),
                done.target,
                done.whole_at.saturating_sub(done.at).as_secs_f64()
            );
            injected.push(done);
        }
        Ok(())
    })();
    // A few quiet seconds so the last fault's records are acknowledged
    // alongside records sent after it.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for handle in workloads {
        logs.push(runtime.block_on(handle).context("a workload panicked")??);
    }
    let mut group_logs = Vec::new();
    for handle in group_workloads {
        group_logs.push(
            runtime
                .block_on(handle)
                .context("a group workload panicked")??,
        );
    }
    let transaction_log = runtime
        .block_on(transactional)
        .context("the transactional workload panicked")??;
    schedule_result?;

    eprintln!("chaos: reading every topic back with the Java consumer ...");
    let scratch = cluster.info.state_dir.clone();
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    let mut notes: Vec<String> = group_protocols
        .iter()
        .zip(&group_logs)
        .map(|(protocol, log)| {
            format!(
                "{}: {} members killed (dropped without leaving) and replaced",
                protocol.label(),
                log.killed
            )
        })
        .collect();
    let with_fate = |fate| {
        transaction_log
            .transactions
            .iter()
            .filter(|t| t.fate == fate)
            .count()
    };
    notes.push(format!(
        "{}: {} transactions: {} committed, {} aborted (on purpose or after an error), \
         {} abandoned by a producer dropped mid-transaction (a crashed client) and taken over \
         by a new one, {} of unknown outcome; {} producers replaced in all",
        report::TRANSACTIONAL,
        transaction_log.transactions.len(),
        with_fate(transactions::Fate::Committed),
        with_fate(transactions::Fate::Aborted),
        with_fate(transactions::Fate::Abandoned),
        with_fate(transactions::Fate::Unknown),
        transaction_log.producers_replaced
    ));
    let mut durations: Vec<Duration> = transaction_log
        .transactions
        .iter()
        .map(|t| t.settled_at.saturating_sub(t.began_at))
        .collect();
    durations.sort();
    if let (Some(median), Some(longest)) = (durations.get(durations.len() / 2), durations.last()) {
        notes.push(format!(
            "{}: a transaction took {:.2} s (median), {:.1} s at the longest, from begin to commit or abort",
            report::TRANSACTIONAL,
            median.as_secs_f64(),
            longest.as_secs_f64()
        ));
    }
    let mut idempotent_found = Vec::new();
    for log in &logs {
        let found = checker::read_topic(&reader, &bootstrap, &log.topic, true, &scratch)?;
        let (mut of_kind, total, holds) = report::producer_rows(log, &found, &injected);
        rows.append(&mut of_kind);
        totals.push((total, holds));
        if log.kind == ProducerKind::Idempotent {
            idempotent_found = found;
        }
    }
    for (protocol, log) in group_protocols.iter().zip(&group_logs) {
        let (row, holds) = report::group_row(*protocol, log, &idempotent_found, injected.len());
        rows.push(row.clone());
        totals.push((row, holds));
    }
    let found = checker::read_topic(&reader, &bootstrap, &transaction_log.topic, true, &scratch)?;
    let (mut of_kind, total, holds) = report::transaction_rows(&transaction_log, &found, &injected);
    rows.append(&mut of_kind);
    totals.push((total, holds));
    drop(admin);
    runtime.shutdown_timeout(Duration::from_secs(5));
    cluster.stop();

    let campaign = Campaign {
        seed: args.seed,
        seconds: args.seconds,
        versions: versions(&args.kafka_version),
        rows,
        totals,
        faults: injected,
        notes,
    };
    println!("{}", report::verdict_table(&campaign));
    if !args.no_report {
        let path = crate::workspace_root().join("RELIABILITY.md");
        // The soak's section comes from its own command: keep it.
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(
            &path,
            crate::soak::report::SECTION.keep(&old, report::render(&campaign)),
        )
        .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("chaos: wrote {}", path.display());
    }
    if !campaign.holds() {
        bail!("a scenario's contract was violated; see the verdict above");
    }
    Ok(())
}

fn versions(kafka_version: &str) -> Vec<(&'static str, String)> {
    let commit = crate::git_commit();
    vec![
        (
            "ferrokafka",
            format!("{} (commit {commit})", env!("CARGO_PKG_VERSION")),
        ),
        (
            "cluster",
            format!(
                "Apache Kafka {kafka_version}, 3 combined broker+controller nodes (KRaft), the harness's settings (broker session timeout 6 s)"
            ),
        ),
        (
            "reader",
            format!("the Java consumer, org.apache.kafka:kafka-clients {kafka_version}"),
        ),
    ]
}
