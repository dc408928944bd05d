//! The injector: carries out a planned fault on the running cluster (finds
//! its target with the admin client, kills, pauses, restarts, elects,
//! reassigns) and heals it, and waits until the cluster is whole again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrokafka_admin::cluster::ElectionType;
use ferrokafka_admin::records::TopicPartition;
use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_transport::CoordinatorKind;
use tokio::runtime::Handle;

use super::proxy::{Mode, Proxy};
use super::schedule::{FaultKind, PlannedFault};
use crate::broker::{LocalCluster, process};

/// How long the cluster may take to be whole again (every node serving,
/// every partition of the workloads' topics with all its replicas in sync)
/// before the campaign gives up.
const HEAL_TIMEOUT: Duration = Duration::from_secs(180);
/// How long an admin operation (an election, a reassignment) may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A fault as it happened.
#[derive(Debug, Clone)]
pub struct Injected {
    /// What it was.
    pub kind: FaultKind,
    /// The node it hit, or the partition it moved.
    pub target: String,
    /// When it began, from the campaign's start.
    pub at: Duration,
    /// When it was healed (the node back, the reassignment done).
    pub healed_at: Duration,
    /// When the cluster was whole again, every replica in sync.
    pub whole_at: Duration,
}

/// What the injector acts on.
pub struct Injector<'a> {
    /// The cluster, for kills and restarts.
    pub cluster: &'a mut LocalCluster,
    /// An admin client of the cluster.
    pub admin: &'a Admin,
    /// The runtime the admin client lives on.
    pub runtime: Handle,
    /// The campaign's clock.
    pub clock: Instant,
    /// The topics the workloads write, with their partition counts: targets
    /// are chosen among their partitions, and they must be whole again after
    /// each fault.
    pub topics: Vec<(String, i32)>,
    /// The transactional workload's id, whose coordinator can be killed.
    pub transactional_id: Option<String>,
    /// The proxy in front of each node, node id `n` at index `n - 1`.
    pub proxies: &'a [Proxy],
}

