//! Many members against a simulated classic-protocol coordinator, with
//! random delays, lost messages and killed members. After every step: no
//! partition is owned by two members of one generation. After the faults
//! stop: one generation, every partition owned once.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::{
    Assignor, CooperativeStickyAssignor, RangeAssignor, StickyAssignor, Subscription,
    TopicPartition,
};
use ferrokafka_group::member::{Action, Event, GroupError, Joined, Member, MemberConfig};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 12;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[derive(Debug)]
enum Request {
    Find,
    Join {
        member_id: String,
        instance: Option<String>,
        subscription: Subscription,
        protocols: Vec<&'static str>,
    },
    Sync {
        generation: i32,
        member_id: String,
        assignments: BTreeMap<String, Vec<TopicPartition>>,
    },
    Heartbeat {
        generation: i32,
        member_id: String,
    },
    Leave {
        member_id: String,
    },
}

/// A message in flight: to the coordinator (`Request`) or to a client (`Event`).
enum Message {
    ToCoordinator(usize, Request),
    ToClient(usize, Event),
}

struct Scheduled {
    at: Instant,
    seq: u64,
    message: Message,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct GroupMemberRecord {
    subscription: Subscription,
    last_heard: Instant,
}

#[derive(PartialEq)]
enum Phase {
    Stable,
    Preparing { deadline: Instant },
    Completing,
}

/// The broker side of the classic protocol, reduced to what membership needs.
struct Coordinator {
    session_timeout: Duration,
    rebalance_timeout: Duration,
    members: BTreeMap<String, GroupMemberRecord>,
    joined: BTreeSet<String>,
    pending_joins: Vec<(usize, String)>,
    pending_syncs: Vec<(usize, String)>,
    generation: i32,
    leader: Option<String>,
    protocol: &'static str,
    phase: Phase,
    assignments: BTreeMap<String, Vec<TopicPartition>>,
    next_id: u32,
}

impl Coordinator {
    fn handle(
        &mut self,
        now: Instant,
        client: usize,
        request: Request,
        out: &mut Vec<(usize, Event)>,
    ) {
        match request {
            Request::Find => out.push((client, Event::CoordinatorFound(1))),
            Request::Join {
                member_id,
                instance,
                subscription,
                protocols,
            } => {
                let member_id = if member_id.is_empty() {
                    if let Some(existing) = instance
                        .as_ref()
                        .and_then(|i| {
                            self.members
                                .iter()
                                .find(|(_, r)| r.subscription.group_instance_id.as_ref() == Some(i))
                        })
                        .map(|(id, _)| id.clone())
                    {
                        existing
                    } else {
                        self.next_id += 1;
                        let id = format!("member-{}", self.next_id);
                        if instance.is_none() {
                            // KIP-394: a new dynamic member must come back with this id.
                            self.members.insert(
                                id.clone(),
                                GroupMemberRecord {
                                    subscription: subscription.clone(),
                                    last_heard: now,
                                },
                            );
                            out.push((
                                client,
                                Event::JoinResponse(Err(GroupError::MemberIdRequired(id))),
                            ));
                            return;
                        }
                        id
                    }
                } else if !self.members.contains_key(&member_id) {
                    out.push((
                        client,
                        Event::JoinResponse(Err(GroupError::UnknownMemberId)),
                    ));
                    return;
                } else {
                    member_id
                };
                self.protocol = protocols[0];
                let mut subscription = subscription;
                subscription.member_id.clone_from(&member_id);
                self.members.insert(
                    member_id.clone(),
                    GroupMemberRecord {
                        subscription,
                        last_heard: now,
                    },
                );
                self.pending_joins.retain(|(_, id)| *id != member_id);
                self.pending_joins.push((client, member_id.clone()));
                self.joined.insert(member_id);
                if self.phase != (Phase::Preparing { deadline: now })
                    && !matches!(self.phase, Phase::Preparing { .. })
                {
                    self.start_rebalance(now, out);
                }
                self.maybe_complete_join(now, false, out);
            }
            Request::Sync {
                generation,
                member_id,
                assignments,
            } => {
                if !self.members.contains_key(&member_id) {
                    out.push((
                        client,
                        Event::SyncResponse(Err(GroupError::UnknownMemberId)),
                    ));
                } else if generation != self.generation {
                    out.push((
                        client,
                        Event::SyncResponse(Err(GroupError::IllegalGeneration)),
                    ));
                } else if matches!(self.phase, Phase::Preparing { .. }) {
                    out.push((
                        client,
                        Event::SyncResponse(Err(GroupError::RebalanceInProgress)),
                    ));
                } else if self.phase == Phase::Stable {
                    let mine = self
                        .assignments
                        .get(&member_id)
                        .cloned()
                        .unwrap_or_default();
                    out.push((client, Event::SyncResponse(Ok(mine))));
                } else {
                    self.pending_syncs.push((client, member_id.clone()));
                    if Some(&member_id) == self.leader.as_ref() {
                        self.assignments = assignments;
                        self.phase = Phase::Stable;
                        for (c, id) in self.pending_syncs.drain(..) {
                            let mine = self.assignments.get(&id).cloned().unwrap_or_default();
                            out.push((c, Event::SyncResponse(Ok(mine))));
                        }
                    }
                }
            }
            Request::Heartbeat {
                generation,
                member_id,
            } => {
                let result = if let Some(record) = self.members.get_mut(&member_id) {
                    record.last_heard = now;
                    if generation != self.generation {
                        Err(GroupError::IllegalGeneration)
                    } else if self.phase != Phase::Stable {
                        Err(GroupError::RebalanceInProgress)
                    } else {
                        Ok(())
                    }
                } else {
                    Err(GroupError::UnknownMemberId)
                };
                out.push((client, Event::HeartbeatResponse(result)));
            }
            Request::Leave { member_id } => {
                if self.members.remove(&member_id).is_some() {
                    self.start_rebalance(now, out);
                }
                out.push((client, Event::LeaveResponse));
            }
        }
    }

