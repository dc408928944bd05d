//! Support for ferrokafka's integration tests: one running broker per test
//! run, shared by every test, and unique topic names per test.
//!
//! The broker is, in order of preference: the cluster named by
//! `KAFKA_BOOTSTRAP_SERVERS` (an existing cluster, or the one `cargo xtask
//! test` starts), the harness's running `default` cluster (`cargo xtask broker
//! start`), or a single node started for this test process and ended with it.

pub mod idp;
pub mod oidc;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use xtask::broker::{self, LocalCluster, StartOptions};

/// The environment variable naming an existing cluster to test against.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// The shared broker's bootstrap servers, `host:port[,host:port...]`.
pub fn bootstrap_servers() -> &'static str {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    static OWN_CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    BOOTSTRAP.get_or_init(|| {
        if let Ok(servers) = std::env::var(BOOTSTRAP_ENV)
            && !servers.trim().is_empty()
        {
            return servers;
        }
        if let Ok(Some(running)) = broker::running(&broker::harness_dir(), "default") {
            return running.bootstrap_servers;
        }
        let cluster = start_cluster(1);
        let servers = cluster.info.bootstrap_servers.clone();
        // Kept for the life of the process; its watchdog ends it afterwards.
        let _ = OWN_CLUSTER.set(cluster);
        servers
    })
}

/// The environment variable naming a cluster with Kafka's own settings
/// (`cargo xtask broker start --defaults`) for the default-settings tests.
pub const DEFAULTS_BOOTSTRAP_ENV: &str = "KAFKA_DEFAULTS_BOOTSTRAP_SERVERS";

/// A broker with Kafka's default settings (automatic topic creation on,
/// a 3 s initial rebalance delay, default timeouts): the cluster named by
/// `KAFKA_DEFAULTS_BOOTSTRAP_SERVERS` (`cargo xtask test` starts one, of
/// the newest 4.x and then of the newest 3.9.x), or a node of the newest
/// release started once for this test process.
pub fn defaults_bootstrap_servers() -> &'static str {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    static OWN_CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    BOOTSTRAP.get_or_init(|| {
        if let Ok(servers) = std::env::var(DEFAULTS_BOOTSTRAP_ENV)
            && !servers.trim().is_empty()
        {
            return servers;
        }
        let cluster = start_cluster_with(&StartOptions {
            defaults: true,
            ..StartOptions::single_node()
        });
        let servers = cluster.info.bootstrap_servers.clone();
        let _ = OWN_CLUSTER.set(cluster);
        servers
    })
}

/// A single node with the `--security` listeners (SASL_PLAINTEXT, SSL,
/// SASL_SSL), started once per test process and shared by its tests.
pub fn security_cluster() -> &'static broker::ClusterInfo {
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    &CLUSTER
        .get_or_init(|| {
            start_cluster_with(&StartOptions {
                security: true,
                ..StartOptions::single_node()
            })
        })
        .info
}

/// A cluster of `brokers` nodes of its own, for tests that kill or restart
/// nodes. It ends when dropped, or when the test process ends.
pub fn start_cluster(brokers: usize) -> LocalCluster {
    start_cluster_with(&StartOptions {
        brokers,
        ..StartOptions::single_node()
    })
}

/// A cluster of its own as `options` describe it (another Kafka version,
/// say), ended when dropped or when the test process ends.
pub fn start_cluster_with(options: &StartOptions) -> LocalCluster {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let brokers = options.brokers;
    let label = format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    broker::start_for_this_process(options, &label)
        .unwrap_or_else(|e| panic!("starting a {brokers}-node test cluster: {e:#}"))
}

/// A topic name no other test (or earlier run against the same cluster) uses.
pub fn unique_topic(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{test}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `topic` with the given partitions and replication factor, and
/// waits until every partition has a leader, so the test's first request
/// does not race the election.
///
/// # Panics
/// If the broker refuses: the test cannot go on.
pub async fn create_topic(
    client: &ferrokafka_transport::Client,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
) {
    create_topic_with_configs(client, topic, partitions, replication_factor, &[]).await;
}

/// [`create_topic`] for records stamped long ago (tests that pin their
/// timestamps): time-based retention is off, since the broker's retention
/// check (every 5 minutes by default) would otherwise empty the topic
/// whenever it runs during the test.
///
/// # Panics
/// If the broker refuses: the test cannot go on.
pub async fn create_topic_keeping_old_records(
    client: &ferrokafka_transport::Client,
    topic: &str,
    partitions: i32,
) {
    create_topic_with_configs(client, topic, partitions, 1, &[("retention.ms", "-1")]).await;
}

async fn create_topic_with_configs(
    client: &ferrokafka_transport::Client,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
) {
    use ferrokafka_admin::topics::NewTopic;
    use ferrokafka_protocol::messages::CreateTopicsRequest;
    let response = client
        .send_any(&CreateTopicsRequest {
            topics: vec![
                configs
                    .iter()
                    .fold(
                        NewTopic::new(topic, partitions, replication_factor),
                        |t, (k, v)| t.config(*k, *v),
                    )
                    .to_request(),
            ],
            timeout_ms: 30_000,
            ..CreateTopicsRequest::default()
        })
        .await
        .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
    assert_eq!(
        response.topics[0].error_code, 0,
        "creating {topic}: {response:?}"
    );
    client
        .topic(topic)
        .await
        .unwrap_or_else(|e| panic!("waiting for the leaders of {topic}: {e}"));
}

/// [`create_topic`] for tests that are not async, on the shared cluster.
pub fn create_topic_blocking(topic: &str, partitions: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for creating a topic");
    runtime.block_on(async {
        let config = ferrokafka_transport::config::ClientConfig::from_pairs([(
            "bootstrap_servers",
            bootstrap_servers(),
        )])
        .expect("the shared cluster's address is valid");
        let client = ferrokafka_transport::Client::connect(config)
            .await
            .unwrap_or_else(|e| panic!("connecting to create {topic}: {e}"));
        create_topic(&client, topic, partitions, 1).await;
    });
}

/// Describes `topic` with `admin` until `done` holds for its description
/// (`what` names the wait in the failure), within 40 s: for a change the
/// brokers make in their own time (a reassignment, an election).
pub async fn described_until(
    admin: &ferrokafka_admin::Admin,
    topic: &str,
    what: &str,
    done: impl Fn(&ferrokafka_admin::topics::TopicDescription) -> bool,
) -> ferrokafka_admin::topics::TopicDescription {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let options = ferrokafka_admin::AdminOptions::new().timeout(std::time::Duration::from_secs(30));
    loop {
        let described = admin.describe_topics(&[topic], &options).await;
        if let Some(Ok(description)) = described.get(topic)
            && done(description)
        {
            return description.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {described:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
