//! The broker harness: a real Apache Kafka (KRaft) on this machine, from
//! Maven Central's jars (the default) or from the `apache/kafka` image
//! through testcontainers.

pub mod config;
pub mod docker;
pub mod jars;
pub mod local;
pub mod probe;
pub mod process;
pub mod security;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

pub use local::{Lifetime, LocalCluster};

/// Where a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// JVM processes on this machine, jars from Maven Central.
    Local,
    /// The `apache/kafka` image in a Docker engine, through testcontainers.
    Docker,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Apache Kafka release, e.g. `4.4.0` or `3.9.2`.
    pub version: String,
    /// Number of combined broker+controller nodes.
    pub brokers: usize,
    /// The harness's folder (jar cache, cluster folders).
    pub harness_dir: PathBuf,
    /// Add SASL_PLAINTEXT, SSL and SASL_SSL listeners (see [`security`]).
    pub security: bool,
    /// More `server.properties` lines (`key`, `value`), after the harness's
    /// own so they win: a test that needs short SASL sessions, say.
    /// `{node_id}` in a value becomes each node's id (`broker.rack`).
    pub extra_properties: Vec<(String, String)>,
    /// Feature levels the storage is formatted with (`StorageTool format
    /// --feature name=level`, Kafka 3.9+), instead of the release's
    /// defaults: `("transaction.version", 1)` keeps KIP-890's transactions
    /// V2 off on a 4.x cluster, say. The local backend only.
    pub features: Vec<(String, u16)>,
    /// Kafka's own settings for what the harness otherwise tunes for fast
    /// tests: automatic topic creation on, `group.initial.rebalance.delay.ms`
    /// 3000, the default broker session and replica lag timeouts, the
    /// default partition counts of the internal topics and thread counts.
    /// Replication factors still follow the cluster's size (a single node
    /// cannot hold three replicas), and memory stays sized for a small
    /// machine. A broker as users run it, for the `default_broker` tests.
    pub defaults: bool,
    /// The client (PLAINTEXT) port of each node, in node order, instead of
    /// free ones: a cluster started on the port another one had, to stand
    /// behind the same bootstrap address. Empty: free ports. The local
    /// backend only.
    pub client_ports: Vec<u16>,
    /// Classes put before Kafka's jars on the brokers' classpath: a plugin
    /// a test compiled (`metric.reporters`, say). Empty: none. The local
    /// backend only.
    pub extra_classpath: String,
    /// More options for the brokers' JVMs (`-Dname=value`), after the
    /// harness's own: a system property a broker plugin reads, say. Empty:
    /// none. The local backend only.
    pub jvm_options: Vec<String>,
    /// The loopback address the client listeners bind and advertise
    /// (`127.0.0.1`, or another of 127.0.0.0/8 so two clusters can share a
    /// port). The local backend only.
    pub client_host: String,
}

impl StartOptions {
    /// A single node of the default version, under the default harness folder.
    pub fn single_node() -> Self {
        StartOptions {
            version: jars::DEFAULT_KAFKA_VERSION.to_string(),
            brokers: 1,
            harness_dir: harness_dir(),
            security: false,
            extra_properties: Vec::new(),
            features: Vec::new(),
            defaults: false,
            client_ports: Vec::new(),
            extra_classpath: String::new(),
            jvm_options: Vec::new(),
            client_host: "127.0.0.1".to_string(),
        }
    }
}

/// What runs: printed as one JSON line by `cargo xtask broker start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `local` or `docker`.
    pub backend: String,
    /// Apache Kafka release.
    pub version: String,
    /// KRaft cluster id.
    pub cluster_id: String,
    /// `host:port,host:port,...` for clients.
    pub bootstrap_servers: String,
    /// One entry per node.
    pub brokers: Vec<NodeInfo>,
    /// The cluster's folder.
    pub state_dir: PathBuf,
    /// The security listeners, users and certificates, when started with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<security::SecurityInfo>,
}

/// One node of a running cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// KRaft node id.
    pub node_id: u32,
    /// Host clients connect to.
    pub host: String,
    /// Client (PLAINTEXT) port.
    pub port: u16,
    /// Controller port (local backend).
    pub controller_port: u16,
    /// JVM process id (local backend).
    pub pid: Option<u32>,
    /// Container id (docker backend).
    pub container_id: Option<String>,
    /// Log directory.
    pub data_dir: PathBuf,
    /// Where the node's log goes.
    pub log_file: PathBuf,
}

/// The harness's folder: `target/kafka-harness` in the workspace (or under
/// `CARGO_TARGET_DIR`).
pub fn harness_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::workspace_root().join("target"), PathBuf::from)
        .join("kafka-harness")
}

fn state_file(harness_dir: &Path, name: &str) -> PathBuf {
    local::cluster_dir(harness_dir, name).join("cluster.json")
}

