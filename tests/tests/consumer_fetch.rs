//! The fetcher against a real broker: incremental fetch sessions (KIP-227)
//! over many polls, pipelined fetches that a seek or a pause must not leak
//! into what `poll` returns, and reading from the follower in the
//! consumer's rack (KIP-392) on a 3-node cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, start_cluster_with, unique_topic};
use xtask::broker::StartOptions;

/// A topic whose partition `p` holds the values `p, p + n, p + 2n, ...`
/// (`n` partitions) at offsets 0, 1, 2, ...
async fn topic_with_records(partitions: i32, records: u32) -> String {
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("fetch");
    create_topic(producer.client(), &topic, partitions, 1).await;
    let mut deliveries = Vec::new();
    for i in 0..records {
        let partition = i32::try_from(i).unwrap() % partitions;
        let record = ProducerRecord::new(&topic)
            .partition(partition)
            .value(format!("{i:08}"));
        deliveries.push(producer.send(record).await.unwrap());
        // Small batches (rounds of 80 records): many fetches to read them.
        if deliveries.len() == 80 {
            for delivery in deliveries.drain(..) {
                delivery.await.unwrap();
            }
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
    topic
}

fn config(pairs: &[(&str, &str)]) -> ConsumerConfig {
    let mut all = vec![
        ("bootstrap_servers", bootstrap_servers()),
        ("auto_offset_reset", "earliest"),
    ];
    all.extend_from_slice(pairs);
    ConsumerConfig::from_pairs(all).unwrap()
}

fn value(record: &ConsumerRecord) -> i64 {
    std::str::from_utf8(record.value.as_deref().unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

/// Polls until `count` records arrived or `limit` passed.
async fn poll_until(consumer: &Consumer, count: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + limit;
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        records.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    records
}

#[tokio::test]
async fn eight_partitions_read_exactly_once_in_order_over_incremental_sessions() {
    const PARTITIONS: i32 = 8;
    const RECORDS: u32 = 4000;
    let topic = topic_with_records(PARTITIONS, RECORDS).await;
    let group = unique_topic("fetch-group");
    // Small fetches and small polls: many rounds of fetching. A group
    // without auto-commit, for the one commit at the end; windows long
    // enough that the whole read stays in them.
    let consumer = Consumer::new(config(&[
        ("max_poll_records", "37"),
        ("max_partition_fetch_bytes", "1024"),
        ("group_id", group.as_str()),
        ("enable_auto_commit", "false"),
        ("metrics_sample_window_ms", "60000"),
    ]))
    .await
    .unwrap();
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.clone(), p))
        .collect();
    consumer.assign(&partitions).await.unwrap();

    let records = poll_until(&consumer, RECORDS as usize, Duration::from_secs(60)).await;
    assert_eq!(records.len(), RECORDS as usize, "every record exactly once");
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for record in &records {
        let expected = next.entry(record.partition).or_insert(0);
        assert_eq!(record.offset, *expected, "in order, no gap, no repeat");
        assert_eq!(
            value(record),
            record.offset * i64::from(PARTITIONS) + i64::from(record.partition)
        );
        *expected += 1;
    }
    assert_eq!(next.len(), 8);
    // Nothing more arrives.
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );

    let metrics = consumer.metrics();
    assert!(metrics.fetch_requests_full >= 1, "{metrics:?}");
    assert!(
        metrics.fetch_requests_incremental >= 9 * metrics.fetch_requests_full,
        "most fetches are incremental: {metrics:?}"
    );
    assert_eq!(metrics.fetch_session_resets, 0, "{metrics:?}");
    assert_eq!(
        metrics.fetch_total,
        metrics.fetch_requests_full + metrics.fetch_requests_incremental
    );
    // The Java client's consumer-fetch-manager metrics.
    assert_eq!(metrics.records_consumed_total, u64::from(RECORDS));
    assert_eq!(
        metrics.topics[&topic].records_consumed_total,
        u64::from(RECORDS)
    );
    // Values of 8 bytes, no keys.
    assert_eq!(metrics.bytes_consumed_total, 8 * u64::from(RECORDS));
    assert!(metrics.records_consumed_rate > 0.0, "{metrics:?}");
    assert!(metrics.bytes_consumed_rate > 0.0, "{metrics:?}");
    assert!(metrics.topics[&topic].records_consumed_rate > 0.0);
    assert!(
        metrics.fetch_total > 0 && metrics.fetch_rate > 0.0,
        "{metrics:?}"
    );
    assert!(
        metrics.fetch_latency_avg_ms > 0.0
            && metrics.fetch_latency_max_ms >= metrics.fetch_latency_avg_ms,
        "{metrics:?}"
    );
    assert!(metrics.records_per_request_avg > 0.0, "{metrics:?}");
    assert!(
        metrics.fetch_size_avg > 0.0 && metrics.fetch_size_max >= metrics.fetch_size_avg,
        "{metrics:?}"
    );
    // The first answers showed a partition's 500 records all ahead.
    let per_partition = i64::from(RECORDS) / i64::from(PARTITIONS);
    assert!(
        metrics.records_lag_max > 0 && metrics.records_lag_max <= per_partition,
        "{metrics:?}"
    );
    assert_eq!(metrics.records_lag, 0, "everything read: {metrics:?}");
    assert_eq!(metrics.commit_total, 0);

    consumer.commit().await.unwrap();
    let metrics = consumer.metrics();
    assert_eq!(metrics.commit_total, 1, "{metrics:?}");
    assert!(metrics.commit_rate > 0.0, "{metrics:?}");
    assert!(
        metrics.commit_latency_avg_ms > 0.0
            && metrics.commit_latency_max_ms >= metrics.commit_latency_avg_ms,
        "{metrics:?}"
    );
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_seek_during_pipelined_fetching_yields_exactly_the_records_from_the_new_position() {
    let topic = topic_with_records(1, 2000).await;
    let consumer = Consumer::new(config(&[
        ("max_poll_records", "10"),
        ("max_partition_fetch_bytes", "2048"),
    ]))
    .await
    .unwrap();
    let p0 = TopicPartition::new(topic.clone(), 0);
    consumer.assign(std::slice::from_ref(&p0)).await.unwrap();

    for target in [1500_i64, 200, 7, 1999] {
        // Some records, leaving a fetch in flight and data buffered.
        let before = poll_until(&consumer, 1, Duration::from_secs(20)).await;
        assert!(!before.is_empty());
        consumer.seek(&p0, target).await.unwrap();
        assert_eq!(consumer.position(&p0).await.unwrap(), target);
        let wanted = usize::try_from((2000 - target).min(25)).unwrap();
        let after = poll_until(&consumer, wanted, Duration::from_secs(20)).await;
        assert!(
            after.len() >= wanted,
            "seek to {target}: {} records",
            after.len()
        );
        for (i, record) in after.iter().enumerate() {
            let expected = target + i64::try_from(i).unwrap();
            assert_eq!(record.offset, expected, "seek to {target}");
            assert_eq!(value(record), expected);
        }
    }
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_partition_paused_with_a_fetch_in_flight_returns_nothing_until_resumed() {
    let topic = topic_with_records(2, 2000).await;
    let consumer = Consumer::new(config(&[
        ("max_poll_records", "1"),
        ("max_partition_fetch_bytes", "1024"),
    ]))
    .await
    .unwrap();
    let p0 = TopicPartition::new(topic.clone(), 0);
    let p1 = TopicPartition::new(topic.clone(), 1);
    consumer.assign(&[p0.clone(), p1.clone()]).await.unwrap();

    // Read until both partitions delivered something: fetches for both
    // are buffered and in flight.
    let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 2 && Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            seen.entry(record.partition)
                .or_default()
                .push(record.offset);
        }
    }
    assert_eq!(seen.len(), 2);
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    let paused_at = consumer.position(&p1).await.unwrap();

    // Drain p0; nothing of p1 may appear.
    let remaining = 1000 - seen[&0].len();
    let records = poll_until(&consumer, remaining, Duration::from_secs(60)).await;
    assert!(records.iter().all(|r| r.partition == 0), "p1 is paused");
    assert_eq!(records.len(), remaining);
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(consumer.position(&p1).await.unwrap(), paused_at);

    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    let rest = usize::try_from(1000 - paused_at).unwrap();
    let records = poll_until(&consumer, rest, Duration::from_secs(60)).await;
    assert_eq!(records.len(), rest);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.partition, 1);
        assert_eq!(record.offset, paused_at + i64::try_from(i).unwrap());
    }
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_with_a_rack_reads_from_the_follower_in_its_rack() {
    let cluster = start_cluster_with(&StartOptions {
        brokers: 3,
        extra_properties: vec![
            (
                "replica.selector.class".into(),
                "org.apache.kafka.common.replica.RackAwareReplicaSelector".into(),
            ),
            ("broker.rack".into(), "rack-{node_id}".into()),
        ],
        ..StartOptions::single_node()
    });
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("rack");
    create_topic(producer.client(), &topic, 1, 3).await;
    let mut deliveries = Vec::new();
    for i in 0..500_u32 {
        let record = ProducerRecord::new(&topic)
            .partition(0)
            .value(format!("{i:08}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let leader = producer.client().leader(&topic, 0).await.unwrap();
    let follower = producer
        .client()
        .view(|v| v.topic(&topic).unwrap().partitions[0].replicas.clone())
        .into_iter()
        .find(|&node| node != leader)
        .unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();

    let rack = format!("rack-{follower}");
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("auto_offset_reset", "earliest"),
            ("client_rack", rack.as_str()),
            ("max_poll_records", "20"),
            ("max_partition_fetch_bytes", "1024"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let p0 = TopicPartition::new(topic.clone(), 0);
    consumer.assign(std::slice::from_ref(&p0)).await.unwrap();
    let records = poll_until(&consumer, 500, Duration::from_secs(60)).await;
    assert_eq!(records.len(), 500);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.offset, i64::try_from(i).unwrap());
        assert_eq!(value(record), record.offset);
    }
    let metrics = consumer.metrics();
    assert!(
        metrics.fetch_requests_to_replicas > 0,
        "the leader ({leader}) sent the consumer to {follower}: {metrics:?}"
    );
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_mid_read_is_validated_and_reading_goes_on_exactly_once() {
    const RECORDS: usize = 3000;
    let mut cluster = start_cluster_with(&StartOptions {
        brokers: 3,
        ..StartOptions::single_node()
    });
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("leader-change");
    create_topic(producer.client(), &topic, 1, 3).await;
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let record = ProducerRecord::new(&topic)
            .partition(0)
            .value(format!("{i:08}"));
        deliveries.push(producer.send(record).await.unwrap());
        if deliveries.len() == 100 {
            for delivery in deliveries.drain(..) {
                delivery.await.unwrap();
            }
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let leader = producer.client().leader(&topic, 0).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();

    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("auto_offset_reset", "earliest"),
            ("max_poll_records", "50"),
            ("max_partition_fetch_bytes", "2048"),
            ("request_timeout_ms", "5000"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let p0 = TopicPartition::new(topic.clone(), 0);
    consumer.assign(std::slice::from_ref(&p0)).await.unwrap();
    let mut records = poll_until(&consumer, RECORDS / 3, Duration::from_secs(30)).await;
    assert!(records.len() >= RECORDS / 3);
    cluster.kill_node(u32::try_from(leader).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while records.len() < RECORDS && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)).await {
            Ok(more) => records.extend(more),
            // Retried errors that ran out of time while the cluster elects.
            Err(error) => assert!(
                matches!(error, ferrokafka_consumer::ConsumeError::Transport(_)),
                "{error}"
            ),
        }
    }
    assert_eq!(records.len(), RECORDS, "every record once");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(
            record.offset,
            i64::try_from(i).unwrap(),
            "in order, no repeat"
        );
    }
    let metrics = consumer.metrics();
    assert!(
        metrics.fetch_position_validations >= 1,
        "the position was checked with the new leader: {metrics:?}"
    );
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

/// A committed offset carries the leader epoch of its record, so a
/// consumer starting from it asks the leader (OffsetForLeaderEpoch) where
/// that epoch ends before fetching (KIP-320). Here the committed offset
/// lies past the epoch's end, as after an unclean election truncated the
/// log: with `auto_offset_reset=none` that is a `LogTruncation` error, and
/// otherwise reading resumes at the epoch's end, not at a reset.
#[tokio::test]
async fn a_committed_offset_past_the_end_of_its_epoch_is_found_truncated() {
    let topic = topic_with_records(1, 10).await;
    let tp = TopicPartition::new(topic.clone(), 0);
    let probe = Consumer::new(config(&[])).await.unwrap();
    probe.assign(std::slice::from_ref(&tp)).await.unwrap();
    let read = poll_until(&probe, 10, Duration::from_secs(30)).await;
    let epoch = read[9]
        .leader_epoch
        .expect("records carry their leader epoch");
    probe.close(Duration::from_secs(5)).await.unwrap();
    let beyond = BTreeMap::from([(
        tp.clone(),
        ferrokafka_consumer::offsets::OffsetAndMetadata {
            offset: 25,
            leader_epoch: Some(epoch),
            metadata: String::new(),
        },
    )]);

    let strict_group = unique_topic("truncated-strict");
    let strict = Consumer::new(config(&[
        ("group_id", strict_group.as_str()),
        ("auto_offset_reset", "none"),
    ]))
    .await
    .unwrap();
    strict.assign(std::slice::from_ref(&tp)).await.unwrap();
    strict.commit_offsets(&beyond).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match strict.poll(Duration::from_millis(200)).await {
            Err(error) => break error,
            Ok(records) => assert!(records.is_empty(), "read past a truncation: {records:?}"),
        }
        assert!(Instant::now() < deadline, "the truncation was never found");
    };
    assert!(
        matches!(
            &error,
            ferrokafka_consumer::ConsumeError::Position(
                ferrokafka_consumer::positions::PositionError::LogTruncation {
                    offset: 25,
                    divergent_offset: 10,
                    ..
                }
            )
        ),
        "{error}"
    );
    strict.close(Duration::from_secs(5)).await.unwrap();

    let lenient_group = unique_topic("truncated-lenient");
    let lenient = Consumer::new(config(&[("group_id", lenient_group.as_str())]))
        .await
        .unwrap();
    lenient.assign(std::slice::from_ref(&tp)).await.unwrap();
    lenient.commit_offsets(&beyond).await.unwrap();
    // Nothing past offset 9 yet: the position settles at the epoch's end
    // (10), where a reset to the earliest offset would have gone to 0.
    assert!(
        lenient
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(lenient.position(&tp).await.unwrap(), 10);
    assert!(lenient.metrics().fetch_position_validations >= 1);
    lenient.close(Duration::from_secs(5)).await.unwrap();
}

/// One Fetch at a time goes to a broker, so a request for an idle
/// partition must not wait (`fetch_max_wait_ms`, 30 s here) while another
/// partition of that broker is held back with enough buffered: that one
/// would run dry and wait as long. Reading the busy partition to its end
/// takes nowhere near one such wait.
#[tokio::test]
async fn an_idle_partition_never_holds_up_a_busy_one_on_the_same_broker() {
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("fetch-idle");
    create_topic(producer.client(), &topic, 2, 1).await;
    // A batch per record: each fetch of at most 1 KiB brings a few.
    for i in 0..400u32 {
        let record = ProducerRecord::new(&topic)
            .partition(0)
            .value(format!("{i:0100}"));
        producer.send(record).await.unwrap().await.unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();

    let consumer = Consumer::new(config(&[
        ("fetch_max_wait_ms", "30000"),
        ("max_partition_fetch_bytes", "1024"),
        ("max_poll_records", "1"),
    ]))
    .await
    .unwrap();
    consumer
        .assign(&[
            TopicPartition::new(topic.clone(), 0),
            TopicPartition::new(topic.clone(), 1),
        ])
        .await
        .unwrap();
    // An application that takes a moment per record: the fetcher gets
    // ahead of it and holds the busy partition back.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut read = 0;
    while read < 400 && Instant::now() < deadline {
        read += consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .len();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(read, 400, "the busy partition was held up");
    consumer.close(Duration::from_secs(5)).await.unwrap();
}
