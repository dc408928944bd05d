//! The share consumer's settings: the consumer's keys ([`ConsumerConfig`]:
//! connection, security, fetch sizes, `max_poll_records`, `group_id`,
//! `client_rack`) plus the share consumer's own, with the Java client's
//! names. Keys that mean nothing to a share group (offsets reset, auto
//! commit, assignors, static membership: the group's configs and the
//! broker decide those) are refused rather than silently ignored.

use ferrokafka_group::share_acks::AcknowledgementMode;
use ferrokafka_transport::config::{ConfigError, normalize_key};

use crate::config::ConsumerConfig;

/// Consumer keys a share consumer refuses, with the reason.
const NOT_FOR_SHARE_GROUPS: &[(&str, &str)] = &[
    (
        "auto_offset_reset",
        "share groups start where the group config share.auto.offset.reset says",
    ),
    (
        "enable_auto_commit",
        "a share consumer acknowledges records rather than committing offsets",
    ),
    (
        "auto_commit_interval_ms",
        "a share consumer acknowledges records rather than committing offsets",
    ),
    (
        "isolation_level",
        "share groups read as the group config share.isolation.level says",
    ),
    (
        "group_instance_id",
        "share groups have no static membership",
    ),
    (
        "partition_assignment_strategy",
        "the share group coordinator assigns",
    ),
    (
        "group_protocol",
        "a share consumer speaks the share protocol",
    ),
    (
        "group_remote_assignor",
        "the share group coordinator assigns",
    ),
    (
        "session_timeout_ms",
        "the broker's share group settings time the session",
    ),
    (
        "heartbeat_interval_ms",
        "the coordinator sets the heartbeat interval",
    ),
];

/// `share_acquire_mode` (KIP-1206): how ShareFetch acquires records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShareAcquireMode {
    /// The broker acquires whole batches, possibly more than
    /// `max_poll_records` (the default).
    #[default]
    BatchOptimized,
    /// The broker acquires at most `max_poll_records` records.
    RecordLimit,
}

impl ShareAcquireMode {
    /// ShareFetch's `ShareAcquireMode`.
    pub fn id(self) -> i8 {
        match self {
            ShareAcquireMode::BatchOptimized => 0,
            ShareAcquireMode::RecordLimit => 1,
        }
    }
}

/// Everything a share consumer is configured with.
#[derive(Debug, Clone)]
pub struct ShareConsumerConfig {
    /// The consumer settings a share consumer uses: connection and
    /// security (`client`), `group_id` (required), `client_rack`,
    /// `max_poll_records`, `fetch_min_bytes`, `fetch_max_bytes`,
    /// `fetch_max_wait_ms`, `check_crcs`, `retry_backoff_ms`.
    pub consumer: ConsumerConfig,
    /// `share_acknowledgement_mode`: implicit (the default) or explicit.
    pub acknowledgement_mode: AcknowledgementMode,
    /// `share_acquire_mode`: batch_optimized (the default) or record_limit.
    pub acquire_mode: ShareAcquireMode,
}

impl Default for ShareConsumerConfig {
    fn default() -> Self {
        ShareConsumerConfig {
            consumer: ConsumerConfig::default(),
            acknowledgement_mode: AcknowledgementMode::Implicit,
            acquire_mode: ShareAcquireMode::BatchOptimized,
        }
    }
}

