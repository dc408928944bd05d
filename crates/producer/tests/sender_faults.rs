//! The sender's failure paths against the in-memory cluster: a stale
//! leader, an error retrying cannot fix, a dropped connection (the retry
//! resends the same bytes, so an idempotent broker keeps one copy), a
//! duplicate acknowledged as delivered, a broker that never answers, and a
//! partition that refuses writes while others take them (keyless batches
//! move; keyed and named records stay).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::ProduceRequest;
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

/// The record batch bytes of the (single) partition in a Produce request.
fn batch_bytes(request: &FakeRequest) -> Bytes {
    let produce: ProduceRequest = request.decode();
    produce.topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap_or_default()
        .to_bytes()
}

async fn producer(cluster: &FakeCluster, extra: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap.as_str()),
        ("linger_ms", "0"),
    ];
    pairs.extend_from_slice(extra);
    let config = ProducerConfig::from_pairs(pairs).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

#[tokio::test]
async fn a_stale_leader_is_retried_after_a_metadata_refresh() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let cluster = FakeCluster::new(2, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                FakeReply::produce(request, ErrorCode::NotLeaderOrFollower, -1)
            } else {
                FakeReply::produce(request, ErrorCode::None, 41)
            }
        })
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("retry_backoff_ms", "10")]).await;
    let metadata = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((metadata.partition, metadata.offset), (0, 41));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(producer.metrics().record_retry_total, 1);
    // The error marked the metadata stale: it was fetched again between
    // the two attempts.
    let received = cluster.received();
    let produces: Vec<usize> = received
        .iter()
        .enumerate()
        .filter(|(_, (_, key))| *key == ApiKey::Produce)
        .map(|(i, _)| i)
        .collect();
    assert!(
        received[produces[0]..produces[1]]
            .iter()
            .any(|(_, key)| *key == ApiKey::Metadata),
        "{received:?}"
    );
}

#[tokio::test]
async fn an_error_retrying_cannot_fix_fails_the_records_at_once() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce)
            .then(|| FakeReply::produce(request, ErrorCode::InvalidRecord, -1))
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[]).await;
    let error = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    match error {
        ProduceError::Broker {
            error, partition, ..
        } => {
            assert_eq!(error, ErrorCode::InvalidRecord);
            assert_eq!(partition, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(producer.metrics().record_error_total, 1);
}

#[tokio::test]
async fn a_dropped_connection_resends_the_same_batch() {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&batches);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let mut seen = recorded.lock().unwrap();
            seen.push(batch_bytes(request));
            if seen.len() == 1 {
                FakeReply::Disconnect
            } else {
                FakeReply::produce(request, ErrorCode::None, 0)
            }
        })
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("retry_backoff_ms", "10")]).await;
    let delivery = producer
        .send(ProducerRecord::new("t").key("k").value("v"))
        .await
        .unwrap();
    delivery.await.unwrap();
    let batches = batches.lock().unwrap();
    assert_eq!(batches.len(), 2);
    // Same producer id, epoch and sequence: the broker can drop a copy.
    assert_eq!(batches[0], batches[1]);
}

#[tokio::test]
async fn a_duplicate_sequence_counts_as_delivered() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce)
            .then(|| FakeReply::produce(request, ErrorCode::DuplicateSequenceNumber, 7))
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[]).await;
    let metadata = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(metadata.offset, 7);
}

