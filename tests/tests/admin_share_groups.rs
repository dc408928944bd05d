//! The admin client on share groups (KIP-932) against a real broker: group
//! configs set and read back, the group listed with its type, described
//! (by `describe_groups` and `describe_share_groups`) with its member and
//! assignment, its offsets read (no lag once all is accepted), altered and deleted once it is
//! empty, and the group deleted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_admin::configs::{
    AlterConfigOp, ConfigResource, DescribeConfigsOptions, ResourceType,
};
use ferrokafka_admin::groups::{GroupKind, ListGroupsFilter};
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{ShareConsumer, ShareConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_groups_are_configured_listed_described_offset_managed_and_deleted() {
    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let options = AdminOptions::new().timeout(Duration::from_secs(30));
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("admin-share");
    create_topic(producer.client(), &topic, 1, 1).await;
    for i in 0..3 {
        producer
            .send(
                ProducerRecord::new(&topic)
                    .partition(0)
                    .value(format!("{i}")),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
    let group = format!("{topic}-group");
    let tp = TopicPartition::new(topic.clone(), 0);

    // Group configs through incremental alter/describe on a GROUP resource.
    let resource = ConfigResource::new(ResourceType::Group, &group);
    let changes = BTreeMap::from([(
        resource.clone(),
        vec![
            AlterConfigOp::set("share.auto.offset.reset", "earliest"),
            AlterConfigOp::set("share.delivery.count.limit", "4"),
        ],
    )]);
    admin
        .incremental_alter_configs(&changes, false, &options)
        .await[&resource]
        .as_ref()
        .unwrap();
    let described = admin
        .describe_configs(
            std::slice::from_ref(&resource),
            DescribeConfigsOptions::default(),
            &options,
        )
        .await;
    let entries = described[&resource].as_ref().unwrap();
    let value = |name: &str| {
        entries
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(
        value("share.auto.offset.reset").as_deref(),
        Some("earliest")
    );
    assert_eq!(value("share.delivery.count.limit").as_deref(), Some("4"));

    // A member reads everything.
    let consumer = ShareConsumer::new(
        ShareConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let mut read = 0;
    let deadline = Instant::now() + PATIENCE;
    while read < 3 {
        read += consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .len();
        assert!(Instant::now() < deadline, "read {read} of 3");
    }
    consumer.commit_sync(Duration::from_secs(10)).await.unwrap();

    let listed = admin
        .list_groups(&ListGroupsFilter::default(), &options)
        .await
        .unwrap();
    let listing = listed
        .groups
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not in {:?}", listed.groups));
    assert_eq!(listing.group_type.as_deref(), Some("share"));
    let only_share = admin
        .list_groups(
            &ListGroupsFilter {
                types: vec!["share".into()],
                ..ListGroupsFilter::default()
            },
            &options,
        )
        .await
        .unwrap();
    assert!(
        only_share
            .groups
            .iter()
            .all(|g| g.group_type.as_deref() == Some("share"))
    );
    assert!(only_share.groups.iter().any(|g| g.group_id == group));

    for described in [
        admin.describe_groups(&[&group], &options).await,
        admin.describe_share_groups(&[&group], &options).await,
    ] {
        let description = described[&group].as_ref().unwrap();
        assert_eq!(description.kind, GroupKind::Share);
        assert_eq!(description.protocol_type, "share");
        assert_eq!(description.members.len(), 1, "{description:?}");
        let member = &description.members[0];
        assert_eq!(member.subscribed_topics, vec![topic.clone()]);
        assert_eq!(member.assignment, vec![tp.clone()]);
        assert_eq!(description.state.to_ascii_lowercase(), "stable");
    }

    // Nothing is left to consume once all is accepted.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let offsets = admin
            .list_share_group_offsets(&group, &options)
            .await
            .unwrap();
        if offsets
            .get(&tp)
            .and_then(|o| o.as_ref().ok())
            .is_some_and(|o| o.start_offset.is_some() && o.lag == Some(0))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{offsets:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    consumer.close(Duration::from_secs(10)).await.unwrap();

    // Once empty, its start offset can be set, and its state deleted.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let result = admin
            .alter_share_group_offsets(&group, &BTreeMap::from([(tp.clone(), 1)]), &options)
            .await;
        match result {
            Ok(results) => {
                results[&tp].as_ref().unwrap();
                break;
            }
            // The coordinator may not have seen the member leave yet.
            Err(error) => assert!(Instant::now() < deadline, "{error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let offsets = admin
        .list_share_group_offsets(&group, &options)
        .await
        .unwrap();
    assert_eq!(offsets[&tp].as_ref().unwrap().start_offset, Some(1));
    let deleted = admin
        .delete_share_group_offsets(&group, &[&topic], &options)
        .await
        .unwrap();
    deleted[&topic].as_ref().unwrap();
    let offsets = admin
        .list_share_group_offsets(&group, &options)
        .await
        .unwrap();
    assert!(
        offsets
            .get(&tp)
            .is_none_or(|o| o.as_ref().is_ok_and(|o| o.start_offset.is_none())),
        "{offsets:?}"
    );

    admin.delete_groups(&[&group], &options).await[&group]
        .as_ref()
        .unwrap();
    let described = admin.describe_share_groups(&[&group], &options).await;
    let gone = match &described[&group] {
        Err(_) => true,
        Ok(description) => description.state.eq_ignore_ascii_case("dead"),
    };
    assert!(gone, "{described:?}");
}
