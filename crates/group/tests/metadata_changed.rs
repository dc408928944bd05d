//! A stable leader told that the metadata of its group's topics changed
//! (a topic it left out appeared) joins again, so the group is assigned
//! anew; a member in the middle of joining takes the new metadata in that
//! join and needs no second one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::{RangeAssignor, Subscription};
use ferrokafka_group::member::{Action, Event, Joined, Member, MemberConfig};

fn member(now: Instant) -> Member {
    let config = MemberConfig {
        group_id: "g".into(),
        group_instance_id: None,
        session_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_secs(1),
        max_poll_interval: Duration::from_secs(60),
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_secs(1),
        rack: None,
    };
    let mut member = Member::new(config, vec![Box::new(RangeAssignor)], now);
    member.handle(now, Event::Subscribed(vec!["appears-later".into()]));
    member
}

fn joins(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::JoinGroup { .. }))
        .count()
}

/// Joins as the only member, with the topic missing from the metadata.
fn stable_leader(now: Instant) -> Member {
    let mut member = member(now);
    let actions = member.handle(now, Event::CoordinatorFound(1));
    assert_eq!(joins(&actions), 1);
    member.handle(
        now,
        Event::JoinResponse(Ok(Joined {
            generation: 1,
            member_id: "m".into(),
            leader_id: "m".into(),
            protocol_name: "range".into(),
            members: vec![Subscription {
                member_id: "m".into(),
                group_instance_id: None,
                topics: vec!["appears-later".into()],
                owned_partitions: Vec::new(),
                generation: None,
                rack: None,
            }],
            partitions_per_topic: BTreeMap::new(),
        })),
    );
    member.handle(now, Event::SyncResponse(Ok(Vec::new())));
    assert!(member.is_stable());
    member
}

#[test]
fn a_stable_leader_joins_again_when_its_topics_change() {
    let now = Instant::now();
    let mut member = stable_leader(now);
    let actions = member.handle(now, Event::MetadataChanged);
    assert_eq!(joins(&actions), 1, "{actions:?}");
}

#[test]
fn a_member_already_joining_does_not_join_twice() {
    let now = Instant::now();
    let mut member = member(now);
    let actions = member.handle(now, Event::CoordinatorFound(1));
    assert_eq!(joins(&actions), 1);
    let actions = member.handle(now, Event::MetadataChanged);
    assert_eq!(joins(&actions), 0, "{actions:?}");
    assert!(!member.is_stable());
}
