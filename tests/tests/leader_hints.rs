//! KIP-951 on a 3-node cluster: when a partition's leadership moves, the
//! old leader refuses the producer's and the consumer's next requests and
//! names the new leader in its answer. Both clients go to it from that
//! answer alone, with no metadata request, and nothing is lost or reordered.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_admin::cluster::ElectionType;
use ferrokafka_admin::records::TopicPartition;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{create_topic, described_until, start_cluster, unique_topic};
use ferrokafka_transport::Client;

const RECORDS_PER_PHASE: u32 = 2_000;

async fn send(producer: &Producer, topic: &str, values: std::ops::Range<u32>) {
    let mut deliveries = Vec::new();
    for i in values {
        let record = ProducerRecord::new(topic).value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

/// Reads until `until` values have been read in all, checking each is the
/// next one.
async fn read(consumer: &Consumer, read: &mut u32, until: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while *read < until {
        assert!(Instant::now() < deadline, "read {read} of {until}");
        for record in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let value = std::str::from_utf8(record.value.as_deref().unwrap()).unwrap();
            assert_eq!(value, read.to_string(), "at offset {}", record.offset);
            *read += 1;
        }
    }
}

/// The leader of `topic`-0 in `client`'s view, and when the view last took
/// in a metadata answer.
fn known(client: &Client, topic: &str) -> (Option<i32>, Option<Instant>) {
    client.view(|v| (v.leader(topic, 0).map(|b| b.node_id), v.updated()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_leader_is_taken_from_the_old_leaders_refusal() {
    let cluster = start_cluster(3);
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("linger_ms", "5"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("leader-hints");
    create_topic(producer.client(), &topic, 1, 3).await;
    let partition = TopicPartition::new(&topic, 0);
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("auto_offset_reset", "earliest"),
            ("fetch_max_wait_ms", "100"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .assign(std::slice::from_ref(&partition))
        .await
        .unwrap();

    let mut read_so_far = 0;
    send(&producer, &topic, 0..RECORDS_PER_PHASE).await;
    read(&consumer, &mut read_so_far, RECORDS_PER_PHASE).await;
    let before = described_until(&admin, &topic, "all replicas in sync", |d| {
        d.partitions[0].isr.len() == 3
    })
    .await;
    let replicas = before.partitions[0].replicas.clone();
    let (old, new) = (replicas[0], replicas[1]);
    let (producer_leader, producer_updated) = known(producer.client(), &topic);
    let (consumer_leader, consumer_updated) = known(consumer.client(), &topic);
    assert_eq!((producer_leader, consumer_leader), (Some(old), Some(old)));

    // Swap the first two replicas: the preferred leader is now `new`, and
    // electing it moves the leadership with no data to copy.
    let reordered = vec![new, old, replicas[2]];
    let moved = admin
        .alter_partition_reassignments(
            &BTreeMap::from([(partition.clone(), Some(reordered.clone()))]),
            &AdminOptions::default(),
        )
        .await;
    assert!(moved[&partition].is_ok(), "{moved:?}");
    described_until(&admin, &topic, "replicas reordered", |d| {
        d.partitions[0].replicas == reordered
    })
    .await;
    let elected = admin
        .elect_leaders(
            ElectionType::Preferred,
            Some(std::slice::from_ref(&partition)),
            &AdminOptions::default(),
        )
        .await
        .unwrap();
    assert!(elected[&partition].is_ok(), "{elected:?}");
    described_until(&admin, &topic, "the new leader leads", |d| {
        d.partitions[0].leader == Some(new)
    })
    .await;

    let retries_before = producer.metrics().record_retry_total;
    send(&producer, &topic, RECORDS_PER_PHASE..2 * RECORDS_PER_PHASE).await;
    read(&consumer, &mut read_so_far, 2 * RECORDS_PER_PHASE).await;
    assert!(
        producer.metrics().record_retry_total > retries_before,
        "the old leader refused nothing: the move was not exercised"
    );
    assert_eq!(
        known(producer.client(), &topic),
        (Some(new), producer_updated),
        "the producer learned the new leader from a metadata answer, not the refusal"
    );
    assert_eq!(
        known(consumer.client(), &topic),
        (Some(new), consumer_updated),
        "the consumer learned the new leader from a metadata answer, not the refusal"
    );
    producer.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop();
}
