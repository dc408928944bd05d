//! KIP-848's consumer group protocol (`group_protocol=consumer`) against a
//! real broker: the coordinator splits a topic between two members, gives
//! a leaving member's partitions to the other, committed offsets survive a
//! restart, a static member comes back to its partitions, and what happens
//! when classic and consumer members meet in one group.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrokafka_consumer::{ConsumeError, Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_group::member::GroupError;
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, start_cluster_with, unique_topic};
use xtask::broker::StartOptions;

/// A topic with `partitions` partitions and `per_partition` records in
/// each.
async fn topic_with_records(partitions: i32, per_partition: i32) -> String {
    let producer = producer().await;
    let topic = unique_topic("kip848");
    create_topic(producer.client(), &topic, partitions, 1).await;
    produce(&producer, &topic, partitions, per_partition).await;
    producer.close(Duration::from_secs(5)).await.unwrap();
    topic
}

async fn producer() -> Producer {
    Producer::new(ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap())
        .await
        .unwrap()
}

async fn produce(producer: &Producer, topic: &str, partitions: i32, per_partition: i32) {
    let mut deliveries = Vec::new();
    for partition in 0..partitions {
        for i in 0..per_partition {
            let record = ProducerRecord::new(topic)
                .partition(partition)
                .value(format!("{partition}-{i}"));
            deliveries.push(producer.send(record).await.unwrap());
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

fn config(group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap_servers()),
        ("group_id", group),
        ("group_protocol", "consumer"),
        ("auto_offset_reset", "earliest"),
        ("enable_auto_commit", "false"),
    ];
    pairs.extend_from_slice(extra);
    ConsumerConfig::from_pairs(pairs).unwrap()
}

async fn member(group: &str, topic: &str, extra: &[(&str, &str)]) -> Consumer {
    let consumer = Consumer::new(config(group, extra)).await.unwrap();
    consumer.subscribe(&[topic]).await.unwrap();
    consumer
}

/// What the consumers read, as (partition, offset).
type Seen = BTreeSet<(i32, i64)>;

/// Polls every consumer, collecting what they read, until `settled` holds
/// (at most 60 s).
async fn poll_until(
    consumers: &[&Consumer],
    seen: &mut Seen,
    what: &str,
    settled: impl Fn(&Seen) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !settled(seen) {
        for consumer in consumers {
            for record in consumer.poll(Duration::from_millis(100)).await.unwrap() {
                seen.insert((record.partition, record.offset));
            }
        }
        assert!(Instant::now() < deadline, "{what} never happened");
    }
}

fn all(topic: &str, partitions: i32) -> BTreeSet<TopicPartition> {
    (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}

fn every_record(partitions: i32, per_partition: i32) -> Seen {
    (0..partitions)
        .flat_map(|p| (0..i64::from(per_partition)).map(move |o| (p, o)))
        .collect()
}

#[tokio::test]
async fn two_members_split_a_topic_and_one_takes_over_when_the_other_leaves() {
    let topic = topic_with_records(4, 10).await;
    let group = unique_topic("kip848-split");
    // The coordinator's range assignor, asked for by name.
    let range = [("group_remote_assignor", "range")];
    let a = member(&group, &topic, &range).await;
    let b = member(&group, &topic, &range).await;
    let mut seen = Seen::new();
    let everything = all(&topic, 4);
    poll_until(&[&a, &b], &mut seen, "a disjoint, complete split", |_| {
        let (x, y) = (a.assignment(), b.assignment());
        let union: BTreeSet<TopicPartition> = x.iter().chain(&y).cloned().collect();
        !x.is_empty() && !y.is_empty() && x.len() + y.len() == 4 && union == everything
    })
    .await;
    poll_until(&[&a, &b], &mut seen, "every record read", |seen| {
        *seen == every_record(4, 10)
    })
    .await;
    let identity = a.group_metadata().await.unwrap();
    assert!(identity.generation > 0, "member epoch {identity:?}");
    assert_eq!(identity.member_id.len(), 22, "client-generated id");

    a.close(Duration::from_secs(10)).await.unwrap();
    poll_until(&[&b], &mut seen, "b taking every partition", |_| {
        b.assignment().into_iter().collect::<BTreeSet<_>>() == everything
    })
    .await;
    b.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn committed_offsets_survive_a_restart() {
    let topic = topic_with_records(4, 5).await;
    let group = unique_topic("kip848-commit");
    let first = member(&group, &topic, &[]).await;
    let mut seen = Seen::new();
    poll_until(&[&first], &mut seen, "every record read", |seen| {
        *seen == every_record(4, 5)
    })
    .await;
    // Committing carries the member epoch and the client's member id.
    first.commit().await.unwrap();
    let committed = first
        .committed(&all(&topic, 4).into_iter().collect::<Vec<_>>())
        .await
        .unwrap();
    for (tp, offset) in &committed {
        assert_eq!(offset.as_ref().map(|o| o.offset), Some(5), "{tp}");
    }
    first.close(Duration::from_secs(10)).await.unwrap();

    // A consumer with the classic settings reads the same committed offsets
    // (OffsetFetch does not depend on the protocol).
    let classic = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let partitions: Vec<TopicPartition> = all(&topic, 4).into_iter().collect();
    assert_eq!(classic.committed(&partitions).await.unwrap(), committed);
    classic.close(Duration::from_secs(5)).await.unwrap();

    // Records after the commit are all a restarted member reads.
    let producer = producer().await;
    produce(&producer, &topic, 4, 2).await;
    producer.close(Duration::from_secs(5)).await.unwrap();
    let second = member(&group, &topic, &[]).await;
    let mut after = Seen::new();
    poll_until(&[&second], &mut after, "the new records", |seen| {
        seen.len() >= 8
    })
    .await;
    let expected: Seen = (0..4).flat_map(|p| [(p, 5), (p, 6)]).collect();
    assert_eq!(after, expected, "resumed at the committed offsets");
    second.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn a_static_member_restarts_without_its_partitions_moving() {
    let topic = topic_with_records(4, 1).await;
    let group = unique_topic("kip848-static");
    let a = member(&group, &topic, &[("group_instance_id", "a")]).await;
    let b = member(&group, &topic, &[("group_instance_id", "b")]).await;
    let mut seen = Seen::new();
    poll_until(&[&a, &b], &mut seen, "a two-member split", |_| {
        a.assignment().len() == 2 && b.assignment().len() == 2
    })
    .await;
    let before = a.assignment();
    let b_before = b.assignment();
    let b_rebalances = b.metrics().rebalance_total;
    a.close(Duration::from_secs(10)).await.unwrap();
    // The static member left with epoch -2: the coordinator holds its
    // partitions for it instead of giving them to b.
    for _ in 0..10 {
        b.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(b.assignment(), b_before, "b took a's partitions");

    let again = member(&group, &topic, &[("group_instance_id", "a")]).await;
    poll_until(
        &[&again, &b],
        &mut seen,
        "the restarted member's assignment",
        |_| again.assignment().len() == 2,
    )
    .await;
    assert_eq!(again.assignment(), before, "the same partitions come back");
    assert_eq!(b.assignment(), b_before);
    assert_eq!(
        b.metrics().rebalance_total,
        b_rebalances,
        "b saw its assignment change"
    );
    again.close(Duration::from_secs(10)).await.unwrap();
    b.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn classic_and_consumer_members_in_one_group() {
    let topic = topic_with_records(4, 1).await;
    let group = unique_topic("kip848-mixed");
    let classic = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("heartbeat_interval_ms", "300"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    classic.subscribe(&[topic.as_str()]).await.unwrap();
    let mut seen = Seen::new();
    poll_until(
        &[&classic],
        &mut seen,
        "the classic member's assignment",
        |_| classic.assignment().len() == 4,
    )
    .await;

    // Apache Kafka 4.x's default group.consumer.migration.policy
    // (bidirectional) converts the classic group into a consumer group when
    // a consumer-protocol member joins: the classic member goes on with
    // JoinGroup and SyncGroup, and the coordinator splits the topic between
    // both.
    let modern = member(&group, &topic, &[]).await;
    poll_until(
        &[&modern, &classic],
        &mut seen,
        "a split across protocols",
        |_| modern.assignment().len() == 2 && classic.assignment().len() == 2,
    )
    .await;
    let both: BTreeSet<TopicPartition> = modern
        .assignment()
        .into_iter()
        .chain(classic.assignment())
        .collect();
    assert_eq!(both, all(&topic, 4), "disjoint and complete");
    assert!(modern.group_metadata().await.unwrap().generation > 0);
    // Both protocols' heartbeats are timed in the consumer's metrics.
    poll_until(
        &[&modern, &classic],
        &mut seen,
        "answered heartbeats in both members' metrics",
        |_| modern.metrics().heartbeat_total > 0 && classic.metrics().heartbeat_total > 0,
    )
    .await;
    for m in [modern.metrics(), classic.metrics()] {
        assert!(m.heartbeat_response_time_max_ms > 0.0, "{m:?}");
        assert!(m.last_heartbeat_seconds_ago >= 0, "{m:?}");
    }

    // When the consumer-protocol member leaves, the group goes back to the
    // classic member alone.
    modern.close(Duration::from_secs(10)).await.unwrap();
    poll_until(
        &[&classic],
        &mut seen,
        "the classic member taking all",
        |_| classic.assignment().len() == 4,
    )
    .await;
    classic.close(Duration::from_secs(10)).await.unwrap();
}

#[test]
fn classic_only_keys_are_refused_with_group_protocol_consumer() {
    for (key, value) in [
        ("partition_assignment_strategy", "range"),
        ("session_timeout_ms", "10000"),
        ("heartbeat_interval_ms", "300"),
    ] {
        let error = ConsumerConfig::from_pairs([
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("group_id", "g"),
            ("group_protocol", "consumer"),
            (key, value),
        ])
        .unwrap_err();
        assert_eq!(error.key, key);
        assert!(
            error.to_string().contains("group_protocol=consumer"),
            "{error}"
        );
        // The same keys are fine with the classic protocol.
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("group_id", "g"),
            (key, value),
        ])
        .unwrap();
    }
    let error = ConsumerConfig::from_pairs([
        ("bootstrap_servers", "127.0.0.1:9092"),
        ("group_remote_assignor", "uniform"),
    ])
    .unwrap_err();
    assert_eq!(error.key, "group_remote_assignor");
    let error = ConsumerConfig::from_pairs([("group_protocol", "modern")]).unwrap_err();
    assert_eq!(error.key, "group_protocol");
    let config = ConsumerConfig::from_pairs([
        ("bootstrap_servers", "127.0.0.1:9092"),
        ("group_protocol", "CONSUMER"),
        ("group_remote_assignor", "range"),
    ])
    .unwrap();
    assert_eq!(config.group_remote_assignor.as_deref(), Some("range"));
}

#[tokio::test]
async fn the_coordinator_matches_a_regex_subscription_as_topics_come() {
    let prefix = unique_topic("kip848-regex");
    let producer = producer().await;
    let first = format!("{prefix}-one");
    let other = format!("{}-other", unique_topic("kip848-nomatch"));
    create_topic(producer.client(), &first, 2, 1).await;
    create_topic(producer.client(), &other, 2, 1).await;
    produce(&producer, &first, 2, 3).await;
    produce(&producer, &other, 2, 3).await;

    let group = unique_topic("kip848-regex-group");
    let consumer = Consumer::new(config(&group, &[])).await.unwrap();
    consumer
        .subscribe_regex(&format!("{prefix}-.*"), None)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut read: BTreeSet<(String, i32, i64)> = BTreeSet::new();
    while read.len() < 6 {
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            read.insert((r.topic.to_string(), r.partition, r.offset));
        }
        assert!(Instant::now() < deadline, "read only {read:?}");
    }
    assert!(read.iter().all(|(t, _, _)| *t == first), "{read:?}");
    assert_eq!(
        consumer.assignment().into_iter().collect::<BTreeSet<_>>(),
        all(&first, 2)
    );
    assert_eq!(consumer.subscription().await, vec![first.clone()]);

    // A topic created later joins the assignment: the coordinator gives its
    // id, which the member resolves to a name through metadata.
    let second = format!("{prefix}-two");
    create_topic(producer.client(), &second, 1, 1).await;
    produce(&producer, &second, 1, 2).await;
    producer.close(Duration::from_secs(5)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !read.contains(&(second.clone(), 0, 1)) {
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            read.insert((r.topic.to_string(), r.partition, r.offset));
        }
        assert!(
            Instant::now() < deadline,
            "the new topic never came: {read:?}"
        );
    }
    let mut expected = all(&first, 2);
    expected.insert(TopicPartition::new(&second, 0));
    assert_eq!(
        consumer.assignment().into_iter().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        consumer.subscription().await,
        vec![first.clone(), second.clone()]
    );
    consumer.close(Duration::from_secs(10)).await.unwrap();

    // The classic protocol has no coordinator-side patterns.
    let classic = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    assert!(classic.subscribe_regex("x.*", None).await.is_err());
}

#[tokio::test]
async fn a_member_that_stops_polling_leaves_and_rejoins_when_it_polls() {
    let topic = topic_with_records(4, 1).await;
    let group = unique_topic("kip848-stall");
    let short = [("max_poll_interval_ms", "3000")];
    let staller = member(&group, &topic, &short).await;
    let worker = member(&group, &topic, &short).await;
    let mut seen = Seen::new();
    poll_until(
        &[&staller, &worker],
        &mut seen,
        "a two-member split",
        |_| staller.assignment().len() == 2 && worker.assignment().len() == 2,
    )
    .await;
    poll_until(&[&worker], &mut seen, "the worker taking over", |_| {
        worker.assignment().len() == 4
    })
    .await;
    assert!(
        staller.assignment().is_empty(),
        "{:?}",
        staller.assignment()
    );
    poll_until(
        &[&staller, &worker],
        &mut seen,
        "the staller rejoining",
        |_| staller.assignment().len() == 2 && worker.assignment().len() == 2,
    )
    .await;
    staller.close(Duration::from_secs(10)).await.unwrap();
    worker.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn a_broker_without_the_consumer_protocol_gets_an_error_naming_group_protocol() {
    // A broker of its own with only the classic protocol enabled.
    let cluster = start_cluster_with(&StartOptions {
        extra_properties: vec![(
            "group.coordinator.rebalance.protocols".into(),
            "classic".into(),
        )],
        ..StartOptions::single_node()
    });
    let bootstrap = cluster.info.bootstrap_servers.as_str();
    let producer =
        Producer::new(ProducerConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let topic = unique_topic("kip848-classic-only");
    create_topic(producer.client(), &topic, 1, 1).await;
    producer.close(Duration::from_secs(5)).await.unwrap();

    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap),
            ("group_id", "kip848-classic-only"),
            ("group_protocol", "consumer"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match consumer.poll(Duration::from_millis(100)).await {
            Err(error) => break error,
            Ok(records) => assert!(records.is_empty()),
        }
        assert!(
            Instant::now() < deadline,
            "no error from a classic-only broker"
        );
    };
    let ConsumeError::Group(GroupError::UnsupportedGroupProtocol(why)) = &error else {
        panic!("{error:?}")
    };
    assert!(why.contains("group_protocol"), "{why}");
    assert!(consumer.assignment().is_empty());
}

#[tokio::test]
async fn revoked_partitions_are_committed_before_they_move() {
    let topic = topic_with_records(4, 10).await;
    let group = unique_topic("kip848-revoke");
    // Auto-commit on, but its timer far away: only a revocation commits.
    let first = member(
        &group,
        &topic,
        &[
            ("enable_auto_commit", "true"),
            ("auto_commit_interval_ms", "600000"),
        ],
    )
    .await;
    let mut seen = Seen::new();
    poll_until(&[&first], &mut seen, "every record read", |seen| {
        *seen == every_record(4, 10)
    })
    .await;
    let partitions: Vec<TopicPartition> = all(&topic, 4).into_iter().collect();
    assert!(
        first
            .committed(&partitions)
            .await
            .unwrap()
            .values()
            .all(Option::is_none),
        "nothing committed yet"
    );

    let second = member(&group, &topic, &[]).await;
    let mut late = Seen::new();
    poll_until(&[&first, &second], &mut late, "a two-member split", |_| {
        first.assignment().len() == 2 && second.assignment().len() == 2
    })
    .await;
    // What moved was committed by its old owner at revocation: the new owner
    // starts after everything already read.
    let moved = second.assignment();
    let committed = second.committed(&moved).await.unwrap();
    for tp in &moved {
        assert_eq!(
            committed[tp].as_ref().map(|o| o.offset),
            Some(10),
            "{tp}: {committed:?}"
        );
    }
    for _ in 0..5 {
        for record in second.poll(Duration::from_millis(100)).await.unwrap() {
            late.insert((record.partition, record.offset));
        }
    }
    assert!(late.is_empty(), "read again: {late:?}");
    first.close(Duration::from_secs(10)).await.unwrap();
    second.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn an_unknown_server_assignor_is_a_typed_error() {
    let topic = topic_with_records(1, 1).await;
    let group = unique_topic("kip848-assignor");
    let consumer = member(
        &group,
        &topic,
        &[("group_remote_assignor", "no-such-assignor")],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        if let Err(error) = consumer.poll(Duration::from_millis(100)).await {
            break error;
        }
        assert!(
            Instant::now() < deadline,
            "the broker took an unknown assignor"
        );
    };
    assert!(
        matches!(
            error,
            ConsumeError::Group(GroupError::Other { code, retriable: false })
                if code == ferrokafka_protocol::ErrorCode::UnsupportedAssignor.code()
        ),
        "{error:?}"
    );
}
