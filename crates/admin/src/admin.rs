//! The admin client handle and its configuration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// metadata), one telemetry task, and being closed ([`Admin::close`]).
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
    telemetry: Arc<TelemetrySlot>,
    /// Set by [`Admin::close`]: every operation from then on fails with
    /// [`AdminError::Closed`], as the Java admin client refuses calls
    /// after `close()` instead of quietly reconnecting.
    closed: Arc<AtomicBool>,
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
            closed: Arc::new(AtomicBool::new(false)),
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

    /// Closes this admin client and its clones: every operation started
    /// afterwards (and every retry of one still running) fails with
    /// [`AdminError::Closed`], and the telemetry ends with a last,
    /// terminating push of its metrics if the brokers subscribed to them,
    /// waiting at most `timeout` for it. Closing again does nothing.
    /// [`Admin::metrics`] still answers; connections close when the last
    /// clone is dropped (a cluster client shared through
    /// [`Admin::with_client`] stays open for the others using it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use ferrokafka_admin::{Admin, AdminError, AdminOptions};
    /// use ferrokafka_transport::config::ClientConfig;
    /// use ferrokafka_transport::fake::FakeCluster;
    ///
    /// let cluster = FakeCluster::new(1, |_| None);
    /// let config = ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap())]).unwrap();
    /// let admin = Admin::with_client(cluster.client(config).await.unwrap());
    /// admin.close(Duration::from_secs(1)).await;
    /// admin.close(Duration::from_secs(1)).await; // a second close is harmless
    /// assert!(admin.is_closed());
    /// let error = admin.list_topics(false, &AdminOptions::new()).await.unwrap_err();
    /// assert!(matches!(error, AdminError::Closed));
    /// # }
    /// ```
    pub async fn close(&self, timeout: Duration) {
        // Marked first, so that nothing new starts while the last push runs.
        self.closed.store(true, Ordering::Release);
        self.telemetry.close(timeout).await;
    }

    /// Whether [`Admin::close`] was called on this admin client or a clone.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The cluster client underneath. It is not closed by
    /// [`Admin::close`]: requests sent on it directly still go out.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The cluster client for an operation's next request, unless this
    /// admin client is closed. Every operation reaches the cluster through
    /// here, so none outlives [`Admin::close`].
    pub(crate) fn live(&self) -> Result<&Client, AdminError> {
        if self.is_closed() {
            return Err(AdminError::Closed);
        }
        Ok(&self.client)
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
