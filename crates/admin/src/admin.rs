//! The admin client handle and its configuration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_protocol::Uuid;
use ferrokafka_telemetry::{TelemetryHandle, TelemetrySlot};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::{Client, NetworkMetrics};

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
/// metadata) and one telemetry task.
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
    telemetry: Arc<TelemetrySlot>,
}

impl Admin {
    /// Connects to the cluster named by `config.client.bootstrap_servers`,
    /// and pushes its metrics to the brokers when they subscribe to them
    /// (KIP-714, unless `enable_metrics_push=false`; see
    /// [`Admin::push_metrics`]).
    pub async fn connect(config: AdminConfig) -> Result<Admin, AdminError> {
        let mut client = config.client;
        // Describing or deleting a topic must never be what creates it.
        client.allow_auto_topic_creation = false;
        Ok(Admin::with_client(Client::connect(client).await?).push_metrics())
    }

    /// An admin client on an existing cluster client (shared with a
    /// producer or consumer, or an in-memory cluster in tests). It pushes
    /// no telemetry unless [`Admin::push_metrics`] says so: the producer or
    /// consumer sharing the client pushes its own already.
    pub fn with_client(client: Client) -> Admin {
        Admin {
            client,
            telemetry: Arc::new(TelemetrySlot::default()),
        }
    }

    /// Starts pushing this admin client's metrics ([`Admin::metrics`]) to
    /// the brokers as KIP-714 telemetry, when an operator subscribes to
    /// them (`org.apache.kafka.admin.client.` metrics) and
    /// `enable_metrics_push` (default true) allows it. Outside a tokio
    /// runtime there is nothing to run the pushes on, and nothing starts.
    ///
    /// ```no_run
    /// # async fn example(client: ferrokafka_transport::Client) {
    /// use std::time::Duration;
    /// use ferrokafka_admin::Admin;
    ///
    /// let admin = Admin::with_client(client).push_metrics();
    /// if let Some(id) = admin.client_instance_id(Duration::from_secs(5)).await {
    ///     println!("the brokers know this admin client as {id:?}");
    /// }
    /// admin.close(Duration::from_secs(5)).await;
    /// # }
    /// ```
    #[must_use]
    pub fn push_metrics(mut self) -> Admin {
        if tokio::runtime::Handle::try_current().is_err() {
            return self;
        }
        let client_id = self.client.config().client_id.clone();
        // The task holds the cluster client until the last clone of this
        // admin is dropped, which aborts it.
        let client = self.client.clone();
        let source = move || crate::telemetry::points(&client.network_metrics(), &client_id);
        let handle = TelemetryHandle::spawn(
            self.client.clone(),
            self.client.config().enable_metrics_push,
            Arc::new(source),
        );
        self.telemetry = Arc::new(TelemetrySlot::new(Some(handle)));
        self
    }

    /// The admin client's metrics: its cluster client's requests,
    /// responses, connections and each broker's latency, as the Java admin
    /// client's `admin-client-metrics` and `admin-client-node-metrics`
    /// count them. A cluster client shared (see [`Admin::with_client`])
    /// counts everything sent over it.
    pub fn metrics(&self) -> NetworkMetrics {
        self.client.network_metrics()
    }

    /// The id the brokers gave this admin client for its telemetry (Java's
    /// `clientInstanceId(Duration)`), waiting at most `timeout` for the
    /// first subscription; `None` if none came in time, when it pushes no
    /// metrics (`enable_metrics_push=false`, [`Admin::with_client`]), or
    /// after [`Admin::close`].
    pub async fn client_instance_id(&self, timeout: Duration) -> Option<Uuid> {
        self.telemetry.client_instance_id(timeout).await
    }

    /// Ends the telemetry of this admin client and its clones: a last,
    /// terminating push of its metrics if the brokers subscribed to them,
    /// waiting at most `timeout` for it. Operations still work afterwards
    /// (pushing nothing); connections close when the last clone is dropped.
    pub async fn close(&self, timeout: Duration) {
        self.telemetry.close(timeout).await;
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
