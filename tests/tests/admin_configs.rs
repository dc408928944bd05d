//! The admin client's config operations against the shared broker: each
//! change is checked by describing the resource again; an invalid value is
//! that resource's INVALID_CONFIG while the other resource changes.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka_admin::configs::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, DescribeConfigsOptions, ResourceType,
};
use ferrokafka_admin::topics::NewTopic;
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

async fn entries(admin: &Admin, resource: &ConfigResource) -> BTreeMap<String, ConfigEntry> {
    let described = admin
        .describe_configs(
            std::slice::from_ref(resource),
            DescribeConfigsOptions::default(),
            &options(),
        )
        .await;
    described[resource]
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| (e.name.clone(), e.clone()))
        .collect()
}

/// Describes `resource` until `key` satisfies `wanted` (dynamic broker
/// configs reach the broker through the metadata log, a moment after the
/// change was accepted).
async fn eventually(
    admin: &Admin,
    resource: &ConfigResource,
    key: &str,
    wanted: impl Fn(&ConfigEntry) -> bool,
) -> ConfigEntry {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = entries(admin, resource).await;
        if let Some(entry) = now.get(key)
            && wanted(entry)
        {
            return entry.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{resource} {key}: {:?}",
            now.get(key)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The broker's error code of a failed item: a direct answer, not a
/// retried one that ran out of time.
fn code<T>(result: &Result<T, AdminError>) -> Option<ErrorCode> {
    match result {
        Err(AdminError::Broker { error, .. }) => Some(error.code),
        _ => None,
    }
}

fn value<'a>(entries: &'a BTreeMap<String, ConfigEntry>, key: &str) -> Option<&'a str> {
    entries[key].value.as_deref()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_change_key_by_key_and_an_invalid_value_fails_alone() {
    tokio::time::timeout(LIMIT, async {
        let admin = admin().await;
        let first = unique_topic("admin-configs-a");
        let second = unique_topic("admin-configs-b");
        let created = admin
            .create_topics(
                &[
                    NewTopic::new(&first, 1, 1).config("retention.ms", "3600000"),
                    NewTopic::new(&second, 1, 1),
                ],
                false,
                &options(),
            )
            .await;
        assert!(created.values().all(Result::is_ok), "{created:?}");
        let a = ConfigResource::topic(&first);
        let b = ConfigResource::topic(&second);

        let before = entries(&admin, &a).await;
        assert_eq!(value(&before, "retention.ms"), Some("3600000"));
        assert_eq!(
            before["retention.ms"].source,
            ConfigSource::DynamicTopicConfig
        );
        assert_eq!(value(&before, "cleanup.policy"), Some("delete"));
        assert_eq!(before["cleanup.policy"].source, ConfigSource::DefaultConfig);

        // validate_only changes nothing.
        let checked = admin
            .incremental_alter_configs(
                &BTreeMap::from([(a.clone(), vec![AlterConfigOp::set("retention.ms", "1000")])]),
                true,
                &options(),
            )
            .await;
        assert!(checked[&a].is_ok(), "{checked:?}");
        assert_eq!(
            value(&entries(&admin, &a).await, "retention.ms"),
            Some("3600000")
        );

        let altered = admin
            .incremental_alter_configs(
                &BTreeMap::from([
                    (
                        a.clone(),
                        vec![
                            AlterConfigOp::delete("retention.ms"),
                            AlterConfigOp::set("max.message.bytes", "200000"),
                            AlterConfigOp::append("cleanup.policy", "compact"),
                        ],
                    ),
                    (
                        b.clone(),
                        vec![AlterConfigOp::set("retention.ms", "not-a-number")],
                    ),
                ]),
                false,
                &options(),
            )
            .await;
        assert!(altered[&a].is_ok(), "{altered:?}");
        assert_eq!(code(&altered[&b]), Some(ErrorCode::InvalidConfig));
        eventually(&admin, &a, "retention.ms", |e| {
            e.source == ConfigSource::DefaultConfig
        })
        .await;
        eventually(&admin, &a, "max.message.bytes", |e| {
            e.value.as_deref() == Some("200000")
        })
        .await;
        eventually(&admin, &a, "cleanup.policy", |e| {
            e.value.as_deref() == Some("delete,compact")
        })
        .await;
        assert_eq!(
            entries(&admin, &b).await["retention.ms"].source,
            ConfigSource::DefaultConfig
        );

        let subtracted = admin
            .incremental_alter_configs(
                &BTreeMap::from([(
                    a.clone(),
                    vec![AlterConfigOp::subtract("cleanup.policy", "delete")],
                )]),
                false,
                &options(),
            )
            .await;
        assert!(subtracted[&a].is_ok(), "{subtracted:?}");
        eventually(&admin, &a, "cleanup.policy", |e| {
            e.value.as_deref() == Some("compact")
        })
        .await;

        // The legacy AlterConfigs replaces the whole set: keys left out go
        // back to their defaults.
        let replaced = admin
            .alter_configs(
                &BTreeMap::from([(
                    a.clone(),
                    BTreeMap::from([("segment.ms".to_string(), "7200000".to_string())]),
                )]),
                false,
                &options(),
            )
            .await;
        assert!(replaced[&a].is_ok(), "{replaced:?}");
        eventually(&admin, &a, "segment.ms", |e| {
            e.value.as_deref() == Some("7200000")
        })
        .await;
        eventually(&admin, &a, "max.message.bytes", |e| {
            e.source == ConfigSource::DefaultConfig
        })
        .await;
        eventually(&admin, &a, "cleanup.policy", |e| {
            e.value.as_deref() == Some("delete")
        })
        .await;

        let missing = ConfigResource::topic(unique_topic("admin-configs-missing"));
        let described = admin
            .describe_configs(
                &[missing.clone(), b.clone()],
                DescribeConfigsOptions::default(),
                &options(),
            )
            .await;
        assert_eq!(
            described[&missing]
                .as_ref()
                .err()
                .and_then(AdminError::code),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        assert!(described[&b].is_ok());

        let deleted = admin.delete_topics(&[&first, &second], &options()).await;
        assert!(deleted.values().all(Result::is_ok), "{deleted:?}");
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_and_logger_configs_are_described_and_changed_at_the_broker() {
    tokio::time::timeout(LIMIT, async {
        let admin = admin().await;
        let node = admin
            .client()
            .view(|v| v.brokers().next().map(|b| b.node_id))
            .unwrap();
        let broker = ConfigResource::broker(node);
        let described = admin
            .describe_configs(
                std::slice::from_ref(&broker),
                DescribeConfigsOptions {
                    include_synonyms: true,
                    include_documentation: true,
                },
                &options(),
            )
            .await;
        let configs = described[&broker].as_ref().unwrap();
        let node_id = configs.iter().find(|e| e.name == "node.id").unwrap();
        assert_eq!(node_id.value.as_deref(), Some(node.to_string().as_str()));
        assert_eq!(node_id.source, ConfigSource::StaticBrokerConfig);
        assert!(node_id.read_only);
        assert!(!node_id.synonyms.is_empty());
        assert!(
            node_id
                .documentation
                .as_deref()
                .is_some_and(|d| !d.is_empty())
        );

        // A dynamic broker setting, then back.
        let key = "log.cleaner.backoff.ms";
        let set = admin
            .incremental_alter_configs(
                &BTreeMap::from([(broker.clone(), vec![AlterConfigOp::set(key, "16000")])]),
                false,
                &options(),
            )
            .await;
        assert!(set[&broker].is_ok(), "{set:?}");
        let now = eventually(&admin, &broker, key, |e| {
            e.value.as_deref() == Some("16000")
        })
        .await;
        assert_eq!(now.source, ConfigSource::DynamicBrokerConfig);
        let unset = admin
            .incremental_alter_configs(
                &BTreeMap::from([(broker.clone(), vec![AlterConfigOp::delete(key)])]),
                false,
                &options(),
            )
            .await;
        assert!(unset[&broker].is_ok(), "{unset:?}");
        eventually(&admin, &broker, key, |e| {
            e.source != ConfigSource::DynamicBrokerConfig
        })
        .await;

        // Logger levels.
        let logger = ConfigResource::new(ResourceType::BrokerLogger, node.to_string());
        let logger_name = "kafka.server.ReplicaManager";
        let changed = admin
            .incremental_alter_configs(
                &BTreeMap::from([(
                    logger.clone(),
                    vec![AlterConfigOp::set(logger_name, "DEBUG")],
                )]),
                false,
                &options(),
            )
            .await;
        assert!(changed[&logger].is_ok(), "{changed:?}");
        eventually(&admin, &logger, logger_name, |e| {
            e.value.as_deref() == Some("DEBUG")
        })
        .await;
        let back = admin
            .incremental_alter_configs(
                &BTreeMap::from([(logger.clone(), vec![AlterConfigOp::delete(logger_name)])]),
                false,
                &options(),
            )
            .await;
        assert!(back[&logger].is_ok(), "{back:?}");
        eventually(&admin, &logger, logger_name, |e| {
            e.value.as_deref() != Some("DEBUG")
        })
        .await;

        // A broker resource must be named by a node id.
        let bad = ConfigResource::new(ResourceType::Broker, "not-a-node");
        let described = admin
            .describe_configs(
                std::slice::from_ref(&bad),
                DescribeConfigsOptions::default(),
                &options(),
            )
            .await;
        assert!(matches!(
            described[&bad],
            Err(AdminError::InvalidArgument(_))
        ));
    })
    .await
    .expect("bounded");
}
