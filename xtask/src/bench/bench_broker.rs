//! The broker a benchmark runs against (the one `--bootstrap-servers`
//! names, or a single node started for the run) and the client the
//! benchmark prepares its topics with.

use ferrokafka_transport::Client;
use ferrokafka_transport::config::ClientConfig;

use crate::broker::{self, LocalCluster};

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
        let (cluster, bootstrap) = broker::given_or_started(bootstrap_servers, label)?;
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
