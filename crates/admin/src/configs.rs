//! Configs of topics, brokers and broker loggers: describe them, change
//! them key by key (IncrementalAlterConfigs: set, delete, append,
//! subtract), or replace a resource's whole dynamic config (the legacy
//! AlterConfigs, used by itself when a broker lacks the incremental API).
//!
//! A broker's or broker logger's config is asked of that broker; topic
//! configs (and the cluster-wide broker default, an empty broker name) of
//! any broker.
//!
//! ```no_run
//! # async fn example(admin: ferrokafka_admin::Admin) {
//! use std::collections::BTreeMap;
//! use ferrokafka_admin::AdminOptions;
//! use ferrokafka_admin::configs::{AlterConfigOp, ConfigResource, DescribeConfigsOptions};
//!
//! let topic = ConfigResource::topic("events");
//! let changes = BTreeMap::from([(topic.clone(), vec![
//!     AlterConfigOp::set("retention.ms", "86400000"),
//!     AlterConfigOp::delete("cleanup.policy"),
//! ])]);
//! let altered = admin.incremental_alter_configs(&changes, false, &AdminOptions::new()).await;
//! assert!(altered[&topic].is_ok());
//! let described = admin
//!     .describe_configs(&[topic.clone()], DescribeConfigsOptions::default(), &AdminOptions::new())
//!     .await;
//! for entry in described[&topic].as_ref().unwrap() {
//!     println!("{} = {:?} ({:?})", entry.name, entry.value, entry.source);
//! }
//! # }
//! ```

use std::collections::BTreeMap;

use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use ferrokafka_protocol::messages::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
    alter_configs_request, incremental_alter_configs_request,
};
use ferrokafka_transport::{Lane, TransportError};

use crate::retry::{Round, each_until_deadline};
use crate::topics::{any_node, check, retriable_for_topics};
use crate::{Admin, AdminError, AdminOptions};

/// The kind of a config resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// A topic's configs.
    Topic,
    /// A broker's configs (a node id as name; empty for the cluster-wide default).
    Broker,
    /// A broker's log4j logger levels (a node id as name).
    BrokerLogger,
    /// A client-metrics subscription (KIP-714).
    ClientMetrics,
    /// A consumer group's configs (KIP-848).
    Group,
}

impl ResourceType {
    /// The protocol's code of the type.
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Broker => 4,
            ResourceType::BrokerLogger => 8,
            ResourceType::ClientMetrics => 16,
            ResourceType::Group => 32,
        }
    }

    /// The type of a protocol code.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => ResourceType::Topic,
            4 => ResourceType::Broker,
            8 => ResourceType::BrokerLogger,
            16 => ResourceType::ClientMetrics,
            32 => ResourceType::Group,
            _ => return None,
        })
    }
}

impl std::str::FromStr for ResourceType {
    type Err = AdminError;

    /// `topic`, `broker`, `broker-logger` (or `broker_logger`),
    /// `client-metrics`, `group`, in any case.
    ///
    /// ```
    /// use ferrokafka_admin::configs::ResourceType;
    /// assert_eq!("broker-logger".parse::<ResourceType>().unwrap(), ResourceType::BrokerLogger);
    /// assert!("user".parse::<ResourceType>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "topic" | "topics" => Ok(ResourceType::Topic),
            "broker" | "brokers" => Ok(ResourceType::Broker),
            "broker-logger" | "broker-loggers" => Ok(ResourceType::BrokerLogger),
            "client-metrics" => Ok(ResourceType::ClientMetrics),
            "group" | "groups" => Ok(ResourceType::Group),
            _ => Err(AdminError::InvalidArgument(format!(
                "{text:?} is not a config resource type (topic, broker, broker-logger, client-metrics, group)"
            ))),
        }
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceType::Topic => "topic",
            ResourceType::Broker => "broker",
            ResourceType::BrokerLogger => "broker-logger",
            ResourceType::ClientMetrics => "client-metrics",
            ResourceType::Group => "group",
        })
    }
}

/// A resource that has configs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigResource {
    /// Its kind.
    pub resource_type: ResourceType,
    /// Its name: a topic name, a broker's node id, ...
    pub name: String,
}

impl ConfigResource {
    /// A resource of `resource_type` named `name`.
    pub fn new(resource_type: ResourceType, name: impl Into<String>) -> Self {
        ConfigResource {
            resource_type,
            name: name.into(),
        }
    }

