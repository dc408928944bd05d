//! The admin client handle and its configuration.

use std::time::{Duration, Instant};

use ferrokafka_transport::Client;
use ferrokafka_transport::config::ClientConfig;

use crate::{AdminError, AdminOptions};

/// The admin client's settings: the transport and security keys of
/// [`ClientConfig`] (`bootstrap_servers`, `security_protocol`, `sasl_*`,
/// `ssl_*`, `request_timeout_ms`, `default_api_timeout_ms`, ...).
///
/// `default_api_timeout_ms` is the timeout of an operation whose
/// [`AdminOptions`] sets none.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// The transport settings.
    pub client: ClientConfig,
}

impl AdminConfig {
    /// A config from `key = value` pairs; keys may use `.` or `_`
    /// (`bootstrap.servers` or `bootstrap_servers`).
    ///
    /// ```
    /// use ferrokafka_admin::AdminConfig;
    /// let config = AdminConfig::from_pairs([("bootstrap.servers", "127.0.0.1:9092")]).unwrap();
    /// assert_eq!(config.client.bootstrap_servers, ["127.0.0.1:9092"]);
    /// assert!(AdminConfig::from_pairs([("no_such_key", "1")]).is_err());
    /// ```
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<AdminConfig, AdminError> {
        Ok(AdminConfig {
            client: ClientConfig::from_pairs(pairs)?,
        })
    }
}

/// The admin client. Clones share one cluster client (its connections and
/// metadata).
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
}

impl Admin {
    /// Connects to the cluster named by `config.client.bootstrap_servers`.
    pub async fn connect(config: AdminConfig) -> Result<Admin, AdminError> {
        let mut client = config.client;
        // Describing or deleting a topic must never be what creates it.
        client.allow_auto_topic_creation = false;
        Ok(Admin::with_client(Client::connect(client).await?))
    }

    /// An admin client on an existing cluster client (shared with a
    /// producer or consumer, or an in-memory cluster in tests).
    pub fn with_client(client: Client) -> Admin {
        Admin { client }
    }

    /// The cluster client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// When an operation started now with `options` must end.
    pub(crate) fn deadline(&self, options: &AdminOptions) -> Instant {
        Instant::now() + options.timeout_or(self.client.config().default_api_timeout)
    }

    /// The pause between attempts of a retriable failure.
    pub(crate) fn retry_backoff(&self) -> Duration {
        self.client.config().retry_backoff
    }
}
