//! A JoinGroup the coordinator holds for the whole rebalance timeout,
//! which is `max_poll_interval_ms` itself: the member that joins at the
//! end of it is not taken for a stalled application and does not leave
//! the group it has just joined; its poll timer starts at the join's end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_group::member::{Action, Event, Joined};

mod common;
use common::{MAX_POLL_INTERVAL, member};

fn leaves(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::LeaveGroup { .. }))
}

#[test]
fn a_join_held_for_the_rebalance_timeout_is_no_poll_timeout() {
    let start = Instant::now();
    let mut member = member(start);
    member.handle(start, Event::Subscribed(vec!["t".into()]));
    member.handle(start, Event::Polled);
    let actions = member.handle(start, Event::CoordinatorFound(1));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::JoinGroup { .. })),
        "{actions:?}"
    );
    // The broker answers at the end of the rebalance timeout and 5 s; the
    // application's polls were queued behind the join meanwhile.
    let joined_at = start + MAX_POLL_INTERVAL + Duration::from_secs(5);
    member.handle(
        joined_at,
        Event::JoinResponse(Ok(Joined {
            generation: 1,
            member_id: "m-1".into(),
            leader_id: "m-2".into(),
            protocol_name: "range".into(),
            members: Vec::new(),
            partitions_per_topic: BTreeMap::new(),
        })),
    );
    let mut soon = member.handle(joined_at, Event::SyncResponse(Ok(Vec::new())));
    soon.extend(member.tick(joined_at + Duration::from_millis(1)));
    assert!(!leaves(&soon), "left right after joining: {soon:?}");

    // The poll timer still runs: no poll for the interval after the join
    // does leave.
    let mut left = false;
    let mut now = joined_at;
    while now < joined_at + MAX_POLL_INTERVAL + Duration::from_secs(1) {
        now += Duration::from_millis(500);
        if leaves(&member.tick(now)) {
            left = true;
            break;
        }
        member.handle(now, Event::HeartbeatResponse(Ok(())));
    }
    assert!(
        left,
        "no poll for {MAX_POLL_INTERVAL:?} after the join, yet no leave"
    );
    assert!(
        now >= joined_at + MAX_POLL_INTERVAL,
        "left {:?} after the join",
        now - joined_at
    );
}
