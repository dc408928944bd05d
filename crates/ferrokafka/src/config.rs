//! One [`Config`] for every client, under the Java client's
//! (`bootstrap.servers`) or kafka-python's (`bootstrap_servers`) key names,
//! from pairs, a `.properties` file or environment variables. It only
//! collects and checks key names; each client crate's own parser reads the
//! values, so a value means the same here as there.

use std::path::{Path, PathBuf};

use ferrokafka_admin::{Admin, AdminConfig, AdminError};
use ferrokafka_consumer::{
    BlockingConsumer, BlockingShareConsumer, ConsumeError, Consumer, ConsumerConfig, ShareConsumer,
    ShareConsumerConfig, TypedConsumer,
};
use ferrokafka_producer::{
    BlockingProducer, ProduceError, Producer, ProducerConfig, TypedProducer,
};
use ferrokafka_serde::{Deserializer, Serializer};
use ferrokafka_transport::config::{ClientConfig, ConfigError, METRICS_WINDOW_KEYS, normalize_key};

use crate::nearest::nearest;
use crate::properties;

/// The client a [`Config`] is turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A [`Producer`] or [`BlockingProducer`].
    Producer,
    /// A [`Consumer`] or [`BlockingConsumer`].
    Consumer,
    /// An [`Admin`] client.
    Admin,
    /// A [`ShareConsumer`] or [`BlockingShareConsumer`] (KIP-932 share
    /// groups): the consumer's keys but those share groups do not use.
    ShareConsumer,
}

impl ClientKind {
    fn name(self) -> &'static str {
        match self {
            ClientKind::Producer => "producer",
            ClientKind::Consumer => "consumer",
            ClientKind::Admin => "admin",
            ClientKind::ShareConsumer => "share consumer",
        }
    }

    /// Whether `key` (normalized) is one this client reads.
    fn takes(self, key: &str) -> bool {
        if self == ClientKind::ShareConsumer {
            return ShareConsumerConfig::KEYS.contains(&key)
                || (ClientKind::Consumer.takes(key)
                    && ShareConsumerConfig::refuses(key).is_none());
        }
        let own: &[&[&str]] = match self {
            ClientKind::Producer => &[ferrokafka_producer::config::KEYS, METRICS_WINDOW_KEYS],
            ClientKind::Consumer => &[ferrokafka_consumer::config::KEYS, METRICS_WINDOW_KEYS],
            ClientKind::Admin | ClientKind::ShareConsumer => &[],
        };
        ferrokafka_transport::config::KEYS.contains(&key)
            || own.iter().any(|keys| keys.contains(&key))
    }
}

/// Every key some client takes: the transport's, the metrics windows', the
/// producer's and the consumer's tables.
fn known_keys() -> impl Iterator<Item = &'static str> {
    [
        ferrokafka_transport::config::KEYS,
        METRICS_WINDOW_KEYS,
        ferrokafka_producer::config::KEYS,
        ferrokafka_consumer::config::KEYS,
        ShareConsumerConfig::KEYS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// A `.properties` file that could not be read, or a key in it no client
/// knows.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A key no client knows.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Settings for a producer, a consumer or an admin client, collected under
/// either spelling of each key and checked against every client's keys: an
/// unknown key is an error naming it and the nearest known key. Values are
/// read when a client is built, by that client's own parser; keys that do
/// not apply to it are named in one warning (`tracing`) and left out.
///
/// ```
/// use ferrokafka::{ClientKind, Config};
///
/// let config = Config::from_pairs([
///     ("bootstrap.servers", "127.0.0.1:9092"), // Java's spelling
///     ("linger_ms", "5"),                      // kafka-python's
///     ("group_id", "billing"),
/// ])
/// .unwrap();
/// let producer = config.producer_config().unwrap();
/// assert_eq!(producer.batching.linger.as_millis(), 5);
/// assert_eq!(config.keys_not_for(ClientKind::Producer), ["group_id"]);
/// let consumer = config.consumer_config().unwrap();
/// assert_eq!(consumer.group_id.as_deref(), Some("billing"));
///
/// let error = Config::from_pairs([("bootstrap_server", "127.0.0.1:9092")]).unwrap_err();
/// assert!(error.to_string().contains("did you mean bootstrap_servers?"), "{error}");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Normalized keys with their values, in the order first set.
    pairs: Vec<(String, String)>,
}

impl Config {
    /// No settings yet (every client still needs `bootstrap_servers`).
    pub fn new() -> Config {
        Config::default()
    }

