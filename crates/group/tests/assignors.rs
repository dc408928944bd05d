//! The assignors against the Java client's documented examples, and their
//! invariants over random groups.

use std::collections::{BTreeMap, BTreeSet};

use ferrokafka_group::assignor::{
    Assignment, Assignor, CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor,
    StickyAssignor, Subscription, TopicPartition,
};
use proptest::prelude::*;

fn member(id: &str, topics: &[&str]) -> Subscription {
    Subscription {
        member_id: id.into(),
        topics: topics.iter().map(ToString::to_string).collect(),
        ..Subscription::default()
    }
}

fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    list.iter()
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect()
}

fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| ((*t).to_string(), *n)).collect()
}

#[test]
fn range_matches_the_java_documentation_example() {
    let assignment = RangeAssignor.assign(
        &topics(&[("t0", 3), ("t1", 3)]),
        &[member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])],
    );
    assert_eq!(
        assignment["C0"],
        tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)])
    );
    assert_eq!(assignment["C1"], tps(&[("t0", 2), ("t1", 2)]));
}

#[test]
fn round_robin_matches_the_java_documentation_example() {
    let assignment = RoundRobinAssignor.assign(
        &topics(&[("t0", 3), ("t1", 3)]),
        &[member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])],
    );
    assert_eq!(assignment["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
    assert_eq!(assignment["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
}

#[test]
fn round_robin_skips_members_not_subscribed() {
    // The Java documentation's second example: C0 on t0; C1 on t0, t1; C2 on t0, t1, t2.
    let assignment = RoundRobinAssignor.assign(
        &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        &[
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ],
    );
    assert_eq!(assignment["C0"], tps(&[("t0", 0)]));
    assert_eq!(assignment["C1"], tps(&[("t1", 0)]));
    assert_eq!(
        assignment["C2"],
        tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)])
    );
}

#[test]
fn static_members_are_ordered_by_instance_id() {
    let mut a = member("zzz-dynamic-id", &["t"]);
    a.group_instance_id = Some("instance-a".into());
    let mut b = member("aaa-dynamic-id", &["t"]);
    b.group_instance_id = Some("instance-b".into());
    let assignment = RangeAssignor.assign(&topics(&[("t", 2)]), &[b, a]);
    assert_eq!(assignment["zzz-dynamic-id"], tps(&[("t", 0)]));
}

#[test]
fn sticky_keeps_partitions_when_a_member_joins() {
    let all = topics(&[("t", 6)]);
    let first = StickyAssignor.assign(&all, &[member("A", &["t"]), member("B", &["t"])]);
    let mut a = member("A", &["t"]);
    a.owned_partitions = first["A"].clone();
    let mut b = member("B", &["t"]);
    b.owned_partitions = first["B"].clone();
    let second = StickyAssignor.assign(&all, &[a, b, member("C", &["t"])]);
    for id in ["A", "B"] {
        assert_eq!(second[id].len(), 2);
        assert!(
            second[id].iter().all(|tp| first[id].contains(tp)),
            "{id} kept only its own partitions"
        );
    }
    assert_eq!(second["C"].len(), 2);
}

#[test]
fn cooperative_sticky_holds_back_partitions_that_change_owner() {
    let all = topics(&[("t", 4)]);
    let mut a = member("A", &["t"]);
    a.owned_partitions = tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
    let first = CooperativeStickyAssignor.assign(&all, &[a.clone(), member("B", &["t"])]);
    assert_eq!(first["A"].len(), 2, "A keeps two");
    assert!(first["B"].is_empty(), "B waits until A revoked: {first:?}");
    // Second round: A revoked the two it lost.
    a.owned_partitions = first["A"].clone();
    let second = CooperativeStickyAssignor.assign(&all, &[a, member("B", &["t"])]);
    assert_eq!(second["B"].len(), 2);
    assert_eq!(second["A"], first["A"]);
}

fn check_valid(
    name: &str,
    assignment: &Assignment,
    all: &BTreeMap<String, i32>,
    members: &[Subscription],
    complete: bool,
) {
    let mut seen = BTreeSet::new();
    for m in members {
        for tp in &assignment[&m.member_id] {
            assert!(
                m.topics.iter().any(|t| **t == *tp.topic),
                "{name}: {} got {tp:?} outside its subscription",
                m.member_id
            );
            assert!(
                tp.partition < all[tp.topic()],
                "{name}: {tp:?} does not exist"
            );
            assert!(seen.insert(tp.clone()), "{name}: {tp:?} assigned twice");
        }
    }
    if complete {
        for (topic, &count) in all {
            if members.iter().any(|m| m.topics.contains(topic)) {
                for p in 0..count {
                    assert!(
                        seen.contains(&TopicPartition::new(topic.clone(), p)),
                        "{name}: {topic}-{p} unassigned"
                    );
                }
            }
        }
    }
}

fn group() -> impl Strategy<Value = (BTreeMap<String, i32>, Vec<Subscription>)> {
    let topics = prop::collection::btree_map("[a-d]", 1..12i32, 1..4);
    (topics, 1..7usize).prop_flat_map(|(topics, n)| {
        let names: Vec<String> = topics.keys().cloned().collect();
        let subscriptions =
            prop::collection::vec(prop::sample::subsequence(names.clone(), 1..=names.len()), n);
        (Just(topics), subscriptions).prop_map(|(topics, subs)| {
            let members = subs
                .into_iter()
                .enumerate()
                .map(|(i, topics)| Subscription {
                    member_id: format!("m{i}"),
                    topics,
                    ..Subscription::default()
                })
                .collect();
            (topics, members)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_assignor_is_valid_and_complete((all, members) in group()) {
        let assignors: [&dyn Assignor; 3] = [&RangeAssignor, &RoundRobinAssignor, &StickyAssignor];
        for assignor in assignors {
            let assignment = assignor.assign(&all, &members);
            check_valid(assignor.name(), &assignment, &all, &members, true);
        }
    }

    #[test]
    fn sticky_is_balanced_when_subscriptions_are_equal(counts in prop::collection::vec(1..20i32, 1..4), n in 1..8usize) {
        let all: BTreeMap<String, i32> = counts.iter().enumerate().map(|(i, c)| (format!("t{i}"), *c)).collect();
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        let members: Vec<Subscription> = (0..n).map(|i| member(&format!("m{i}"), &names)).collect();
        let assignment = StickyAssignor.assign(&all, &members);
        let loads: Vec<usize> = assignment.values().map(Vec::len).collect();
        prop_assert!(loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1, "{loads:?}");
    }

    #[test]
    fn cooperative_sticky_never_hands_over_an_owned_partition_in_one_round(
        (all, mut members) in group(),
        seed in any::<u64>(),
    ) {
        // Give members some (possibly stale or conflicting) ownership from an earlier round.
        let earlier = RoundRobinAssignor.assign(&all, &members);
        for (i, m) in members.iter_mut().enumerate() {
            let donor = format!("m{}", (i as u64 + seed) % 3);
            m.owned_partitions = earlier.get(&donor).cloned().unwrap_or_default();
        }
        let assignment = CooperativeStickyAssignor.assign(&all, &members);
        check_valid("cooperative-sticky", &assignment, &all, &members, false);
        for m in &members {
            for tp in &assignment[&m.member_id] {
                let others_own = members.iter().any(|o| o.member_id != m.member_id && o.owned_partitions.contains(tp));
                let owns_it = m.owned_partitions.contains(tp);
                prop_assert!(!others_own || owns_it, "{} got {tp:?} that another member still owns", m.member_id);
            }
        }
    }
}