impl Injector<'_> {
    /// Carries out `fault` and heals it.
    pub fn inject(&mut self, fault: &PlannedFault) -> anyhow::Result<Injected> {
        let (topic, partitions) =
            self.topics[(fault.pick % self.topics.len() as u64) as usize].clone();
        let tp = TopicPartition::new(topic, (fault.pick / 7 % partitions as u64) as i32);
        let at = self.clock.elapsed();
        let target = match fault.kind {
            FaultKind::KillPartitionLeader => {
                let node = self.leader(&tp)?;
                self.kill_and_restart(node, fault.hold)?;
                format!("node {node} (leader of {tp})")
            }
            FaultKind::KillController => {
                let node = self
                    .block_on_admin(
                        |a| async move { a.describe_quorum(&AdminOptions::new()).await },
                    )?
                    .leader_id;
                self.kill_and_restart(node, fault.hold)?;
                format!("node {node} (active controller)")
            }
            FaultKind::KillTransactionCoordinator => {
                let id = self
                    .transactional_id
                    .clone()
                    .context("no transactional workload runs")?;
                let key = id.clone();
                let node = self.runtime.block_on(async {
                    self.admin
                        .client()
                        .coordinator(CoordinatorKind::Transaction, &key)
                        .await
                })?;
                self.kill_and_restart(node, fault.hold)?;
                format!("node {node} (coordinator of {id})")
            }
            FaultKind::PauseLeader => {
                let node = self.leader(&tp)?;
                let pid = self.pid(node)?;
                let paused = Paused::new(pid);
                std::thread::sleep(fault.hold);
                drop(paused);
                format!(
                    "node {node} (leader of {tp}), paused {:.1}s",
                    fault.hold.as_secs_f64()
                )
            }
            FaultKind::CleanRestart => {
                let node = (fault.pick % self.cluster.info.brokers.len() as u64) as i32 + 1;
                let pid = self.pid(node)?;
                process::signal("-TERM", &[pid]);
                let deadline = Instant::now() + Duration::from_secs(60);
                while process::alive(pid) && Instant::now() < deadline {
                    // A controlled shutdown has no event to wait on from here.
                    std::thread::sleep(Duration::from_millis(100));
                }
                std::thread::sleep(fault.hold);
                self.cluster.restart_node(node as u32)?;
                format!("node {node}")
            }
            FaultKind::CutOff | FaultKind::Blackhole => {
                let node = self.leader(&tp)?;
                let proxy = self.proxy(node)?;
                let mode = if fault.kind == FaultKind::CutOff {
                    Mode::Cut
                } else {
                    Mode::Blackhole
                };
                let faulty = Faulty::new(std::slice::from_ref(proxy), mode);
                std::thread::sleep(fault.hold);
                drop(faulty);
                format!(
                    "node {node} (leader of {tp}) for {:.1}s",
                    fault.hold.as_secs_f64()
                )
            }
            FaultKind::SlowNetwork => {
                let delay = Duration::from_millis(50 + fault.pick % 250);
                let faulty = Faulty::new(self.proxies, Mode::Delay(delay));
                std::thread::sleep(fault.hold);
                drop(faulty);
                format!(
                    "every node, {} ms a chunk for {:.1}s",
                    delay.as_millis(),
                    fault.hold.as_secs_f64()
                )
            }
            FaultKind::ElectLeader => {
                let moved_to = self.move_leadership(&tp, fault.pick)?;
                format!("{tp} to node {moved_to}")
            }
            FaultKind::Reassign => {
                let dropped = self.shrink_and_grow(&tp, fault.pick)?;
                format!("{tp} without node {dropped} and back")
            }
        };
        let healed_at = self.clock.elapsed();
        self.wait_until_whole()?;
        Ok(Injected {
            kind: fault.kind,
            target,
            at,
            healed_at,
            whole_at: self.clock.elapsed(),
        })
    }

    /// Waits until every node serves and every partition of the workloads'
    /// topics has a leader and all its replicas in sync.
    pub fn wait_until_whole(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + HEAL_TIMEOUT;
        let names: Vec<String> = self.topics.iter().map(|(t, _)| t.clone()).collect();
        loop {
            let described = self.runtime.block_on(self.admin.describe_topics(
                &names,
                &AdminOptions::new().timeout(Duration::from_secs(10)),
            ));
            let whole = described.values().all(|topic| {
                topic.as_ref().is_ok_and(|t| {
                    t.partitions.iter().all(|p| {
                        p.leader.is_some()
                            && p.replicas.len() == 3
                            && p.isr.len() == p.replicas.len()
                    })
                })
            });
            if whole {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the cluster was not whole again within {HEAL_TIMEOUT:?}: {described:?}");
            }
            // The ISR grows back on the broker's schedule: poll it.
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn block_on_admin<'s, T, F>(
        &'s self,
        call: impl FnOnce(&'s Admin) -> F,
    ) -> Result<T, ferrokafka_admin::AdminError>
    where
        F: std::future::Future<Output = Result<T, ferrokafka_admin::AdminError>>,
    {
        self.runtime.block_on(call(self.admin))
    }

    fn leader(&self, tp: &TopicPartition) -> anyhow::Result<i32> {
        self.describe(tp)?
            .leader
            .with_context(|| format!("{tp} has no leader"))
    }

    fn describe(
        &self,
        tp: &TopicPartition,
    ) -> anyhow::Result<ferrokafka_admin::topics::PartitionDescription> {
        let topic = tp.topic.to_string();
        let mut described = self.runtime.block_on(self.admin.describe_topics(
            &[topic.as_str()],
            &AdminOptions::new().timeout(ADMIN_TIMEOUT),
        ));
        let description = described
            .remove(&topic)
            .with_context(|| format!("{topic} was not described"))??;
        description
            .partitions
            .into_iter()
            .find(|p| p.partition == tp.partition)
            .with_context(|| format!("{tp} was not described"))
    }

    fn pid(&self, node: i32) -> anyhow::Result<u32> {
        self.cluster
            .info
            .brokers
            .iter()
            .find(|b| i64::from(b.node_id) == i64::from(node))
            .and_then(|b| b.pid)
            .with_context(|| format!("no process for node {node}"))
    }

    fn proxy(&self, node: i32) -> anyhow::Result<&Proxy> {
        usize::try_from(node - 1)
            .ok()
            .and_then(|i| self.proxies.get(i))
            .with_context(|| format!("no proxy for node {node}"))
    }

    fn kill_and_restart(&mut self, node: i32, hold: Duration) -> anyhow::Result<()> {
        let node = u32::try_from(node).with_context(|| format!("node id {node}"))?;
        self.cluster.kill_node(node)?;
        std::thread::sleep(hold);
        self.cluster.restart_node(node)
    }

    /// Reorders `tp`'s replicas so another in-sync one comes first, and
    /// elects it: the leader moves. Returns the new leader.
    fn move_leadership(&self, tp: &TopicPartition, pick: u64) -> anyhow::Result<i32> {
        let partition = self.describe(tp)?;
        let candidates: Vec<i32> = partition
            .isr
            .iter()
            .copied()
            .filter(|&r| Some(r) != partition.leader)
            .collect();
        let Some(&next) = candidates.get((pick % candidates.len().max(1) as u64) as usize) else {
            bail!("{tp} has no other in-sync replica: {partition:?}");
        };
        let mut order = vec![next];
        order.extend(partition.replicas.iter().copied().filter(|&r| r != next));
        self.reassign(tp, order)?;
        let deadline = Instant::now() + ADMIN_TIMEOUT;
        loop {
            let answers = self.block_on_admin(|a| {
                let tp = tp.clone();
                async move {
                    a.elect_leaders(
                        ElectionType::Preferred,
                        Some(&[tp]),
                        &AdminOptions::new().timeout(ADMIN_TIMEOUT),
                    )
                    .await
                }
            })?;
            match answers.get(tp) {
                Some(Ok(())) => return Ok(next),
                Some(Err(e)) if e.to_string().contains("ELECTION_NOT_NEEDED") => return Ok(next),
                other if Instant::now() > deadline => bail!("electing {tp}: {other:?}"),
                // Refused while the replica catches up: try again shortly.
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// Moves `tp` off one replica, then back onto it (last, so not
    /// preferred). Returns the replica dropped.
    fn shrink_and_grow(&self, tp: &TopicPartition, pick: u64) -> anyhow::Result<i32> {
        let partition = self.describe(tp)?;
        let replicas = partition.replicas.clone();
        let dropped = replicas[(pick % replicas.len() as u64) as usize];
        let kept: Vec<i32> = replicas.iter().copied().filter(|&r| r != dropped).collect();
        self.reassign(tp, kept.clone())?;
        let mut grown = kept;
        grown.push(dropped);
        self.reassign(tp, grown)?;
        Ok(dropped)
    }

    /// Reassigns `tp` to `replicas` and waits until the move is done.
    fn reassign(&self, tp: &TopicPartition, replicas: Vec<i32>) -> anyhow::Result<()> {
        let request = BTreeMap::from([(tp.clone(), Some(replicas))]);
        let answers =
            self.runtime
                .block_on(self.admin.alter_partition_reassignments(
                    &request,
                    &AdminOptions::new().timeout(ADMIN_TIMEOUT),
                ));
        if let Some(Err(e)) = answers.get(tp) {
            bail!("reassigning {tp}: {e}");
        }
        let deadline = Instant::now() + HEAL_TIMEOUT;
        loop {
            let ongoing = self.block_on_admin(|a| {
                let tp = tp.clone();
                async move {
                    a.list_partition_reassignments(
                        Some(&[tp]),
                        &AdminOptions::new().timeout(ADMIN_TIMEOUT),
                    )
                    .await
                }
            })?;
            if ongoing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("reassigning {tp} did not finish within {HEAL_TIMEOUT:?}: {ongoing:?}");
            }
            // The replicas copy on the broker's schedule: poll.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Proxies set to a faulty mode, set back to passing when this is dropped,
/// on every path out.
struct Faulty<'p>(&'p [Proxy]);

impl<'p> Faulty<'p> {
    fn new(proxies: &'p [Proxy], mode: Mode) -> Faulty<'p> {
        for proxy in proxies {
            proxy.set(mode);
        }
        Faulty(proxies)
    }
}

impl Drop for Faulty<'_> {
    fn drop(&mut self) {
        for proxy in self.0 {
            proxy.set(Mode::Pass);
        }
    }
}

/// A process stopped with SIGSTOP, continued when this is dropped, on every
/// path out (a panic included), so no broker is left frozen.
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Paused {
        process::signal("-STOP", &[pid]);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        process::signal("-CONT", &[self.0]);
    }
}
