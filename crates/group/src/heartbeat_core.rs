//! What the KIP-848 consumer member and the KIP-932 share member have in
//! common: finding the coordinator, the heartbeat schedule, naming the
//! topic ids of an assignment, the step from the owned partitions toward the
//! coordinator's target, and how a heartbeat's error code is read. Each
//! machine keeps what is its own (the request's fields, the poll-interval
//! limit, revocation callbacks) and drives this core; it does no I/O either.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_protocol::{ErrorCode, Uuid};

use crate::assignor::TopicPartition;
use crate::consumer_member::{JOIN_EPOCH, MemberState};
use crate::member::GroupError;

/// Partitions by topic id, as heartbeats carry them.
pub(crate) type Partitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// A request the core wants sent before any heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Send FindCoordinator for the group.
    FindCoordinator,
    /// Name these topic ids (refresh metadata).
    ResolveTopics(Vec<Uuid>),
}

/// Which heartbeat [`HeartbeatCore::due_heartbeat`] found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Epoch 0 with every field: joining, or rejoining after fencing.
    Join,
    /// At the current epoch.
    Heartbeat,
}

/// How a heartbeat's error code is acted on, for the codes both protocols
/// share.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// No error: read the answer.
    Proceed,
    /// The coordinator no longer counts this member in: lose everything and
    /// rejoin with the same id at epoch 0.
    Fenced,
    /// Find the coordinator again.
    LostCoordinator,
    /// Loading, throttled, ...: try again after the backoff, in full.
    Retry,
    /// Membership cannot go on.
    Fatal(GroupError),
}

/// Reads an error code the way both membership protocols do; a machine
/// handles its own codes before asking.
pub(crate) fn verdict(code: ErrorCode, unsupported: fn() -> GroupError) -> Verdict {
    match code {
        ErrorCode::None => Verdict::Proceed,
        ErrorCode::FencedMemberEpoch | ErrorCode::UnknownMemberId => Verdict::Fenced,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => Verdict::LostCoordinator,
        ErrorCode::GroupAuthorizationFailed => Verdict::Fatal(GroupError::GroupAuthorizationFailed),
        ErrorCode::GroupMaxSizeReached => Verdict::Fatal(GroupError::GroupMaxSizeReached),
        ErrorCode::UnsupportedVersion => Verdict::Fatal(unsupported()),
        other if other.is_retriable() => Verdict::Retry,
        other => Verdict::Fatal(GroupError::Other {
            code: other.code(),
            retriable: false,
        }),
    }
}

/// The state both membership machines keep, and the steps they take alike.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent in-flight flags
pub(crate) struct HeartbeatCore {
    pub(crate) retry_backoff: Duration,
    pub(crate) state: MemberState,
    pub(crate) coordinator: Option<i32>,
    finding_coordinator: bool,
    pub(crate) epoch: i32,
    /// The coordinator's latest assignment.
    pub(crate) target: Partitions,
    /// What the member has taken of it.
    pub(crate) owned: Partitions,
    names: BTreeMap<Uuid, String>,
    pub(crate) heartbeat_in_flight: bool,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) next_heartbeat: Option<Instant>,
    pub(crate) not_before: Option<Instant>,
    resolve_in_flight: bool,
    next_resolve: Option<Instant>,
    /// Rebalances completed: times the member took a new assignment and
    /// went on to acknowledge it (Java's `rebalance-total` counts each
    /// reconciliation that ends this way).
    rebalances: u64,
}

impl HeartbeatCore {
    pub(crate) fn new(retry_backoff: Duration) -> Self {
        HeartbeatCore {
            retry_backoff,
            state: MemberState::Unsubscribed,
            coordinator: None,
            finding_coordinator: false,
            epoch: JOIN_EPOCH,
            target: Partitions::new(),
            owned: Partitions::new(),
            names: BTreeMap::new(),
            heartbeat_in_flight: false,
            heartbeat_interval: Duration::from_secs(5),
            next_heartbeat: None,
            not_before: None,
            resolve_in_flight: false,
            next_resolve: None,
            rebalances: 0,
        }
    }

    /// Goes to `Acknowledging`: a reconciliation ended and the new epoch is
    /// to be acknowledged. Counts a rebalance unless already acknowledging
    /// (another step of the same one).
    pub(crate) fn acknowledge(&mut self) {
        if self.state != MemberState::Acknowledging {
            self.rebalances += 1;
        }
        self.state = MemberState::Acknowledging;
    }

    /// Rebalances completed so far (see [`HeartbeatCore::acknowledge`]).
    pub(crate) fn rebalances(&self) -> u64 {
        self.rebalances
    }

