//! The producer's settings, with the key names of kafka-python and the Java
//! client; transport keys (`bootstrap_servers`, security, timeouts) pass
//! through to [`ClientConfig`].

use std::time::Duration;

use ferrokafka_records::Compression;
use ferrokafka_transport::config::{
    ClientConfig, ConfigError, boolean, metrics_window, millis, normalize_key, number,
    validate_metrics_window,
};
use ferrokafka_transport::metrics::WindowConfig;

use crate::accumulator::AccumulatorConfig;

/// `acks`: how many replicas must have a record before it counts as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `0`: the producer does not wait for the broker at all.
    None,
    /// `1`: the leader wrote it.
    Leader,
    /// `all` (`-1`): every in-sync replica has it.
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Which partitioner places records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionerChoice {
    /// murmur2 for keys, sticky for keyless records (the Java default).
    #[default]
    Default,
    /// Every record to the next partition in turn.
    RoundRobin,
}

/// Everything a [`crate::Producer`] is configured with.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Connection, security and metadata settings.
    pub client: ClientConfig,
    /// `acks` (default `all`).
    pub acks: Acks,
    /// `retries`: resends of a batch after a retriable error (default
    /// effectively unbounded; `delivery_timeout_ms` is the real bound).
    pub retries: u32,
    /// `enable_idempotence` (default true).
    pub enable_idempotence: bool,
    /// `max_in_flight_requests_per_connection` (default 5).
    pub max_in_flight: usize,
    /// `max_block_ms`: how long `send` may wait for metadata or memory.
    pub max_block: Duration,
    /// `partitioner`.
    pub partitioner: PartitionerChoice,
    /// `partitioner_adaptive_partitioning_enable` (default true, as the
    /// Java client's): keyless records avoid, for a backoff, the partitions
    /// whose last batch was refused as not ready to take writes
    /// (NOT_LEADER_OR_FOLLOWER and kin), instead of queueing retries there;
    /// while some refuse, they go to partitions that took writes rather
    /// than untried ones; and with idempotence off and the built-in
    /// partitioner, a refused batch of keyless records moves at once to a
    /// partition that took writes (a new topic's partitions become ready
    /// one by one).
    pub adaptive_partitioning: bool,
    /// Batching, memory and compression settings.
    pub batching: AccumulatorConfig,
    /// `transactional_id`.
    pub transactional_id: Option<String>,
    /// `transaction_timeout_ms`.
    pub transaction_timeout: Duration,
    /// `metrics_sample_window_ms` (default 30000) and `metrics_num_samples`
    /// (default 2): the windows the rates of [`crate::ProducerMetrics`]
    /// are measured over.
    pub metrics_window: WindowConfig,
    idempotence_set: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            // As the Java producer: sending to a topic a broker with
            // `auto.create.topics.enable` has not seen creates it.
            client: ClientConfig {
                allow_auto_topic_creation: true,
                ..ClientConfig::default()
            },
            acks: Acks::All,
            retries: i32::MAX.unsigned_abs(),
            enable_idempotence: true,
            max_in_flight: 5,
            max_block: Duration::from_secs(60),
            partitioner: PartitionerChoice::Default,
            adaptive_partitioning: true,
            batching: AccumulatorConfig::default(),
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            metrics_window: WindowConfig::default(),
            idempotence_set: false,
        }
    }
}

/// The keys only the producer takes, normalized, aliases included; the
/// transport's ([`ferrokafka_transport::config::KEYS`]) and the metrics
/// windows' keys pass through to them.
pub const KEYS: &[&str] = &[
    "acks",
    "retries",
    "enable_idempotence",
    "max_in_flight_requests_per_connection",
    "max_block_ms",
    "partitioner",
    "partitioner_class",
    "partitioner_adaptive_partitioning_enable",
    "batch_size",
    "linger_ms",
    "buffer_memory",
    "max_request_size",
    "compression_type",
    "compression_level",
    "delivery_timeout_ms",
    "retry_backoff_ms",
    "retry_backoff_max_ms",
    "transactional_id",
    "transaction_timeout_ms",
];

