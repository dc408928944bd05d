//! Consumer groups through the admin client against a real broker: a live
//! two-member group is listed and described with its assignments decoded;
//! offsets altered for an empty group are where a new consumer starts;
//! deleted offsets are gone; deleting a non-empty group fails for that
//! group alone; a static member is removed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_admin::groups::{GroupKind, ListGroupsFilter, MembersToRemove, OffsetAndMetadata};
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

const WAIT: Duration = Duration::from_secs(60);

async fn admin() -> Admin {
    Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap())
        .await
        .unwrap()
}

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(30))
}

async fn topic(admin: &Admin, name: &str, partitions: i32) -> String {
    let topic = unique_topic(name);
    create_topic(admin.client(), &topic, partitions, 1).await;
    topic
}

fn member(group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap_servers()),
        ("group_id", group),
        ("auto_offset_reset", "earliest"),
        ("heartbeat_interval_ms", "300"),
        ("session_timeout_ms", "10000"),
    ];
    pairs.extend_from_slice(extra);
    ConsumerConfig::from_pairs(pairs).unwrap()
}

async fn poll_until(consumers: &[&Consumer], what: &str, settled: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !settled() {
        for consumer in consumers {
            consumer.poll(Duration::from_millis(100)).await.unwrap();
        }
        assert!(Instant::now() < deadline, "{what} never happened");
    }
}

