//! The docker backend: the `apache/kafka` image through testcontainers, for
//! hosts with a Docker engine and no Java. One node only: a multi-node
//! cluster needs a container network the local backend does not.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use testcontainers::core::{IntoContainerPort as _, WaitFor};
use testcontainers::runners::SyncRunner as _;
use testcontainers::{GenericImage, ImageExt as _};

use super::{ClusterInfo, NodeInfo, StartOptions};

const IMAGE: &str = "apache/kafka";

/// The environment variable through which the `apache/kafka` image sets
/// the broker property `key`: `.` becomes `_`, `_` becomes `__` and `-`
/// becomes `___`, under a `KAFKA_` prefix.
fn env_name(key: &str) -> String {
    let mut name = String::from("KAFKA_");
    for c in key.chars() {
        match c {
            '.' => name.push('_'),
            '_' => name.push_str("__"),
            '-' => name.push_str("___"),
            c => name.push(c.to_ascii_uppercase()),
        }
    }
    name
}

/// Starts one node in a container that outlives this process.
pub fn start_detached(options: &StartOptions, dir: &Path) -> anyhow::Result<ClusterInfo> {
    if options.security {
        bail!(
            "the docker backend has no security listeners yet; use the local backend for --security"
        );
    }
    if !options.features.is_empty() {
        bail!(
            "the docker backend formats with the release's feature levels; use the local backend for features"
        );
    }
    if options.brokers != 1 {
        bail!(
            "the docker backend runs one node; use the local backend for --brokers {}",
            options.brokers
        );
    }
    std::fs::create_dir_all(dir)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut request = GenericImage::new(IMAGE, &options.version)
        .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
        .with_mapped_port(port, 9092.tcp())
        .with_env_var("KAFKA_NODE_ID", "1")
        .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env_var("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env_var(
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://127.0.0.1:{port}"),
        )
        .with_env_var("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env_var(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        )
        .with_env_var("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env_var("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1");
    if !options.defaults {
        request = request
            .with_env_var("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
            .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0");
    }
    for (key, value) in &options.extra_properties {
        request = request.with_env_var(env_name(key), value.replace("{node_id}", "1"));
    }
    let container = request
        .start()
        .map_err(|e| {
            anyhow::anyhow!(
                "no Docker engine answered, or it could not run {IMAGE}:{}: {e}\n\
                 Start a Docker engine (or set DOCKER_HOST), or use the default local backend (Java + Maven).",
                options.version
            )
        })?;
    let id = container.id().to_string();
    // The container must outlive this handle: `broker stop` removes it.
    std::mem::forget(container);
    Ok(ClusterInfo {
        backend: "docker".to_string(),
        version: options.version.clone(),
        cluster_id: String::new(),
        bootstrap_servers: format!("127.0.0.1:{port}"),
        brokers: vec![NodeInfo {
            node_id: 1,
            host: "127.0.0.1".to_string(),
            port,
            controller_port: 0,
            pid: None,
            container_id: Some(id.clone()),
            data_dir: "/var/lib/kafka/data".into(),
            log_file: format!("docker logs {id}").into(),
        }],
        state_dir: dir.to_path_buf(),
        security: None,
    })
}

/// Whether any of the cluster's containers still runs.
pub fn any_running(info: &ClusterInfo) -> bool {
    info.brokers
        .iter()
        .filter_map(|b| b.container_id.as_deref())
        .any(|id| {
            Command::new("docker")
                .args(["inspect", "-f", "{{.State.Running}}", id])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
        })
}

/// Removes the cluster's containers.
pub fn stop(info: &ClusterInfo) {
    for id in info
        .brokers
        .iter()
        .filter_map(|b| b.container_id.as_deref())
    {
        let _ = Command::new("docker")
            .args(["rm", "-f", id])
            .status()
            .context("docker rm");
    }
}
