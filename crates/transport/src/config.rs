//! The client settings the transport owns, under the Java client's and
//! kafka-python's key names (`bootstrap.servers` and `bootstrap_servers` are
//! the same key). Producer, consumer and admin settings live with them; a
//! key no layer knows is an error naming it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ConnectionConfig;
use crate::metrics::WindowConfig;
use crate::recovery::RecoveryStrategy;
use crate::sasl::oidc::{Method, OAuthBearerSettings};
use crate::sasl::{Credentials, Mechanism, SaslError, Secret, TokenProvider};
use crate::tls::TlsConfig;

/// A setting that cannot be used: names the key, the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config {key}={value:?}: {reason}")]
pub struct ConfigError {
    /// The key, as normalised (`bootstrap_servers`).
    pub key: String,
    /// The value given (a secret is shown as `***`).
    pub value: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

impl ConfigError {
    /// An error for `key`.
    pub fn new(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `security_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// `client_dns_lookup`, as in the Java client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsLookup {
    /// Try every address a name resolves to, in order.
    #[default]
    UseAllDnsIps,
    /// Expand each bootstrap name to its canonical names first.
    ResolveCanonicalBootstrapServersOnly,
}

/// The cluster and node a connection is meant to reach, sent in
/// ApiVersions v5 so a broker of another cluster refuses it (KIP-1242).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerIdentity {
    /// The cluster id the client's metadata gave.
    pub cluster_id: String,
    /// The node id the connection is for.
    pub node_id: i32,
}

/// The transport's settings.
#[derive(Clone)]
pub struct ClientConfig {
    /// `bootstrap_servers`: `host:port` seeds.
    pub bootstrap_servers: Vec<String>,
    /// `client_id`, sent in every request header.
    pub client_id: String,
    /// Per-connection settings (`request_timeout_ms`, `max_in_flight_requests_per_connection`, ...).
    pub connection: ConnectionConfig,
    /// `reconnect_backoff_ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect_backoff_max_ms`.
    pub reconnect_backoff_max: Duration,
    /// `retry_backoff_ms`.
    pub retry_backoff: Duration,
    /// `retry_backoff_max_ms` (KIP-580): retries of the same request back
    /// off exponentially from `retry_backoff_ms` up to this.
    pub retry_backoff_max: Duration,
    /// `connections_max_idle_ms`.
    pub connections_max_idle: Duration,
    /// `metadata_max_age_ms`.
    pub metadata_max_age: Duration,
    /// `default_api_timeout_ms`: how long lookups the client retries by
    /// itself (leaders, coordinators, metadata) may take.
    pub default_api_timeout: Duration,
    /// Whether metadata requests ask the broker to create the topics they
    /// name (brokers do where their `auto.create.topics.enable` is true).
    /// Not a key of its own: the layer above decides, as the Java client
    /// does. The producer asks, the consumer asks as its
    /// `allow_auto_create_topics` says, the admin client never does.
    /// Default false.
    pub allow_auto_topic_creation: bool,
    /// `client_dns_lookup`.
    pub client_dns_lookup: DnsLookup,
    /// `metadata_recovery_strategy`: whether the client goes back to its
    /// bootstrap servers when the brokers it knows are gone (KIP-899).
    pub metadata_recovery_strategy: RecoveryStrategy,
    /// `metadata_recovery_rebootstrap_trigger_ms`: how long the client may
    /// go without metadata before it rebootstraps (KIP-1102).
    pub metadata_recovery_rebootstrap_trigger: Duration,
    /// `metadata_cluster_check_enable`: whether connections to brokers
    /// tell them the cluster and node they are meant for, so a broker of
    /// another cluster refuses them (KIP-1242, brokers 4.4+). Ignored when
    /// `metadata_recovery_strategy` is `none`, as in the Java client.
    pub metadata_cluster_check_enable: bool,
    /// `bootstrap_resolve_timeout_ms`: `0` resolves the bootstrap servers
    /// once when the client is made, and no name resolving at all is a
    /// config error; more keeps trying to resolve them for that long first.
    pub bootstrap_resolve_timeout: Duration,
    /// The cluster and node the connection being opened is meant for: not
    /// a key, the cluster client sets it on the copy of the settings it
    /// opens each broker connection with.
    pub expected_broker: Option<BrokerIdentity>,
    /// `security_protocol`.
    pub security_protocol: SecurityProtocol,
    /// `ssl_*` settings.
    pub tls: TlsConfig,
    /// `sasl_mechanism`.
    pub sasl_mechanism: Option<Mechanism>,
    /// `sasl_plain_username`.
    pub sasl_username: Option<String>,
    /// `sasl_plain_password`.
    pub sasl_password: Option<Secret>,
    /// `sasl_oauth_token_provider` (set in code, not from a string).
    pub sasl_token_provider: Option<Arc<dyn TokenProvider>>,
    /// `sasl_oauthbearer_*` and `sasl_login_*`: the built-in OAUTHBEARER
    /// token provider's settings (KIP-768, KIP-1139). Boxed: they are
    /// large and rarely set, and configs are moved into many futures.
    pub sasl_oauthbearer: Box<OAuthBearerSettings>,
    /// `enable_metrics_push`: whether the client pushes the metrics a
    /// broker-side subscription asks for (KIP-714). Default true, as Java.
    pub enable_metrics_push: bool,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client_id", &self.client_id)
            .field("connection", &self.connection)
            .field("allow_auto_topic_creation", &self.allow_auto_topic_creation)
            .field("security_protocol", &self.security_protocol)
            .field("tls", &self.tls)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password)
            .field(
                "sasl_token_provider",
                &self.sasl_token_provider.as_ref().map(|_| "<provider>"),
            )
            .field("sasl_oauthbearer", &self.sasl_oauthbearer)
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: Vec::new(),
            client_id: "ferrokafka".to_string(),
            connection: ConnectionConfig::default(),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            connections_max_idle: Duration::from_secs(540),
            metadata_max_age: Duration::from_secs(300),
            default_api_timeout: Duration::from_secs(60),
            allow_auto_topic_creation: false,
            client_dns_lookup: DnsLookup::default(),
            metadata_recovery_strategy: RecoveryStrategy::default(),
            metadata_recovery_rebootstrap_trigger: Duration::from_secs(300),
            metadata_cluster_check_enable: true,
            bootstrap_resolve_timeout: Duration::ZERO,
            expected_broker: None,
            security_protocol: SecurityProtocol::default(),
            tls: TlsConfig::default(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            sasl_token_provider: None,
            sasl_oauthbearer: Box::default(),
            enable_metrics_push: true,
        }
    }
}

/// `bootstrap.servers` → `bootstrap_servers`.
pub fn normalize_key(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace(['.', '-'], "_")
}

/// Every key [`ClientConfig::set`] takes, normalized, aliases included:
/// the table a caller checks a key against before it reaches a parser
/// (the facade's `Config` names the nearest of them to a misspelt key).
pub const KEYS: &[&str] = &[
    "bootstrap_servers",
    "client_id",
    "request_timeout_ms",
    "socket_connection_setup_timeout_ms",
    "max_in_flight_requests_per_connection",
    "receive_message_max_bytes",
    "send_buffer_bytes",
    "receive_buffer_bytes",
    "reconnect_backoff_ms",
    "reconnect_backoff_max_ms",
    "retry_backoff_ms",
    "retry_backoff_max_ms",
    "connections_max_idle_ms",
    "metadata_max_age_ms",
    "default_api_timeout_ms",
    "metadata_recovery_strategy",
    "metadata_recovery_rebootstrap_trigger_ms",
    "metadata_cluster_check_enable",
    "bootstrap_resolve_timeout_ms",
    "enable_metrics_push",
    "client_dns_lookup",
    "security_protocol",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_username",
    "sasl_plain_password",
    "sasl_password",
    // OAUTHBEARER's built-in token provider (sasl::oidc::OAuthBearerSettings).
    "sasl_oauthbearer_method",
    "sasl_oauthbearer_token_endpoint_url",
    "sasl_oauthbearer_jwt_retriever_class",
    "sasl_oauthbearer_grant_type",
    "sasl_oauthbearer_client_credentials_client_id",
    "sasl_oauthbearer_client_id",
    "sasl_oauthbearer_client_credentials_client_secret",
    "sasl_oauthbearer_client_secret",
    "sasl_oauthbearer_scope",
    "sasl_oauthbearer_sub_claim_name",
    "sasl_oauthbearer_scope_claim_name",
    "sasl_oauthbearer_header_urlencode",
    "sasl_oauthbearer_assertion_algorithm",
    "sasl_oauthbearer_assertion_claim_aud",
    "sasl_oauthbearer_assertion_claim_exp_seconds",
    "sasl_oauthbearer_assertion_claim_iss",
    "sasl_oauthbearer_assertion_claim_jti_include",
    "sasl_oauthbearer_assertion_claim_nbf_seconds",
    "sasl_oauthbearer_assertion_claim_sub",
    "sasl_oauthbearer_assertion_file",
    "sasl_oauthbearer_assertion_private_key_file",
    "sasl_oauthbearer_assertion_private_key_passphrase",
    "sasl_login_refresh_window_factor",
    "sasl_login_refresh_window_jitter",
    "sasl_login_refresh_min_period_seconds",
    "sasl_login_refresh_buffer_seconds",
    "sasl_login_connect_timeout_ms",
    "sasl_login_read_timeout_ms",
    "sasl_login_retry_backoff_ms",
    "sasl_login_retry_backoff_max_ms",
    // Broker-side settings a Java client accepts and ignores; taken so a
    // shared configuration file carries over.
    "sasl_oauthbearer_expected_audience",
    "sasl_oauthbearer_expected_issuer",
    "sasl_oauthbearer_clock_skew_seconds",
    "sasl_oauthbearer_jwks_endpoint_url",
    "sasl_oauthbearer_jwks_endpoint_refresh_ms",
    "sasl_oauthbearer_jwks_endpoint_retry_backoff_ms",
    "sasl_oauthbearer_jwks_endpoint_retry_backoff_max_ms",
    "ssl_cafile",
    "ssl_ca_location",
    "ssl_certfile",
    "ssl_certificate_location",
    "ssl_keyfile",
    "ssl_key_location",
    "ssl_check_hostname",
    "ssl_endpoint_identification_algorithm",
];

/// The keys [`metrics_window`] takes (producer and consumer, not admin).
pub const METRICS_WINDOW_KEYS: &[&str] = &["metrics_sample_window_ms", "metrics_num_samples"];

/// A duration in milliseconds, as every `*_ms` key takes it. Shared with
/// the producer's and consumer's settings.
pub fn millis(key: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::new(key, value, "expected a whole number of milliseconds"))
}

/// A number of at least `min`.
pub fn number<T>(key: &str, value: &str, min: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match value.trim().parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(ConfigError::new(
            key,
            value,
            format!("expected a whole number of at least {min}"),
        )),
    }
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`).
pub fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::new(key, value, "expected true or false")),
    }
}

