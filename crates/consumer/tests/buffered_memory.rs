//! A consumer whose application takes records more slowly than they come
//! holds a bounded amount of fetched data, however many partitions it
//! reads: fetching stops while `fetch_max_bytes` worth of answers waits to
//! be handed out. Fetching ahead per partition alone would buffer two
//! answers of every partition.

use std::time::Duration;

use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use ferrokafka_protocol::messages::{FetchRequest, FetchResponse};
use ferrokafka_records::RecordBatchBuilder;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

const PARTITIONS: i32 = 200;
/// Records in each partition's log.
const LOG_END: i64 = 10_000;
/// Records per partition in one answer, of `VALUE` bytes each: about 4 KiB.
const PER_ANSWER: i64 = 8;
const VALUE: usize = 500;
/// The consumer's `fetch_max_bytes`, which the fake broker honours as a
/// broker does (at least one partition's data, then none past the limit).
const FETCH_MAX_BYTES: usize = 64 * 1024;

fn fetched(request: &FakeRequest) -> FakeReply {
    let asked: FetchRequest = request.decode();
    let limit = usize::try_from(asked.max_bytes).unwrap_or(usize::MAX);
    let mut size = 0;
    let responses = asked
        .topics
        .iter()
        .map(|topic| FetchableTopicResponse {
            topic: topic.topic.clone(),
            topic_id: topic.topic_id,
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let records = if size == 0 || size < limit {
                        let batch = log_from(p.fetch_offset);
                        if size + batch.len() > limit && size > 0 {
                            bytes::Bytes::new()
                        } else {
                            size += batch.len();
                            batch
                        }
                    } else {
                        bytes::Bytes::new()
                    };
                    PartitionData {
                        partition_index: p.partition,
                        high_watermark: LOG_END,
                        last_stable_offset: LOG_END,
                        records: Some(records.into()),
                        ..PartitionData::default()
                    }
                })
                .collect(),
            ..FetchableTopicResponse::default()
        })
        .collect();
    FakeReply::with(
        request,
        &FetchResponse {
            responses,
            ..FetchResponse::default()
        },
    )
}

fn log_from(offset: i64) -> bytes::Bytes {
    if offset >= LOG_END {
        return bytes::Bytes::new();
    }
    let value = vec![b'v'; VALUE];
    let mut batch = RecordBatchBuilder::new(offset);
    for _ in offset..LOG_END.min(offset + PER_ANSWER) {
        batch.append::<ferrokafka_records::Header>(0, None, Some(&value), &[]);
    }
    batch.build().unwrap()
}

#[tokio::test]
async fn a_slow_application_holds_at_most_an_answer_s_worth_beyond_what_is_in_flight() {
    let cluster = FakeCluster::new(1, |request| match request.key {
        ApiKey::Fetch => Some(fetched(request)),
        _ => None,
    });
    cluster.add_topic("t", &[1; PARTITIONS as usize]);
    let bootstrap = cluster.bootstrap();
    let fetch_max_bytes = FETCH_MAX_BYTES.to_string();
    let config = ConsumerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("fetch_max_bytes", fetch_max_bytes.as_str()),
        ("fetch_max_wait_ms", "10"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let consumer = Consumer::with_client(client, config);
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new("t", p))
        .collect();
    consumer.assign(&partitions).await.unwrap();
    for partition in &partitions {
        consumer.seek(partition, 0).await.unwrap();
    }

    // One record a poll: every poll fetches ahead again, and the buffer
    // fills as far as the consumer lets it.
    let mut most = 0;
    let mut handed_out = 0;
    for _ in 0..400 {
        let records = tokio::time::timeout(
            Duration::from_secs(30),
            consumer.poll_records(Duration::from_secs(5), 1),
        )
        .await
        .expect("a poll hung")
        .unwrap();
        handed_out += records.len();
        most = most.max(consumer.metrics().buffered_bytes);
        // The application's own work on the record, during which the
        // answers in flight come in.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(handed_out >= 390, "{handed_out} records in 400 polls");
    // The limit plus one answer (at most the limit and one partition's
    // batch) that arrived while it was reached.
    let bound = 2 * FETCH_MAX_BYTES + PER_ANSWER as usize * (VALUE + 100);
    assert!(
        most <= bound as u64,
        "{most} bytes buffered, more than {bound} (fetch_max_bytes {FETCH_MAX_BYTES})"
    );
    // And the buffer did fill: the bound is what held it, not a slow fake.
    assert!(
        most >= FETCH_MAX_BYTES as u64,
        "only {most} bytes were ever buffered"
    );
}