    /// Sets `key` (either spelling) to `value`, replacing an earlier
    /// value. An unknown key is an error naming the nearest known one.
    ///
    /// ```
    /// let mut config = ferrokafka::Config::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092").unwrap();
    /// config.set("bootstrap_servers", "127.0.0.1:9093").unwrap();
    /// assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9093"));
    /// assert!(config.set("lingr.ms", "5").is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Config, ConfigError> {
        let key = normalize_key(key);
        if !known_keys().any(|known| known == key) {
            let reason = match nearest(&key, known_keys()) {
                Some(near) => format!("unknown key; did you mean {near}?"),
                None => "unknown key".to_string(),
            };
            // The value may be a password: an unknown key does not show it.
            return Err(ConfigError::new(&key, "***", reason));
        }
        match self.pairs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => value.clone_into(old),
            None => self.pairs.push((key, value.to_string())),
        }
        Ok(self)
    }

    /// The value set for `key` (either spelling).
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([("acks", "all")]).unwrap();
    /// assert_eq!(config.get("acks"), Some("all"));
    /// assert_eq!(config.get("linger.ms"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = normalize_key(key);
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Settings from `(key, value)` pairs; a later pair for the same key
    /// wins.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "127.0.0.1:9092")]).unwrap();
    /// assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    /// ```
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::new();
        config.extend_pairs(pairs)?;
        Ok(config)
    }

    /// Adds `(key, value)` pairs over the settings already here: how a
    /// file's settings are overridden by the environment's.
    ///
    /// ```
    /// let mut config = ferrokafka::Config::from_properties("acks=1\nlinger.ms=5").unwrap();
    /// config.extend_pairs([("acks", "all")]).unwrap();
    /// assert_eq!(config.get("acks"), Some("all"));
    /// assert_eq!(config.get("linger_ms"), Some("5"));
    /// ```
    pub fn extend_pairs<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<&mut Config, ConfigError> {
        for (key, value) in pairs {
            self.set(key.as_ref(), value.as_ref())?;
        }
        Ok(self)
    }

    /// The settings as they are: normalized keys and their values.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([("Linger.Ms", "5")]).unwrap();
    /// assert_eq!(config.pairs().collect::<Vec<_>>(), [("linger_ms", "5")]);
    /// ```
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Settings from the text of a Java `.properties` file (`#` comments,
    /// `key=value`, `key: value`, continuation lines, escapes).
    ///
    /// ```
    /// let config = ferrokafka::Config::from_properties(
    ///     "# the cluster\nbootstrap.servers=127.0.0.1:9092\nenable.idempotence: true\n",
    /// )
    /// .unwrap();
    /// assert_eq!(config.get("enable_idempotence"), Some("true"));
    /// ```
    pub fn from_properties(text: &str) -> Result<Config, ConfigError> {
        Config::from_pairs(properties::parse(text))
    }

    /// Settings from a Java `.properties` file.
    ///
    /// ```no_run
    /// let config = ferrokafka::Config::from_properties_file("client.properties").unwrap();
    /// # let _ = config;
    /// ```
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<Config, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Config::from_properties(&text)?)
    }

    /// Settings from this process's environment variables whose names
    /// start with `prefix`: with `KAFKA_`, `KAFKA_BOOTSTRAP_SERVERS` is
    /// `bootstrap_servers` and `KAFKA_LINGER_MS` is `linger_ms`. Every such
    /// variable must be a known key, so choose a prefix only this client's
    /// settings use (`KAFKA_` also matches `KAFKA_HOME` where that is set).
    ///
    /// ```no_run
    /// let config = ferrokafka::Config::from_env("MYAPP_KAFKA_").unwrap();
    /// # let _ = config;
    /// ```
    pub fn from_env(prefix: &str) -> Result<Config, ConfigError> {
        Config::from_vars(
            prefix,
            std::env::vars_os().filter_map(|(name, value)| {
                Some((name.into_string().ok()?, value.into_string().ok()?))
            }),
        )
    }

    /// [`Config::from_env`] over the given `(name, value)` variables
    /// instead of the process's; names without `prefix` are skipped.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_vars(
    ///     "KAFKA_",
    ///     [("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), ("PATH", "/usr/bin")],
    /// )
    /// .unwrap();
    /// assert_eq!(config.get("bootstrap_servers"), Some("127.0.0.1:9092"));
    /// ```
    pub fn from_vars<K: AsRef<str>, V: AsRef<str>>(
        prefix: &str,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::new();
        for (name, value) in vars {
            if let Some(key) = name.as_ref().strip_prefix(prefix) {
                config.set(key, value.as_ref())?;
            }
        }
        Ok(config)
    }

    /// The keys set here that `client` does not read, in the order set.
    ///
    /// ```
    /// use ferrokafka::{ClientKind, Config};
    /// let config = Config::from_pairs([("bootstrap_servers", "h:1"), ("acks", "all")]).unwrap();
    /// assert_eq!(config.keys_not_for(ClientKind::Consumer), ["acks"]);
    /// assert!(config.keys_not_for(ClientKind::Producer).is_empty());
    /// ```
    pub fn keys_not_for(&self, client: ClientKind) -> Vec<&str> {
        self.pairs()
            .filter(|(key, _)| !client.takes(key))
            .map(|(key, _)| key)
            .collect()
    }

    /// The pairs `client` reads, after one warning naming those it does
    /// not.
    fn pairs_for(&self, client: ClientKind) -> impl Iterator<Item = (&str, &str)> {
        let ignored = self.keys_not_for(client);
        if !ignored.is_empty() {
            tracing::warn!(
                client = client.name(),
                keys = %ignored.join(", "),
                "config keys that do not apply to this client are ignored"
            );
        }
        self.pairs().filter(move |(key, _)| client.takes(key))
    }

    /// The producer's settings, checked by its own parser.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "h:1"), ("acks", "1")]).unwrap();
    /// assert_eq!(config.producer_config().unwrap().acks, ferrokafka::producer::Acks::Leader);
    /// ```
    pub fn producer_config(&self) -> Result<ProducerConfig, ConfigError> {
        ProducerConfig::from_pairs(self.pairs_for(ClientKind::Producer))
    }

    /// The consumer's settings, checked by its own parser.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "h:1"), ("group_id", "g")]).unwrap();
    /// assert!(config.consumer_config().unwrap().auto_commit());
    /// ```
    pub fn consumer_config(&self) -> Result<ConsumerConfig, ConfigError> {
        ConsumerConfig::from_pairs(self.pairs_for(ClientKind::Consumer))
    }

    /// The share consumer's settings, checked by its own parser; consumer
    /// keys share groups do not use (`enable_auto_commit`, say) are named
    /// in the one warning and left out.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([
    ///     ("bootstrap_servers", "h:1"),
    ///     ("group_id", "workers"),
    ///     ("enable_auto_commit", "false"),
    ///     ("share.acknowledgement.mode", "explicit"),
    /// ])
    /// .unwrap();
    /// let share = config.share_consumer_config().unwrap();
    /// assert_eq!(share.acknowledgement_mode, ferrokafka::consumer::AcknowledgementMode::Explicit);
    /// ```
    pub fn share_consumer_config(&self) -> Result<ShareConsumerConfig, ConfigError> {
        ShareConsumerConfig::from_pairs(self.pairs_for(ClientKind::ShareConsumer))
    }

    /// The admin client's settings, checked by the transport's parser.
    ///
    /// ```
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "h:1")]).unwrap();
    /// assert_eq!(config.admin_config().unwrap().client.bootstrap_servers, ["h:1"]);
    /// ```
    pub fn admin_config(&self) -> Result<AdminConfig, ConfigError> {
        Ok(AdminConfig {
            client: ClientConfig::from_pairs(self.pairs_for(ClientKind::Admin))?,
        })
    }

    /// A producer with these settings.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), ferrokafka::producer::ProduceError> {
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
    /// let producer = config.producer().await?;
    /// # drop(producer); Ok(()) }
    /// ```
    pub async fn producer(&self) -> Result<Producer, ProduceError> {
        Producer::new(self.producer_config()?).await
    }

    /// A blocking producer with these settings (runs its own runtime).
    ///
    /// ```no_run
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "127.0.0.1:9092")]).unwrap();
    /// let producer = config.blocking_producer().unwrap();
    /// # drop(producer);
    /// ```
    pub fn blocking_producer(&self) -> Result<BlockingProducer, ProduceError> {
        BlockingProducer::new(self.producer_config()?)
    }

    /// A producer with these settings that serializes every key and value
    /// (Java's `key.serializer` / `value.serializer`).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use ferrokafka::producer::TypedRecord;
    /// use ferrokafka::serde::{Json, Utf8};
    ///
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
    /// let producer = config.typed_producer::<str, Vec<u32>>(Utf8, Json).await?;
    /// producer.send(TypedRecord::new("numbers", &vec![1, 2, 3])).await?.await?;
    /// # Ok(()) }
    /// ```
    pub async fn typed_producer<K: ?Sized, V: ?Sized>(
        &self,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<TypedProducer<K, V>, ProduceError> {
        Ok(TypedProducer::new(
            self.producer().await?,
            key_serializer,
            value_serializer,
        ))
    }

    /// A consumer with these settings.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), ferrokafka::consumer::ConsumeError> {
    /// let config = ferrokafka::Config::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("group_id", "billing"),
    /// ])?;
    /// let consumer = config.consumer().await?;
    /// # drop(consumer); Ok(()) }
    /// ```
    pub async fn consumer(&self) -> Result<Consumer, ConsumeError> {
        Consumer::new(self.consumer_config()?).await
    }

    /// A consumer with these settings that deserializes every key and
    /// value (Java's `key.deserializer` / `value.deserializer`).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use ferrokafka::serde::{Json, Utf8};
    ///
    /// let config = ferrokafka::Config::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("group_id", "billing"),
    /// ])?;
    /// let consumer = config.typed_consumer::<String, Vec<u32>>(Utf8, Json).await?;
    /// consumer.consumer().subscribe(&["numbers"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn typed_consumer<K, V>(
        &self,
        key_deserializer: impl Deserializer<K> + 'static,
        value_deserializer: impl Deserializer<V> + 'static,
    ) -> Result<TypedConsumer<K, V>, ConsumeError> {
        Ok(TypedConsumer::new(
            self.consumer().await?,
            key_deserializer,
            value_deserializer,
        ))
    }

    /// A blocking consumer with these settings (runs its own runtime).
    ///
    /// ```no_run
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "127.0.0.1:9092")]).unwrap();
    /// let consumer = config.blocking_consumer().unwrap();
    /// # drop(consumer);
    /// ```
    pub fn blocking_consumer(&self) -> Result<BlockingConsumer, ConsumeError> {
        BlockingConsumer::new(self.consumer_config()?)
    }

    /// A share consumer (KIP-932) with these settings.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), ferrokafka::consumer::ConsumeError> {
    /// let config = ferrokafka::Config::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("group_id", "workers"),
    /// ])?;
    /// let consumer = config.share_consumer().await?;
    /// # drop(consumer); Ok(()) }
    /// ```
    pub async fn share_consumer(&self) -> Result<ShareConsumer, ConsumeError> {
        ShareConsumer::new(self.share_consumer_config()?).await
    }

    /// A blocking share consumer with these settings (runs its own
    /// runtime).
    ///
    /// ```no_run
    /// let config = ferrokafka::Config::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("group_id", "workers"),
    /// ])
    /// .unwrap();
    /// let consumer = config.blocking_share_consumer().unwrap();
    /// # drop(consumer);
    /// ```
    pub fn blocking_share_consumer(&self) -> Result<BlockingShareConsumer, ConsumeError> {
        BlockingShareConsumer::new(self.share_consumer_config()?)
    }

    /// An admin client with these settings.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), ferrokafka::admin::AdminError> {
    /// let config = ferrokafka::Config::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
    /// let admin = config.admin().await?;
    /// # drop(admin); Ok(()) }
    /// ```
    pub async fn admin(&self) -> Result<Admin, AdminError> {
        Admin::connect(self.admin_config()?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_and_python_spellings_build_the_same_clients() {
        let java = Config::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("linger.ms", "7"),
            ("max.poll.records", "3"),
        ])
        .unwrap();
        let python = Config::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("linger_ms", "7"),
            ("max_poll_records", "3"),
        ])
        .unwrap();
        assert_eq!(java, python);
        assert_eq!(
            java.producer_config().unwrap().batching.linger,
            std::time::Duration::from_millis(7)
        );
        assert_eq!(java.consumer_config().unwrap().max_poll_records, 3);
    }

    #[test]
    fn oauthbearer_keys_reach_every_client() {
        let config = Config::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://idp.example/token",
            ),
            ("sasl.oauthbearer.client.credentials.client.id", "app"),
            (
                "sasl.oauthbearer.client.credentials.client.secret",
                "hunter2",
            ),
            ("sasl.login.refresh.window.factor", "0.9"),
        ])
        .unwrap();
        let producer = config.producer_config().unwrap();
        let oauth = &producer.client.sasl_oauthbearer;
        assert_eq!(oauth.client_id.as_deref(), Some("app"));
        assert!((oauth.refresh.window_factor - 0.9).abs() < f64::EPSILON);
        assert!(!format!("{producer:?}").contains("hunter2"));
        let consumer = config.consumer_config().unwrap();
        assert_eq!(
            consumer
                .client
                .sasl_oauthbearer
                .token_endpoint_url
                .as_deref(),
            Some("https://idp.example/token")
        );
    }

    #[test]
    fn an_unknown_key_names_the_nearest_known_one_and_hides_the_value() {
        for (key, near) in [
            ("bootstrap.server", "bootstrap_servers"),
            ("group.idd", "group_id"),
            ("enable_idempotency", "enable_idempotence"),
            ("sasl.plain.pasword", "sasl_plain_password"),
        ] {
            let error = Config::from_pairs([(key, "hunter2")]).unwrap_err();
            assert_eq!(error.key, normalize_key(key));
            assert!(
                error.reason.ends_with(&format!("did you mean {near}?")),
                "{error}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn keys_of_other_clients_are_left_out_and_named() {
        let config = Config::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("group_id", "g"),
            ("acks", "1"),
            ("metrics_num_samples", "3"),
        ])
        .unwrap();
        assert_eq!(config.keys_not_for(ClientKind::Producer), ["group_id"]);
        assert_eq!(config.keys_not_for(ClientKind::Consumer), ["acks"]);
        assert_eq!(
            config.keys_not_for(ClientKind::Admin),
            ["group_id", "acks", "metrics_num_samples"]
        );
        // Each client builds despite the others' keys.
        assert_eq!(config.producer_config().unwrap().metrics_window.samples, 3);
        assert_eq!(
            config.consumer_config().unwrap().group_id.as_deref(),
            Some("g")
        );
        config.admin_config().unwrap();
    }

    #[test]
    fn share_consumer_keys_and_classic_consumer_keys_keep_apart() {
        let config = Config::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("group.id", "workers"),
            ("enable.auto.commit", "false"),
            ("share.acquire.mode", "record_limit"),
            ("max.poll.records", "9"),
        ])
        .unwrap();
        assert_eq!(
            config.keys_not_for(ClientKind::ShareConsumer),
            ["enable_auto_commit"]
        );
        assert_eq!(
            config.keys_not_for(ClientKind::Consumer),
            ["share_acquire_mode"]
        );
        let share = config.share_consumer_config().unwrap();
        assert_eq!(share.consumer.max_poll_records, 9);
        assert_eq!(
            share.acquire_mode,
            ferrokafka_consumer::ShareAcquireMode::RecordLimit
        );
        assert!(!config.consumer_config().unwrap().auto_commit());
        let without_group = Config::from_pairs([("bootstrap_servers", "a:1")]).unwrap();
        assert_eq!(
            without_group.share_consumer_config().unwrap_err().key,
            "group_id"
        );
    }

    #[test]
    fn bad_values_are_the_client_parsers_errors() {
        let config = Config::from_pairs([("bootstrap_servers", "a:1"), ("acks", "most")]).unwrap();
        assert_eq!(config.producer_config().unwrap_err().key, "acks");
        // The consumer does not read acks, so it does not fail on it.
        config.consumer_config().unwrap();
        let missing = Config::from_pairs([("acks", "all")]).unwrap();
        assert_eq!(
            missing.producer_config().unwrap_err().key,
            "bootstrap_servers"
        );
    }

    #[test]
    fn environment_variables_with_the_prefix_are_keys() {
        let config = Config::from_vars(
            "APP_KAFKA_",
            [
                ("APP_KAFKA_BOOTSTRAP_SERVERS", "a:1,b:2"),
                ("APP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                ("KAFKA_HOME", "/opt/kafka"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(
            config.pairs().collect::<Vec<_>>(),
            [
                ("bootstrap_servers", "a:1,b:2"),
                ("security_protocol", "SASL_SSL")
            ]
        );
        let error = Config::from_vars("KAFKA_", [("KAFKA_HOME", "/opt/kafka")]).unwrap_err();
        assert_eq!(error.key, "home");
    }

    #[test]
    fn a_properties_file_is_read_and_a_missing_one_names_its_path() {
        let dir = std::env::temp_dir().join(format!("ferrokafka-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.properties");
        std::fs::write(
            &path,
            "# producer\nbootstrap.servers=a:1\ncompression.type = zstd\n",
        )
        .unwrap();
        let config = Config::from_properties_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.get("compression_type"), Some("zstd"));
        let error = Config::from_properties_file(&path).unwrap_err();
        assert!(
            matches!(&error, LoadError::Io { path: p, .. } if *p == path),
            "{error}"
        );
        let error = Config::from_properties("bootstrap.servers=a:1\nlinger=5\n").unwrap_err();
        assert_eq!(error.key, "linger");
    }
}
