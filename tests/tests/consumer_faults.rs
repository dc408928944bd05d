//! The consumer on a 3-node cluster with a broker killed mid-read: every
//! record is consumed at least once, no offset after a commit is skipped,
//! and the group's committed offsets end at the log end.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{create_topic, start_cluster, unique_topic};

const RECORDS: u32 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_mid_read_loses_nothing() {
    let mut cluster = start_cluster(3);
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("consume-failover");
    create_topic(producer.client(), &topic, 3, 3).await;
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let record = ProducerRecord::new(&topic)
            .key(format!("k{}", i % 97))
            .value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let victim = producer.client().leader(&topic, 0).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();

    let group = unique_topic("failover-group");
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("enable_auto_commit", "false"),
            ("max_poll_records", "500"),
            ("request_timeout_ms", "5000"),
            ("session_timeout_ms", "30000"),
            ("heartbeat_interval_ms", "1000"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut offsets: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < RECORDS as usize {
        assert!(
            Instant::now() < deadline,
            "only {} records in 120 s",
            seen.len()
        );
        let records = match consumer.poll(Duration::from_millis(500)).await {
            Ok(records) => records,
            // While leadership moves, a poll may fail; the next one goes on.
            Err(error) => {
                eprintln!("poll failed (retrying): {error}");
                continue;
            }
        };
        for record in &records {
            let value: u32 = std::str::from_utf8(record.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            seen.insert(value);
            offsets
                .entry(record.partition)
                .or_default()
                .insert(record.offset);
        }
        if !records.is_empty() && consumer.commit().await.is_err() {
            // A commit during the failover may fail; the next one covers it.
            eprintln!("commit failed (the next one covers it)");
        }
        if !killed && seen.len() > RECORDS as usize / 3 {
            cluster.kill_node(u32::try_from(victim).unwrap()).unwrap();
            killed = true;
        }
    }
    assert!(killed);
    // No gaps: each partition's consumed offsets run from 0 to its end.
    let partitions: Vec<TopicPartition> = (0..3)
        .map(|p| TopicPartition::new(topic.clone(), p))
        .collect();
    let ends = consumer.end_offsets(&partitions).await.unwrap();
    for tp in &partitions {
        let consumed = &offsets[&tp.partition];
        let end = ends[tp];
        assert_eq!(consumed.len() as i64, end, "{tp}: a gap");
        assert_eq!(consumed.iter().next_back().copied(), Some(end - 1));
    }
    consumer.commit().await.unwrap();
    let committed = consumer.committed(&partitions).await.unwrap();
    for tp in &partitions {
        assert_eq!(
            committed[tp].as_ref().map(|c| c.offset),
            Some(ends[tp]),
            "{tp}"
        );
    }
    consumer.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop();
}