impl ProducerConfig {
    /// Settings from `(key, value)` pairs; an unknown key or a bad value is
    /// an error naming the key.
    ///
    /// ```
    /// use ferrokafka_producer::ProducerConfig;
    /// let config = ProducerConfig::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("linger_ms", "10"),
    ///     ("compression_type", "lz4"),
    /// ])
    /// .unwrap();
    /// assert_eq!(config.batching.linger.as_millis(), 10);
    /// assert!(ProducerConfig::from_pairs([("lingr_ms", "10")]).is_err());
    /// ```
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let mut config = ProducerConfig::default();
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
        match k {
            "acks" => {
                self.acks = match value.trim() {
                    "0" => Acks::None,
                    "1" => Acks::Leader,
                    "all" | "-1" => Acks::All,
                    _ => return Err(ConfigError::new(k, value, "expected 0, 1, all or -1")),
                };
            }
            "retries" => self.retries = number(k, value, 0u32)?,
            "enable_idempotence" => {
                self.enable_idempotence = boolean(k, value)?;
                self.idempotence_set = true;
            }
            "max_in_flight_requests_per_connection" => {
                self.max_in_flight = number(k, value, 1usize)?;
                self.client.set(k, value)?;
            }
            "max_block_ms" => self.max_block = millis(k, value)?,
            "partitioner" | "partitioner_class" => {
                self.partitioner = match value.trim() {
                    "default" | "murmur2" | "sticky" => PartitionerChoice::Default,
                    "round_robin" | "roundrobin" => PartitionerChoice::RoundRobin,
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected default or round_robin",
                        ));
                    }
                }
            }
            "partitioner_adaptive_partitioning_enable" => {
                self.adaptive_partitioning = boolean(k, value)?;
            }
            "batch_size" => self.batching.batch_size = number(k, value, 0usize)?,
            "linger_ms" => self.batching.linger = millis(k, value)?,
            "buffer_memory" => self.batching.buffer_memory = number(k, value, 1usize)?,
            "max_request_size" => self.batching.max_request_size = number(k, value, 1usize)?,
            "compression_type" => {
                self.batching.compression = match value.trim() {
                    "none" | "" => Compression::None,
                    "gzip" => Compression::Gzip,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected none, gzip, snappy, lz4 or zstd",
                        ));
                    }
                }
            }
            "compression_level" => {
                self.batching.compression_level = Some(number(k, value, i32::MIN)?);
            }
            "delivery_timeout_ms" => self.batching.delivery_timeout = millis(k, value)?,
            "retry_backoff_ms" => {
                self.batching.retry_backoff = millis(k, value)?;
                self.client.set(k, value)?;
            }
            "retry_backoff_max_ms" => {
                self.batching.retry_backoff_max = millis(k, value)?;
                self.client.set(k, value)?;
            }
            "transactional_id" => {
                self.transactional_id = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            }
            "transaction_timeout_ms" => self.transaction_timeout = millis(k, value)?,
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

    /// Checks settings that only make sense together, with the Java
    /// client's rules for idempotence.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.client.validate()?;
        // As the Java client: an explicit enable_idempotence=true with a
        // conflicting setting is an error; left at its default, idempotence
        // quietly gives way to an explicit acks or in-flight limit.
        if self.enable_idempotence && self.idempotence_set {
            if self.acks != Acks::All {
                return Err(ConfigError::new(
                    "acks",
                    &self.acks.wire().to_string(),
                    "must be all when enable_idempotence is true",
                ));
            }
            if self.max_in_flight > 5 {
                return Err(ConfigError::new(
                    "max_in_flight_requests_per_connection",
                    &self.max_in_flight.to_string(),
                    "must be at most 5 when enable_idempotence is true",
                ));
            }
        }
        if self.transactional_id.is_some() && !self.idempotent() {
            return Err(ConfigError::new(
                "enable_idempotence",
                "false",
                "must be true when transactional_id is set",
            ));
        }
        if self.batching.batch_size == 0 {
            return Err(ConfigError::new("batch_size", "0", "must be positive"));
        }
        validate_metrics_window(&self.metrics_window)?;
        Ok(())
    }

    /// Whether idempotence is really on: asked for (or left at its
    /// default) and not given way to `acks` other than `all` or more than
    /// five requests in flight.
    pub fn idempotent(&self) -> bool {
        self.enable_idempotence && self.acks == Acks::All && self.max_in_flight <= 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotence_conflicts_follow_the_java_rules() {
        // Explicit idempotence with acks=1: an error naming acks.
        let error = ProducerConfig::from_pairs([
            ("bootstrap_servers", "h:1"),
            ("enable_idempotence", "true"),
            ("acks", "1"),
        ])
        .unwrap_err();
        assert_eq!(error.key, "acks");
        // acks=1 with idempotence left at its default: idempotence gives way.
        let acks_one =
            ProducerConfig::from_pairs([("bootstrap_servers", "h:1"), ("acks", "1")]).unwrap();
        assert!(!acks_one.idempotent());
        // Explicitly off: fine.
        let off = ProducerConfig::from_pairs([
            ("bootstrap_servers", "h:1"),
            ("enable_idempotence", "false"),
            ("acks", "1"),
        ])
        .unwrap();
        assert!(!off.idempotent());
        let error = ProducerConfig::from_pairs([
            ("bootstrap_servers", "h:1"),
            ("enable_idempotence", "true"),
            ("max_in_flight_requests_per_connection", "6"),
        ])
        .unwrap_err();
        assert_eq!(error.key, "max_in_flight_requests_per_connection");
        assert!(
            ProducerConfig::from_pairs([("bootstrap_servers", "h:1")])
                .unwrap()
                .idempotent()
        );
    }

    #[test]
    fn every_key_in_the_table_is_one_set_takes() {
        for key in KEYS {
            let taken = ProducerConfig::default().set(key, "");
            assert!(
                !matches!(&taken, Err(e) if e.reason == "unknown key"),
                "{key} is in KEYS but set refuses it"
            );
        }
    }

    #[test]
    fn keys_are_named_in_errors() {
        let error = ProducerConfig::from_pairs([
            ("bootstrap_servers", "h:1"),
            ("compression_type", "brotli"),
        ])
        .unwrap_err();
        assert_eq!(error.key, "compression_type");
        assert!(error.to_string().contains("zstd"), "{error}");
        let error = ProducerConfig::from_pairs([("bootstrap.servers", "h:1"), ("linger.ms", "x")])
            .unwrap_err();
        assert_eq!(error.key, "linger_ms");
    }
}