    /// A topic.
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource::new(ResourceType::Topic, name)
    }

    /// A broker by node id.
    pub fn broker(node_id: i32) -> Self {
        ConfigResource::new(ResourceType::Broker, node_id.to_string())
    }

    /// The broker whose answer counts for this resource: the named node for
    /// a broker or logger resource, `None` (any broker) otherwise.
    fn target(&self) -> Result<Option<i32>, AdminError> {
        match self.resource_type {
            ResourceType::Broker if self.name.is_empty() => Ok(None),
            ResourceType::Broker | ResourceType::BrokerLogger => {
                self.name.parse::<i32>().map(Some).map_err(|_| {
                    AdminError::InvalidArgument(format!(
                        "{}: a {} is named by its node id",
                        self, self.resource_type
                    ))
                })
            }
            _ => Ok(None),
        }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.resource_type, self.name)
    }
}

/// Where a config's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopicConfig,
    /// Set dynamically on this broker.
    DynamicBrokerConfig,
    /// Set dynamically as the default of every broker.
    DynamicDefaultBrokerConfig,
    /// The broker's `server.properties`.
    StaticBrokerConfig,
    /// Kafka's default.
    DefaultConfig,
    /// Set dynamically on this broker's logger.
    DynamicBrokerLoggerConfig,
    /// Set on a client-metrics subscription.
    DynamicClientMetricsConfig,
    /// Set on a group.
    DynamicGroupConfig,
    /// A source this client does not know (or `UNKNOWN`, 0).
    Unknown(i8),
}

impl ConfigSource {
    /// The source of a protocol code.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            7 => ConfigSource::DynamicClientMetricsConfig,
            8 => ConfigSource::DynamicGroupConfig,
            other => ConfigSource::Unknown(other),
        }
    }

    /// Kafka's name of the source (`DYNAMIC_TOPIC_CONFIG`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::DynamicClientMetricsConfig => "CLIENT_METRICS_CONFIG",
            ConfigSource::DynamicGroupConfig => "GROUP_CONFIG",
            ConfigSource::Unknown(_) => "UNKNOWN",
        }
    }

    /// Whether this is a value set on the resource itself (what the legacy
    /// AlterConfigs replaces as a whole).
    fn is_set_on(self, resource: &ConfigResource) -> bool {
        match resource.resource_type {
            ResourceType::Topic => self == ConfigSource::DynamicTopicConfig,
            ResourceType::Broker if resource.name.is_empty() => {
                self == ConfigSource::DynamicDefaultBrokerConfig
            }
            ResourceType::Broker => self == ConfigSource::DynamicBrokerConfig,
            ResourceType::BrokerLogger => self == ConfigSource::DynamicBrokerLoggerConfig,
            ResourceType::ClientMetrics => self == ConfigSource::DynamicClientMetricsConfig,
            ResourceType::Group => self == ConfigSource::DynamicGroupConfig,
        }
    }
}

/// The type of a config's value, as the broker declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true`/`false`.
    Boolean,
    /// Text.
    String,
    /// 32-bit integer.
    Int,
    /// 16-bit integer.
    Short,
    /// 64-bit integer.
    Long,
    /// Floating point.
    Double,
    /// Comma-separated list.
    List,
    /// A Java class name.
    Class,
    /// A secret.
    Password,
    /// Not said (`UNKNOWN`, or a code this client does not know).
    Unknown(i8),
}

impl ConfigType {
    fn from_code(code: i8) -> Self {
        match code {
            1 => ConfigType::Boolean,
            2 => ConfigType::String,
            3 => ConfigType::Int,
            4 => ConfigType::Short,
            5 => ConfigType::Long,
            6 => ConfigType::Double,
            7 => ConfigType::List,
            8 => ConfigType::Class,
            9 => ConfigType::Password,
            other => ConfigType::Unknown(other),
        }
    }
}

/// Another place a config's value is (or could be) set, by precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The key there (a broker key may stand for a topic one).
    pub name: String,
    /// The value there (`None` for a sensitive one).
    pub value: Option<String>,
    /// Where.
    pub source: ConfigSource,
}

