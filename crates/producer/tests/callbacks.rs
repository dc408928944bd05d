//! `send_with_callback` against the in-memory cluster: each record's
//! callback gets its own offset, in order; a refused batch reaches every
//! callback as an error; a panicking callback leaves the others called;
//! what `send` keeps of a topic follows a metadata update; and a send
//! appends when it is called.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

async fn producer(cluster: &FakeCluster) -> Producer {
    let bootstrap = cluster.bootstrap();
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("linger_ms", "50"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

/// One broker, leading topic `t`'s one partition, answering every
/// Produce request with `error` (and base offset 100).
fn answering(error: ErrorCode) -> FakeCluster {
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| FakeReply::produce(request, error, 100))
    });
    cluster.add_topic("t", &[1]);
    cluster
}

type Outcomes = Arc<Mutex<Vec<(u32, Result<(i32, i64, i32), String>)>>>;

/// Sends `count` records to partition 0 of `t`, each reporting to `outcomes`
/// as `(its number, (partition, offset, value size) or the error)`; record
/// `panicking` panics in its callback instead.
async fn send_all(producer: &Producer, count: u32, panicking: Option<u32>, outcomes: &Outcomes) {
    for i in 0..count {
        let outcomes = Arc::clone(outcomes);
        let value = "v".repeat(usize::try_from(i).unwrap() + 1);
        producer
            .send_with_callback(
                ProducerRecord::new("t").partition(0).value(value),
                move |outcome| {
                    assert_ne!(Some(i), panicking, "a callback that panics");
                    let outcome = outcome
                        .map(|m| (m.partition, m.offset, m.serialized_value_size))
                        .map_err(ToString::to_string);
                    outcomes.lock().unwrap().push((i, outcome));
                },
            )
            .await
            .unwrap();
    }
    producer.flush().await;
}

#[tokio::test]
async fn callbacks_get_each_record_s_offset_in_order_and_a_panic_spoils_nothing() {
    let cluster = answering(ErrorCode::None);
    let producer = producer(&cluster).await;
    let outcomes = Outcomes::default();
    send_all(&producer, 5, Some(2), &outcomes).await;
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(
        outcomes,
        [
            (0, Ok((0, 100, 1))),
            (1, Ok((0, 101, 2))),
            (3, Ok((0, 103, 4))),
            (4, Ok((0, 104, 5))),
        ]
    );
    assert_eq!(producer.metrics().record_send_total, 5);
}

#[tokio::test]
async fn a_refused_batch_reaches_every_callback_as_its_error() {
    let cluster = answering(ErrorCode::InvalidRecord);
    let producer = producer(&cluster).await;
    let outcomes = Outcomes::default();
    send_all(&producer, 3, None, &outcomes).await;
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    for (n, (i, outcome)) in outcomes.iter().enumerate() {
        assert_eq!(usize::try_from(*i).unwrap(), n);
        let error = outcome.as_ref().unwrap_err();
        assert!(
            error.contains("InvalidRecord") || error.contains("INVALID_RECORD"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn partitions_added_to_a_topic_are_seen_after_a_metadata_update() {
    let produced = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&produced);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            seen.fetch_add(1, Ordering::SeqCst);
            FakeReply::produce(request, ErrorCode::None, 100)
        })
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster).await;
    producer
        .send(ProducerRecord::new("t").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    let refused = producer
        .send(ProducerRecord::new("t").partition(2).value("early"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ProduceError::NoSuchPartition {
                partition: 2,
                count: 1,
                ..
            }
        ),
        "{refused:?}"
    );
    cluster.add_topic("t", &[1, 1, 1]);
    producer.client().refresh_metadata().await.unwrap();
    let metadata = producer
        .send(ProducerRecord::new("t").partition(2).value("later"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((metadata.topic.as_str(), metadata.partition), ("t", 2));
    assert_eq!(produced.load(Ordering::SeqCst), 2);
}

/// A send appends when it is called, as the Java client's does: records
/// sent one after another are queued in that order however their futures
/// are awaited, and a record whose future is dropped unpolled, once the
/// call appended it, is still delivered.
#[tokio::test]
async fn a_send_appends_when_called() {
    let cluster = answering(ErrorCode::None);
    let producer = producer(&cluster).await;
    // Metadata first, so that the calls below find the topic known.
    producer.partitions_for("t").await.unwrap();
    let first = producer.send(ProducerRecord::new("t").partition(0).value("a"));
    let second = producer.send(ProducerRecord::new("t").partition(0).value("b"));
    let second = second.await.unwrap();
    let first = first.await.unwrap();
    let called = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&called);
    drop(producer.send_with_callback(
        ProducerRecord::new("t").partition(0).value("c"),
        move |outcome| {
            assert_eq!(outcome.unwrap().offset, 102);
            seen.fetch_add(1, Ordering::SeqCst);
        },
    ));
    producer.flush().await;
    assert_eq!(first.await.unwrap().offset, 100);
    assert_eq!(second.await.unwrap().offset, 101);
    assert_eq!(called.load(Ordering::SeqCst), 1);
}