    fn start_rebalance(&mut self, now: Instant, out: &mut Vec<(usize, Event)>) {
        self.phase = Phase::Preparing {
            deadline: now + self.rebalance_timeout,
        };
        // Members waiting on SyncGroup learn the rebalance started.
        for (c, _) in self.pending_syncs.drain(..) {
            out.push((c, Event::SyncResponse(Err(GroupError::RebalanceInProgress))));
        }
        self.maybe_complete_join(now, false, out);
    }

    fn maybe_complete_join(
        &mut self,
        now: Instant,
        deadline_passed: bool,
        out: &mut Vec<(usize, Event)>,
    ) {
        if !matches!(self.phase, Phase::Preparing { .. }) {
            return;
        }
        let all_joined =
            !self.members.is_empty() && self.members.keys().all(|id| self.joined.contains(id));
        if !all_joined && !deadline_passed {
            return;
        }
        // Members that did not rejoin in time are out.
        let joined = std::mem::take(&mut self.joined);
        self.members.retain(|id, _| joined.contains(id));
        self.generation += 1;
        if self.members.is_empty() {
            self.phase = Phase::Stable;
            for (c, _) in self.pending_joins.drain(..) {
                out.push((c, Event::JoinResponse(Err(GroupError::UnknownMemberId))));
            }
            return;
        }
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap();
        let subscriptions: Vec<Subscription> = self
            .members
            .values()
            .map(|r| r.subscription.clone())
            .collect();
        for (c, id) in self.pending_joins.drain(..) {
            if !self.members.contains_key(&id) {
                // Removed while waiting (session expired): tell it, as the broker does.
                out.push((c, Event::JoinResponse(Err(GroupError::UnknownMemberId))));
                continue;
            }
            out.push((
                c,
                Event::JoinResponse(Ok(Joined {
                    generation: self.generation,
                    member_id: id.clone(),
                    leader_id: leader.clone(),
                    protocol_name: self.protocol.to_string(),
                    members: if id == leader {
                        subscriptions.clone()
                    } else {
                        Vec::new()
                    },
                    partitions_per_topic: BTreeMap::from([(TOPIC.to_string(), PARTITIONS)]),
                })),
            ));
        }
        self.phase = Phase::Completing;
        let _ = now;
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<(usize, Event)>) {
        let expired: Vec<String> = self
            .members
            .iter()
            // A member waiting on JoinGroup is bound by the rebalance
            // timeout, not its session, as on the broker.
            .filter(|(id, r)| {
                now >= r.last_heard + self.session_timeout
                    && !self.pending_joins.iter().any(|(_, p)| p == *id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                self.members.remove(id);
                self.joined.remove(id);
            }
            self.start_rebalance(now, out);
        }
        if let Phase::Preparing { deadline } = self.phase
            && now >= deadline
        {
            self.maybe_complete_join(now, true, out);
        }
    }
}

fn config(i: usize, static_member: bool) -> MemberConfig {
    MemberConfig {
        group_id: "g".into(),
        group_instance_id: static_member.then(|| format!("instance-{i}")),
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_secs(1),
        max_poll_interval: Duration::from_secs(20),
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_secs(1),
        rack: None,
    }
}

fn simulate(seed: u64, assignor: fn() -> Box<dyn Assignor>, members: usize, static_members: bool) {
    let start = Instant::now();
    let mut rng = Rng(seed | 1);
    let mut now = start;
    let mut clients: Vec<Option<Member>> = (0..members)
        .map(|i| {
            Some(Member::new(
                config(i, static_members),
                vec![assignor()],
                now,
            ))
        })
        .collect();
    let mut coordinator = Coordinator {
        session_timeout: Duration::from_secs(6),
        rebalance_timeout: Duration::from_secs(20),
        members: BTreeMap::new(),
        joined: BTreeSet::new(),
        pending_joins: Vec::new(),
        pending_syncs: Vec::new(),
        generation: 0,
        leader: None,
        protocol: "range",
        phase: Phase::Stable,
        assignments: BTreeMap::new(),
        next_id: 0,
    };
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    let faults_until = start + Duration::from_secs(120);
    let end = start + Duration::from_secs(240);
    let mut schedule = |queue: &mut BinaryHeap<Scheduled>, at: Instant, message: Message| {
        seq += 1;
        queue.push(Scheduled { at, seq, message });
    };

    for (i, client) in clients.iter_mut().enumerate() {
        let client = client.as_mut().unwrap();
        let actions = client.handle(now, Event::Subscribed(vec![TOPIC.to_string()]));
        for action in actions {
            dispatch(
                i,
                action,
                now,
                &mut rng,
                now < faults_until,
                &mut queue,
                &mut schedule,
            );
        }
    }

    let step = Duration::from_millis(50);
    while now < end {
        now += step;
        let faults = now < faults_until;
        // Kill or restart a member now and then while faults are on.
        if faults && rng.below(400) == 0 {
            let victim = rng.below(members as u64) as usize;
            clients[victim] = if clients[victim].take().is_some() {
                None
            } else {
                let mut member = Member::new(config(victim, static_members), vec![assignor()], now);
                let actions = member.handle(now, Event::Subscribed(vec![TOPIC.to_string()]));
                for action in actions {
                    dispatch(
                        victim,
                        action,
                        now,
                        &mut rng,
                        faults,
                        &mut queue,
                        &mut schedule,
                    );
                }
                Some(member)
            };
        }
        if !faults {
            // After the faults, every member comes back.
            for (i, slot) in clients.iter_mut().enumerate() {
                if slot.is_none() {
                    let mut member = Member::new(config(i, static_members), vec![assignor()], now);
                    let actions = member.handle(now, Event::Subscribed(vec![TOPIC.to_string()]));
                    for action in actions {
                        dispatch(i, action, now, &mut rng, faults, &mut queue, &mut schedule);
                    }
                    *slot = Some(member);
                }
            }
        }
        let mut out = Vec::new();
        coordinator.tick(now, &mut out);
        while queue.peek().is_some_and(|s| s.at <= now) {
            let Scheduled { message, .. } = queue.pop().unwrap();
            match message {
                Message::ToCoordinator(client, request) => {
                    coordinator.handle(now, client, request, &mut out);
                }
                Message::ToClient(client, event) => {
                    if let Some(member) = clients[client].as_mut() {
                        for action in member.handle(now, event) {
                            dispatch(
                                client,
                                action,
                                now,
                                &mut rng,
                                faults,
                                &mut queue,
                                &mut schedule,
                            );
                        }
                    }
                }
            }
        }
        for (client, event) in out {
            let delay = Duration::from_millis(1 + rng.below(if faults { 400 } else { 20 }));
            schedule(&mut queue, now + delay, Message::ToClient(client, event));
        }
        for (i, slot) in clients.iter_mut().enumerate() {
            let Some(member) = slot.as_mut() else {
                continue;
            };
            let mut actions = member.handle(now, Event::Polled);
            actions.extend(member.tick(now));
            for action in actions {
                dispatch(i, action, now, &mut rng, faults, &mut queue, &mut schedule);
            }
        }
        check_no_double_ownership(&clients, seed);
    }

    // Quiet for two minutes: one generation, everything owned exactly once.
    let live: Vec<&Member> = clients.iter().flatten().collect();
    assert_eq!(live.len(), members, "seed {seed}");
    assert!(
        live.iter().all(|m| m.is_stable()),
        "seed {seed}: not all stable: {live:#?}"
    );
    let generations: BTreeSet<i32> = live.iter().map(|m| m.generation()).collect();
    assert_eq!(
        generations.len(),
        1,
        "seed {seed}: generations {generations:?}"
    );
    let owned: Vec<&TopicPartition> = live.iter().flat_map(|m| m.assignment()).collect();
    assert_eq!(owned.len(), PARTITIONS as usize, "seed {seed}: {owned:?}");
    assert_eq!(
        owned.iter().collect::<BTreeSet<_>>().len(),
        PARTITIONS as usize,
        "seed {seed}"
    );
}

fn dispatch(
    client: usize,
    action: Action,
    now: Instant,
    rng: &mut Rng,
    faults: bool,
    queue: &mut BinaryHeap<Scheduled>,
    schedule: &mut impl FnMut(&mut BinaryHeap<Scheduled>, Instant, Message),
) {
    let request = match action {
        Action::FindCoordinator => Request::Find,
        Action::JoinGroup {
            member_id,
            group_instance_id,
            subscription,
            protocols,
            ..
        } => Request::Join {
            member_id,
            instance: group_instance_id,
            subscription,
            protocols,
        },
        Action::SyncGroup {
            generation,
            member_id,
            assignments,
            ..
        } => Request::Sync {
            generation,
            member_id,
            assignments,
        },
        Action::Heartbeat {
            generation,
            member_id,
            ..
        } => Request::Heartbeat {
            generation,
            member_id,
        },
        Action::LeaveGroup { member_id } => Request::Leave { member_id },
        Action::Fatal(error) => panic!("member {client} failed: {error:?}"),
        Action::Revoke(_) | Action::Assign(_) | Action::Lose(_) => return,
    };
    if faults && rng.below(30) == 0 {
        // Lost on the way: the client's request times out.
        let event = match request {
            Request::Find => Event::CoordinatorNotFound(GroupError::Network),
            Request::Join { .. } => Event::JoinResponse(Err(GroupError::Network)),
            Request::Sync { .. } => Event::SyncResponse(Err(GroupError::Network)),
            Request::Heartbeat { .. } => Event::HeartbeatResponse(Err(GroupError::Network)),
            Request::Leave { .. } => Event::LeaveResponse,
        };
        schedule(
            queue,
            now + REQUEST_TIMEOUT,
            Message::ToClient(client, event),
        );
        return;
    }
    let delay = Duration::from_millis(1 + rng.below(if faults { 300 } else { 20 }));
    schedule(queue, now + delay, Message::ToCoordinator(client, request));
}

fn check_no_double_ownership(clients: &[Option<Member>], seed: u64) {
    let mut owners: BTreeMap<(i32, &TopicPartition), usize> = BTreeMap::new();
    for (i, member) in clients.iter().enumerate() {
        let Some(member) = member else { continue };
        if !member.is_stable() {
            continue;
        }
        for tp in member.assignment() {
            if let Some(other) = owners.insert((member.generation(), tp), i) {
                panic!(
                    "seed {seed}: {tp:?} owned by members {other} and {i} in generation {}",
                    member.generation()
                );
            }
        }
    }
}

/// How many seeds each scenario runs: `SIMULATION_SEEDS` (default 6) for longer runs.
fn seeds() -> u64 {
    std::env::var("SIMULATION_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

#[test]
fn eager_range_group_survives_faults() {
    for seed in 1..=seeds() {
        simulate(seed * 7919, || Box::new(RangeAssignor), 4, false);
    }
}

#[test]
fn eager_sticky_group_survives_faults() {
    for seed in 1..=seeds() {
        simulate(seed * 104_729, || Box::new(StickyAssignor), 5, false);
    }
}

#[test]
fn cooperative_sticky_group_survives_faults() {
    for seed in 1..=seeds() {
        simulate(
            seed * 1_299_709,
            || Box::new(CooperativeStickyAssignor),
            4,
            false,
        );
    }
}

#[test]
fn static_members_survive_faults() {
    for seed in 1..=seeds() {
        simulate(seed * 15_485_863, || Box::new(RangeAssignor), 3, true);
    }
}