/// `metrics_sample_window_ms` or `metrics_num_samples` (normalized) into
/// `window`; `false` for any other key. Shared by the producer's and the
/// consumer's settings, whose metrics use the same windows.
pub fn metrics_window(
    window: &mut WindowConfig,
    key: &str,
    value: &str,
) -> Result<bool, ConfigError> {
    match key {
        "metrics_sample_window_ms" => window.window = millis(key, value)?,
        "metrics_num_samples" => window.samples = number(key, value, 1usize)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Checks windows set by [`metrics_window`] (or by hand).
pub fn validate_metrics_window(window: &WindowConfig) -> Result<(), ConfigError> {
    // A window shorter than the millisecond the key is given in could
    // never close.
    if window.window < Duration::from_millis(1) {
        return Err(ConfigError::new(
            "metrics_sample_window_ms",
            &window.window.as_millis().to_string(),
            "must be positive",
        ));
    }
    if window.samples == 0 {
        return Err(ConfigError::new(
            "metrics_num_samples",
            "0",
            "must be positive",
        ));
    }
    Ok(())
}

/// A socket buffer size: `-1` leaves the operating system's default.
fn buffer_size(key: &str, value: &str) -> Result<Option<u32>, ConfigError> {
    match value.trim().parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n > 0 => u32::try_from(n)
            .map(Some)
            .map_err(|_| ConfigError::new(key, value, "too large")),
        _ => Err(ConfigError::new(
            key,
            value,
            "expected a positive number of bytes, or -1 for the OS default",
        )),
    }
}

impl ClientConfig {
    /// Builds a config from key/value pairs; any key the transport does not
    /// know is an error. Producer and consumer configs call [`ClientConfig::set`]
    /// instead and check their own keys first.
    ///
    /// ```
    /// use ferrokafka_transport::config::ClientConfig;
    /// let config = ClientConfig::from_pairs([
    ///     ("bootstrap.servers", "127.0.0.1:9092,127.0.0.1:9093"),
    ///     ("request_timeout_ms", "5000"),
    /// ])
    /// .unwrap();
    /// assert_eq!(config.bootstrap_servers.len(), 2);
    /// let error = ClientConfig::from_pairs([("bootstrap_server", "x:1")]).unwrap_err();
    /// assert_eq!(error.key, "bootstrap_server");
    /// ```
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let mut config = ClientConfig::default();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if !config.set(key, value)? {
                return Err(ConfigError::new(&normalize_key(key), value, "unknown key"));
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies one setting. `Ok(false)`: the key is not a transport key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let key = normalize_key(key);
        let k = key.as_str();
        match k {
            "bootstrap_servers" => {
                let servers: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = servers.iter().find(|s| {
                    !s.rsplit_once(':')
                        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                }) {
                    return Err(ConfigError::new(
                        k,
                        value,
                        format!("{bad:?} is not host:port"),
                    ));
                }
                if servers.is_empty() {
                    return Err(ConfigError::new(
                        k,
                        value,
                        "expected host:port[,host:port...]",
                    ));
                }
                self.bootstrap_servers = servers;
            }
            "client_id" => value.trim().clone_into(&mut self.client_id),
            "enable_metrics_push" => self.enable_metrics_push = boolean(k, value)?,
            "request_timeout_ms" => self.connection.request_timeout = millis(k, value)?,
            "socket_connection_setup_timeout_ms" => {
                self.connection.connect_timeout = millis(k, value)?;
            }
            "max_in_flight_requests_per_connection" => {
                self.connection.max_in_flight = number(k, value, 1)?;
            }
            "receive_message_max_bytes" => {
                self.connection.receive_message_max_bytes = number(k, value, 1000)?;
            }
            "send_buffer_bytes" => self.connection.send_buffer_bytes = buffer_size(k, value)?,
            "receive_buffer_bytes" => self.connection.receive_buffer_bytes = buffer_size(k, value)?,
            "reconnect_backoff_ms" => self.reconnect_backoff = millis(k, value)?,
            "reconnect_backoff_max_ms" => self.reconnect_backoff_max = millis(k, value)?,
            "retry_backoff_ms" => self.retry_backoff = millis(k, value)?,
            "retry_backoff_max_ms" => self.retry_backoff_max = millis(k, value)?,
            "connections_max_idle_ms" => self.connections_max_idle = millis(k, value)?,
            "metadata_max_age_ms" => self.metadata_max_age = millis(k, value)?,
            "default_api_timeout_ms" => self.default_api_timeout = millis(k, value)?,
            "metadata_recovery_strategy" => {
                self.metadata_recovery_strategy = match value.trim().to_ascii_lowercase().as_str() {
                    "none" => RecoveryStrategy::None,
                    "rebootstrap" => RecoveryStrategy::Rebootstrap,
                    _ => return Err(ConfigError::new(k, value, "expected none or rebootstrap")),
                }
            }
            "metadata_recovery_rebootstrap_trigger_ms" => {
                self.metadata_recovery_rebootstrap_trigger = millis(k, value)?;
            }
            "metadata_cluster_check_enable" => {
                self.metadata_cluster_check_enable = boolean(k, value)?;
            }
            "bootstrap_resolve_timeout_ms" => self.bootstrap_resolve_timeout = millis(k, value)?,
            "client_dns_lookup" => {
                self.client_dns_lookup = match value.trim() {
                    "use_all_dns_ips" | "default" => DnsLookup::UseAllDnsIps,
                    "resolve_canonical_bootstrap_servers_only" => {
                        DnsLookup::ResolveCanonicalBootstrapServersOnly
                    }
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected use_all_dns_ips or resolve_canonical_bootstrap_servers_only",
                        ));
                    }
                }
            }
            "security_protocol" => {
                self.security_protocol = match value.trim().to_ascii_uppercase().as_str() {
                    "PLAINTEXT" => SecurityProtocol::Plaintext,
                    "SSL" => SecurityProtocol::Ssl,
                    "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
                    "SASL_SSL" => SecurityProtocol::SaslSsl,
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                        ));
                    }
                }
            }
            "sasl_mechanism" => {
                self.sasl_mechanism = Some(
                    Mechanism::parse(value.trim())
                        .map_err(|e| ConfigError::new(k, value, e.to_string()))?,
                );
            }
            "sasl_plain_username" | "sasl_username" => self.sasl_username = Some(value.to_string()),
            "sasl_plain_password" | "sasl_password" => {
                // The value itself never goes into an error or a log.
                if value.is_empty() {
                    return Err(ConfigError::new(k, "***", "the password is empty"));
                }
                self.sasl_password = Some(Secret::new(value));
            }
            "ssl_cafile" | "ssl_ca_location" => {
                self.tls.ca_file = Some(value.trim().into());
                self.sasl_oauthbearer.set_ca_file(Some(value.trim().into()));
            }
            "ssl_certfile" | "ssl_certificate_location" => {
                self.tls.cert_file = Some(value.trim().into());
            }
            "ssl_keyfile" | "ssl_key_location" => self.tls.key_file = Some(value.trim().into()),
            "ssl_check_hostname" => self.tls.check_hostname = boolean(k, value)?,
            "ssl_endpoint_identification_algorithm" => {
                self.tls.check_hostname = match value.trim().to_ascii_lowercase().as_str() {
                    "https" => true,
                    "" | "none" => false,
                    _ => {
                        return Err(ConfigError::new(
                            k,
                            value,
                            "expected https or an empty value",
                        ));
                    }
                }
            }
            _ => return self.sasl_oauthbearer.set(k, value),
        }
        Ok(true)
    }

    /// Checks settings that only make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::new(
                "bootstrap_servers",
                "",
                "required: host:port[,host:port...]",
            ));
        }
        if self.reconnect_backoff_max < self.reconnect_backoff {
            return Err(ConfigError::new(
                "reconnect_backoff_max_ms",
                &self.reconnect_backoff_max.as_millis().to_string(),
                "must be at least reconnect_backoff_ms",
            ));
        }
        if self.security_protocol.uses_sasl() {
            self.credentials()?;
        } else if self.sasl_mechanism.is_some() {
            return Err(ConfigError::new(
                "sasl_mechanism",
                self.sasl_mechanism.map_or("", Mechanism::name),
                "needs security_protocol SASL_PLAINTEXT or SASL_SSL",
            ));
        }
        Ok(())
    }

    /// The OAUTHBEARER token provider: the one set in code, or the
    /// built-in one of `sasl_oauthbearer_token_endpoint_url`, as
    /// `sasl_oauthbearer_method` says (unset: the one in code if any).
    fn oauthbearer_provider(&self) -> Result<Arc<dyn TokenProvider>, ConfigError> {
        let settings = &self.sasl_oauthbearer;
        let method = settings.method.unwrap_or(
            if self.sasl_token_provider.is_none() && settings.token_endpoint_url.is_some() {
                Method::Oidc
            } else {
                Method::Default
            },
        );
        match method {
            Method::Default => self.sasl_token_provider.clone().ok_or_else(|| {
                ConfigError::new(
                    "sasl_oauth_token_provider",
                    "",
                    "OAUTHBEARER needs a token provider set in code, or sasl_oauthbearer_token_endpoint_url for the built-in one",
                )
            }),
            Method::Oidc => settings
                .provider()
                .map(|provider| provider as Arc<dyn TokenProvider>)
                .map_err(|e| {
                    let reason = match e {
                        // The provider named the key at fault.
                        SaslError::Setting(error) => return error,
                        SaslError::Config { reason } => reason,
                        other => other.to_string(),
                    };
                    ConfigError::new(
                        "sasl_oauthbearer_token_endpoint_url",
                        settings.token_endpoint_url.as_deref().unwrap_or_default(),
                        reason,
                    )
                }),
        }
    }

    /// The SASL credentials the settings describe (for a SASL protocol).
    pub fn credentials(&self) -> Result<Option<Credentials>, ConfigError> {
        if !self.security_protocol.uses_sasl() {
            return Ok(None);
        }
        let mechanism = self.sasl_mechanism.unwrap_or(Mechanism::Plain);
        if mechanism == Mechanism::OAuthBearer {
            return self
                .oauthbearer_provider()
                .map(|p| Some(Credentials::OAuthBearer(p)));
        }
        let username = self.sasl_username.clone().ok_or_else(|| {
            ConfigError::new(
                "sasl_plain_username",
                "",
                format!("{mechanism} needs a user name"),
            )
        })?;
        let password = self.sasl_password.clone().ok_or_else(|| {
            ConfigError::new(
                "sasl_plain_password",
                "",
                format!("{mechanism} needs a password"),
            )
        })?;
        Ok(Some(Credentials::Password {
            mechanism,
            username,
            password,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_and_python_spellings_are_the_same_key() {
        let java = ClientConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("request.timeout.ms", "1500"),
        ])
        .unwrap();
        let python = ClientConfig::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("request_timeout_ms", "1500"),
        ])
        .unwrap();
        assert_eq!(java.bootstrap_servers, python.bootstrap_servers);
        assert_eq!(java.connection.request_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn metrics_push_is_on_unless_turned_off() {
        assert!(ClientConfig::default().enable_metrics_push);
        let off = ClientConfig::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("enable.metrics.push", "false"),
        ])
        .unwrap();
        assert!(!off.enable_metrics_push);
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_allowed() {
        let cases = [
            (("bootstrap_servers", "localhost"), "host:port"),
            (("request_timeout_ms", "soon"), "milliseconds"),
            (("security_protocol", "TLS"), "SASL_SSL"),
            (("sasl_mechanism", "GSSAPI"), "SCRAM-SHA-256"),
            (("max_in_flight_requests_per_connection", "0"), "at least 1"),
            (("ssl_check_hostname", "maybe"), "true or false"),
            (("send_buffer_bytes", "-5"), "-1"),
            (("metadata_recovery_strategy", "retry"), "rebootstrap"),
            (
                ("metadata_recovery_rebootstrap_trigger_ms", "-1"),
                "milliseconds",
            ),
            (("metadata_cluster_check_enable", "on"), "true or false"),
            (("enable_metrics_push", "sometimes"), "true or false"),
            (("bootstrap_resolve_timeout_ms", "soon"), "milliseconds"),
        ];
        for ((key, value), allowed) in cases {
            let error =
                ClientConfig::from_pairs([("bootstrap_servers", "a:1"), (key, value)]).unwrap_err();
            assert_eq!(error.key, key);
            assert!(error.reason.contains(allowed), "{error}");
        }
    }

    #[test]
    fn sasl_settings_must_fit_together_and_never_show_the_password() {
        let error = ClientConfig::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("security_protocol", "SASL_SSL"),
            ("sasl_mechanism", "SCRAM-SHA-512"),
            ("sasl_plain_username", "alice"),
        ])
        .unwrap_err();
        assert_eq!(error.key, "sasl_plain_password");
        let config = ClientConfig::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("security_protocol", "SASL_PLAINTEXT"),
            ("sasl_mechanism", "PLAIN"),
            ("sasl_plain_username", "alice"),
            ("sasl_plain_password", "hunter2"),
        ])
        .unwrap();
        let shown = format!("{config:?} {:?}", config.credentials().unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice"));
        let error =
            ClientConfig::from_pairs([("bootstrap_servers", "a:1"), ("sasl_mechanism", "PLAIN")])
                .unwrap_err();
        assert!(error.reason.contains("SASL_PLAINTEXT"), "{error}");
    }

    #[test]
    fn metadata_recovery_defaults_as_java_4_and_takes_both_spellings() {
        let default = ClientConfig::from_pairs([("bootstrap_servers", "a:1")]).unwrap();
        assert_eq!(
            default.metadata_recovery_strategy,
            RecoveryStrategy::Rebootstrap
        );
        assert_eq!(
            default.metadata_recovery_rebootstrap_trigger,
            Duration::from_secs(300)
        );
        let set = ClientConfig::from_pairs([
            ("bootstrap_servers", "a:1"),
            ("metadata.recovery.strategy", "NONE"),
            ("metadata_recovery_rebootstrap_trigger_ms", "2500"),
        ])
        .unwrap();
        assert!(default.metadata_cluster_check_enable);
        assert_eq!(default.bootstrap_resolve_timeout, Duration::ZERO);
        assert_eq!(set.metadata_recovery_strategy, RecoveryStrategy::None);
        assert_eq!(
            set.metadata_recovery_rebootstrap_trigger,
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn every_key_in_the_tables_is_one_set_takes() {
        for key in KEYS {
            let taken = ClientConfig::default().set(key, "");
            assert!(
                !matches!(taken, Ok(false)),
                "{key} is in KEYS but set refuses it"
            );
        }
        for key in METRICS_WINDOW_KEYS {
            let taken = metrics_window(&mut WindowConfig::default(), key, "1");
            assert_eq!(taken, Ok(true), "{key}");
        }
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let error = ClientConfig::from_pairs([("bootstrap_servers", "a:1"), ("linger.ms", "5")])
            .unwrap_err();
        assert_eq!(
            (error.key.as_str(), error.reason.as_str()),
            ("linger_ms", "unknown key")
        );
    }
}
