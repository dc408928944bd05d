//! Group membership against a real broker: a static member restarts
//! without a rebalance, a member that stops polling past
//! `max_poll_interval_ms` leaves its partitions to the others, a
//! cooperative-sticky rebalance revokes only what moves, and a manual
//! commit in `on_partitions_revoked` is where the next owner starts (with
//! either group protocol).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_consumer::offsets::OffsetAndMetadata;
use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, RebalanceContext, RebalanceListener, TopicPartition,
};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

async fn topic(partitions: i32) -> String {
    let config = ferrokafka_transport::config::ClientConfig::from_pairs([(
        "bootstrap_servers",
        bootstrap_servers(),
    )])
    .unwrap();
    let client = ferrokafka_transport::Client::connect(config).await.unwrap();
    let name = unique_topic("groups");
    create_topic(&client, &name, partitions, 1).await;
    name
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

/// Polls every consumer until `settled` holds, for at most 60 s.
async fn poll_until(consumers: &[&Consumer], what: &str, settled: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !settled() {
        for consumer in consumers {
            consumer.poll(Duration::from_millis(100)).await.unwrap();
        }
        assert!(Instant::now() < deadline, "{what} never happened");
    }
}

#[tokio::test]
async fn a_static_member_restarts_without_a_rebalance() {
    let topic = topic(4).await;
    let group = unique_topic("static");
    let a = Consumer::new(member(&group, &[("group_instance_id", "a")]))
        .await
        .unwrap();
    let b = Consumer::new(member(&group, &[("group_instance_id", "b")]))
        .await
        .unwrap();
    a.subscribe(&[topic.as_str()]).await.unwrap();
    b.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&a, &b], "a two-member split", || {
        a.assignment().len() == 2 && b.assignment().len() == 2
    })
    .await;
    let before = a.assignment();
    let b_rebalances = b.metrics().rebalance_total;
    a.close(Duration::from_secs(5)).await.unwrap();

    let again = Consumer::new(member(&group, &[("group_instance_id", "a")]))
        .await
        .unwrap();
    again.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&again, &b], "the restarted member's assignment", || {
        again.assignment().len() == 2
    })
    .await;
    assert_eq!(again.assignment(), before, "the same partitions come back");
    // b kept polling throughout and saw no change of assignment.
    for _ in 0..5 {
        b.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(
        b.metrics().rebalance_total,
        b_rebalances,
        "b was rebalanced"
    );
    again.close(Duration::from_secs(5)).await.unwrap();
    b.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_member_that_stops_polling_leaves_its_partitions() {
    let topic = topic(4).await;
    let group = unique_topic("stall");
    let short = [("max_poll_interval_ms", "3000")];
    let staller = Consumer::new(member(&group, &short)).await.unwrap();
    let worker = Consumer::new(member(&group, &short)).await.unwrap();
    staller.subscribe(&[topic.as_str()]).await.unwrap();
    worker.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&staller, &worker], "a two-member split", || {
        staller.assignment().len() == 2 && worker.assignment().len() == 2
    })
    .await;
    // Only the worker polls now: the staller's member leaves after 3 s and
    // the worker gets every partition.
    poll_until(&[&worker], "the worker taking over", || {
        worker.assignment().len() == 4
    })
    .await;
    assert!(
        staller.assignment().is_empty(),
        "{:?}",
        staller.assignment()
    );
    // Polling again rejoins.
    poll_until(&[&staller, &worker], "the staller rejoining", || {
        staller.assignment().len() == 2 && worker.assignment().len() == 2
    })
    .await;
    staller.close(Duration::from_secs(5)).await.unwrap();
    worker.close(Duration::from_secs(5)).await.unwrap();
}

#[derive(Clone, Default)]
struct Revocations(Arc<Mutex<Vec<TopicPartition>>>);

impl RebalanceListener for Revocations {
    fn on_partitions_revoked(
        &mut self,
        _consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.0.lock().unwrap().extend_from_slice(partitions);
    }
}

#[tokio::test]
async fn cooperative_sticky_revokes_only_what_moves() {
    let topic = topic(6).await;
    let group = unique_topic("cooperative");
    let cooperative = [("partition_assignment_strategy", "cooperative-sticky")];
    let first = Consumer::new(member(&group, &cooperative)).await.unwrap();
    let revoked = Revocations::default();
    first
        .subscribe_with(&[topic.as_str()], Some(Box::new(revoked.clone())))
        .await
        .unwrap();
    poll_until(&[&first], "the first member owning all", || {
        first.assignment().len() == 6
    })
    .await;
    let second = Consumer::new(member(&group, &cooperative)).await.unwrap();
    second.subscribe(&[topic.as_str()]).await.unwrap();
    poll_until(&[&first, &second], "a 3/3 split", || {
        first.assignment().len() == 3 && second.assignment().len() == 3
    })
    .await;
    let revoked = revoked.0.lock().unwrap().clone();
    // The first member gave up exactly the three partitions that moved and
    // kept the others without a revocation.
    assert_eq!(revoked.len(), 3, "{revoked:?}");
    for tp in &revoked {
        assert!(
            second.assignment().contains(tp),
            "{tp} revoked but not moved"
        );
    }
    first.close(Duration::from_secs(5)).await.unwrap();
    second.close(Duration::from_secs(5)).await.unwrap();
}