/// One config of a described resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key.
    pub name: String,
    /// The value; `None` when it is sensitive or unset.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is a secret (then never sent).
    pub sensitive: bool,
    /// Whether it cannot be changed dynamically.
    pub read_only: bool,
    /// The value's type.
    pub config_type: ConfigType,
    /// Other sources of the value, when synonyms were asked for.
    pub synonyms: Vec<ConfigSynonym>,
    /// The config's documentation, when asked for.
    pub documentation: Option<String>,
}

/// What [`Admin::describe_configs`] includes besides the values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DescribeConfigsOptions {
    /// Each entry's synonyms (where else its value is set).
    pub include_synonyms: bool,
    /// Each entry's documentation.
    pub include_documentation: bool,
}

/// How one key changes in [`Admin::incremental_alter_configs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    /// Set the value.
    Set,
    /// Remove the key (back to its default).
    Delete,
    /// Add the value to a list config.
    Append,
    /// Remove the value from a list config.
    Subtract,
}

impl AlterOp {
    fn code(self) -> i8 {
        match self {
            AlterOp::Set => 0,
            AlterOp::Delete => 1,
            AlterOp::Append => 2,
            AlterOp::Subtract => 3,
        }
    }
}

/// A change of one config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// The key.
    pub name: String,
    /// What to do.
    pub op: AlterOp,
    /// The value (ignored by `Delete`).
    pub value: Option<String>,
}

impl AlterConfigOp {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            op: AlterOp::Set,
            value: Some(value.into()),
        }
    }

    /// Removes `name`.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            op: AlterOp::Delete,
            value: None,
        }
    }

    /// Appends `value` to the list `name`.
    pub fn append(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            op: AlterOp::Append,
            value: Some(value.into()),
        }
    }

    /// Removes `value` from the list `name`.
    pub fn subtract(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            op: AlterOp::Subtract,
            value: Some(value.into()),
        }
    }
}

/// Applies `ops` to the values set on a resource, as the incremental API
/// would on the broker (lists are comma-separated).
///
/// ```
/// use std::collections::BTreeMap;
/// use ferrokafka_admin::configs::{AlterConfigOp, apply_ops};
/// let mut set = BTreeMap::from([("cleanup.policy".to_string(), "delete".to_string())]);
/// apply_ops(&mut set, &[
///     AlterConfigOp::append("cleanup.policy", "compact"),
///     AlterConfigOp::set("retention.ms", "1000"),
///     AlterConfigOp::subtract("cleanup.policy", "delete"),
/// ]);
/// assert_eq!(set["cleanup.policy"], "compact");
/// assert_eq!(set["retention.ms"], "1000");
/// ```
pub fn apply_ops(set: &mut BTreeMap<String, String>, ops: &[AlterConfigOp]) {
    for op in ops {
        let value = op.value.clone().unwrap_or_default();
        match op.op {
            AlterOp::Set => {
                set.insert(op.name.clone(), value);
            }
            AlterOp::Delete => {
                set.remove(&op.name);
            }
            AlterOp::Append => {
                let entry = set.entry(op.name.clone()).or_default();
                let mut items: Vec<&str> = entry.split(',').filter(|s| !s.is_empty()).collect();
                if !items.contains(&value.as_str()) {
                    items.push(&value);
                }
                *entry = items.join(",");
            }
            AlterOp::Subtract => {
                if let Some(entry) = set.get_mut(&op.name) {
                    *entry = entry
                        .split(',')
                        .filter(|s| !s.is_empty() && *s != value)
                        .collect::<Vec<_>>()
                        .join(",");
                }
            }
        }
    }
}

/// Resources grouped by the broker they are sent to (`None`: any).
fn by_target(
    resources: Vec<ConfigResource>,
) -> (
    BTreeMap<Option<i32>, Vec<ConfigResource>>,
    BTreeMap<ConfigResource, AdminError>,
) {
    let mut targets: BTreeMap<Option<i32>, Vec<ConfigResource>> = BTreeMap::new();
    let mut invalid = BTreeMap::new();
    for resource in resources {
        match resource.target() {
            Ok(target) => targets.entry(target).or_default().push(resource),
            Err(error) => {
                invalid.insert(resource, error);
            }
        }
    }
    (targets, invalid)
}

fn resource_key(resource_type: i8, name: String) -> Result<ConfigResource, AdminError> {
    ResourceType::from_code(resource_type)
        .map(|t| ConfigResource::new(t, name))
        .ok_or_else(|| {
            AdminError::UnexpectedResponse(format!("unknown config resource type {resource_type}"))
        })
}

