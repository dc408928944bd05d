//! One consumer's membership in a classic-protocol group, as a state
//! machine: the driver feeds it events (responses, polls, the clock) and
//! carries out the actions it returns (requests, listener callbacks). It
//! owns the rules of the Java client's `AbstractCoordinator` and
//! `ConsumerCoordinator`: when to find the coordinator, join, sync,
//! heartbeat, leave, and what to revoke, assign or declare lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::assignor::{Assignment, Assignor, RebalanceProtocol, Subscription, TopicPartition};

/// The settings membership depends on, named after the consumer's keys.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// `group_id`.
    pub group_id: String,
    /// `group_instance_id`: a static member (KIP-345) keeps its assignment
    /// across restarts within the session timeout, and never sends LeaveGroup.
    pub group_instance_id: Option<String>,
    /// `session_timeout_ms`.
    pub session_timeout: Duration,
    /// `heartbeat_interval_ms`.
    pub heartbeat_interval: Duration,
    /// `max_poll_interval_ms`: also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `retry_backoff_ms`: wait after a retriable failure.
    pub retry_backoff: Duration,
    /// `retry_backoff_max_ms`: the longest wait between two attempts to
    /// join, however many failed before (KIP-580).
    pub retry_backoff_max: Duration,
    /// `client_rack`.
    pub rack: Option<String>,
}

/// Why a group request failed, in the terms membership acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// The coordinator moved or is not ready: find it again.
    CoordinatorUnavailable,
    /// The coordinator is loading the group: retry after the backoff.
    CoordinatorLoading,
    /// This member id is unknown: rejoin with none.
    UnknownMemberId,
    /// The generation is over: rejoin.
    IllegalGeneration,
    /// A rebalance started: rejoin.
    RebalanceInProgress,
    /// KIP-394: the coordinator assigned this member id; rejoin with it.
    MemberIdRequired(String),
    /// Another instance with this `group_instance_id` took over (fatal).
    FencedInstanceId,
    /// Not allowed to use the group (fatal).
    GroupAuthorizationFailed,
    /// The members share no assignor (fatal).
    InconsistentGroupProtocol,
    /// The group is full (fatal).
    GroupMaxSizeReached,
    /// The request did not reach the coordinator or got no answer.
    Network,
    /// The broker does not support the `group_protocol` asked for (fatal):
    /// what is missing and what to do.
    UnsupportedGroupProtocol(String),
    /// Any other broker error: its code, and whether retrying may help.
    Other {
        /// Kafka error code.
        code: i16,
        /// Whether the error is retriable.
        retriable: bool,
    },
}

impl GroupError {
    fn is_fatal(&self) -> bool {
        matches!(
            self,
            GroupError::FencedInstanceId
                | GroupError::GroupAuthorizationFailed
                | GroupError::InconsistentGroupProtocol
                | GroupError::GroupMaxSizeReached
                | GroupError::UnsupportedGroupProtocol(_)
                | GroupError::Other {
                    retriable: false,
                    ..
                }
        )
    }
}

/// A successful JoinGroup response.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The new generation.
    pub generation: i32,
    /// This member's id.
    pub member_id: String,
    /// The leader's member id.
    pub leader_id: String,
    /// The chosen assignor.
    pub protocol_name: String,
    /// The leader gets every member's subscription; others get none.
    pub members: Vec<Subscription>,
    /// Partition counts of every topic the members subscribe to (the
    /// driver fetches metadata for the leader).
    pub partitions_per_topic: BTreeMap<String, i32>,
}