    pub(crate) fn in_group(&self) -> bool {
        matches!(
            self.state,
            MemberState::Stable | MemberState::Reconciling | MemberState::Acknowledging
        )
    }

    /// The earliest of the core's deadlines and `also`'s.
    pub(crate) fn next_deadline(&self, also: Option<Instant>) -> Option<Instant> {
        let mut deadlines = vec![self.not_before, also];
        if self.in_group() {
            deadlines.push(self.next_heartbeat);
            if !self.resolve_in_flight && !self.unresolved().is_empty() {
                deadlines.push(self.next_resolve);
            }
        }
        deadlines.into_iter().flatten().min()
    }

    pub(crate) fn coordinator_found(&mut self, node: i32) {
        self.finding_coordinator = false;
        self.coordinator = Some(node);
    }

    pub(crate) fn coordinator_not_found(&mut self, now: Instant) {
        self.finding_coordinator = false;
        self.back_off(now);
    }

    pub(crate) fn back_off(&mut self, now: Instant) {
        self.not_before = Some(now + self.retry_backoff);
    }

    /// Takes names metadata found; true when the member should reconcile.
    pub(crate) fn topics_resolved(&mut self, now: Instant, names: BTreeMap<Uuid, String>) -> bool {
        self.resolve_in_flight = false;
        self.names.extend(names);
        self.next_resolve = Some(now + self.retry_backoff);
        self.in_group()
    }

    /// A leave heartbeat is due now (leaving waits for no backoff: the
    /// consumer is closing); marks it sent and the member gone.
    pub(crate) fn leave_due(&mut self) -> bool {
        if self.state == MemberState::Leaving && !self.heartbeat_in_flight {
            self.state = MemberState::Left;
            self.heartbeat_in_flight = true;
            return true;
        }
        false
    }

    /// Still backing off at `now`; clears the backoff once it passed.
    pub(crate) fn backing_off(&mut self, now: Instant) -> bool {
        if self.not_before.is_some_and(|t| now < t) {
            return true;
        }
        self.not_before = None;
        false
    }

    /// What must be asked before a heartbeat can go; `None` when a heartbeat
    /// may be considered at all (a coordinator known, none in flight).
    pub(crate) fn prerequisites(&mut self, now: Instant, steps: &mut Vec<Step>) -> bool {
        let needs_coordinator =
            matches!(self.state, MemberState::Joining | MemberState::Fenced) || self.in_group();
        if needs_coordinator && self.coordinator.is_none() {
            if !self.finding_coordinator {
                self.finding_coordinator = true;
                steps.push(Step::FindCoordinator);
            }
            return false;
        }
        if self.in_group() && !self.resolve_in_flight && self.next_resolve.is_none_or(|t| now >= t)
        {
            let missing = self.unresolved();
            if !missing.is_empty() {
                self.resolve_in_flight = true;
                steps.push(Step::ResolveTopics(missing));
            }
        }
        !self.heartbeat_in_flight
    }

    /// The heartbeat due at `now`, if any: a join when joining or fenced
    /// with a subscription, at once when acknowledging (the coordinator sees
    /// the new epoch in use without waiting), otherwise on the interval.
    pub(crate) fn due_heartbeat(&mut self, now: Instant, subscribed: bool) -> Option<Due> {
        match self.state {
            MemberState::Fenced | MemberState::Joining if subscribed => {
                self.state = MemberState::Joining;
                Some(Due::Join)
            }
            MemberState::Acknowledging => Some(Due::Heartbeat),
            MemberState::Stable | MemberState::Reconciling
                if self.next_heartbeat.is_none_or(|t| now >= t) =>
            {
                Some(Due::Heartbeat)
            }
            _ => None,
        }
    }

    pub(crate) fn heartbeat_sent(&mut self, now: Instant) {
        self.heartbeat_in_flight = true;
        self.next_heartbeat = Some(now + self.heartbeat_interval);
    }

    /// Takes the interval the coordinator asked for, when it named one.
    pub(crate) fn take_interval(&mut self, now: Instant, millis: i32) {
        if let Ok(millis) = u64::try_from(millis)
            && millis > 0
        {
            self.heartbeat_interval = Duration::from_millis(millis);
            self.next_heartbeat = Some(now + self.heartbeat_interval);
        }
    }

    /// Sets the coordinator's target from `(topic id, partitions)` pairs,
    /// dropping negative partitions and empty topics.
    pub(crate) fn set_target(&mut self, topics: impl IntoIterator<Item = (Uuid, Vec<i32>)>) {
        let mut target = Partitions::new();
        for (id, partitions) in topics {
            target
                .entry(id)
                .or_default()
                .extend(partitions.into_iter().filter(|p| *p >= 0));
        }
        target.retain(|_, partitions| !partitions.is_empty());
        self.target = target;
    }

