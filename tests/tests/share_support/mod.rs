//! What the share-group tests have in common: a one-partition topic with
//! records and a share group reading it from the start, group configs set
//! by ferrokafka's admin, members, and polling with a bound.
// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_admin::configs::{AlterConfigOp, ConfigResource, ResourceType};
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{ShareConsumer, ShareConsumerConfig, ShareRecord};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{create_topic, unique_topic};

/// Every test's bound on waiting for records.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// On the cluster at `bootstrap`: a one-partition topic holding `count`
/// records (values `0..count`), and a share group reading it from the
/// start, with these group configs.
pub(crate) async fn setup(
    bootstrap: &str,
    test: &str,
    count: usize,
    configs: &[(&str, &str)],
) -> (String, String) {
    let producer =
        Producer::new(ProducerConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let topic = unique_topic(test);
    create_topic(producer.client(), &topic, 1, 1).await;
    let group = format!("{topic}-group");
    let mut all = vec![("share.auto.offset.reset", "earliest")];
    all.extend_from_slice(configs);
    set_group_configs(bootstrap, &group, &all).await;
    produce(bootstrap, &topic, 0..count).await;
    (topic, group)
}

/// Writes records with values `range` to partition 0 of `topic`.
pub(crate) async fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<usize>) {
    let producer =
        Producer::new(ProducerConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let mut deliveries = Vec::new();
    for i in range {
        let record = ProducerRecord::new(topic).partition(0).value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
}

/// Sets `configs` on `group` with ferrokafka's admin.
pub(crate) async fn set_group_configs(bootstrap: &str, group: &str, configs: &[(&str, &str)]) {
    let admin =
        Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let resource = ConfigResource::new(ResourceType::Group, group);
    let ops = configs
        .iter()
        .map(|(k, v)| AlterConfigOp::set(*k, *v))
        .collect();
    let changes = BTreeMap::from([(resource.clone(), ops)]);
    let results = admin
        .incremental_alter_configs(&changes, false, &AdminOptions::default())
        .await;
    results[&resource]
        .as_ref()
        .unwrap_or_else(|e| panic!("setting {configs:?} on {group}: {e}"));
}

/// A member of `group` subscribed to `topic`, with `extra` config keys.
pub(crate) async fn member(
    bootstrap: &str,
    group: &str,
    topic: &str,
    extra: &[(&str, &str)],
) -> ShareConsumer {
    let mut pairs = vec![("bootstrap_servers", bootstrap), ("group_id", group)];
    pairs.extend_from_slice(extra);
    let consumer = ShareConsumer::new(ShareConsumerConfig::from_pairs(pairs).unwrap())
        .await
        .unwrap();
    consumer.subscribe(&[topic]).await.unwrap();
    consumer
}

/// Polls until some records come, within [`PATIENCE`].
pub(crate) async fn poll_some(consumer: &ShareConsumer) -> Vec<ShareRecord> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let records = consumer.poll(Duration::from_millis(500)).await.unwrap();
        if !records.is_empty() {
            return records;
        }
        assert!(Instant::now() < deadline, "no records within {PATIENCE:?}");
    }
}
