//! A coordinator that refuses a member's JoinGroup or SyncGroup again and
//! again: the member asks again at once the first time (a rebalance error
//! is part of a normal rebalance), then waits twice as long each time, up
//! to a second, rather than asking again at once for ever; once it is in a
//! generation, the next failure is again answered at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_group::member::{Action, Event, GroupError, Joined, Member};

mod common;
use common::member;

fn joins(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::JoinGroup { .. }))
}

/// The time from `now` until the member sends JoinGroup, ticking a
/// millisecond at a time (`actions` are what the last event returned).
fn until_join(member: &mut Member, now: &mut Instant, actions: &[Action]) -> Duration {
    let from = *now;
    if joins(actions) {
        return Duration::ZERO;
    }
    for _ in 0..5_000 {
        *now += Duration::from_millis(1);
        if joins(&member.tick(*now)) {
            return *now - from;
        }
    }
    panic!("no JoinGroup within 5 s");
}

fn joined() -> Joined {
    Joined {
        generation: 1,
        member_id: "m-1".into(),
        leader_id: "m-1".into(),
        protocol_name: "range".into(),
        members: Vec::new(),
        partitions_per_topic: BTreeMap::new(),
    }
}

#[test]
fn a_refused_join_is_asked_again_ever_more_slowly() {
    let mut now = Instant::now();
    let mut member = member(now);
    member.handle(now, Event::Subscribed(vec!["t".into()]));
    let actions = member.handle(now, Event::CoordinatorFound(1));
    assert_eq!(until_join(&mut member, &mut now, &actions), Duration::ZERO);

    let mut gaps = Vec::new();
    for error in [
        GroupError::RebalanceInProgress,
        GroupError::UnknownMemberId,
        GroupError::IllegalGeneration,
        GroupError::RebalanceInProgress,
        GroupError::MemberIdRequired("m-1".into()),
        GroupError::RebalanceInProgress,
        GroupError::RebalanceInProgress,
    ] {
        let actions = member.handle(now, Event::JoinResponse(Err(error)));
        gaps.push(until_join(&mut member, &mut now, &actions).as_millis());
    }
    assert_eq!(gaps, [0, 100, 200, 400, 800, 1000, 1000]);

    // A SyncGroup refused counts too.
    let actions = member.handle(now, Event::JoinResponse(Ok(joined())));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::SyncGroup { .. }))
    );
    let actions = member.handle(
        now,
        Event::SyncResponse(Err(GroupError::RebalanceInProgress)),
    );
    assert_eq!(
        until_join(&mut member, &mut now, &actions).as_millis(),
        1000
    );

    // In a generation again: the next failure is answered at once.
    member.handle(now, Event::JoinResponse(Ok(joined())));
    member.handle(now, Event::SyncResponse(Ok(Vec::new())));
    assert!(member.is_stable());
    let actions = member.handle(
        now,
        Event::HeartbeatResponse(Err(GroupError::UnknownMemberId)),
    );
    assert_eq!(until_join(&mut member, &mut now, &actions), Duration::ZERO);
}