/// What the driver reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// FindCoordinator answered with the coordinator's node id.
    CoordinatorFound(i32),
    /// FindCoordinator failed.
    CoordinatorNotFound(GroupError),
    /// JoinGroup answered.
    JoinResponse(Result<Joined, GroupError>),
    /// SyncGroup answered with this member's partitions.
    SyncResponse(Result<Vec<TopicPartition>, GroupError>),
    /// Heartbeat answered.
    HeartbeatResponse(Result<(), GroupError>),
    /// LeaveGroup answered (or failed: it is best effort).
    LeaveResponse,
    /// The application called `poll`.
    Polled,
    /// The subscription changed to these topics.
    Subscribed(Vec<String>),
    /// The metadata of the topics this member (as leader) last assigned
    /// changed: a topic appeared or its partition count changed. The
    /// group is assigned anew, as the Java client's leader does.
    MetadataChanged,
    /// The application is closing the consumer.
    Close,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send FindCoordinator for the group.
    FindCoordinator,
    /// Send JoinGroup to the coordinator.
    JoinGroup {
        /// Current member id ("" for a new member).
        member_id: String,
        /// Static membership id.
        group_instance_id: Option<String>,
        /// `session_timeout_ms`.
        session_timeout: Duration,
        /// Rebalance timeout (`max_poll_interval_ms`).
        rebalance_timeout: Duration,
        /// This member's subscription, offered under each assignor name.
        subscription: Subscription,
        /// Assignor names in preference order.
        protocols: Vec<&'static str>,
    },
    /// Send SyncGroup; the leader includes every member's assignment.
    SyncGroup {
        /// Generation from JoinGroup.
        generation: i32,
        /// This member's id.
        member_id: String,
        /// Static membership id.
        group_instance_id: Option<String>,
        /// The chosen assignor.
        protocol_name: String,
        /// The leader's assignment; empty for followers.
        assignments: Assignment,
    },
    /// Send Heartbeat.
    Heartbeat {
        /// Generation.
        generation: i32,
        /// Member id.
        member_id: String,
        /// Static membership id.
        group_instance_id: Option<String>,
    },
    /// Send LeaveGroup (dynamic members only).
    LeaveGroup {
        /// Member id.
        member_id: String,
    },
    /// Call the listener's `on_partitions_revoked` (commit offsets first
    /// when auto-commit is on).
    Revoke(Vec<TopicPartition>),
    /// Call the listener's `on_partitions_assigned`.
    Assign(Vec<TopicPartition>),
    /// Call the listener's `on_partitions_lost`: another member may own them already.
    Lose(Vec<TopicPartition>),
    /// Membership cannot go on.
    Fatal(GroupError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for the coordinator's address (request in flight or to send).
    FindingCoordinator { in_flight: bool },
    /// Ready to join, or JoinGroup in flight.
    Joining { in_flight: bool },
    /// SyncGroup in flight.
    Syncing,
    /// In a generation with an assignment.
    Stable,
    /// Left because the application stopped polling; rejoins at the next poll.
    LeftForPollTimeout,
    /// Closed or failed.
    Done,
}

/// A member's state machine.
#[allow(clippy::struct_field_names)] // `member_id` is the protocol's name for it.
pub struct Member {
    config: MemberConfig,
    assignors: Vec<Box<dyn Assignor>>,
    state: State,
    coordinator: Option<i32>,
    member_id: String,
    generation: i32,
    topics: Vec<String>,
    owned: Vec<TopicPartition>,
    protocol: RebalanceProtocol,
    not_before: Option<Instant>,
    last_poll: Instant,
    last_heartbeat_ok: Instant,
    heartbeat_in_flight: bool,
    next_heartbeat: Option<Instant>,
    rejoin_needed: bool,
    /// Failed attempts (FindCoordinator, JoinGroup, SyncGroup) since the
    /// member was last in a generation: each retry after the first waits
    /// longer, so a coordinator that refuses for ever is not asked again
    /// and again at once.
    failures: u32,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("state", &self.state)
            .field("member_id", &self.member_id)
            .field("generation", &self.generation)
            .field("coordinator", &self.coordinator)
            .field("owned", &self.owned.len())
            .field("rejoin_needed", &self.rejoin_needed)
            .field("heartbeat_in_flight", &self.heartbeat_in_flight)
            .field("not_before", &self.not_before)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// A member using `assignors` (preference order; all must share one
    /// rebalance protocol, as the Java client requires).
    pub fn new(config: MemberConfig, assignors: Vec<Box<dyn Assignor>>, now: Instant) -> Self {
        let protocol = assignors
            .first()
            .map_or(RebalanceProtocol::Eager, |a| a.rebalance_protocol());
        Member {
            config,
            assignors,
            state: State::FindingCoordinator { in_flight: false },
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            topics: Vec::new(),
            owned: Vec::new(),
            protocol,
            not_before: None,
            last_poll: now,
            last_heartbeat_ok: now,
            heartbeat_in_flight: false,
            next_heartbeat: None,
            rejoin_needed: false,
            failures: 0,
        }
    }

