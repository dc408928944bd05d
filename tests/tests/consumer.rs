//! The consumer against a real broker: assigned partitions read from the
//! beginning in order, seek / pause / position / offsets lookups, and a
//! two-member group that splits a topic, commits, and hands over to a
//! newcomer that starts where the group left off.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic_keeping_old_records, unique_topic};

async fn topic_with_records(partitions: i32, records: u32) -> String {
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("consume");
    create_topic_keeping_old_records(producer.client(), &topic, partitions).await;
    let mut deliveries = Vec::new();
    for i in 0..records {
        let partition = i32::try_from(i).unwrap() % partitions;
        let record = ProducerRecord::new(&topic)
            .partition(partition)
            .key(format!("k{i}"))
            .value(i.to_string())
            .timestamp(1_000_000 + i64::from(i));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
    topic
}

fn config(pairs: &[(&str, &str)]) -> ConsumerConfig {
    let mut all = vec![("bootstrap_servers", bootstrap_servers())];
    all.extend_from_slice(pairs);
    ConsumerConfig::from_pairs(all).unwrap()
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

fn value(record: &ConsumerRecord) -> u32 {
    std::str::from_utf8(record.value.as_deref().unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn assigned_partitions_read_in_order_with_seek_pause_and_offsets() {
    let topic = topic_with_records(2, 1000).await;
    let consumer = Consumer::new(config(&[
        ("auto_offset_reset", "earliest"),
        ("max_poll_records", "100"),
    ]))
    .await
    .unwrap();
    let p0 = TopicPartition::new(topic.clone(), 0);
    let p1 = TopicPartition::new(topic.clone(), 1);
    consumer.assign(&[p0.clone(), p1.clone()]).await.unwrap();

    let records = poll_until(&consumer, 1000, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 1000);
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for record in &records {
        // Partition p holds values p, p+2, p+4, ... at offsets 0, 1, 2, ...
        assert_eq!(
            i64::from(value(record)),
            record.offset * 2 + i64::from(record.partition)
        );
        assert_eq!(
            record.key.as_deref(),
            Some(format!("k{}", value(record)).as_bytes())
        );
        assert_eq!(record.timestamp, 1_000_000 + i64::from(value(record)));
        let previous = last.insert(record.partition, record.offset);
        assert!(
            previous.is_none_or(|p| p + 1 == record.offset),
            "gap or reorder"
        );
    }
    assert_eq!(consumer.position(&p0).await.unwrap(), 500);
    let ends = consumer
        .end_offsets(&[p0.clone(), p1.clone()])
        .await
        .unwrap();
    assert_eq!(ends[&p0], 500);
    assert_eq!(
        consumer
            .beginning_offsets(std::slice::from_ref(&p0))
            .await
            .unwrap()[&p0],
        0
    );
    let by_time = consumer
        .offsets_for_times(&BTreeMap::from([(p1.clone(), 1_000_101)]))
        .await
        .unwrap();
    // Values 101, 103, ... are in p1 at offsets 50, 51, ...
    assert_eq!(by_time[&p1].unwrap().offset, 50);

    // Seek back in p1 only, with p0 paused: only p1's tail comes again.
    consumer.seek(&p1, 490).await.unwrap();
    consumer.seek(&p0, 0).await.unwrap();
    consumer.pause(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(consumer.paused(), std::slice::from_ref(&p0));
    let again = poll_until(&consumer, 10, Duration::from_secs(10)).await;
    assert_eq!(again.len(), 10);
    assert!(again.iter().all(|r| r.partition == 1 && r.offset >= 490));
    consumer.resume(std::slice::from_ref(&p0)).unwrap();
    let resumed = poll_until(&consumer, 100, Duration::from_secs(10)).await;
    assert!(resumed.iter().all(|r| r.partition == 0));
    assert_eq!(resumed.first().map(|r| r.offset), Some(0));

    // Without a group there is nowhere to commit.
    assert!(consumer.commit().await.is_err());
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_group_splits_the_topic_commits_and_hands_over() {
    let topic = topic_with_records(4, 400).await;
    let group = unique_topic("group");
    let member = || {
        config(&[
            ("group_id", &group),
            ("auto_offset_reset", "earliest"),
            ("enable_auto_commit", "false"),
            ("session_timeout_ms", "10000"),
            ("heartbeat_interval_ms", "500"),
        ])
    };
    let first = Consumer::new(member()).await.unwrap();
    let second = Consumer::new(member()).await.unwrap();
    first.subscribe(&[topic.as_str()]).await.unwrap();
    second.subscribe(&[topic.as_str()]).await.unwrap();

    // Both poll until the group settles with two partitions each and
    // every record has been read once.
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (a, b) = tokio::join!(
            first.poll(Duration::from_millis(300)),
            second.poll(Duration::from_millis(300))
        );
        for record in a.unwrap().iter().chain(b.unwrap().iter()) {
            seen.insert(value(record));
        }
        // A partition handed over after its records were seen is read
        // again by its new owner (nothing is committed yet), so the group
        // is done once every owner's position is at the end, too.
        if seen.len() == 400
            && first.assignment().len() == 2
            && second.assignment().len() == 2
            && read_to_the_end(&first, 100).await
            && read_to_the_end(&second, 100).await
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "group never settled: {} records",
            seen.len()
        );
    }
    let mut all: Vec<TopicPartition> = first.assignment();
    all.extend(second.assignment());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "each partition has one owner");
    first.commit().await.unwrap();
    second.commit().await.unwrap();
    let committed = first.committed(&all).await.unwrap();
    assert!(
        committed
            .values()
            .all(|c| c.as_ref().is_some_and(|c| c.offset == 100))
    );
    first.close(Duration::from_secs(10)).await.unwrap();
    second.close(Duration::from_secs(10)).await.unwrap();

    // A newcomer starts from the committed offsets: nothing old comes again.
    let newcomer = Consumer::new(member()).await.unwrap();
    newcomer.subscribe(&[topic.as_str()]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while newcomer.assignment().len() < 4 {
        let records = newcomer.poll(Duration::from_millis(300)).await.unwrap();
        assert!(records.is_empty(), "re-delivered {} records", records.len());
        assert!(
            Instant::now() < deadline,
            "the newcomer never got the partitions"
        );
    }
    for tp in &all {
        assert_eq!(newcomer.position(tp).await.unwrap(), 100);
    }
    newcomer.close(Duration::from_secs(10)).await.unwrap();
}

/// Drains a stream that ends after `consumer_timeout_ms` without records.
async fn drain(consumer: &Consumer) -> Vec<ConsumerRecord> {
    use futures_core::Stream as _;
    let mut stream = std::pin::pin!(consumer.stream());
    let mut records = Vec::new();
    while let Some(record) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        records.push(record.unwrap());
    }
    records
}

#[tokio::test]
async fn consumers_without_a_group_each_read_everything() {
    let topic = topic_with_records(3, 300).await;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let consumer = Consumer::new(config(&[
            ("auto_offset_reset", "earliest"),
            ("consumer_timeout_ms", "1500"),
        ]))
        .await
        .unwrap();
        let partitions: Vec<TopicPartition> = consumer
            .partitions_for_topic(&topic)
            .await
            .unwrap()
            .into_iter()
            .map(|p| TopicPartition::new(topic.clone(), p))
            .collect();
        consumer.assign(&partitions).await.unwrap();
        readers.push(consumer);
    }
    let (a, b, c) = tokio::join!(drain(&readers[0]), drain(&readers[1]), drain(&readers[2]));
    for records in [a, b, c] {
        let values: BTreeSet<u32> = records.iter().map(value).collect();
        assert_eq!(values.len(), 300);
        assert_eq!(records.len(), 300);
    }
}

#[tokio::test]
async fn a_group_of_three_splits_disjointly_and_completely() {
    let topic = topic_with_records(6, 600).await;
    let group = unique_topic("three");
    let member = || {
        config(&[
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("partition_assignment_strategy", "cooperative-sticky"),
            ("heartbeat_interval_ms", "300"),
        ])
    };
    let members = [
        Consumer::new(member()).await.unwrap(),
        Consumer::new(member()).await.unwrap(),
        Consumer::new(member()).await.unwrap(),
    ];
    for consumer in &members {
        consumer.subscribe(&[topic.as_str()]).await.unwrap();
    }
    let mut by_value: BTreeMap<u32, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (a, b, c) = tokio::join!(
            members[0].poll(Duration::from_millis(300)),
            members[1].poll(Duration::from_millis(300)),
            members[2].poll(Duration::from_millis(300))
        );
        for record in a.unwrap().iter().chain(&b.unwrap()).chain(&c.unwrap()) {
            *by_value.entry(value(record)).or_default() += 1;
        }
        let sizes: Vec<usize> = members.iter().map(|m| m.assignment().len()).collect();
        if by_value.len() == 600 && sizes == [2, 2, 2] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {sizes:?}, {} values",
            by_value.len()
        );
    }
    let mut owned: Vec<TopicPartition> = members.iter().flat_map(Consumer::assignment).collect();
    owned.sort();
    let before = owned.len();
    owned.dedup();
    assert_eq!((before, owned.len()), (6, 6), "disjoint and complete");
    // Records read before the group settled may come twice (at least
    // once), but none is missing.
    assert_eq!(by_value.len(), 600);
    for consumer in &members {
        consumer.close(Duration::from_secs(10)).await.unwrap();
    }
}

