//! `cargo xtask bench share`: share groups (KIP-932), ferrokafka's share
//! consumer against the Java client's (Kafka's `ShareConsumerPerformance`),
//! one member and three in one process, on one pre-filled topic. Each run
//! reads in a fresh share group whose `share.auto.offset.reset` is
//! `earliest`. Written as the share section of `BENCHMARKS.md` (see
//! [`super::share_report`]).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use ferrokafka_admin::configs::{AlterConfigOp, ConfigResource, ResourceType};
use ferrokafka_admin::{Admin, AdminOptions};

use super::BenchBroker;
use super::peers::{self, PeerKind, Task};
use super::share_report::{self, Report, Section};
use super::{Args, create_topic, measure, rounds};
use crate::broker;

/// The members of the share group in each workload.
pub const MEMBERS: [u64; 2] = [1, 3];

/// The clients with a share consumer benchmark.
const CLIENTS: [PeerKind; 2] = [PeerKind::Ferrokafka, PeerKind::Java];

/// Runs the share-group benchmark.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let wanted: Vec<PeerKind> = if args.peers.is_empty() {
        CLIENTS.to_vec()
    } else {
        args.peers.clone()
    };
    let (with_share, without): (Vec<PeerKind>, Vec<PeerKind>) =
        wanted.into_iter().partition(|kind| CLIENTS.contains(kind));
    let (ready, mut unavailable) = peers::prepare_each(with_share);
    unavailable.extend(
        without
            .into_iter()
            .map(|kind| (kind, "no share consumer".to_string())),
    );
    let ferrokafka = peers::ferrokafka_among(&ready)?;
    let bench = BenchBroker::connect(args.bootstrap_servers.as_deref(), "bench-share")?;
    let (runtime, client, bootstrap) = (&bench.runtime, &bench.client, bench.bootstrap.clone());
    let run_id = std::process::id();
    let timeout = Duration::from_secs(args.timeout_s);
    let topic = format!("bench-share-{run_id}");
    runtime.block_on(create_topic(client, &topic, args.partitions))?;
    // The fill is the run that warms the broker's JVM up, as in the main
    // benchmark.
    eprintln!("filling {topic} with {} records", args.records);
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
    let unused = broker::harness_dir().join("bench-share-no-json-ints");
    measure::run_bounded(
        ferrokafka.command(&bootstrap, &topic, args.records, &fill, &unused),
        timeout,
    )
    .context("filling the topic")?;

    let admin = Admin::with_client(client.clone());
    let rounds = usize::try_from(args.rounds).unwrap_or(1);
    let mut sections = Vec::new();
    for members in MEMBERS {
        eprintln!("== share group of {members}");
        let mut runs = vec![rounds::Runs::default(); ready.len()];
        let clients: Vec<(usize, &peers::Peer)> = ready.iter().enumerate().collect();
        for round in 0..rounds {
            for (c, peer) in rounds::rotation(&clients, round) {
                let group = format!("bench-share-{run_id}-{members}-{round}-{:?}", peer.kind)
                    .to_lowercase();
                let outcome = runtime
                    .block_on(read_from_the_start(&admin, &group))
                    .and_then(|()| {
                        let task = Task::Share {
                            group: group.clone(),
                            consumers: members,
                        };
                        let command =
                            peer.command(&bootstrap, &topic, args.records, &task, &unused);
                        let (stdout, usage) = measure::run_bounded(command, timeout)?;
                        let m = peer.result(&stdout, args.records, &task)?.with_usage(usage);
                        anyhow::ensure!(
                            m.records >= args.records,
                            "read {} of {} records",
                            m.records,
                            args.records
                        );
                        Ok(m)
                    });
                // The group's state would stay on the share coordinator.
                runtime.block_on(forget(&admin, &group));
                match &outcome {
                    Ok(m) => eprintln!(
                        "   round {} {:<12} {:>10.0} records/s  cpu {:>5.1} s/M  rss {:>4} MiB",
                        round + 1,
                        peer.kind.label(),
                        m.records_per_s(),
                        m.cpu_s_per_million(),
                        m.max_rss_bytes >> 20,
                    ),
                    Err(error) => eprintln!(
                        "   round {} {:<12} failed: {error:#}",
                        round + 1,
                        peer.kind.label()
                    ),
                }
                runs[c].outcomes.push(outcome.map_err(|e| format!("{e:#}")));
            }
        }
        sections.push(Section {
            members,
            rows: ready.iter().map(|p| p.kind).zip(runs).collect(),
        });
    }
    bench.delete_topic(&topic)?;
    drop(admin);
    bench.stop();

    let section = share_report::render(&Report {
        records: args.records,
        partitions: args.partitions,
        rounds: args.rounds,
        sections,
        unavailable,
    });
    println!("{section}");
    let full = args.records == 1_000_000 && args.peers.is_empty();
    let out = args
        .out
        .clone()
        .or_else(|| full.then(|| crate::workspace_root().join("BENCHMARKS.md")));
    if let Some(out) = out {
        let old = std::fs::read_to_string(&out).unwrap_or_default();
        std::fs::write(&out, share_report::splice(&old, &section))
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote the share-group section of {}", out.display());
    }
    Ok(())
}

/// Makes the fresh `group` start at the earliest offset (a share group
/// starts at the latest by default, and would read nothing of the filled
/// topic).
async fn read_from_the_start(admin: &Admin, group: &str) -> anyhow::Result<()> {
    let resource = ConfigResource::new(ResourceType::Group, group);
    let changes = BTreeMap::from([(
        resource.clone(),
        vec![AlterConfigOp::set("share.auto.offset.reset", "earliest")],
    )]);
    let mut results = admin
        .incremental_alter_configs(&changes, false, &AdminOptions::default())
        .await;
    results
        .remove(&resource)
        .context("no answer for the group config")?
        .with_context(|| format!("setting share.auto.offset.reset on {group}"))
}

/// Deletes `group` once its members have left; a failure only leaves some
/// state behind on the broker the benchmark started.
async fn forget(admin: &Admin, group: &str) {
    let options = AdminOptions::new().timeout(Duration::from_secs(10));
    if let Some(Err(error)) = admin.delete_groups(&[group], &options).await.remove(group) {
        eprintln!("   (share group {group} not deleted: {error})");
    }
}
