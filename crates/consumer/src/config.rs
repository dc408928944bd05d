//! The consumer's settings, with the key names of kafka-python and the Java
//! client; transport keys pass through to [`ClientConfig`].

use std::time::Duration;

use ferrokafka_transport::config::{
    ClientConfig, ConfigError, boolean, metrics_window, millis, normalize_key, number,
    validate_metrics_window,
};
use ferrokafka_transport::metrics::WindowConfig;

use crate::positions::OffsetReset;

/// `isolation_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record, including those of open or aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only committed transactional records, up to the last stable offset.
    ReadCommitted,
}

/// `group_protocol`: how the consumer takes part in its group.
///
/// ```
/// use ferrokafka_consumer::config::GroupProtocol;
/// use ferrokafka_consumer::ConsumerConfig;
/// let config = ConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_id", "reporting"),
///     ("group_protocol", "consumer"),
///     ("group_remote_assignor", "uniform"),
/// ])
/// .unwrap();
/// assert_eq!(config.group_protocol, GroupProtocol::Consumer);
/// // The coordinator assigns and keeps time: the classic keys are refused.
/// let error = ConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_protocol", "consumer"),
///     ("session_timeout_ms", "10000"),
/// ])
/// .unwrap_err();
/// assert!(error.to_string().contains("session_timeout_ms"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// The classic protocol: JoinGroup, SyncGroup, Heartbeat, with a
    /// member of the group computing the assignment.
    #[default]
    Classic,
    /// KIP-848's consumer protocol: ConsumerGroupHeartbeat, with the
    /// coordinator computing the assignment (Apache Kafka 4.0+).
    Consumer,
}

/// Everything a consumer is configured with.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // one per boolean key of the Java client
pub struct ConsumerConfig {
    /// Connection, security and metadata settings.
    pub client: ClientConfig,
    /// `group_id`; `None` for a consumer outside any group (assign only,
    /// no commits).
    pub group_id: Option<String>,
    /// `group_instance_id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `auto_offset_reset` (default `latest`).
    pub auto_offset_reset: OffsetReset,
    /// `enable_auto_commit` (default true when there is a group).
    pub enable_auto_commit: bool,
    /// `auto_commit_interval_ms` (default 5 s).
    pub auto_commit_interval: Duration,
    /// `max_poll_records` (default 500).
    pub max_poll_records: usize,
    /// `max_poll_interval_ms` (default 5 min).
    pub max_poll_interval: Duration,
    /// `session_timeout_ms` (default 45 s).
    pub session_timeout: Duration,
    /// `heartbeat_interval_ms` (default 3 s).
    pub heartbeat_interval: Duration,
    /// `fetch_min_bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch_max_bytes` (default 50 MiB): the most fetched ahead of the
    /// application. One Fetch request asks a broker for at most 16 MiB of
    /// it, so that the consumer reads its answers into buffers it reuses.
    pub fetch_max_bytes: i32,
    /// `fetch_max_wait_ms` (default 500 ms).
    pub fetch_max_wait: Duration,
    /// `max_partition_fetch_bytes` (default 1 MiB).
    pub max_partition_fetch_bytes: i32,
    /// `isolation_level`.
    pub isolation_level: IsolationLevel,
    /// `partition_assignment_strategy`, in preference order (default
    /// range then cooperative-sticky, as the Java client).
    pub partition_assignment_strategy: Vec<String>,
    /// `client_rack`.
    pub client_rack: Option<String>,
    /// `check_crcs` (default true).
    pub check_crcs: bool,
    /// `exclude_internal_topics` (default true): pattern subscriptions
    /// never match `__consumer_offsets` and the like.
    pub exclude_internal_topics: bool,
    /// `allow_auto_create_topics` (Java's `allow.auto.create.topics`,
    /// default true): whether the metadata requests for subscribed and
    /// assigned topics ask the broker to create those that do not exist.
    /// A broker creates them only where its `auto.create.topics.enable` is
    /// true; with this false the consumer waits for the topic to appear.
    /// Pattern subscriptions never create topics.
    pub allow_auto_create_topics: bool,
    /// `group_protocol` (default classic).
    pub group_protocol: GroupProtocol,
    /// `group_remote_assignor`: with `group_protocol=consumer`, the
    /// coordinator's assignor to ask for (`uniform`, `range`, ...); `None`
    /// leaves the choice to the group.
    pub group_remote_assignor: Option<String>,
    /// `consumer_timeout_ms` (kafka-python): a record stream or iterator
    /// ends after this long without a record; `None` waits forever.
    pub consumer_timeout: Option<Duration>,
    /// `metrics_sample_window_ms` (default 30000) and `metrics_num_samples`
    /// (default 2): the windows the rates of [`crate::ConsumerMetrics`]
    /// are measured over.
    pub metrics_window: WindowConfig,
    auto_commit_set: bool,
    /// Keys set explicitly that `group_protocol=consumer` does not allow.
    classic_only_set: Vec<(&'static str, String)>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        let mut client = ClientConfig::default();
        // The OS's autotuned receive buffer rather than Java's 64 KiB (as
        // librdkafka): fetch answers run to megabytes, and through a 64 KiB
        // window the consumer's every read reopens the window and carries
        // the sender's transmission on its own CPU. Reading 1 MiB records
        // took 1.6-1.9x the CPU. `receive_buffer_bytes` still sets one.
        client.connection.receive_buffer_bytes = None;
        ConsumerConfig {
            client,
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_records: 500,
            max_poll_interval: Duration::from_secs(300),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1024 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            client_rack: None,
            check_crcs: true,
            exclude_internal_topics: true,
            consumer_timeout: None,
            allow_auto_create_topics: true,
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            metrics_window: WindowConfig::default(),
            auto_commit_set: false,
            classic_only_set: Vec::new(),
        }
    }
}

