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

use super::processes::MemberProcesses;
use super::proxy::{Mode, Proxy};
use super::schedule::{FaultKind, PlannedFault};
use super::txn_process::TxnProcess;
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
    /// The group workloads' group ids, whose coordinator can be killed.
    pub groups: Vec<String>,
    /// The group members that run as processes, which can be killed.
    pub member_processes: &'a mut MemberProcesses,
    /// The transactional producer that runs as a process, killed with them.
    pub txn_process: &'a mut TxnProcess,
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
                let node = self.coordinator(CoordinatorKind::Transaction, &id)?;
                self.kill_and_restart(node, fault.hold)?;
                format!("node {node} (coordinator of {id})")
            }
            FaultKind::KillGroupCoordinator => {
                // The high bits: the low ones already chose the partition.
                let group = self
                    .groups
                    .get((fault.pick >> 32) as usize % self.groups.len().max(1))
                    .cloned()
                    .context("no group workload runs")?;
                let node = self.coordinator(CoordinatorKind::Group, &group)?;
                self.kill_and_restart(node, fault.hold)?;
                format!("node {node} (coordinator of {group})")
            }
            FaultKind::KillClientProcesses => {
                let members = &mut *self.member_processes;
                if members.is_empty() {
                    bail!("no group member process runs");
                }
                let index = (fault.pick >> 32) as usize % members.len();
                let (pid, ended_before) = members.kill(index)?;
                let (txn_pid, txn_ended_before) = self.txn_process.kill()?;
                // The hold is the time the clients are down.
                std::thread::sleep(fault.hold);
                let members = &mut *self.member_processes;
                let replacement = members.restart(index)?;
                let txn_replacement = self.txn_process.restart()?;
                let txn = match txn_ended_before {
                    None => {
                        format!("transactional producer {txn_pid}, replaced by {txn_replacement}")
                    }
                    Some(status) => format!(
                        "transactional producer {txn_pid} had already ended ({status}); replaced by {txn_replacement}"
                    ),
                };
                let (protocol, group) = members.group(index);
                let protocol = match protocol {
                    super::groups::Protocol::Classic => "classic",
                    super::groups::Protocol::Consumer => "KIP-848",
                };
                let member = match ended_before {
                    None => format!(
                        "member process {pid} of {group} ({protocol}), replaced by {replacement}"
                    ),
                    Some(status) => format!(
                        "member process {pid} of {group} ({protocol}) had already ended ({status}); \
                         replaced by {replacement}"
                    ),
                };
                format!("{member}; {txn}; after {:.1}s", fault.hold.as_secs_f64())
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
            FaultKind::Mixed => self.two_at_once(&tp, fault)?,
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

    /// The coordinator of `key` as the cluster says now: a cached answer
    /// may name a node that lost the role at an earlier fault.
    fn coordinator(&self, kind: CoordinatorKind, key: &str) -> anyhow::Result<i32> {
        let client = self.admin.client();
        client.forget_coordinator(kind, key);
        self.runtime
            .block_on(client.coordinator(kind, key))
            .with_context(|| format!("finding the coordinator of {key}"))
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

    /// Two faults at once, chosen by `fault.pick`: every connection slowed
    /// while `tp`'s leader is killed and restarted; or its leader paused
    /// past the session timeout while another node is cut off. Returns
    /// what it did.
    fn two_at_once(&mut self, tp: &TopicPartition, fault: &PlannedFault) -> anyhow::Result<String> {
        let leader = self.leader(tp)?;
        let hold = fault.hold.as_secs_f64();
        if fault.pick.is_multiple_of(2) {
            let delay = Duration::from_millis(50 + fault.pick / 2 % 250);
            let proxies = self.proxies;
            let slowed = Faulty::new(proxies, Mode::Delay(delay));
            self.kill_and_restart(leader, fault.hold)?;
            drop(slowed);
            Ok(format!(
                "node {leader} (leader of {tp}) killed for {hold:.1}s while every node was slowed \
                 {} ms a chunk",
                delay.as_millis()
            ))
        } else {
            let nodes = self.cluster.info.brokers.len() as u64;
            // One of the two other nodes, by the pick.
            let other = (leader as u64 + fault.pick / 2 % (nodes - 1)) % nodes + 1;
            let other = i32::try_from(other).context("node id")?;
            let cut = Faulty::new(std::slice::from_ref(self.proxy(other)?), Mode::Cut);
            let paused = Paused::new(self.pid(leader)?);
            std::thread::sleep(fault.hold);
            drop(paused);
            drop(cut);
            Ok(format!(
                "node {leader} (leader of {tp}) paused while node {other} was cut off, {hold:.1}s"
            ))
        }
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