#[tokio::test]
async fn explicit_commits_and_auto_commits_survive_a_restart() {
    let topic = topic_with_records(1, 100).await;
    let p0 = TopicPartition::new(topic.clone(), 0);
    let group = unique_topic("restart");
    let settings = |auto: &'static str| {
        config(&[
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("enable_auto_commit", auto),
            ("auto_commit_interval_ms", "100"),
        ])
    };
    // Manual: commit offset 37 with metadata, then a new consumer starts there.
    let manual = Consumer::new(settings("false")).await.unwrap();
    manual.assign(std::slice::from_ref(&p0)).await.unwrap();
    let offsets = BTreeMap::from([(
        p0.clone(),
        ferrokafka_consumer::offsets::OffsetAndMetadata {
            offset: 37,
            leader_epoch: None,
            metadata: "manual".into(),
        },
    )]);
    manual.commit_offsets(&offsets).await.unwrap();
    manual.close(Duration::from_secs(5)).await.unwrap();
    let resumed = Consumer::new(settings("true")).await.unwrap();
    resumed.assign(std::slice::from_ref(&p0)).await.unwrap();
    let first = resumed
        .poll_records(Duration::from_secs(10), 13)
        .await
        .unwrap();
    assert_eq!(first.first().map(|r| r.offset), Some(37));
    assert_eq!(first.len(), 13);
    // Auto-commit: closing commits position 50; the next consumer starts there.
    let commits_before_close = resumed.metrics().commit_total;
    resumed.close(Duration::from_secs(5)).await.unwrap();
    let commits_by_close = resumed.metrics().commit_total - commits_before_close;
    let after = Consumer::new(settings("true")).await.unwrap();
    let committed = after.committed(std::slice::from_ref(&p0)).await.unwrap();
    assert_eq!(
        committed[&p0].as_ref().map(|c| c.offset),
        Some(50),
        "committed {committed:?}; close committed {commits_by_close} time(s)"
    );
    after.assign(std::slice::from_ref(&p0)).await.unwrap();
    let rest = poll_until(&after, 50, Duration::from_secs(10)).await;
    assert_eq!(rest.first().map(|r| r.offset), Some(50));
    assert_eq!(rest.len(), 50, "nothing lost, nothing repeated");
    after.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_pattern_subscription_follows_matching_topics() {
    let first = topic_with_records(1, 10).await;
    let pattern = format!("{}|{}-never", regex_escape(&first), regex_escape(&first));
    let consumer = Consumer::new(config(&[
        ("group_id", unique_topic("pattern").as_str()),
        ("auto_offset_reset", "earliest"),
    ]))
    .await
    .unwrap();
    consumer.subscribe_pattern(&pattern, None).await.unwrap();
    let records = poll_until(&consumer, 10, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 10);
    assert_eq!(consumer.subscription().await, std::slice::from_ref(&first));
    consumer.close(Duration::from_secs(5)).await.unwrap();
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn the_blocking_consumer_iterates_until_idle() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let topic = runtime.block_on(topic_with_records(2, 50));
    let consumer = ferrokafka_consumer::BlockingConsumer::new(config(&[
        ("group_id", unique_topic("blocking").as_str()),
        ("auto_offset_reset", "earliest"),
        ("consumer_timeout_ms", "2000"),
    ]))
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).unwrap();
    let values: BTreeSet<u32> = (&consumer)
        .into_iter()
        .map(|r| value(&r.unwrap()))
        .collect();
    assert_eq!(values.len(), 50);
    assert_eq!(consumer.subscription(), vec![topic.clone()]);
    let assigned = consumer.assignment();
    assert_eq!(assigned.len(), 2, "{assigned:?}");
    assert_eq!(
        consumer.call(|c| c.partitions_for_topic(&topic)).unwrap(),
        vec![0, 1]
    );
    assert!(
        consumer
            .beginning_offsets(&assigned)
            .unwrap()
            .values()
            .all(|offset| *offset == 0)
    );
    // Back to the start: the same records once more.
    consumer.seek_to_beginning(&assigned).unwrap();
    let again: BTreeSet<u32> = (&consumer)
        .into_iter()
        .map(|r| value(&r.unwrap()))
        .collect();
    assert_eq!(again, values);
    consumer.close(Duration::from_secs(5)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_shared_with_a_kafka_python_member_splits_the_partitions() {
    let topic = topic_with_records(4, 400).await;
    let group = unique_topic("mixed");
    // kafka-python offers range and round-robin; ferrokafka range and
    // cooperative-sticky: they agree on range.
    let python = {
        let (topic, group) = (topic.clone(), group.clone());
        tokio::task::spawn_blocking(move || {
            xtask::python::run_interop_script(
                "kafka_python_group_member.py",
                &[
                    "--bootstrap",
                    bootstrap_servers(),
                    "--topic",
                    &topic,
                    "--group",
                    &group,
                    "--seconds",
                    "20",
                ],
            )
        })
    };
    let consumer = Consumer::new(config(&[
        ("group_id", group.as_str()),
        ("auto_offset_reset", "earliest"),
        ("enable_auto_commit", "false"),
        ("heartbeat_interval_ms", "500"),
        ("session_timeout_ms", "10000"),
    ]))
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let mut ours: BTreeSet<u32> = BTreeSet::new();
    let mut last_assignment = Vec::new();
    let until = Instant::now() + Duration::from_secs(15);
    // Polling while the Python member reads keeps this member in the group
    // for the whole exchange.
    while Instant::now() < until {
        for record in consumer.poll(Duration::from_millis(300)).await.unwrap() {
            ours.insert(value(&record));
        }
        consumer.commit().await.ok();
        last_assignment = consumer.assignment();
    }
    let report = python.await.unwrap().unwrap();
    consumer.close(Duration::from_secs(10)).await.unwrap();
    let theirs: BTreeSet<u32> = report["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    let their_partitions: Vec<i64> = report["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert_eq!(last_assignment.len(), 2, "ours: {last_assignment:?}");
    assert_eq!(their_partitions.len(), 2, "theirs: {their_partitions:?}");
    for tp in &last_assignment {
        assert!(
            !their_partitions.contains(&i64::from(tp.partition)),
            "shared {tp}"
        );
    }
    let all: BTreeSet<u32> = ours.union(&theirs).copied().collect();
    assert_eq!(
        all.len(),
        400,
        "every record read by one member or the other"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_offsets_and_seeks_from_several_tasks_then_grouped_polls() {
    let topic = topic_with_records(3, 300).await;
    let consumer = std::sync::Arc::new(
        Consumer::new(config(&[("auto_offset_reset", "earliest")]))
            .await
            .unwrap(),
    );
    let partitions: Vec<TopicPartition> = (0..3)
        .map(|p| TopicPartition::new(topic.clone(), p))
        .collect();
    consumer.assign(&partitions).await.unwrap();
    // One task per partition: look up its end, seek 10 records before it.
    let mut tasks = tokio::task::JoinSet::new();
    for tp in partitions.clone() {
        let consumer = std::sync::Arc::clone(&consumer);
        tasks.spawn(async move {
            let end = consumer
                .end_offsets(std::slice::from_ref(&tp))
                .await
                .unwrap()[&tp];
            consumer.seek(&tp, end - 10).await.unwrap();
            end
        });
    }
    while let Some(end) = tasks.join_next().await {
        assert_eq!(end.unwrap(), 100);
    }
    let mut got: BTreeMap<TopicPartition, Vec<i64>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.values().map(Vec::len).sum::<usize>() < 30 {
        assert!(Instant::now() < deadline, "{got:?}");
        for (tp, records) in consumer
            .poll_by_partition(Duration::from_millis(300))
            .await
            .unwrap()
        {
            assert!(records.iter().all(|r| r.partition == tp.partition));
            got.entry(tp)
                .or_default()
                .extend(records.iter().map(|r| r.offset));
        }
    }
    for tp in &partitions {
        assert_eq!(got[tp], (90..100).collect::<Vec<i64>>(), "{tp}");
    }
}

/// Whether `consumer`'s position in each partition it owns is `end`.
async fn read_to_the_end(consumer: &Consumer, end: i64) -> bool {
    for partition in consumer.assignment() {
        if consumer.position(&partition).await.ok() != Some(end) {
            return false;
        }
    }
    true
}