impl ShareConsumerConfig {
    /// The keys only a share consumer reads; it also reads the consumer's
    /// keys except those [`refuses`](Self::refuses) names.
    pub const KEYS: &'static [&'static str] = &["share_acknowledgement_mode", "share_acquire_mode"];

    /// Why a share consumer refuses the consumer key `key` (normalized),
    /// or `None` if it takes it.
    ///
    /// ```
    /// use ferrokafka_consumer::ShareConsumerConfig;
    /// assert!(ShareConsumerConfig::refuses("enable_auto_commit").is_some());
    /// assert!(ShareConsumerConfig::refuses("max_poll_records").is_none());
    /// ```
    pub fn refuses(key: &str) -> Option<&'static str> {
        NOT_FOR_SHARE_GROUPS
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, why)| *why)
    }

    /// Settings from `(key, value)` pairs, Java or kafka-python spelling;
    /// an unknown key, a key share groups do not use, or a bad value is an
    /// error naming the key.
    ///
    /// ```
    /// use ferrokafka_consumer::ShareConsumerConfig;
    /// use ferrokafka_group::share_acks::AcknowledgementMode;
    /// let config = ShareConsumerConfig::from_pairs([
    ///     ("bootstrap.servers", "127.0.0.1:9092"),
    ///     ("group.id", "workers"),
    ///     ("share.acknowledgement.mode", "explicit"),
    /// ])
    /// .unwrap();
    /// assert_eq!(config.acknowledgement_mode, AcknowledgementMode::Explicit);
    /// let error = ShareConsumerConfig::from_pairs([
    ///     ("group_id", "workers"),
    ///     ("enable_auto_commit", "true"),
    /// ])
    /// .unwrap_err();
    /// assert!(error.to_string().contains("enable_auto_commit"));
    /// ```
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let mut config = ShareConsumerConfig::default();
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
        if let Some(why) = Self::refuses(k) {
            return Err(ConfigError::new(
                k,
                value,
                format!("not a share consumer key: {why}"),
            ));
        }
        match k {
            "share_acknowledgement_mode" => {
                self.acknowledgement_mode = match value.trim().to_ascii_lowercase().as_str() {
                    "implicit" => AcknowledgementMode::Implicit,
                    "explicit" => AcknowledgementMode::Explicit,
                    _ => return Err(ConfigError::new(k, value, "expected implicit or explicit")),
                };
            }
            "share_acquire_mode" => {
                self.acquire_mode = match value.trim().to_ascii_lowercase().as_str() {
                    "batch_optimized" => ShareAcquireMode::BatchOptimized,
                    "record_limit" => ShareAcquireMode::RecordLimit,
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected batch_optimized or record_limit",
                        ));
                    }
                };
            }
            _ => self.consumer.set(k, value)?,
        }
        Ok(())
    }

    /// Checks the settings: those of the consumer, and a group id.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.consumer.validate()?;
        if self.consumer.group_id.is_none() {
            return Err(ConfigError::new(
                "group_id",
                "",
                "a share consumer needs the share group's id",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_keys_parse_and_consumer_keys_pass_through() {
        let config = ShareConsumerConfig::from_pairs([
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("group_id", "g"),
            ("share_acquire_mode", "record_limit"),
            ("max_poll_records", "7"),
            ("fetch.max.wait.ms", "100"),
        ])
        .unwrap();
        assert_eq!(config.acknowledgement_mode, AcknowledgementMode::Implicit);
        assert_eq!(config.acquire_mode.id(), 1);
        assert_eq!(config.consumer.max_poll_records, 7);
        assert_eq!(config.consumer.group_id.as_deref(), Some("g"));
    }

    #[test]
    fn bad_values_missing_group_and_foreign_keys_are_errors_naming_the_key() {
        for (pairs, key) in [
            (
                vec![("group_id", "g"), ("share_acknowledgement_mode", "maybe")],
                "share_acknowledgement_mode",
            ),
            (
                vec![("group_id", "g"), ("share_acquire_mode", "all")],
                "share_acquire_mode",
            ),
            (vec![("max_poll_records", "5")], "group_id"),
            (
                vec![("group_id", "g"), ("auto.offset.reset", "earliest")],
                "auto_offset_reset",
            ),
            (vec![("group_id", "g"), ("no_such_key", "1")], "no_such_key"),
        ] {
            let pairs = [("bootstrap_servers", "127.0.0.1:9092")]
                .into_iter()
                .chain(pairs);
            let error = ShareConsumerConfig::from_pairs(pairs).unwrap_err();
            assert!(error.to_string().contains(key), "{key}: {error}");
        }
    }
}