async fn produce(topic: &str, partition: i32, count: u32) {
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic)
            .partition(partition)
            .value(format!("v{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

#[tokio::test]
async fn a_live_group_is_listed_and_described_with_its_assignments() {
    let admin = admin().await;
    let topic = topic(&admin, "admin-groups-describe", 4).await;
    let group = unique_topic("admin-describe");
    let a = Consumer::new(member(&group, &[("client_id", "member-a")]))
        .await
        .unwrap();
    let b = Consumer::new(member(&group, &[("client_id", "member-b")]))
        .await
        .unwrap();
    a.subscribe(&[topic.as_str()]).await.unwrap();
    b.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&a, &b], "a two-member split", || {
        a.assignment().len() == 2 && b.assignment().len() == 2
    })
    .await;

    let listed = admin
        .list_groups(&ListGroupsFilter::default(), &options())
        .await
        .unwrap();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let entry = listed
        .groups
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not listed in {:?}", listed.groups));
    assert_eq!(entry.protocol_type, "consumer");
    // A state filter that excludes it leaves it out.
    let dead = admin
        .list_groups(
            &ListGroupsFilter {
                states: vec!["Dead".into()],
                ..ListGroupsFilter::default()
            },
            &options(),
        )
        .await
        .unwrap();
    assert!(dead.groups.iter().all(|g| g.group_id != group));

    // Keep both members alive while describing (a rebalance may still end).
    let deadline = Instant::now() + WAIT;
    let description = loop {
        let mut described = admin.describe_groups(&[group.as_str()], &options()).await;
        let description = described.remove(&group).unwrap().unwrap();
        if description.state == "Stable" && description.members.len() == 2 {
            break description;
        }
        assert!(Instant::now() < deadline, "never stable: {description:?}");
        a.poll(Duration::from_millis(100)).await.unwrap();
        b.poll(Duration::from_millis(100)).await.unwrap();
    };
    assert_eq!(description.kind, GroupKind::Classic);
    assert_eq!(description.protocol_type, "consumer");
    assert!(!description.protocol.is_empty(), "{description:?}");
    let mut clients: Vec<&str> = description
        .members
        .iter()
        .map(|m| m.client_id.as_str())
        .collect();
    clients.sort_unstable();
    assert_eq!(clients, ["member-a", "member-b"]);
    let mut assigned = Vec::new();
    for m in &description.members {
        assert_eq!(m.assignment.len(), 2, "{m:?}");
        assert_eq!(m.subscribed_topics, std::slice::from_ref(&topic));
        assigned.extend(m.assignment.iter().map(|p| (p.topic.clone(), p.partition)));
        let consumer = if m.client_id == "member-a" { &a } else { &b };
        let mut own: Vec<(String, i32)> = consumer
            .assignment()
            .into_iter()
            .map(|p| (p.topic.to_string(), p.partition))
            .collect();
        own.sort();
        let mut seen: Vec<(String, i32)> = m
            .assignment
            .iter()
            .map(|p| (p.topic.to_string(), p.partition))
            .collect();
        seen.sort();
        assert_eq!(seen, own, "the coordinator's view matches the member's");
    }
    assigned.sort();
    assert_eq!(
        assigned,
        (0..4)
            .map(|p| (Arc::<str>::from(topic.as_str()), p))
            .collect::<Vec<_>>()
    );

    // An unknown group is answered on its own, not failing the others.
    let both = admin
        .describe_groups(&[group.as_str(), "no-such-group-at-all"], &options())
        .await;
    assert!(both[&group].is_ok());
    match &both["no-such-group-at-all"] {
        Ok(d) => assert_eq!(d.state, "Dead"),
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::GroupIdNotFound)),
    }
    a.close(Duration::from_secs(5)).await.unwrap();
    b.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn altered_offsets_are_where_a_consumer_starts_and_deleted_ones_are_gone() {
    let admin = admin().await;
    let topic = topic(&admin, "admin-groups-offsets", 2).await;
    produce(&topic, 0, 10).await;
    let group = unique_topic("admin-offsets");

    let offsets: BTreeMap<_, _> = [
        (tp(&topic, 0), OffsetAndMetadata::new(7)),
        (tp(&topic, 1), OffsetAndMetadata::new(0)),
    ]
    .into_iter()
    .collect();
    let altered = admin
        .alter_group_offsets(&group, &offsets, &options())
        .await;
    assert_eq!(altered.len(), 2);
    for (partition, result) in &altered {
        assert!(result.is_ok(), "{partition:?}: {result:?}");
    }
    let listed = admin
        .list_group_offsets(&[group.as_str()], None, &options())
        .await;
    let committed = listed[&group].as_ref().unwrap();
    assert_eq!(committed[&tp(&topic, 0)].offset, 7);
    assert_eq!(committed[&tp(&topic, 1)].offset, 0);
    let only = admin
        .list_group_offsets(&[group.as_str()], Some(&[tp(&topic, 0)]), &options())
        .await;
    assert_eq!(only[&group].as_ref().unwrap().len(), 1);

    // A consumer of the group starts at offset 7 of partition 0.
    let consumer = Consumer::new(member(&group, &[])).await.unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let mut first = None;
    while first.is_none() {
        assert!(Instant::now() < deadline, "no records arrived");
        let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
        first = records.iter().find(|r| r.partition == 0).map(|r| r.offset);
    }
    assert_eq!(first, Some(7));

    // While the member is active, an admin commit is refused for it.
    let refused = admin
        .alter_group_offsets(
            &group,
            &[(tp(&topic, 0), OffsetAndMetadata::new(1))]
                .into_iter()
                .collect(),
            &options(),
        )
        .await;
    let error = refused[&tp(&topic, 0)].as_ref().unwrap_err();
    assert!(
        matches!(
            error.code(),
            Some(
                ErrorCode::UnknownMemberId
                    | ErrorCode::IllegalGeneration
                    | ErrorCode::RebalanceInProgress
                    | ErrorCode::StaleMemberEpoch
            )
        ),
        "{error}"
    );
    // Nor can it delete offsets of a topic it is subscribed to.
    let subscribed = admin
        .delete_group_offsets(&group, &[tp(&topic, 1)], &options())
        .await;
    assert_eq!(
        subscribed[&tp(&topic, 1)].as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupSubscribedToTopic)
    );
    consumer.close(Duration::from_secs(5)).await.unwrap();

    // Empty again: deleting the offset of partition 1 leaves partition 0's.
    let deleted = admin
        .delete_group_offsets(&group, &[tp(&topic, 1)], &options())
        .await;
    assert!(deleted[&tp(&topic, 1)].is_ok(), "{deleted:?}");
    let after = admin
        .list_group_offsets(&[group.as_str()], None, &options())
        .await;
    let after = after[&group].as_ref().unwrap();
    assert!(!after.contains_key(&tp(&topic, 1)), "{after:?}");
    assert!(after.contains_key(&tp(&topic, 0)), "{after:?}");
}

