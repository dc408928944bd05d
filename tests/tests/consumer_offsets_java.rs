//! ferrokafka's `offsets_for_times`, `beginning_offsets` and `end_offsets`
//! give the Java client's answers (kafka-clients, `OffsetsForTimes.java`
//! under `xtask/golden-java`) on one topic: timestamps out of order within
//! a partition, repeated timestamps, times before, between, on and after
//! the records, and a partition whose first records were deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::DeleteRecordsRequest;
use ferrokafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use ferrokafka_tests::{bootstrap_servers, create_topic_keeping_old_records, unique_topic};
use xtask::broker::jars::DEFAULT_KAFKA_VERSION;
use xtask::golden::java;

const PARTITIONS: i32 = 3;
const RECORDS: i64 = 20;

/// Record `i` of partition `p`: timestamps jump around (a permutation of
/// 20 slots, 10 ms apart), and slots 5 and 6 share one timestamp.
fn timestamp(partition: i32, i: i64) -> i64 {
    let slot = (i * 7) % RECORDS;
    let slot = if slot == 6 { 5 } else { slot };
    10_000 + slot * 10 + i64::from(partition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_by_time_and_the_log_bounds_match_the_java_client() {
    let topic = unique_topic("offsets-java");
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    create_topic_keeping_old_records(producer.client(), &topic, PARTITIONS).await;
    let mut deliveries = Vec::new();
    for partition in 0..PARTITIONS {
        for i in 0..RECORDS {
            let record = ProducerRecord::new(topic.as_str())
                .partition(partition)
                .timestamp(timestamp(partition, i))
                .value(format!("{partition}-{i}"));
            deliveries.push(producer.send(record).await.unwrap());
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    // Partition 1 loses its first four records.
    let client = producer.client().clone();
    let leader = client.leader(&topic, 1).await.unwrap();
    let deleted = client
        .send(
            leader,
            &DeleteRecordsRequest {
                topics: vec![DeleteRecordsTopic {
                    name: topic.clone(),
                    partitions: vec![DeleteRecordsPartition {
                        partition_index: 1,
                        offset: 4,
                        ..DeleteRecordsPartition::default()
                    }],
                    ..DeleteRecordsTopic::default()
                }],
                timeout_ms: 10_000,
                ..DeleteRecordsRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(deleted.topics[0].partitions[0].error_code, 0, "{deleted:?}");

    let mut queries = Vec::new();
    for partition in 0..PARTITIONS {
        let p = i64::from(partition);
        queries.extend(
            [
                0,
                9_999,
                10_000 + p,
                10_001 + p,
                10_050 + p,
                10_055,
                10_190 + p,
                10_191 + p,
                99_999,
            ]
            .map(|time| (partition, time)),
        );
    }

    let programs = tokio::task::spawn_blocking(|| java::compile(DEFAULT_KAFKA_VERSION))
        .await
        .unwrap()
        .unwrap();
    let mut command = programs.command("OffsetsForTimes");
    command.arg(bootstrap_servers()).arg(&topic);
    for (partition, time) in &queries {
        command.arg(format!("{partition}:{time}"));
    }
    let output = tokio::task::spawn_blocking(move || {
        java::run_bounded(&mut command, Duration::from_secs(120))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let java_lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let consumer = Consumer::with_client(
        client,
        ConsumerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    );
    let mut ours = Vec::new();
    for (partition, time) in &queries {
        let tp = TopicPartition::new(topic.clone(), *partition);
        let answer = consumer
            .offsets_for_times(&BTreeMap::from([(tp.clone(), *time)]))
            .await
            .unwrap()[&tp];
        ours.push(match answer {
            Some(found) => serde_json::json!({
                "partition": partition, "timestamp": time,
                "offset": found.offset, "record_timestamp": found.timestamp,
            }),
            None => serde_json::json!({"partition": partition, "timestamp": time, "offset": null}),
        });
    }
    let all: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.clone(), p))
        .collect();
    let beginning = consumer.beginning_offsets(&all).await.unwrap();
    let end = consumer.end_offsets(&all).await.unwrap();
    for tp in &all {
        ours.push(serde_json::json!({
            "partition": tp.partition, "beginning": beginning[tp], "end": end[tp],
        }));
    }

    assert_eq!(ours, java_lines);
    // The answers are not trivial: the deleted records moved partition 1's
    // beginning, and a time past every record has no offset.
    assert!(ours.contains(&serde_json::json!({"partition": 1, "beginning": 4, "end": RECORDS})));
    assert!(
        ours.contains(&serde_json::json!({"partition": 0, "timestamp": 99_999, "offset": null}))
    );
    consumer.close(Duration::from_secs(5)).await.unwrap();
    producer.close(Duration::from_secs(5)).await.unwrap();
}
