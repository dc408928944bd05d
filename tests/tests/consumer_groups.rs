//! Group membership against a real broker: a static member restarts
//! without a rebalance, a member that stops polling past
//! `max_poll_interval_ms` leaves its partitions to the others, and a
//! cooperative-sticky rebalance revokes only what moves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, RebalanceListener, TopicPartition};
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
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
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
