//! Idempotent producing with many small batches in flight per partition
//! (a tiny `batch_size`): every record is delivered once, in order.

use std::time::Duration;

use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

#[tokio::test]
async fn many_small_batches_per_partition_are_all_delivered_in_order() {
    const PARTITIONS: i32 = 8;
    const RECORDS: u32 = 50_000;
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("batch_size", "300"),
            ("linger_ms", "0"),
            ("delivery_timeout_ms", "30000"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("small-batches");
    create_topic(producer.client(), &topic, PARTITIONS, 1).await;
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let partition = i32::try_from(i).unwrap() % PARTITIONS;
        let record = ProducerRecord::new(&topic)
            .partition(partition)
            .value(format!("{i:08}"));
        deliveries.push((partition, producer.send(record).await.unwrap()));
    }
    let mut last = [-1i64; 8];
    for (partition, delivery) in deliveries {
        let metadata = delivery.await.unwrap();
        assert_eq!(metadata.partition, partition);
        let slot = usize::try_from(partition).unwrap();
        assert_eq!(metadata.offset, last[slot] + 1, "partition {partition}");
        last[slot] = metadata.offset;
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
}