type PositionAtRevocation = (TopicPartition, Option<i64>);

/// Remembers what the application processed and commits it when
/// partitions are revoked, noting the position each had then.
#[derive(Clone, Default)]
struct CommitProcessed {
    /// The last offset processed per partition.
    processed: Arc<Mutex<BTreeMap<TopicPartition, i64>>>,
    /// The position of each revoked partition when the listener ran.
    positions_at_revocation: Arc<Mutex<Vec<PositionAtRevocation>>>,
}

impl CommitProcessed {
    /// Processes records: counts each in `seen` and remembers the last
    /// offset per partition.
    fn note(&self, records: Vec<ConsumerRecord>, seen: &mut BTreeMap<(i32, i64), u32>) {
        let mut processed = self.processed.lock().unwrap();
        for record in records {
            *seen.entry((record.partition, record.offset)).or_default() += 1;
            processed.insert(
                TopicPartition::new(&*record.topic, record.partition),
                record.offset,
            );
        }
    }
}

impl RebalanceListener for CommitProcessed {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut processed = self.processed.lock().unwrap();
        for tp in partitions {
            self.positions_at_revocation
                .lock()
                .unwrap()
                .push((tp.clone(), consumer.position(tp)));
            if let Some(last) = processed.remove(tp) {
                consumer.commit(tp.clone(), OffsetAndMetadata::new(last + 1));
            }
        }
    }
}

/// A manual-commit member commits what it processed from inside
/// `on_partitions_revoked` while a second member joins: the partitions
/// change hands exactly there, so across both members every record is
/// read once, none twice.
async fn revoked_partitions_hand_over_at_the_listeners_commit(extra: &[(&str, &str)]) {
    const PER_PARTITION: i64 = 300;
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("handover");
    create_topic(producer.client(), &topic, 2, 1).await;
    let mut deliveries = Vec::new();
    for partition in 0..2 {
        for i in 0..PER_PARTITION {
            let record = ProducerRecord::new(&topic)
                .partition(partition)
                .value(format!("{i}"));
            deliveries.push(producer.send(record).await.unwrap());
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();

    let group = unique_topic("handover");
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap_servers()),
        ("group_id", group.as_str()),
        ("auto_offset_reset", "earliest"),
        ("enable_auto_commit", "false"),
        ("max_poll_records", "7"),
        ("max_partition_fetch_bytes", "1024"),
    ];
    pairs.extend_from_slice(extra);
    let config = || ConsumerConfig::from_pairs(pairs.clone()).unwrap();

    let first_listener = CommitProcessed::default();
    let first = Consumer::new(config()).await.unwrap();
    first
        .subscribe_with(&[topic.as_str()], Some(Box::new(first_listener.clone())))
        .await
        .unwrap();
    let second_listener = CommitProcessed::default();
    let second = Consumer::new(config()).await.unwrap();

    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    // The first member reads a part of the topic on its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    while first_listener
        .processed
        .lock()
        .unwrap()
        .values()
        .sum::<i64>()
        < 40
    {
        let records = first.poll(Duration::from_millis(100)).await.unwrap();
        first_listener.note(records, &mut seen);
        assert!(Instant::now() < deadline, "the first member read nothing");
    }
    second
        .subscribe_with(&[topic.as_str()], Some(Box::new(second_listener.clone())))
        .await
        .unwrap();
    // Both read on, through the rebalance, until every record was seen.
    let total = 2 * PER_PARTITION as usize;
    while seen.len() < total {
        let records = first.poll(Duration::from_millis(100)).await.unwrap();
        first_listener.note(records, &mut seen);
        let records = second.poll(Duration::from_millis(100)).await.unwrap();
        second_listener.note(records, &mut seen);
        assert!(
            Instant::now() < deadline + Duration::from_secs(60),
            "only {} of {total} records read",
            seen.len()
        );
    }
    assert_eq!(first.assignment().len(), 1, "{:?}", first.assignment());
    assert_eq!(second.assignment().len(), 1, "{:?}", second.assignment());
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "read more than once: {twice:?}");
    // The listener ran while the revoked partitions still had their
    // positions: it could see (and commit) them.
    let revoked = first_listener
        .positions_at_revocation
        .lock()
        .unwrap()
        .clone();
    assert!(!revoked.is_empty(), "the first member revoked nothing");
    assert!(
        revoked.iter().all(|(_, position)| position.is_some()),
        "{revoked:?}"
    );
    first.close(Duration::from_secs(5)).await.unwrap();
    second.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn an_eager_revocation_hands_over_at_the_listeners_commit() {
    revoked_partitions_hand_over_at_the_listeners_commit(&[
        ("partition_assignment_strategy", "range"),
        ("heartbeat_interval_ms", "300"),
        ("session_timeout_ms", "10000"),
    ])
    .await;
}

#[tokio::test]
async fn a_cooperative_revocation_hands_over_at_the_listeners_commit() {
    revoked_partitions_hand_over_at_the_listeners_commit(&[
        ("partition_assignment_strategy", "cooperative-sticky"),
        ("heartbeat_interval_ms", "300"),
        ("session_timeout_ms", "10000"),
    ])
    .await;
}

#[tokio::test]
async fn a_kip848_revocation_hands_over_at_the_listeners_commit() {
    revoked_partitions_hand_over_at_the_listeners_commit(&[("group_protocol", "consumer")]).await;
}
