//! Cancellation on the real broker, the common cases: a `tokio::select!`
//! with a timeout around `poll` and around `send`, and delivery futures
//! dropped unawaited. Whatever is dropped, the consumer hands out every
//! record once and in order, and the topic holds exactly the records
//! `send` accepted.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

const RECORDS: u32 = 300;
const LIMIT: Duration = Duration::from_secs(60);

async fn producer() -> Producer {
    Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("linger_ms", "2"),
        ])
        .unwrap(),
    )
    .await
    .unwrap()
}

async fn consumer(topic: &str) -> Consumer {
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("max_poll_records", "7"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let partition = TopicPartition::new(topic, 0);
    consumer
        .assign(std::slice::from_ref(&partition))
        .await
        .unwrap();
    consumer.seek(&partition, 0).await.unwrap();
    consumer
}

/// The values in `topic`'s partition 0, read with plain polls.
async fn values(topic: &str, count: usize) -> Vec<u32> {
    let consumer = consumer(topic).await;
    let deadline = Instant::now() + LIMIT;
    let mut values = Vec::new();
    while values.len() < count && Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            values.push(value(record.value.as_deref()));
        }
    }
    consumer.close(Duration::from_secs(5)).await.unwrap();
    values
}

fn value(bytes: Option<&[u8]>) -> u32 {
    std::str::from_utf8(bytes.unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_poll_cut_short_by_select_skips_and_repeats_nothing() {
    let producer = producer().await;
    let topic = unique_topic("cancel-poll");
    create_topic(producer.client(), &topic, 1, 1).await;
    for i in 0..RECORDS {
        let record = ProducerRecord::new(&topic)
            .partition(0)
            .value(i.to_string());
        drop(producer.send(record).await.unwrap());
    }
    producer.flush().await;
    producer.close(Duration::from_secs(5)).await.unwrap();

    let consumer = consumer(&topic).await;
    let deadline = Instant::now() + LIMIT;
    let (mut offsets, mut cut) = (Vec::new(), 0_u32);
    // Timeouts from 0 to 9 ms, so the cut falls at different points of a
    // poll: before the fetch, while it is in flight, while it is read.
    let mut round = 0_u64;
    while offsets.len() < RECORDS as usize && Instant::now() < deadline {
        round += 1;
        tokio::select! {
            polled = consumer.poll(Duration::from_millis(200)) => {
                offsets.extend(polled.unwrap().iter().map(|r| r.offset));
            }
            () = tokio::time::sleep(Duration::from_millis(round % 10)) => cut += 1,
        }
    }
    consumer.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(offsets, (0..i64::from(RECORDS)).collect::<Vec<_>>());
    assert!(cut > 0, "no poll was cut short: the test showed nothing");
}

#[tokio::test]
async fn a_send_cut_short_by_select_wrote_nothing_and_dropped_deliveries_still_deliver() {
    let producer = producer().await;
    // Not created yet: the first sends wait for its metadata, so the
    // select cuts some of them.
    let topic = unique_topic("cancel-send");
    let (mut accepted, mut cut) = (BTreeSet::new(), 0_u32);
    let mut deliveries = Vec::new();
    let creating = {
        let client = producer.client().clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            create_topic(&client, &topic, 1, 1).await;
        })
    };
    for i in 0..RECORDS {
        let record = ProducerRecord::new(&topic)
            .partition(0)
            .value(i.to_string());
        tokio::select! {
            sent = producer.send(record) => {
                accepted.insert(i);
                // Every other delivery future dropped unawaited: its record
                // is delivered all the same.
                if i % 2 == 0 {
                    deliveries.push(sent.unwrap());
                }
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => cut += 1,
        }
    }
    creating.await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.flush().await;
    producer.close(Duration::from_secs(5)).await.unwrap();
    assert!(cut > 0, "no send was cut short: the test showed nothing");
    assert!(!accepted.is_empty(), "no send was accepted");

    let values = values(&topic, accepted.len()).await;
    assert_eq!(
        values.iter().copied().collect::<BTreeSet<_>>(),
        accepted,
        "the topic holds other records than those accepted"
    );
    assert_eq!(values.len(), accepted.len(), "a record was written twice");
    assert!(values.is_sorted(), "records out of send order");
}
