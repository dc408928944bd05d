//! Offsets over the wire against a real broker: a group's commits with
//! metadata read back, and offsets by time from the partition leaders.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka_consumer::offsets::{self, GroupIdentity, OffsetAndMetadata, timestamp};
use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic_keeping_old_records, unique_topic};

#[tokio::test]
async fn commits_are_read_back_and_offsets_found_by_time() {
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let client = producer.client().clone();
    let topic = unique_topic("offsets");
    create_topic_keeping_old_records(&client, &topic, 2).await;
    // Ten records in partition 0 with timestamps 1000, 2000, ... 10000.
    for i in 1..=10i64 {
        producer
            .send(
                ProducerRecord::new(&topic)
                    .partition(0)
                    .value("v")
                    .timestamp(i * 1000),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();

    let p0 = TopicPartition::new(topic.clone(), 0);
    let p1 = TopicPartition::new(topic.clone(), 1);
    let query = |at: i64| BTreeMap::from([(p0.clone(), at), (p1.clone(), at)]);
    let earliest = offsets::list_offsets(&client, &query(timestamp::EARLIEST), false)
        .await
        .unwrap();
    assert_eq!(earliest[&p0].unwrap().offset, 0);
    assert_eq!(earliest[&p1].unwrap().offset, 0);
    let latest = offsets::list_offsets(&client, &query(timestamp::LATEST), false)
        .await
        .unwrap();
    assert_eq!(latest[&p0].unwrap().offset, 10);
    assert_eq!(latest[&p1].unwrap().offset, 0);
    let by_time = offsets::list_offsets(&client, &query(4500), false)
        .await
        .unwrap();
    let found = by_time[&p0].unwrap();
    assert_eq!((found.offset, found.timestamp), (4, 5000));
    assert_eq!(
        by_time[&p1], None,
        "no record that recent in an empty partition"
    );
    let too_late = offsets::list_offsets(&client, &BTreeMap::from([(p0.clone(), 20_000)]), false)
        .await
        .unwrap();
    assert_eq!(too_late[&p0], None);

    let group = GroupIdentity {
        group_id: unique_topic("offsets-group"),
        generation: -1,
        ..GroupIdentity::default()
    };
    let before = offsets::committed(&client, &group.group_id, &[p0.clone(), p1.clone()], true)
        .await
        .unwrap();
    assert_eq!(before[&p0], None);
    let commit = BTreeMap::from([
        (
            p0.clone(),
            OffsetAndMetadata {
                offset: 7,
                leader_epoch: None,
                metadata: "checkpoint-7".into(),
            },
        ),
        (p1.clone(), OffsetAndMetadata::new(0)),
    ]);
    offsets::commit(&client, &group, &commit).await.unwrap();
    let after = offsets::committed(&client, &group.group_id, &[p0.clone(), p1.clone()], true)
        .await
        .unwrap();
    assert_eq!(after[&p0].as_ref().unwrap().offset, 7);
    assert_eq!(after[&p0].as_ref().unwrap().metadata, "checkpoint-7");
    assert_eq!(after[&p1].as_ref().unwrap().offset, 0);

    // A commit from a generation the group never had is refused as a
    // rebalance, not silently accepted.
    let stale = GroupIdentity {
        generation: 5,
        member_id: "nobody".into(),
        ..group.clone()
    };
    let error = offsets::commit(&client, &stale, &commit).await.unwrap_err();
    assert!(error.is_rebalance(), "{error}");
}