/// The keys only the consumer takes, normalized; the transport's
/// ([`ferrokafka_transport::config::KEYS`]) and the metrics windows' keys
/// pass through to them.
pub const KEYS: &[&str] = &[
    "group_id",
    "group_instance_id",
    "auto_offset_reset",
    "enable_auto_commit",
    "auto_commit_interval_ms",
    "max_poll_records",
    "max_poll_interval_ms",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "fetch_min_bytes",
    "fetch_max_bytes",
    "fetch_max_wait_ms",
    "max_partition_fetch_bytes",
    "isolation_level",
    "partition_assignment_strategy",
    "client_rack",
    "check_crcs",
    "exclude_internal_topics",
    "allow_auto_create_topics",
    "consumer_timeout_ms",
    "group_protocol",
    "group_remote_assignor",
];

impl ConsumerConfig {
    /// Settings from `(key, value)` pairs; an unknown key or a bad value is
    /// an error naming the key.
    ///
    /// ```
    /// use ferrokafka_consumer::ConsumerConfig;
    /// let config = ConsumerConfig::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("group_id", "reporting"),
    ///     ("auto_offset_reset", "earliest"),
    /// ])
    /// .unwrap();
    /// assert!(config.enable_auto_commit);
    /// assert!(ConsumerConfig::from_pairs([("auto_offset_reset", "soon")]).is_err());
    /// ```
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let mut config = ConsumerConfig::default();
        for (key, value) in pairs {
            config.set(key.as_ref(), value.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies one setting.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let key = normalize_key(key);
        let k = key.as_str();
        let text = || Some(value.trim().to_string()).filter(|v| !v.is_empty());
        match k {
            "group_id" => self.group_id = text(),
            "group_instance_id" => self.group_instance_id = text(),
            "auto_offset_reset" => {
                self.auto_offset_reset = OffsetReset::parse(value).ok_or_else(|| {
                    ConfigError::new(k, value, "expected earliest, latest or none")
                })?;
            }
            "enable_auto_commit" => {
                self.enable_auto_commit = boolean(k, value)?;
                self.auto_commit_set = true;
            }
            "auto_commit_interval_ms" => self.auto_commit_interval = millis(k, value)?,
            "max_poll_records" => self.max_poll_records = number(k, value, 1usize)?,
            "max_poll_interval_ms" => self.max_poll_interval = millis(k, value)?,
            "session_timeout_ms" => {
                self.session_timeout = millis(k, value)?;
                self.classic_only("session_timeout_ms", value);
            }
            "heartbeat_interval_ms" => {
                self.heartbeat_interval = millis(k, value)?;
                self.classic_only("heartbeat_interval_ms", value);
            }
            "fetch_min_bytes" => self.fetch_min_bytes = number(k, value, 0i32)?,
            "fetch_max_bytes" => self.fetch_max_bytes = number(k, value, 0i32)?,
            "fetch_max_wait_ms" => self.fetch_max_wait = millis(k, value)?,
            "max_partition_fetch_bytes" => {
                self.max_partition_fetch_bytes = number(k, value, 0i32)?;
            }
            "isolation_level" => {
                self.isolation_level = match value.trim() {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected read_uncommitted or read_committed",
                        ));
                    }
                }
            }
            "partition_assignment_strategy" => {
                let names: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = names
                    .iter()
                    .find(|n| ferrokafka_group::assignor::by_name(n).is_none())
                {
                    return Err(ConfigError::new(
                        k,
                        value,
                        format!(
                            "{bad} is not one of range, roundrobin, sticky, cooperative-sticky"
                        ),
                    ));
                }
                if names.is_empty() {
                    return Err(ConfigError::new(
                        k,
                        value,
                        "at least one assignor is needed",
                    ));
                }
                self.partition_assignment_strategy = names;
                self.classic_only("partition_assignment_strategy", value);
            }
            "client_rack" => self.client_rack = text(),
            "check_crcs" => self.check_crcs = boolean(k, value)?,
            "exclude_internal_topics" => self.exclude_internal_topics = boolean(k, value)?,
            "allow_auto_create_topics" => self.allow_auto_create_topics = boolean(k, value)?,
            "consumer_timeout_ms" => {
                // kafka-python's default, "forever", is a negative number.
                let millis: i64 = number(k, value, i64::MIN)?;
                self.consumer_timeout = u64::try_from(millis).ok().map(Duration::from_millis);
            }
            "group_protocol" => {
                self.group_protocol = match value.trim().to_ascii_lowercase().as_str() {
                    "classic" => GroupProtocol::Classic,
                    "consumer" => GroupProtocol::Consumer,
                    _ => return Err(ConfigError::new(k, value, "expected classic or consumer")),
                };
            }
            "group_remote_assignor" => self.group_remote_assignor = text(),
            _ => {
                if !metrics_window(&mut self.metrics_window, k, value)?
                    && !self.client.set(k, value)?
                {
                    return Err(ConfigError::new(k, value, "unknown key"));
                }
            }
        }
        Ok(())
    }

    fn classic_only(&mut self, key: &'static str, value: &str) {
        self.classic_only_set.retain(|(k, _)| *k != key);
        self.classic_only_set.push((key, value.to_string()));
    }

    /// Checks settings that only make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.client.validate()?;
        match self.group_protocol {
            GroupProtocol::Consumer => {
                // The coordinator assigns and times the session: these keys
                // would silently do nothing.
                if let Some((key, value)) = self.classic_only_set.first() {
                    return Err(ConfigError::new(
                        key,
                        value,
                        format!("{key} cannot be set when group_protocol=consumer"),
                    ));
                }
            }
            GroupProtocol::Classic => {
                if let Some(assignor) = &self.group_remote_assignor {
                    return Err(ConfigError::new(
                        "group_remote_assignor",
                        assignor,
                        "group_remote_assignor cannot be set when group_protocol=classic",
                    ));
                }
            }
        }
        if self.group_id.is_none() && self.auto_commit_set && self.enable_auto_commit {
            return Err(ConfigError::new(
                "enable_auto_commit",
                "true",
                "needs a group_id (a consumer without a group has nowhere to commit)",
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(ConfigError::new(
                "heartbeat_interval_ms",
                &self.heartbeat_interval.as_millis().to_string(),
                "must be lower than session_timeout_ms",
            ));
        }
        if self.max_poll_records == 0 {
            return Err(ConfigError::new(
                "max_poll_records",
                "0",
                "must be positive",
            ));
        }
        validate_metrics_window(&self.metrics_window)?;
        Ok(())
    }

    /// Whether offsets are committed automatically: asked for, and there
    /// is a group to commit to.
    pub fn auto_commit(&self) -> bool {
        self.enable_auto_commit && self.group_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receive_buffer_is_the_os_s_unless_set() {
        assert_eq!(
            ConsumerConfig::default()
                .client
                .connection
                .receive_buffer_bytes,
            None
        );
        let set = ConsumerConfig::from_pairs([
            ("bootstrap_servers", "localhost:9092"),
            ("receive.buffer.bytes", "65536"),
        ])
        .unwrap();
        assert_eq!(set.client.connection.receive_buffer_bytes, Some(65536));
    }

    #[test]
    fn every_key_in_the_table_is_one_set_takes() {
        for key in KEYS {
            let taken = ConsumerConfig::default().set(key, "");
            assert!(
                !matches!(&taken, Err(e) if e.reason == "unknown key"),
                "{key} is in KEYS but set refuses it"
            );
        }
    }

    #[test]
    fn metrics_windows_are_set_and_checked_as_the_producer_does() {
        let config = ConsumerConfig::from_pairs([
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("metrics.sample.window.ms", "1000"),
            ("metrics_num_samples", "3"),
        ])
        .unwrap();
        assert_eq!(
            config.metrics_window,
            WindowConfig {
                window: Duration::from_secs(1),
                samples: 3,
            }
        );
        for (key, value) in [
            ("metrics_sample_window_ms", "0"),
            ("metrics_num_samples", "0"),
        ] {
            let error =
                ConsumerConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092"), (key, value)])
                    .unwrap_err();
            assert!(error.to_string().contains(key), "{error}");
        }
    }
}
