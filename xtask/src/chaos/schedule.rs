//! The seeded fault schedule: which fault comes next and how long it
//! lasts, from a seed alone, so a campaign can be run again fault for fault.
//! No I/O here: the injector acts on what this decides.

use std::time::Duration;

/// A fault the campaign injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum FaultKind {
    /// SIGKILL of the leader of a partition the workloads write, restarted
    /// after the hold.
    KillPartitionLeader,
    /// SIGKILL of the active KRaft controller, restarted after the hold.
    KillController,
    /// SIGKILL of the transactional workload's coordinator, restarted after
    /// the hold.
    KillTransactionCoordinator,
    /// SIGKILL of the coordinator of one of the group workloads' groups
    /// (classic or KIP-848, chosen by the seed), restarted after the hold.
    KillGroupCoordinator,
    /// SIGKILL of a group member that runs as a process of its own and of
    /// the transactional producer process, new ones started in their place
    /// (the latter with the same transactional id) after the hold.
    KillClientProcesses,
    /// SIGSTOP of a partition leader past the broker session timeout, then
    /// SIGCONT: a leader that wakes up behind.
    PauseLeader,
    /// SIGTERM of a node (a controlled shutdown), started again after the hold.
    CleanRestart,
    /// A partition's replicas reordered and its preferred leader elected
    /// through the admin client: leadership moves while the workloads write.
    ElectLeader,
    /// A partition shrunk to two replicas and grown back to three through
    /// the admin client: replicas are removed and copied while it is written.
    Reassign,
    /// A partition leader's proxy closes every connection and refuses new
    /// ones for the hold, then heals.
    CutOff,
    /// A partition leader's proxy keeps its connections open but forwards
    /// nothing for the hold (past the clients' request timeout), then heals.
    Blackhole,
    /// Every proxy delays each chunk for the hold.
    SlowNetwork,
    /// Two faults at once, by turns: every connection slowed while the
    /// partition leader is SIGKILLed; or the leader paused past the session
    /// timeout while another node is cut off, so one of three nodes is left
    /// whole.
    Mixed,
}

impl FaultKind {
    /// Every kind, in the order the report lists them.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::KillPartitionLeader,
        FaultKind::KillController,
        FaultKind::KillTransactionCoordinator,
        FaultKind::KillGroupCoordinator,
        FaultKind::KillClientProcesses,
        FaultKind::PauseLeader,
        FaultKind::CleanRestart,
        FaultKind::ElectLeader,
        FaultKind::Reassign,
        FaultKind::CutOff,
        FaultKind::Blackhole,
        FaultKind::SlowNetwork,
        FaultKind::Mixed,
    ];

    /// A short name for the report.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::KillPartitionLeader => "SIGKILL partition leader",
            FaultKind::KillController => "SIGKILL active controller",
            FaultKind::KillTransactionCoordinator => "SIGKILL transaction coordinator",
            FaultKind::KillGroupCoordinator => "SIGKILL group coordinator",
            FaultKind::KillClientProcesses => {
                "SIGKILL client processes (a group member, the transactional producer)"
            }
            FaultKind::PauseLeader => "SIGSTOP leader past session timeout",
            FaultKind::CleanRestart => "clean restart (SIGTERM)",
            FaultKind::ElectLeader => "leader election (admin)",
            FaultKind::Reassign => "partition reassignment (admin)",
            FaultKind::CutOff => "leader cut off from clients and replicas (proxy)",
            FaultKind::Blackhole => "leader's connections blackholed (proxy)",
            FaultKind::SlowNetwork => "every connection slowed (proxy)",
            FaultKind::Mixed => {
                "two at once: leader SIGKILL in a slowed network, or leader SIGSTOP with another node cut off"
            }
        }
    }
}