#[tokio::test]
async fn a_broker_that_never_answers_fails_records_after_the_delivery_timeout() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce).then_some(FakeReply::Hang)
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(
        &cluster,
        &[
            ("request_timeout_ms", "100"),
            ("delivery_timeout_ms", "350"),
            ("retry_backoff_ms", "10"),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let error = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &error {
        ProduceError::DeliveryTimeout { last_error, .. } => {
            let last = last_error.as_ref().expect("the last failure is named");
            assert!(last.to_string().contains("timed out"), "{last}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_batch_that_expires_waiting_for_a_retry_names_the_error_it_was_retrying() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce)
            .then(|| FakeReply::produce(request, ErrorCode::NotEnoughReplicas, -1))
    });
    cluster.add_topic("t", &[1]);
    // The backoff outlasts the delivery timeout, so the batch expires in
    // the queue, between attempts, not in flight.
    let producer = producer(
        &cluster,
        &[
            ("request_timeout_ms", "200"),
            ("delivery_timeout_ms", "300"),
            ("retry_backoff_ms", "1000"),
        ],
    )
    .await;
    let error = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    match &error {
        ProduceError::DeliveryTimeout { last_error, .. } => {
            let last = last_error.as_ref().expect("the retried error is named");
            assert!(last.to_string().contains("NOT_ENOUGH_REPLICAS"), "{last}");
        }
        other => panic!("{other:?}"),
    }
}

/// The values written to each partition, one entry per accepted batch.
type WrittenValues = Arc<Mutex<Vec<(i32, Vec<Bytes>)>>>;

/// A cluster whose partition 0 of topic "t" (4 partitions) refuses every
/// write as NOT_LEADER_OR_FOLLOWER, as a broker does while it creates a new
/// topic's logs, while the others take them. It keeps the values written
/// to each partition.
fn one_refusing_partition() -> (FakeCluster, WrittenValues, Arc<AtomicUsize>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let (log, refusals) = (Arc::clone(&written), Arc::clone(&refused));
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let produce: ProduceRequest = request.decode();
            for partition in &produce.topic_data[0].partition_data {
                if partition.index == 0 {
                    refusals.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let bytes = partition.records.clone().unwrap_or_default().to_bytes();
                let values = ferrokafka_records::BatchReader::new(bytes)
                    .flat_map(|batch| {
                        let batch = batch.unwrap();
                        batch
                            .records()
                            .map(|r| r.unwrap().value.unwrap_or_default())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                log.lock().unwrap().push((partition.index, values));
            }
            FakeReply::produce_per_partition(request, |index| {
                if index == 0 {
                    (ErrorCode::NotLeaderOrFollower, -1)
                } else {
                    (ErrorCode::None, 0)
                }
            })
        })
    });
    cluster.add_topic("t", &[1, 1, 1, 1]);
    (cluster, written, refused)
}

/// Partition 1 takes a write: a partition known to take writes, where a
/// refused keyless batch may go.
async fn write_partition_1(producer: &Producer) {
    producer
        .send(ProducerRecord::new("t").partition(1).value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Keyless records' batches refused by a partition that is not ready move
/// to one that took writes at once, instead of waiting out retries for
/// their own: each is written once, where its metadata says.
#[tokio::test]
async fn a_refused_keyless_batch_moves_to_a_partition_that_takes_writes() {
    let (cluster, written, refused) = one_refusing_partition();
    // A batch left waiting for partition 0 would fail at the delivery
    // timeout: it never takes writes, and its retries are far apart.
    let producer = producer(
        &cluster,
        &[
            ("acks", "1"),
            ("enable_idempotence", "false"),
            ("batch_size", "64"),
            ("retry_backoff_ms", "600000"),
            ("retry_backoff_max_ms", "600000"),
            ("delivery_timeout_ms", "5000"),
            ("request_timeout_ms", "2000"),
        ],
    )
    .await;
    write_partition_1(&producer).await;
    let mut sent = Vec::new();
    let mut partitions = Vec::new();
    for i in 0..400 {
        let value = format!("keyless {i}");
        let delivery = producer
            .send(ProducerRecord::new("t").value(value.clone()))
            .await
            .unwrap();
        sent.push((value, delivery));
        // Each record waits for its answer: batches go one by one, so
        // those the sticky partitioner gives partition 0 meet a refusal.
        let (_, delivery) = sent.last_mut().unwrap();
        let metadata = delivery.await.unwrap();
        assert_ne!(metadata.partition, 0, "{metadata:?}");
        partitions.push(metadata.partition);
        if refused.load(Ordering::SeqCst) > 0 {
            break;
        }
    }
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "the partitioner never chose partition 0: {partitions:?}"
    );
    let mut where_written: std::collections::HashMap<Vec<u8>, Vec<i32>> =
        std::collections::HashMap::new();
    for (partition, values) in written.lock().unwrap().iter() {
        for value in values {
            where_written
                .entry(value.to_vec())
                .or_default()
                .push(*partition);
        }
    }
    for (value, _) in &sent {
        let places = &where_written[value.as_bytes()];
        assert_eq!(places.len(), 1, "{value} written {places:?}");
    }
}

/// Records whose partition means something (named, or from a key) stay
/// there however long it refuses: they fail at the delivery timeout.
#[tokio::test]
async fn keyed_and_named_records_never_move() {
    let (cluster, written, refused) = one_refusing_partition();
    let producer = producer(
        &cluster,
        &[
            ("acks", "1"),
            ("enable_idempotence", "false"),
            ("retry_backoff_ms", "50"),
            ("delivery_timeout_ms", "1500"),
            ("request_timeout_ms", "1000"),
        ],
    )
    .await;
    write_partition_1(&producer).await;
    // A key that murmur2 puts in partition 0 of 4.
    let key = (0u32..1000)
        .map(|i| format!("key {i}"))
        .find(|k| ferrokafka_producer::partitioner::partition_for_key(k.as_bytes(), 4) == 0)
        .unwrap();
    let keyed = producer
        .send(ProducerRecord::new("t").key(key).value("keyed"))
        .await
        .unwrap();
    let named = producer
        .send(ProducerRecord::new("t").partition(0).value("named"))
        .await
        .unwrap();
    for delivery in [keyed, named] {
        let error = delivery.await.unwrap_err();
        assert!(
            matches!(error, ProduceError::DeliveryTimeout { partition: 0, .. }),
            "{error:?}"
        );
    }
    assert!(refused.load(Ordering::SeqCst) >= 2);
    let moved: usize = written
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, values)| values)
        .filter(|v| &v[..] == b"keyed" || &v[..] == b"named")
        .count();
    assert_eq!(moved, 0);
}