#[tokio::test]
async fn a_non_empty_group_is_not_deleted_while_an_empty_one_is() {
    let admin = admin().await;
    let topic = topic(&admin, "admin-groups-delete", 1).await;
    let empty = unique_topic("admin-empty");
    let busy = unique_topic("admin-busy");
    let altered = admin
        .alter_group_offsets(
            &empty,
            &[(tp(&topic, 0), OffsetAndMetadata::new(0))]
                .into_iter()
                .collect(),
            &options(),
        )
        .await;
    assert!(altered[&tp(&topic, 0)].is_ok());
    let consumer = Consumer::new(member(&busy, &[])).await.unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&consumer], "an assignment", || {
        !consumer.assignment().is_empty()
    })
    .await;

    let deleted = admin
        .delete_groups(&[empty.as_str(), busy.as_str()], &options())
        .await;
    assert!(deleted[&empty].is_ok(), "{deleted:?}");
    assert_eq!(
        deleted[&busy].as_ref().unwrap_err().code(),
        Some(ErrorCode::NonEmptyGroup)
    );
    let listed = admin
        .list_groups(&ListGroupsFilter::default(), &options())
        .await
        .unwrap();
    let ids: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert!(!ids.contains(&empty.as_str()), "{empty} still listed");
    assert!(ids.contains(&busy.as_str()), "{busy} not listed");
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_static_member_is_removed() {
    let admin = admin().await;
    let topic = topic(&admin, "admin-groups-remove", 2).await;
    let group = unique_topic("admin-remove");
    // A long session: without the removal it would stay a member.
    let consumer = Consumer::new(member(
        &group,
        &[
            ("group_instance_id", "static-1"),
            ("session_timeout_ms", "45000"),
        ],
    ))
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&consumer], "an assignment", || {
        consumer.assignment().len() == 2
    })
    .await;

    let removed = admin
        .remove_group_members(
            &group,
            &MembersToRemove::Static(vec!["static-1".into()]),
            &options(),
        )
        .await
        .unwrap();
    assert!(removed["static-1"].is_ok(), "{removed:?}");
    let described = admin.describe_groups(&[group.as_str()], &options()).await;
    let description = described[&group].as_ref().unwrap();
    assert!(
        description
            .members
            .iter()
            .all(|m| m.group_instance_id.as_deref() != Some("static-1")),
        "{description:?}"
    );
    // Removing an unknown instance fails for that member alone.
    let unknown = admin
        .remove_group_members(
            &group,
            &MembersToRemove::Static(vec!["nobody".into()]),
            &options(),
        )
        .await
        .unwrap();
    assert_eq!(
        unknown["nobody"].as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownMemberId)
    );
}

#[tokio::test]
async fn a_kip848_consumer_group_is_described_with_its_assignments() {
    let admin = admin().await;
    let topic = topic(&admin, "admin-groups-848", 2).await;
    let group = unique_topic("admin-848");
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
            ("group_protocol", "consumer"),
            ("client_id", "member-848"),
            ("auto_offset_reset", "earliest"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&consumer], "an assignment", || {
        consumer.assignment().len() == 2
    })
    .await;

    let listed = admin
        .list_groups(
            &ListGroupsFilter {
                types: vec!["consumer".into()],
                ..ListGroupsFilter::default()
            },
            &options(),
        )
        .await
        .unwrap();
    let entry = listed
        .groups
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not listed as a consumer group"));
    assert_eq!(entry.group_type.as_deref(), Some("consumer"));
    let classic_only = admin
        .list_groups(
            &ListGroupsFilter {
                types: vec!["classic".into()],
                ..ListGroupsFilter::default()
            },
            &options(),
        )
        .await
        .unwrap();
    assert!(classic_only.groups.iter().all(|g| g.group_id != group));

    // The member's reported assignment catches up with its reconciliation.
    let deadline = Instant::now() + WAIT;
    let description = loop {
        let mut described = admin.describe_groups(&[group.as_str()], &options()).await;
        let description = described.remove(&group).unwrap().unwrap();
        if description
            .members
            .first()
            .is_some_and(|m| m.assignment.len() == 2)
        {
            break description;
        }
        assert!(Instant::now() < deadline, "never assigned: {description:?}");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    };
    assert_eq!(description.kind, GroupKind::Consumer);
    assert_eq!(description.members.len(), 1);
    let m = &description.members[0];
    assert_eq!(m.client_id, "member-848");
    assert_eq!(m.subscribed_topics, std::slice::from_ref(&topic));
    let mut assigned: Vec<i32> = m
        .assignment
        .iter()
        .filter(|p| *p.topic == *topic)
        .map(|p| p.partition)
        .collect();
    assigned.sort_unstable();
    assert_eq!(assigned, [0, 1]);
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn every_member_is_removed_when_asked_for_all() {
    let admin = admin().await;
    let topic = topic(&admin, "admin-groups-remove-all", 2).await;
    let group = unique_topic("admin-remove-all");
    let a = Consumer::new(member(&group, &[])).await.unwrap();
    let b = Consumer::new(member(&group, &[("group_instance_id", "static-b")]))
        .await
        .unwrap();
    a.subscribe(&[topic.as_str()]).await.unwrap();
    b.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&a, &b], "a two-member split", || {
        a.assignment().len() == 1 && b.assignment().len() == 1
    })
    .await;
    let before = admin.describe_groups(&[group.as_str()], &options()).await;
    let before: Vec<String> = before[&group]
        .as_ref()
        .unwrap()
        .members
        .iter()
        .map(|m| m.member_id.clone())
        .collect();
    assert_eq!(before.len(), 2);

    let removed = admin
        .remove_group_members(&group, &MembersToRemove::All, &options())
        .await
        .unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(removed.values().all(Result::is_ok), "{removed:?}");
    assert!(removed.contains_key("static-b"), "{removed:?}");
    // Neither member (they have not polled since) is in the group any more.
    let after = admin.describe_groups(&[group.as_str()], &options()).await;
    let after = after[&group].as_ref().unwrap();
    assert!(
        after.members.iter().all(|m| !before.contains(&m.member_id)),
        "{after:?}"
    );
}