/// One planned fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedFault {
    /// What to do.
    pub kind: FaultKind,
    /// Quiet time before it, after the cluster has recovered from the last.
    pub gap: Duration,
    /// How long the fault lasts before it is healed (a killed node down, a
    /// paused one stopped).
    pub hold: Duration,
    /// A number the injector picks its target with (which partition, which
    /// replica), so the target too follows from the seed.
    pub pick: u64,
}

/// The faults of a campaign, in order, from a seed.
#[derive(Debug, Clone)]
pub struct Schedule {
    rng: SplitMix64,
    kinds: Vec<FaultKind>,
    round: Vec<FaultKind>,
}

/// The broker session timeout the harness configures (6 s): a pause must
/// outlast it for the controller to fence the paused node.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

impl Schedule {
    /// A schedule of `kinds` from `seed`. Each round injects every kind
    /// once, in a shuffled order, so every kind is injected about equally
    /// often whatever the length of the campaign.
    ///
    /// # Panics
    /// If `kinds` is empty.
    pub fn new(seed: u64, kinds: &[FaultKind]) -> Schedule {
        assert!(
            !kinds.is_empty(),
            "a schedule needs at least one fault kind"
        );
        Schedule {
            rng: SplitMix64(seed),
            kinds: kinds.to_vec(),
            round: Vec::new(),
        }
    }

    /// The next fault.
    pub fn next_fault(&mut self) -> PlannedFault {
        if self.round.is_empty() {
            self.round.clone_from(&self.kinds);
            // Fisher-Yates, popped from the end.
            for i in (1..self.round.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                self.round.swap(i, j);
            }
        }
        let kind = self.round.pop().expect("the round was just filled");
        let gap = Duration::from_millis(1000 + self.rng.below(3000));
        let hold = match kind {
            // A mixed fault may pause a leader: as long as a pause.
            FaultKind::PauseLeader | FaultKind::Mixed => {
                SESSION_TIMEOUT + Duration::from_millis(2000 + self.rng.below(4000))
            }
            FaultKind::ElectLeader | FaultKind::Reassign => Duration::ZERO,
            FaultKind::Blackhole => Duration::from_millis(4000 + self.rng.below(6000)),
            _ => Duration::from_millis(2000 + self.rng.below(6000)),
        };
        PlannedFault {
            kind,
            gap,
            hold,
            pick: self.rng.next_u64(),
        }
    }
}

/// `count` numbers from `seed`, for choices a workload makes on its own
/// schedule (which group member to kill).
pub fn picks(seed: u64, count: usize) -> Vec<u64> {
    let mut rng = SplitMix64(seed ^ 0x5eed_5eed);
    (0..count).map(|_| rng.next_u64()).collect()
}

/// A small, well-known generator (Vigna's SplitMix64): enough for a
/// reproducible schedule, and no dependency.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0); the modulo bias is irrelevant here.
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::{FaultKind, Schedule};

    #[test]
    fn the_same_seed_gives_the_same_faults_and_another_seed_others() {
        let faults = |seed| {
            let mut schedule = Schedule::new(seed, &FaultKind::ALL);
            (0..50).map(|_| schedule.next_fault()).collect::<Vec<_>>()
        };
        assert_eq!(faults(7), faults(7));
        assert_ne!(faults(7), faults(8));
    }

    #[test]
    fn every_kind_comes_once_a_round() {
        let mut schedule = Schedule::new(1, &FaultKind::ALL);
        for _ in 0..5 {
            let mut round: Vec<FaultKind> = (0..FaultKind::ALL.len())
                .map(|_| schedule.next_fault().kind)
                .collect();
            round.sort();
            assert_eq!(round, FaultKind::ALL.to_vec());
        }
    }

    #[test]
    fn a_pause_outlasts_the_session_timeout() {
        let mut schedule = Schedule::new(3, &[FaultKind::PauseLeader]);
        for _ in 0..20 {
            assert!(schedule.next_fault().hold > super::SESSION_TIMEOUT);
        }
    }
}