/// Starts a detached cluster named `name` and records it for `stop` and
/// `status`.
pub fn start_detached(
    options: &StartOptions,
    backend: Backend,
    name: &str,
) -> anyhow::Result<ClusterInfo> {
    if let Some(running) = running(&options.harness_dir, name)? {
        bail!(
            "a cluster named {name:?} already runs at {} (pids {:?}); `cargo xtask broker stop` first",
            running.bootstrap_servers,
            running
                .brokers
                .iter()
                .filter_map(|b| b.pid)
                .collect::<Vec<_>>()
        );
    }
    let dir = local::cluster_dir(&options.harness_dir, name);
    let info = match backend {
        Backend::Local => {
            let cluster = local::start(options, &dir, Lifetime::Detached)?;
            let info = cluster.info.clone();
            // Detached: the processes outlive this handle.
            std::mem::forget(cluster);
            info
        }
        Backend::Docker => docker::start_detached(options, &dir)?,
    };
    std::fs::write(
        state_file(&options.harness_dir, name),
        serde_json::to_string_pretty(&info)?,
    )?;
    Ok(info)
}

/// The recorded cluster `name` if any of its nodes still runs.
pub fn running(harness_dir: &Path, name: &str) -> anyhow::Result<Option<ClusterInfo>> {
    let path = state_file(harness_dir, name);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let info: ClusterInfo =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let any_alive = match info.backend.as_str() {
        "docker" => docker::any_running(&info),
        _ => info
            .brokers
            .iter()
            .filter_map(|b| b.pid)
            .any(process::alive),
    };
    Ok(any_alive.then_some(info))
}

/// Stops the recorded cluster `name`; returns what was stopped.
pub fn stop(harness_dir: &Path, name: &str) -> anyhow::Result<Option<ClusterInfo>> {
    let Some(info) = running(harness_dir, name)? else {
        let _ = std::fs::remove_file(state_file(harness_dir, name));
        return Ok(None);
    };
    if info.backend == "docker" {
        docker::stop(&info);
    } else {
        let pids: Vec<u32> = info.brokers.iter().filter_map(|b| b.pid).collect();
        process::terminate(&pids, std::time::Duration::from_secs(30));
    }
    std::fs::remove_file(state_file(harness_dir, name))?;
    Ok(Some(info))
}

/// One line per node: id, address, pid, alive or not.
pub fn status(harness_dir: &Path, name: &str) -> anyhow::Result<String> {
    let Some(info) = running(harness_dir, name)? else {
        return Ok(format!("no cluster named {name:?} runs"));
    };
    let mut out = format!(
        "cluster {name:?}: Apache Kafka {} ({}), bootstrap {}\n",
        info.version, info.backend, info.bootstrap_servers
    );
    for node in &info.brokers {
        let state = match node.pid {
            Some(pid) if process::alive(pid) => format!("running, pid {pid}"),
            Some(pid) => format!("dead, was pid {pid}"),
            None => "in a container".to_string(),
        };
        let _ = writeln!(
            out,
            "  node {} at {}:{}: {state}, log {}",
            node.node_id,
            node.host,
            node.port,
            node.log_file.display()
        );
    }
    Ok(out)
}

/// A cluster tied to this process, named `label-<pid>`, ended when this
/// process ends.
pub fn start_for_this_process(options: &StartOptions, label: &str) -> anyhow::Result<LocalCluster> {
    let dir = local::cluster_dir(
        &options.harness_dir,
        &format!("{label}-{}", std::process::id()),
    );
    local::start(options, &dir, Lifetime::TiedToThisProcess)
}

/// The given cluster's bootstrap servers, or a single node started for this
/// process (returned too, so the caller decides when it ends).
pub fn given_or_started(
    bootstrap: Option<&str>,
    label: &str,
) -> anyhow::Result<(Option<LocalCluster>, String)> {
    given_or_started_with(bootstrap, label, &StartOptions::single_node())
}

/// [`given_or_started`], a node started with `options` when none is given.
pub fn given_or_started_with(
    bootstrap: Option<&str>,
    label: &str,
    options: &StartOptions,
) -> anyhow::Result<(Option<LocalCluster>, String)> {
    if let Some(servers) = bootstrap {
        return Ok((None, servers.to_string()));
    }
    eprintln!(
        "starting Apache Kafka {} (KRaft, one node) on 127.0.0.1 ...",
        options.version
    );
    let started = std::time::Instant::now();
    let cluster = start_for_this_process(options, label)?;
    eprintln!(
        "broker serving at {} (started in {:.1}s)",
        cluster.info.bootstrap_servers,
        started.elapsed().as_secs_f64()
    );
    let servers = cluster.info.bootstrap_servers.clone();
    Ok((Some(cluster), servers))
}