    /// The partitions this member owns now.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.owned
    }

    /// The current generation (-1 before the first join).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// This member's id ("" until the coordinator gave one).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The coordinator's node id, when known.
    pub fn coordinator(&self) -> Option<i32> {
        self.coordinator
    }

    /// Whether the member is in a generation with its assignment.
    pub fn is_stable(&self) -> bool {
        self.state == State::Stable && !self.rejoin_needed
    }

    /// The next time [`Member::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut deadlines = vec![self.not_before];
        if self.state == State::Stable {
            deadlines.push(self.next_heartbeat);
            deadlines.push(Some(self.last_heartbeat_ok + self.config.session_timeout));
            deadlines.push(Some(self.last_poll + self.config.max_poll_interval));
        }
        deadlines.into_iter().flatten().min()
    }

    /// Handles an event; returns what to do.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::CoordinatorFound(node) => {
                self.coordinator = Some(node);
                self.last_heartbeat_ok = now;
                if matches!(self.state, State::FindingCoordinator { .. }) {
                    self.state = if self.rejoin_needed || self.generation < 0 {
                        State::Joining { in_flight: false }
                    } else {
                        State::Stable
                    };
                    if self.state == State::Stable {
                        self.next_heartbeat = Some(now);
                    }
                }
            }
            Event::CoordinatorNotFound(error) => {
                if let State::FindingCoordinator { .. } = self.state {
                    self.state = State::FindingCoordinator { in_flight: false };
                }
                self.failures = self.failures.saturating_add(1);
                self.fail(now, error, &mut actions);
            }
            Event::JoinResponse(result) => self.on_join(now, result, &mut actions),
            Event::SyncResponse(result) => self.on_sync(now, result, &mut actions),
            Event::HeartbeatResponse(result) => {
                self.heartbeat_in_flight = false;
                match result {
                    Ok(()) => self.last_heartbeat_ok = now,
                    Err(error) => self.fail(now, error, &mut actions),
                }
            }
            Event::LeaveResponse => {}
            Event::Polled => {
                self.last_poll = now;
                if self.state == State::LeftForPollTimeout {
                    self.state = State::Joining { in_flight: false };
                }
            }
            Event::Subscribed(mut topics) => {
                topics.sort();
                topics.dedup();
                if topics != self.topics {
                    self.topics = topics;
                    if self.state == State::Stable {
                        self.rejoin_needed = true;
                    }
                }
            }
            Event::MetadataChanged => {
                if self.state == State::Stable {
                    self.rejoin_needed = true;
                }
            }
            Event::Close => {
                if !self.owned.is_empty() {
                    actions.push(Action::Revoke(std::mem::take(&mut self.owned)));
                }
                self.leave(&mut actions);
                self.state = State::Done;
            }
        }
        actions.extend(self.tick(now));
        actions
    }

    /// Acts on the clock: sends what is due.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.not_before.is_some_and(|t| now < t) {
            return actions;
        }
        self.not_before = None;
        if self.state == State::Stable {
            if now >= self.last_poll + self.config.max_poll_interval {
                // The application stalled: give the partitions to someone
                // who consumes them (the Java client's poll timeout).
                self.leave(&mut actions);
                self.lose_all(&mut actions);
                self.state = State::LeftForPollTimeout;
                return actions;
            }
            if now >= self.last_heartbeat_ok + self.config.session_timeout {
                // The coordinator has not answered for a session: it is gone
                // or we were evicted; find it again.
                self.coordinator = None;
                self.heartbeat_in_flight = false;
                self.state = State::FindingCoordinator { in_flight: false };
            } else if self.rejoin_needed {
                self.state = State::Joining { in_flight: false };
            } else if !self.heartbeat_in_flight && self.next_heartbeat.is_none_or(|t| now >= t) {
                self.heartbeat_in_flight = true;
                self.next_heartbeat = Some(now + self.config.heartbeat_interval);
                actions.push(Action::Heartbeat {
                    generation: self.generation,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                });
            }
        }
        match self.state {
            State::FindingCoordinator { in_flight: false } => {
                self.state = State::FindingCoordinator { in_flight: true };
                actions.push(Action::FindCoordinator);
            }
            State::Joining { in_flight: false } if !self.topics.is_empty() => {
                if self.protocol == RebalanceProtocol::Eager && !self.owned.is_empty() {
                    actions.push(Action::Revoke(std::mem::take(&mut self.owned)));
                }
                self.rejoin_needed = false;
                self.state = State::Joining { in_flight: true };
                actions.push(Action::JoinGroup {
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                    session_timeout: self.config.session_timeout,
                    rebalance_timeout: self.config.max_poll_interval,
                    subscription: self.subscription(),
                    protocols: self.assignors.iter().map(|a| a.name()).collect(),
                });
            }
            _ => {}
        }
        actions
    }

    fn subscription(&self) -> Subscription {
        Subscription {
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            topics: self.topics.clone(),
            owned_partitions: self.owned.clone(),
            generation: (self.generation >= 0).then_some(self.generation),
            rack: self.config.rack.clone(),
        }
    }

    fn on_join(
        &mut self,
        now: Instant,
        result: Result<Joined, GroupError>,
        actions: &mut Vec<Action>,
    ) {
        if self.state != (State::Joining { in_flight: true }) {
            return;
        }
        match result {
            Ok(joined) => {
                self.generation = joined.generation;
                self.member_id = joined.member_id;
                let assignments = if joined.leader_id == self.member_id {
                    let Some(assignor) = self
                        .assignors
                        .iter()
                        .find(|a| a.name() == joined.protocol_name)
                    else {
                        self.state = State::Done;
                        actions.push(Action::Fatal(GroupError::InconsistentGroupProtocol));
                        return;
                    };
                    assignor.assign(&joined.partitions_per_topic, &joined.members)
                } else {
                    Assignment::new()
                };
                self.state = State::Syncing;
                actions.push(Action::SyncGroup {
                    generation: self.generation,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                    protocol_name: joined.protocol_name,
                    assignments,
                });
            }
            Err(GroupError::MemberIdRequired(member_id)) => {
                // KIP-394: join again at once with the id the coordinator
                // chose (after a pause if it keeps asking).
                self.member_id = member_id;
                self.state = State::Joining { in_flight: false };
                self.failed_again(now);
            }
            Err(error) => {
                self.state = State::Joining { in_flight: false };
                self.fail(now, error, actions);
                self.failed_again(now);
            }
        }
    }

    fn on_sync(
        &mut self,
        now: Instant,
        result: Result<Vec<TopicPartition>, GroupError>,
        actions: &mut Vec<Action>,
    ) {
        if self.state != State::Syncing {
            return;
        }
        match result {
            Ok(mut assigned) => {
                assigned.sort();
                assigned.dedup();
                let revoked: Vec<TopicPartition> = self
                    .owned
                    .iter()
                    .filter(|tp| !assigned.contains(tp))
                    .cloned()
                    .collect();
                let added: Vec<TopicPartition> = assigned
                    .iter()
                    .filter(|tp| !self.owned.contains(tp))
                    .cloned()
                    .collect();
                if !revoked.is_empty() {
                    actions.push(Action::Revoke(revoked.clone()));
                }
                self.owned = assigned;
                actions.push(Action::Assign(added));
                self.state = State::Stable;
                self.failures = 0;
                self.last_heartbeat_ok = now;
                // The poll timer starts again, as the Java client's does when
                // its heartbeat thread resumes after a join: the coordinator
                // may hold a JoinGroup up to the rebalance timeout, which is
                // `max_poll_interval_ms` itself, and the time spent in the
                // rebalance is not the application's stall.
                self.last_poll = now;
                self.next_heartbeat = Some(now + self.config.heartbeat_interval);
                // Cooperative (KIP-429): what this member gave up can now go
                // to its new owner, which takes one more rebalance.
                if self.protocol == RebalanceProtocol::Cooperative && !revoked.is_empty() {
                    self.rejoin_needed = true;
                }
            }
            Err(error) => {
                self.state = State::Joining { in_flight: false };
                self.fail(now, error, actions);
                self.failed_again(now);
            }
        }
    }

    /// Counts a failed JoinGroup or SyncGroup. The first retry keeps the
    /// error's own pace (at once after a rebalance error, as the Java
    /// client); each further one waits twice as long as the one before, up
    /// to `retry_backoff_max_ms`.
    fn failed_again(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.failures > 1 && self.state != State::Done {
            let wait = self.backoff();
            self.not_before = Some(self.not_before.map_or(now + wait, |t| t.max(now + wait)));
        }
    }

    /// The wait before the next attempt after `failures` failed ones.
    fn backoff(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        self.config
            .retry_backoff
            .saturating_mul(1 << doublings)
            .min(self.config.retry_backoff_max.max(self.config.retry_backoff))
    }

    /// Reacts to a failed request as the Java client does.
    fn fail(&mut self, now: Instant, error: GroupError, actions: &mut Vec<Action>) {
        if error.is_fatal() {
            self.state = State::Done;
            actions.push(Action::Fatal(error));
            return;
        }
        match error {
            GroupError::CoordinatorUnavailable | GroupError::Network => {
                self.coordinator = None;
                self.heartbeat_in_flight = false;
                if self.state != State::Stable || self.generation < 0 {
                    self.rejoin_needed = true;
                }
                self.state = State::FindingCoordinator { in_flight: false };
                self.not_before = Some(now + self.backoff());
            }
            GroupError::UnknownMemberId | GroupError::IllegalGeneration => {
                // Our generation is gone: whatever we own may be someone
                // else's already.
                if self.config.group_instance_id.is_none() || error == GroupError::UnknownMemberId {
                    self.member_id.clear();
                }
                self.generation = -1;
                self.lose_all(actions);
                self.state = State::Joining { in_flight: false };
            }
            GroupError::RebalanceInProgress => {
                if self.state == State::Stable {
                    self.rejoin_needed = true;
                } else {
                    self.state = State::Joining { in_flight: false };
                }
            }
            GroupError::MemberIdRequired(member_id) => {
                self.member_id = member_id;
                self.state = State::Joining { in_flight: false };
            }
            _ => {
                if self.state == State::Stable {
                    self.rejoin_needed = true;
                }
                self.not_before = Some(now + self.backoff());
            }
        }
    }

    fn lose_all(&mut self, actions: &mut Vec<Action>) {
        if !self.owned.is_empty() {
            actions.push(Action::Lose(std::mem::take(&mut self.owned)));
        }
    }

    fn leave(&mut self, actions: &mut Vec<Action>) {
        // Static members stay in the group through restarts; the session
        // timeout removes them if they do not come back.
        if self.config.group_instance_id.is_none()
            && !self.member_id.is_empty()
            && self.coordinator.is_some()
        {
            actions.push(Action::LeaveGroup {
                member_id: self.member_id.clone(),
            });
        }
        if self.config.group_instance_id.is_none() {
            self.member_id.clear();
            self.generation = -1;
        }
    }
}
