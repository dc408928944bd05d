//! `cargo xtask chaos`: a seeded schedule of faults (kills, pauses, clean
//! restarts, elections, reassignments) against a real 3-node KRaft cluster
//! while ferrokafka's producers write, then every record's fate checked by
//! an independent reader; writes `RELIABILITY.md`.
//!
//! Everything it starts ends with it: the cluster is tied to this process
//! (its watchdog kills the nodes however the process ends, Ctrl-C and
//! panics included), a paused node is continued on every path out, the
//! client processes (group members, the transactional producer) exit when
//! this process's end of their stdin pipe closes and are killed on every
//! path out, and the Java reader and the last transactional takeover run
//! bounded.

pub mod checker;
pub mod faults;
pub mod groups;
pub mod processes;
pub mod proxy;
pub mod report;
pub mod schedule;
pub mod transactions;
pub mod txn_process;
pub mod workload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};

use crate::broker::{self, StartOptions, jars};
use faults::{Injected, Injector};
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
    /// Inject only these kinds of fault (all of them when none is given).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kinds: Vec<FaultKind>,
    /// Keep injecting past `--seconds` until every kind of fault was
    /// injected at least this often (0: stop at `--seconds`).
    #[arg(long, default_value_t = 10)]
    pub min_each: usize,
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
    // Not among the injector's topics: those choose the faults' targets.
    let txn_process_topic = format!("chaos-txnproc-{run_id}");
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .chain(std::iter::once(&(txn_process_topic.clone(), PARTITIONS)))
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

    let group_protocols = [groups::Protocol::Classic, groups::Protocol::Consumer];
    let group_ids: Vec<(groups::Protocol, String)> = group_protocols
        .iter()
        .enumerate()
        .map(|(i, &protocol)| (protocol, format!("chaos-group-{i}-{run_id}")))
        .collect();
    // Besides the in-process members, each group has one in a process of
    // its own, for the SIGKILL of a client.
    let mut member_processes = processes::MemberProcesses::start(
        &cluster.info.state_dir.join("members"),
        &bootstrap,
        &topics[0].0,
        &group_ids,
    )?;
    let mut txn_process = txn_process::TxnProcess::start(
        &cluster.info.state_dir.join("members"),
        &bootstrap,
        &txn_process_topic,
        PARTITIONS,
        &format!("chaos-txnproc-{run_id}"),
    )?;

    let clock = Instant::now();
    let mut injector = Injector {
        cluster: &mut cluster,
        admin: &admin,
        runtime: runtime.handle().clone(),
        clock,
        topics: topics.clone(),
        transactional_id: Some(transactional_id.clone()),
        proxies: &proxies,
        groups: group_ids.iter().map(|(_, g)| g.clone()).collect(),
        member_processes: &mut member_processes,
        txn_process: &mut txn_process,
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
    // The consume-transform-produce loop reads the idempotent producer's
    // topic, the same partition count as its output.
    let transactional = runtime.spawn(transactions::run(
        transactions::Setup {
            bootstrap: bootstrap.clone(),
            input_topic: topics[0].0.clone(),
            output_topic: transactional_topic.clone(),
            transactional_id,
            group: format!("chaos-ctp-{run_id}"),
            trap: proxies[0].end_txn_trap(),
        },
        clock,
        stop.clone(),
    ));
    let group_workloads: Vec<_> = group_ids
        .iter()
        .enumerate()
        .map(|(i, (protocol, group))| {
            runtime.spawn(groups::run(
                *protocol,
                bootstrap.clone(),
                topics[0].0.clone(),
                group.clone(),
                GROUP_CHURN,
                schedule::picks(args.seed + i as u64, 64),
                stop.clone(),
            ))
        })
        .collect();

    let kinds = if args.kinds.is_empty() {
        FaultKind::ALL.to_vec()
    } else {
        args.kinds.clone()
    };
    let mut schedule = Schedule::new(args.seed, &kinds);
    let mut injected = Vec::new();
    let budget = Duration::from_secs(args.seconds);
    let schedule_result = (|| -> anyhow::Result<()> {
        let more = |injected: &[Injected]| {
            clock.elapsed() < budget || least_injected(&kinds, injected) < args.min_each
        };
        while more(&injected) {
            let fault = schedule.next_fault();
            // The quiet time between faults is the schedule's, not a
            // synchronisation: the workloads keep writing through it.
            std::thread::sleep(fault.gap);
            if !more(&injected) {
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
    let schedule_ran = clock.elapsed();
    // A few quiet seconds so the last fault's records are acknowledged
    // alongside records sent after it.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    member_processes.stop();
    let txn_process_stopped = txn_process.stop();
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
    let mut process_deliveries = Vec::new();
    for (i, log) in group_logs.iter_mut().enumerate() {
        let delivered = member_processes.delivered(i)?;
        process_deliveries.push(delivered.len());
        log.consumed.extend(delivered);
    }
    let transaction_log = runtime
        .block_on(transactional)
        .context("the transactional workload panicked")??;
    schedule_result?;
    txn_process_stopped?;

    eprintln!("chaos: reading every topic back with the Java consumer ...");
    let scratch = cluster.info.state_dir.clone();
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    let mut notes: Vec<String> = group_protocols
        .iter()
        .zip(&group_logs)
        .enumerate()
        .map(|(i, (protocol, log))| {
            format!(
                "{}: {} members killed (dropped without leaving) and replaced; \
                 {} member processes SIGKILLed and replaced ({} of the {} deliveries were to \
                 member processes)",
                protocol.label(),
                log.killed,
                member_processes.killed(i),
                process_deliveries[i],
                log.consumed.len()
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
         by a new one, {} of unknown outcome; {} producers replaced in all; the consumer went \
         back to the committed offsets {} times; transaction protocol {}",
        report::TRANSACTIONAL,
        transaction_log.transactions.len(),
        with_fate(transactions::Fate::Committed),
        with_fate(transactions::Fate::Aborted),
        with_fate(transactions::Fate::Abandoned),
        with_fate(transactions::Fate::Unknown),
        transaction_log.producers_replaced,
        transaction_log.rewinds,
        transaction_log.protocol
    ));
    notes.push(format!(
        "{}: {} EndTxn requests held {} s by the proxy past the {} s request timeout; {} of \
         those commits still succeeded (the client retried EndTxn on a new connection until \
         the coordinator answered); {} held EndTxns reached the coordinator and were answered \
         while the next transaction was open (any other arrived before the retried commit was \
         answered, or was cut off by a proxy fault on its way)",
        report::TRANSACTIONAL,
        transaction_log.end_txn_held,
        transactions::TRAP_HOLD.as_secs(),
        transactions::REQUEST_TIMEOUT.as_secs(),
        transaction_log.held_then_committed,
        transaction_log.late_while_open
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
    let (found, committed) = checker::read_topic_and_offsets(
        &reader,
        &bootstrap,
        &transaction_log.topic,
        (&transaction_log.group, &transaction_log.input_topic),
        &scratch,
    )?;
    let (mut of_kind, total, holds) = report::transaction_rows(&transaction_log, &found, &injected);
    rows.append(&mut of_kind);
    totals.push((total, holds));
    let flow = transactions::judge_flow(&idempotent_found, &found, &committed);
    let (row, holds) = report::flow_row(&flow, injected.len());
    rows.push(row.clone());
    totals.push((row, holds));
    let found = checker::read_topic(&reader, &bootstrap, &txn_process_topic, true, &scratch)?;
    let (row, holds, note) = txn_process.judge(&found, injected.len())?;
    rows.push(row.clone());
    totals.push((row, holds));
    notes.push(note);
    drop(admin);
    runtime.shutdown_timeout(Duration::from_secs(5));
    cluster.stop();

    let campaign = Campaign {
        seed: args.seed,
        seconds: args.seconds,
        min_each: args.min_each,
        ran_seconds: schedule_ran.as_secs(),
        versions: versions(&args.kafka_version),
        rows,
        totals,
        faults: injected,
        notes,
    };
    println!("{}", report::verdict_table(&campaign));
    for note in &campaign.notes {
        println!("- {note}");
    }
    if !args.no_report {
        let path = crate::workspace_root().join("RELIABILITY.md");
        // The soak's and the fuzz campaign's sections come from their own
        // commands: keep them.
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let kept = crate::soak::report::SECTION.keep(&old, report::render(&campaign));
        std::fs::write(&path, crate::fuzz::report::SECTION.keep(&old, kept))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("chaos: wrote {}", path.display());
    }
    if !campaign.holds() {
        bail!("a scenario's contract was violated; see the verdict above");
    }
    Ok(())
}

/// How often the least injected of `kinds` was injected.
fn least_injected(kinds: &[FaultKind], injected: &[Injected]) -> usize {
    kinds
        .iter()
        .map(|kind| injected.iter().filter(|i| i.kind == *kind).count())
        .min()
        .unwrap_or(0)
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