impl Admin {
    /// The node for `target` (`None`: any broker).
    fn node_for(&self, target: Option<i32>) -> Result<i32, AdminError> {
        match target {
            Some(node) => Ok(node),
            None => any_node(self),
        }
    }

    /// Runs `send` once per target broker with the resources for it; a
    /// failed send counts for each of its resources.
    async fn per_target<T, F, Fut>(
        &self,
        pending: Vec<ConfigResource>,
        send: F,
    ) -> Round<ConfigResource, T>
    where
        F: Fn(i32, Vec<ConfigResource>) -> Fut,
        Fut: std::future::Future<Output = Round<ConfigResource, T>>,
    {
        let (targets, invalid) = by_target(pending);
        let mut answers: BTreeMap<ConfigResource, Result<T, AdminError>> = invalid
            .into_iter()
            .map(|(resource, error)| (resource, Err(error)))
            .collect();
        for (target, resources) in targets {
            let outcome = match self.node_for(target) {
                Ok(node) => send(node, resources.clone()).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(found) => answers.extend(found),
                Err(error) => {
                    for resource in resources {
                        answers.insert(resource, Err(error.clone()));
                    }
                }
            }
        }
        Ok(answers)
    }

    /// Describes the configs of `resources`: every key with its value,
    /// source, and sensitive and read-only flags (and synonyms and
    /// documentation when `what` asks).
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
        what: DescribeConfigsOptions,
        options: &AdminOptions,
    ) -> BTreeMap<ConfigResource, Result<Vec<ConfigEntry>, AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "describing the configs of",
            resources.to_vec(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| {
                self.per_target(pending, |node, batch| {
                    self.describe_configs_on(node, batch, what)
                })
            },
        )
        .await
    }

    /// Describes `resources` at broker `node`.
    async fn describe_configs_on(
        &self,
        node: i32,
        resources: Vec<ConfigResource>,
        what: DescribeConfigsOptions,
    ) -> Round<ConfigResource, Vec<ConfigEntry>> {
        let request = DescribeConfigsRequest {
            resources: resources
                .iter()
                .map(|r| DescribeConfigsResource {
                    resource_type: r.resource_type.code(),
                    resource_name: r.name.clone(),
                    configuration_keys: None,
                    ..DescribeConfigsResource::default()
                })
                .collect(),
            include_synonyms: what.include_synonyms,
            include_documentation: what.include_documentation,
            ..DescribeConfigsRequest::default()
        };
        let response = self.live()?.send(node, &request).await?;
        let mut answers = BTreeMap::new();
        for result in response.results {
            let key = resource_key(result.resource_type, result.resource_name)?;
            let described =
                check(key.to_string(), result.error_code, result.error_message).map(|()| {
                    let mut entries: Vec<ConfigEntry> = result
                        .configs
                        .into_iter()
                        .map(|c| ConfigEntry {
                            name: c.name,
                            value: c.value,
                            source: ConfigSource::from_code(c.config_source),
                            sensitive: c.is_sensitive,
                            read_only: c.read_only,
                            config_type: ConfigType::from_code(c.config_type),
                            synonyms: c
                                .synonyms
                                .into_iter()
                                .map(|s| ConfigSynonym {
                                    name: s.name,
                                    value: s.value,
                                    source: ConfigSource::from_code(s.source),
                                })
                                .collect(),
                            documentation: c.documentation,
                        })
                        .collect();
                    entries.sort_by(|a, b| a.name.cmp(&b.name));
                    entries
                });
            answers.insert(key, described);
        }
        Ok(answers)
    }

    /// Changes configs key by key (IncrementalAlterConfigs), or with
    /// `validate_only` only checks the changes. A broker without the
    /// incremental API gets the legacy AlterConfigs instead: the resource's
    /// current dynamic values are read, the changes applied, and the whole
    /// set written back (sensitive values, which the broker never sends,
    /// cannot be carried over that way).
    pub async fn incremental_alter_configs(
        &self,
        changes: &BTreeMap<ConfigResource, Vec<AlterConfigOp>>,
        validate_only: bool,
        options: &AdminOptions,
    ) -> BTreeMap<ConfigResource, Result<(), AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "altering the configs of",
            changes.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| {
                self.per_target(pending, move |node, batch| async move {
                    let connection = self.live()?.connection(node, Lane::Data).await?;
                    match connection.version(ApiKey::IncrementalAlterConfigs) {
                        Ok(_) => {}
                        Err(TransportError::UnsupportedApi { .. }) => {
                            return self
                                .alter_by_replacing(node, batch, changes, validate_only)
                                .await;
                        }
                        Err(error) => return Err(error.into()),
                    }
                    let request = IncrementalAlterConfigsRequest {
                        resources: batch
                            .iter()
                            .map(
                                |r| incremental_alter_configs_request::AlterConfigsResource {
                                    resource_type: r.resource_type.code(),
                                    resource_name: r.name.clone(),
                                    configs: changes
                                        .get(r)
                                        .map(Vec::as_slice)
                                        .unwrap_or_default()
                                        .iter()
                                        .map(|op| {
                                            incremental_alter_configs_request::AlterableConfig {
                                                name: op.name.clone(),
                                                config_operation: op.op.code(),
                                                value: op.value.clone(),
                                                ..Default::default()
                                            }
                                        })
                                        .collect(),
                                    ..Default::default()
                                },
                            )
                            .collect(),
                        validate_only,
                        ..IncrementalAlterConfigsRequest::default()
                    };
                    let response = self.live()?.send(node, &request).await?;
                    let mut answers = BTreeMap::new();
                    for r in response.responses {
                        let key = resource_key(r.resource_type, r.resource_name)?;
                        let result = check(key.to_string(), r.error_code, r.error_message);
                        answers.insert(key, result);
                    }
                    Ok(answers)
                })
            },
        )
        .await
    }

    /// The legacy path of [`Admin::incremental_alter_configs`].
    async fn alter_by_replacing(
        &self,
        node: i32,
        resources: Vec<ConfigResource>,
        changes: &BTreeMap<ConfigResource, Vec<AlterConfigOp>>,
        validate_only: bool,
    ) -> Round<ConfigResource, ()> {
        let current = self
            .describe_configs_on(node, resources.clone(), DescribeConfigsOptions::default())
            .await?;
        let mut answers = BTreeMap::new();
        let mut replacements = BTreeMap::new();
        for resource in resources {
            match current.get(&resource) {
                Some(Ok(entries)) => {
                    let mut set: BTreeMap<String, String> = entries
                        .iter()
                        .filter(|e| e.source.is_set_on(&resource))
                        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                        .collect();
                    apply_ops(
                        &mut set,
                        changes
                            .get(&resource)
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    );
                    replacements.insert(resource, set);
                }
                Some(Err(error)) => {
                    answers.insert(resource, Err(error.clone()));
                }
                None => {
                    answers.insert(
                        resource.clone(),
                        Err(AdminError::UnexpectedResponse(format!(
                            "the broker did not describe {resource}"
                        ))),
                    );
                }
            }
        }
        if !replacements.is_empty() {
            answers.extend(
                self.alter_configs_on(node, &replacements, validate_only)
                    .await?,
            );
        }
        Ok(answers)
    }

    /// Replaces the whole dynamic config of each resource with the given
    /// keys and values (the legacy AlterConfigs: a key left out goes back
    /// to its default). Prefer [`Admin::incremental_alter_configs`].
    pub async fn alter_configs(
        &self,
        configs: &BTreeMap<ConfigResource, BTreeMap<String, String>>,
        validate_only: bool,
        options: &AdminOptions,
    ) -> BTreeMap<ConfigResource, Result<(), AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "replacing the configs of",
            configs.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| {
                self.per_target(pending, move |node, batch| async move {
                    let subset: BTreeMap<ConfigResource, BTreeMap<String, String>> = batch
                        .into_iter()
                        .filter_map(|r| configs.get(&r).cloned().map(|c| (r, c)))
                        .collect();
                    self.alter_configs_on(node, &subset, validate_only).await
                })
            },
        )
        .await
    }

    async fn alter_configs_on(
        &self,
        node: i32,
        configs: &BTreeMap<ConfigResource, BTreeMap<String, String>>,
        validate_only: bool,
    ) -> Round<ConfigResource, ()> {
        let request = AlterConfigsRequest {
            resources: configs
                .iter()
                .map(|(r, set)| alter_configs_request::AlterConfigsResource {
                    resource_type: r.resource_type.code(),
                    resource_name: r.name.clone(),
                    configs: set
                        .iter()
                        .map(|(name, value)| alter_configs_request::AlterableConfig {
                            name: name.clone(),
                            value: Some(value.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            validate_only,
            ..AlterConfigsRequest::default()
        };
        let response = self.live()?.send(node, &request).await?;
        let mut answers = BTreeMap::new();
        for r in response.responses {
            let key = resource_key(r.resource_type, r.resource_name)?;
            let result = check(key.to_string(), r.error_code, r.error_message);
            answers.insert(key, result);
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ferrokafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use ferrokafka_protocol::messages::{
        AlterConfigsResponse, DescribeConfigsResponse, alter_configs_response,
    };
    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::{FakeCluster, FakeReply};

    use super::*;

    fn entry(name: &str, value: &str, source: i8) -> DescribeConfigsResourceResult {
        DescribeConfigsResourceResult {
            name: name.to_string(),
            value: Some(value.to_string()),
            config_source: source,
            ..DescribeConfigsResourceResult::default()
        }
    }

    /// A key and value the fake broker was asked to store.
    type Written = (String, Option<String>);

    #[tokio::test]
    async fn without_the_incremental_api_the_whole_dynamic_set_is_written_back_changed() {
        let written: Arc<Mutex<Vec<Written>>> = Arc::default();
        let log = Arc::clone(&written);
        let cluster = FakeCluster::new(1, move |request| match request.key {
            ApiKey::DescribeConfigs => {
                let response = DescribeConfigsResponse {
                    results: vec![DescribeConfigsResult {
                        resource_type: ResourceType::Topic.code(),
                        resource_name: "t".into(),
                        configs: vec![
                            entry("retention.ms", "1000", 1),
                            entry("cleanup.policy", "delete,compact", 1),
                            entry("segment.ms", "5", 5),
                        ],
                        ..DescribeConfigsResult::default()
                    }],
                    ..DescribeConfigsResponse::default()
                };
                Some(FakeReply::with(request, &response))
            }
            ApiKey::AlterConfigs => {
                let asked: AlterConfigsRequest = request.decode();
                let mut log = log.lock().unwrap();
                for resource in &asked.resources {
                    log.extend(
                        resource
                            .configs
                            .iter()
                            .map(|c| (c.name.clone(), c.value.clone())),
                    );
                }
                let response = AlterConfigsResponse {
                    responses: asked
                        .resources
                        .iter()
                        .map(|r| alter_configs_response::AlterConfigsResourceResponse {
                            resource_type: r.resource_type,
                            resource_name: r.resource_name.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ..AlterConfigsResponse::default()
                };
                Some(FakeReply::with(request, &response))
            }
            _ => None,
        });
        let config =
            ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap())]).unwrap();
        let admin = Admin::with_client(cluster.client(config).await.unwrap());
        let topic = ConfigResource::topic("t");
        let changes = BTreeMap::from([(
            topic.clone(),
            vec![
                AlterConfigOp::delete("retention.ms"),
                AlterConfigOp::subtract("cleanup.policy", "compact"),
                AlterConfigOp::set("max.message.bytes", "2000"),
            ],
        )]);
        let answers = admin
            .alter_by_replacing(1, vec![topic.clone()], &changes, false)
            .await
            .unwrap();
        assert!(answers[&topic].is_ok(), "{answers:?}");
        let written = written.lock().unwrap().clone();
        assert_eq!(
            written,
            [
                ("cleanup.policy".to_string(), Some("delete".to_string())),
                ("max.message.bytes".to_string(), Some("2000".to_string())),
            ],
            "the default segment.ms is not pinned, the deleted key is gone"
        );
    }

    #[test]
    fn resources_go_to_their_broker_or_to_any() {
        let (targets, invalid) = by_target(vec![
            ConfigResource::topic("t"),
            ConfigResource::broker(2),
            ConfigResource::new(ResourceType::Broker, ""),
            ConfigResource::new(ResourceType::BrokerLogger, "3"),
            ConfigResource::new(ResourceType::BrokerLogger, "x"),
        ]);
        assert_eq!(targets[&None].len(), 2);
        assert_eq!(targets[&Some(2)], [ConfigResource::broker(2)]);
        assert_eq!(targets[&Some(3)].len(), 1);
        assert_eq!(invalid.len(), 1);
    }
}
