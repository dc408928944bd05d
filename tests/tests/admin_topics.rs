//! The admin client's topic and record operations against the shared
//! broker: each change is checked through a second call that asks the
//! broker what it now holds, and failing items come back as typed errors
//! next to the items that succeeded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_admin::records::{OffsetSpec, TopicPartition};
use ferrokafka_admin::topics::{NewPartitions, NewTopic, TopicId};
use ferrokafka_admin::{Admin, AdminConfig, AdminError, AdminOptions};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{bootstrap_servers, unique_topic};

const LIMIT: Duration = Duration::from_secs(60);

async fn admin() -> Admin {
    let config = AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap();
    Admin::connect(config).await.unwrap()
}

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(30))
}

/// The broker's error code of a failed item: a direct answer, not a
/// retried one that ran out of time.
fn code<T: std::fmt::Debug>(result: &Result<T, AdminError>) -> Option<ErrorCode> {
    match result {
        Err(AdminError::Broker { error, .. }) => Some(error.code),
        _ => None,
    }
}

/// Polls `describe_topics` until `topic` is gone (deletion reaches the
/// metadata of every broker asynchronously).
async fn wait_until_gone(admin: &Admin, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = admin.describe_topics(&[topic], &options()).await;
        if code(&described[topic]) == Some(ErrorCode::UnknownTopicOrPartition) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} still described: {described:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_describe_grow_and_delete_topics_with_per_topic_errors() {
    tokio::time::timeout(LIMIT, async {
        let admin = admin().await;
        let first = unique_topic("admin-create-a");
        let second = unique_topic("admin-create-b");

        let created = admin
            .create_topics(
                &[
                    NewTopic::new(&first, 3, 1).config("retention.ms", "3600000"),
                    NewTopic::with_assignments(&second, vec![vec![1], vec![1]]),
                ],
                false,
                &options(),
            )
            .await;
        let made = created[&first].as_ref().unwrap();
        assert_eq!((made.partitions, made.replication_factor), (3, 1));
        assert_ne!(made.topic_id.0, [0; 16]);
        assert!(created[&second].is_ok(), "{created:?}");

        // Creating one existing topic next to a new one: only the first fails.
        let third = unique_topic("admin-create-c");
        let again = admin
            .create_topics(
                &[NewTopic::new(&first, 1, 1), NewTopic::new(&third, 1, 1)],
                false,
                &options(),
            )
            .await;
        assert_eq!(code(&again[&first]), Some(ErrorCode::TopicAlreadyExists));
        assert!(again[&third].is_ok(), "{again:?}");

        // validate_only creates nothing.
        let dry = unique_topic("admin-create-dry");
        let validated = admin
            .create_topics(&[NewTopic::new(&dry, 2, 1)], true, &options())
            .await;
        assert!(validated[&dry].is_ok(), "{validated:?}");

        let listed = admin.list_topics(false, &options()).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&first.as_str()) && names.contains(&third.as_str()));
        assert!(
            !names.contains(&dry.as_str()),
            "validate_only created {dry}"
        );
        assert!(!names.contains(&"__consumer_offsets"));
        let listed_first = listed.iter().find(|t| t.name == first).unwrap();
        assert_eq!(listed_first.topic_id, made.topic_id);

        let missing = unique_topic("admin-missing");
        let described = admin
            .describe_topics(
                &[first.as_str(), second.as_str(), missing.as_str()],
                &options(),
            )
            .await;
        let description = described[&first].as_ref().unwrap();
        assert_eq!(description.topic_id, made.topic_id);
        assert!(!description.internal);
        assert_eq!(
            description
                .partitions
                .iter()
                .map(|p| p.partition)
                .collect::<Vec<_>>(),
            [0, 1, 2]
        );
        for partition in &description.partitions {
            assert_eq!(partition.leader, Some(1), "{partition:?}");
            assert_eq!(partition.replicas, [1]);
            assert_eq!(partition.isr, [1]);
            assert!(partition.offline_replicas.is_empty());
            assert!(partition.leader_epoch.is_some());
        }
        assert!(
            description.authorized_operations.is_some(),
            "the broker computes the caller's operations: {description:?}"
        );
        assert_eq!(described[&second].as_ref().unwrap().partitions.len(), 2);
        assert_eq!(
            code(&described[&missing]),
            Some(ErrorCode::UnknownTopicOrPartition)
        );

        // Growing: the first to 5 partitions; the missing one fails alone;
        // shrinking is refused.
        let grown = admin
            .create_partitions(
                &BTreeMap::from([
                    (first.clone(), NewPartitions::increase_to(5)),
                    (missing.clone(), NewPartitions::increase_to(5)),
                    (second.clone(), NewPartitions::increase_to(1)),
                ]),
                false,
                &options(),
            )
            .await;
        assert!(grown[&first].is_ok(), "{grown:?}");
        assert_eq!(
            code(&grown[&missing]),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        assert_eq!(code(&grown[&second]), Some(ErrorCode::InvalidPartitions));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let described = admin.describe_topics(&[&first], &options()).await;
            let partitions = &described[&first].as_ref().unwrap().partitions;
            if partitions.len() == 5 && partitions.iter().all(|p| p.leader.is_some()) {
                break;
            }
            assert!(Instant::now() < deadline, "{described:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Deleting two topics (one by id) and a missing one.
        let deleted = admin
            .delete_topics(&[first.as_str(), missing.as_str()], &options())
            .await;
        assert!(deleted[&first].is_ok(), "{deleted:?}");
        assert_eq!(
            code(&deleted[&missing]),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        let third_id = again[&third].as_ref().unwrap().topic_id;
        let by_id = admin.delete_topics_by_id(&[third_id], &options()).await;
        assert!(by_id[&TopicId(third_id)].is_ok(), "{by_id:?}");
        wait_until_gone(&admin, &first).await;
        wait_until_gone(&admin, &third).await;
        let left = admin.delete_topics(&[second.as_str()], &options()).await;
        assert!(left[&second].is_ok(), "{left:?}");
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_and_delete_records_per_partition() {
    use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
    tokio::time::timeout(LIMIT, async {
        let admin = admin().await;
        let topic = unique_topic("admin-records");
        let created = admin
            .create_topics(
                &[NewTopic::new(&topic, 2, 1).config("retention.ms", "-1")],
                false,
                &options(),
            )
            .await;
        assert!(created[&topic].is_ok(), "{created:?}");

        let producer = Producer::new(
            ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
        )
        .await
        .unwrap();
        for i in 0..10i64 {
            let record = ProducerRecord::new(&topic)
                .value(format!("v{i}"))
                .partition(0)
                .timestamp(1_000 + i * 10);
            producer.send(record).await.unwrap().await.unwrap();
        }
        producer.flush().await;

        let p0 = TopicPartition::new(&topic, 0);
        let p1 = TopicPartition::new(&topic, 1);
        let missing = TopicPartition::new(unique_topic("admin-records-missing"), 0);
        let listed = admin
            .list_offsets(
                &BTreeMap::from([
                    (p0.clone(), OffsetSpec::Latest),
                    (p1.clone(), OffsetSpec::Earliest),
                    (missing.clone(), OffsetSpec::Latest),
                ]),
                false,
                &options(),
            )
            .await;
        assert_eq!(listed[&p0].as_ref().unwrap().offset, 10);
        assert_eq!(listed[&p1].as_ref().unwrap().offset, 0);
        assert_eq!(
            code(&listed[&missing]),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        let by_time = admin
            .list_offsets(
                &BTreeMap::from([(p0.clone(), OffsetSpec::Timestamp(1_045))]),
                false,
                &options(),
            )
            .await;
        let found = by_time[&p0].as_ref().unwrap();
        assert_eq!((found.offset, found.timestamp), (5, 1_050));
        let max = admin
            .list_offsets(
                &BTreeMap::from([(p0.clone(), OffsetSpec::MaxTimestamp)]),
                false,
                &options(),
            )
            .await;
        let max = max[&p0].as_ref().unwrap();
        assert_eq!((max.offset, max.timestamp), (9, 1_090));
        assert!(max.leader_epoch.is_some());

        // Deleting up to offset 4 on partition 0; beyond the high watermark
        // on partition 1 is that partition's error alone.
        let deleted = admin
            .delete_records(
                &BTreeMap::from([(p0.clone(), 4), (p1.clone(), 7)]),
                &options(),
            )
            .await;
        assert_eq!(*deleted[&p0].as_ref().unwrap(), 4);
        assert_eq!(code(&deleted[&p1]), Some(ErrorCode::OffsetOutOfRange));
        let earliest = admin
            .list_offsets(
                &BTreeMap::from([(p0.clone(), OffsetSpec::Earliest)]),
                false,
                &options(),
            )
            .await;
        assert_eq!(earliest[&p0].as_ref().unwrap().offset, 4);

        let deleted = admin.delete_topics(&[&topic], &options()).await;
        assert!(deleted[&topic].is_ok(), "{deleted:?}");
    })
    .await
    .expect("bounded");
}
