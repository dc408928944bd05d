//! The delivery contract on a real broker, in the shape that once broke
//! it: a freshly created topic of 3,000 partitions (about 90 batches in a
//! response), acks=1 and `linger_ms` 5, while a second producer writes to
//! another topic of the same broker. Each round sends records with
//! callbacks, flushes, and checks that when `flush()` returned every
//! callback had run, none failed, and the broker holds exactly the records
//! sent, in the partitions their callbacks named (a keyless batch refused
//! by a partition not ready yet moves to one that is). Rounds: `FERROKAFKA_DELIVERY_ROUNDS` (default 3; the issue's
//! proof is 20).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrokafka_admin::records::{OffsetSpec, TopicPartition};
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, unique_topic};

const PARTITIONS: i32 = 3_000;
const RECORDS_PER_ROUND: u64 = 60_000;

async fn producer() -> Producer {
    Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("acks", "1"),
            ("linger_ms", "5"),
        ])
        .unwrap(),
    )
    .await
    .unwrap()
}

/// The topic's end offsets, by partition.
async fn written(admin: &Admin, topic: &str, partitions: i32) -> Vec<i64> {
    let specs: BTreeMap<TopicPartition, OffsetSpec> = (0..partitions)
        .map(|p| (TopicPartition::new(topic, p), OffsetSpec::Latest))
        .collect();
    let listed = admin
        .list_offsets(
            &specs,
            false,
            &AdminOptions::new().timeout(Duration::from_secs(60)),
        )
        .await;
    let mut ends = vec![0; usize::try_from(partitions).unwrap()];
    for (tp, offset) in listed {
        let offset = offset.unwrap_or_else(|e| panic!("the end offset of {tp:?}: {e}"));
        ends[usize::try_from(tp.partition).unwrap()] = offset.offset;
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_callback_runs_before_flush_returns_on_a_new_3000_partition_topic() {
    let rounds: u64 = std::env::var("FERROKAFKA_DELIVERY_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let topic = unique_topic("delivery-3000");
    let other = unique_topic("delivery-other");
    let options = AdminOptions::new().timeout(Duration::from_secs(120));
    let created = admin
        .create_topics(
            &[
                NewTopic::new(&topic, PARTITIONS, 1),
                NewTopic::new(&other, 6, 1),
            ],
            false,
            &options,
        )
        .await;
    assert!(created.values().all(Result::is_ok), "{created:?}");
    eprintln!("topics created in {:?}", started.elapsed());

    // The concurrent writer: another producer, sending to the other topic
    // until the rounds are over.
    let stop = Arc::new(tokio::sync::Notify::new());
    let neighbour = {
        let stop = Arc::clone(&stop);
        let other = other.clone();
        tokio::spawn(async move {
            let producer = producer().await;
            let mut stopped = std::pin::pin!(stop.notified());
            let mut sent = 0u64;
            loop {
                tokio::select! {
                    () = &mut stopped => break,
                    queued = producer.send_with_callback(
                        ProducerRecord::new(&other).value(vec![7u8; 100]),
                        |_| {},
                    ) => {
                        queued.unwrap();
                        sent += 1;
                    }
                }
            }
            producer.close(Duration::from_secs(60)).await.unwrap();
            sent
        })
    };

    let producer = producer().await;
    let delivered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    // Where each callback says its record went: keyless batches refused
    // by a partition not ready yet move to one that is, and must say so.
    let per_partition: Arc<Vec<AtomicU64>> =
        Arc::new((0..PARTITIONS).map(|_| AtomicU64::new(0)).collect());
    let mut sent = 0u64;
    for round in 0..rounds {
        let round_started = std::time::Instant::now();
        for i in 0..RECORDS_PER_ROUND {
            let (delivered, failed) = (Arc::clone(&delivered), Arc::clone(&failed));
            let per_partition = Arc::clone(&per_partition);
            producer
                .send_with_callback(
                    ProducerRecord::new(&topic).value(i.to_be_bytes().repeat(12)),
                    move |outcome| {
                        let counter = if let Ok(metadata) = outcome {
                            let at = usize::try_from(metadata.partition).unwrap();
                            per_partition[at].fetch_add(1, Ordering::SeqCst);
                            delivered
                        } else {
                            failed
                        };
                        counter.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .await
                .unwrap();
            sent += 1;
        }
        producer.flush().await;
        eprintln!(
            "round {round}: sent and flushed in {:?}",
            round_started.elapsed()
        );
        let (ok, failed) = (
            delivered.load(Ordering::SeqCst),
            failed.load(Ordering::SeqCst),
        );
        assert_eq!(
            (ok, failed),
            (sent, 0),
            "round {round}: outcomes when flush returned, of {sent} records sent"
        );
        let ends = written(&admin, &topic, PARTITIONS).await;
        assert_eq!(
            ends.iter().sum::<i64>(),
            i64::try_from(sent).unwrap(),
            "round {round}: records written"
        );
        for (partition, end) in ends.iter().enumerate() {
            let reported = per_partition[partition].load(Ordering::SeqCst);
            assert_eq!(
                i64::try_from(reported).unwrap(),
                *end,
                "round {round}: records the callbacks place in partition {partition}"
            );
        }
    }
    producer.close(Duration::from_secs(30)).await.unwrap();
    stop.notify_one();
    let neighbour_sent = neighbour.await.unwrap();
    assert!(neighbour_sent > 0, "the other producer wrote nothing");
    let deleted = admin.delete_topics(&[&topic, &other], &options).await;
    assert!(deleted.values().all(Result::is_ok), "{deleted:?}");
}

/// A blocking producer dropped without `close` closes itself first: every
/// record it accepted is delivered, and each delivery's `get` says so.
#[test]
fn a_dropped_blocking_producer_delivers_what_it_accepted() {
    let topic = unique_topic("delivery-blocking-drop");
    ferrokafka_tests::create_topic_blocking(&topic, 3);
    let producer = ferrokafka_producer::BlockingProducer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            // Long enough that the records are still queued at the drop.
            ("linger_ms", "2000"),
        ])
        .unwrap(),
    )
    .unwrap();
    let deliveries: Vec<_> = (0..500u32)
        .map(|i| {
            producer
                .send(ProducerRecord::new(&topic).value(i.to_string()))
                .unwrap()
        })
        .collect();
    drop(producer);
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let metadata = delivery.get(Some(Duration::from_secs(1)));
        assert!(metadata.is_ok(), "record {i}: {metadata:?}");
    }
}