    /// One step toward the target: what to give up (removed from `owned`
    /// now), and what to take of the partitions whose topics are named
    /// (added to `owned` now), both named.
    pub(crate) fn step_toward_target(&mut self) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
        let mut removed = Partitions::new();
        for (id, partitions) in &self.owned {
            let kept = self.target.get(id);
            let gone: BTreeSet<i32> = partitions
                .iter()
                .filter(|p| !kept.is_some_and(|k| k.contains(p)))
                .copied()
                .collect();
            if !gone.is_empty() {
                removed.insert(*id, gone);
            }
        }
        let mut added = Partitions::new();
        for (id, partitions) in &self.target {
            if !self.names.contains_key(id) {
                continue;
            }
            let owned = self.owned.get(id);
            let new: BTreeSet<i32> = partitions
                .iter()
                .filter(|p| !owned.is_some_and(|o| o.contains(p)))
                .copied()
                .collect();
            if !new.is_empty() {
                added.insert(*id, new);
            }
        }
        for (id, gone) in &removed {
            if let Some(partitions) = self.owned.get_mut(id) {
                partitions.retain(|p| !gone.contains(p));
            }
        }
        self.owned.retain(|_, partitions| !partitions.is_empty());
        for (id, new) in &added {
            self.owned.entry(*id).or_default().extend(new);
        }
        (self.named(&removed), self.named(&added))
    }

    /// Stable when every target topic is named, otherwise reconciling.
    pub(crate) fn settled_state(&self) -> MemberState {
        if self.unresolved().is_empty() {
            MemberState::Stable
        } else {
            MemberState::Reconciling
        }
    }

    pub(crate) fn unresolved(&self) -> Vec<Uuid> {
        self.target
            .keys()
            .filter(|id| !self.names.contains_key(id))
            .copied()
            .collect()
    }

    /// The id of a topic named in an assignment.
    pub(crate) fn id_of(&self, topic: &str) -> Option<Uuid> {
        self.names
            .iter()
            .find_map(|(id, name)| (name == topic).then_some(*id))
    }

    pub(crate) fn named(&self, partitions: &Partitions) -> Vec<TopicPartition> {
        let mut named: Vec<TopicPartition> = partitions
            .iter()
            .filter_map(|(id, ps)| self.names.get(id).map(|name| (name, ps)))
            .flat_map(|(name, ps)| {
                let name: std::sync::Arc<str> = name.as_str().into();
                ps.iter().map(move |p| TopicPartition::new(&name, *p))
            })
            .collect();
        named.sort();
        named
    }

    /// Gives up everything at once, target included; returns what was owned.
    pub(crate) fn drop_all(&mut self) -> Vec<TopicPartition> {
        let owned = self.named(&self.owned);
        self.owned.clear();
        self.target.clear();
        owned
    }

    /// The state leaving goes to: `Leaving` (a leave heartbeat to send) when
    /// the member joined and knows its coordinator, otherwise `Left`.
    pub(crate) fn start_leaving(&mut self) {
        let joined = self.epoch > 0 || self.in_group();
        self.state = if joined && self.coordinator.is_some() {
            MemberState::Leaving
        } else {
            MemberState::Left
        };
    }

    pub(crate) fn lost_coordinator(&mut self, now: Instant) {
        self.coordinator = None;
        self.back_off(now);
        if self.state == MemberState::Leaving {
            // Best effort: the session timeout removes the member.
            self.state = MemberState::Left;
        }
    }
}

/// What a new subscription changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resubscribed {
    /// The same as before.
    Unchanged,
    /// Nothing left to consume: the member leaves.
    Emptied,
    /// A new subscription to send.
    Changed,
}

/// Puts `new` in `slot` (`None` when `empty`), saying what changed.
pub(crate) fn resubscribe<S: PartialEq>(slot: &mut Option<S>, new: S, empty: bool) -> Resubscribed {
    if empty {
        *slot = None;
        return Resubscribed::Emptied;
    }
    if slot.as_ref() == Some(&new) {
        return Resubscribed::Unchanged;
    }
    *slot = Some(new);
    Resubscribed::Changed
}

impl HeartbeatCore {
    /// The subscription changed: join when out of the group, or tell the
    /// coordinator at once when in it. True when the machine must send
    /// every field again (a join).
    pub(crate) fn subscription_changed(&mut self) -> bool {
        match self.state {
            MemberState::Unsubscribed | MemberState::Left => {
                self.state = MemberState::Joining;
                self.epoch = JOIN_EPOCH;
                true
            }
            _ if self.in_group() => {
                self.next_heartbeat = None;
                false
            }
            _ => false,
        }
    }
}
