//! The broker a benchmark runs against (the one `--bootstrap-servers`
//! names, or a single node started for the run) and the client the
//! benchmark prepares its topics with.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrokafka_transport::Client;
use ferrokafka_transport::config::ClientConfig;

use crate::broker::{self, LocalCluster};

/// How long [`BenchBroker::delete_topic`] waits for a topic's folders.
const DELETION_WAIT: Duration = Duration::from_secs(120);

/// A benchmark's broker, with a runtime and a client connected to it.
pub struct BenchBroker {
    /// The node started for this run, if none was given.
    cluster: Option<LocalCluster>,
    /// Its bootstrap servers.
    pub bootstrap: String,
    /// The runtime `client` runs on.
    pub runtime: tokio::runtime::Runtime,
    /// A client for topic creation, deletion and checks.
    pub client: Client,
}

impl BenchBroker {
    /// Connects to `bootstrap_servers`, or starts a node labelled `label`.
    pub fn connect(bootstrap_servers: Option<&str>, label: &str) -> anyhow::Result<Self> {
        // A deleted topic's logs go at once rather than a minute later, so
        // they are gone before the next run (see `delete_topic`).
        let options = broker::StartOptions {
            extra_properties: vec![("log.segment.delete.delay.ms".into(), "0".into())],
            ..broker::StartOptions::single_node()
        };
        let (cluster, bootstrap) =
            broker::given_or_started_with(bootstrap_servers, label, &options)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(Client::connect(ClientConfig::from_pairs([(
            "bootstrap_servers",
            bootstrap.as_str(),
        )])?))?;
        Ok(BenchBroker {
            cluster,
            bootstrap,
            runtime,
            client,
        })
    }

    /// Deletes `topic` and, on a node this run started, waits until its
    /// partitions' folders are gone from the node's disk. Until then the
    /// broker keeps each partition's index files mapped: fresh topics of
    /// thousands of partitions created one after another would otherwise
    /// pile up past the kernel's limit on mappings (65,530 by default) and
    /// take the broker down, and their deletion would land on the next
    /// measured run.
    pub fn delete_topic(&self, topic: &str) -> anyhow::Result<()> {
        self.runtime
            .block_on(super::delete_topic(&self.client, topic))?;
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let prefix = format!("{topic}-");
        let deadline = Instant::now() + DELETION_WAIT;
        for node in &cluster.info.brokers {
            loop {
                let left = std::fs::read_dir(&node.data_dir)
                    .with_context(|| format!("reading {}", node.data_dir.display()))?
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
                    .count();
                if left == 0 {
                    break;
                }
                if Instant::now() >= deadline {
                    eprintln!(
                        "   {left} folder(s) of deleted topic {topic} still on node {} after {}s; going on",
                        node.node_id,
                        DELETION_WAIT.as_secs()
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Closes the client, then stops the node if this run started it.
    pub fn stop(self) {
        let BenchBroker {
            cluster,
            runtime,
            client,
            ..
        } = self;
        drop(client);
        drop(runtime);
        if let Some(cluster) = cluster {
            cluster.stop();
        }
    }
}
