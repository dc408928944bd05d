//! The local backend: Kafka's jars from Maven Central run as JVM processes on
//! 127.0.0.1, one combined broker+controller per node.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::config::{self, NodeAddress};
use super::security::{self, SecurePorts, SecurityInfo};
use super::{ClusterInfo, NodeInfo, StartOptions, jars, probe, process};

/// How long a node may take from launch to answering requests.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How many times a start is retried with fresh ports when a port was taken
/// between choosing it and the broker binding it.
const PORT_ATTEMPTS: usize = 3;

/// Who ends the broker processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// They outlive this process; `cargo xtask broker stop` ends them.
    Detached,
    /// They end when this process ends, however it ends: a watchdog shell
    /// kills them when the pipe this process holds is closed.
    TiedToThisProcess,
}

/// Brokers started by this process.
pub struct LocalCluster {
    /// What was started.
    pub info: ClusterInfo,
    children: Vec<Child>,
    /// How each node was launched, to launch it again.
    launches: Vec<Vec<OsString>>,
    watchdog: Option<(Child, ChildStdin)>,
}

/// The file listing the nodes' pids, which the watchdog reads when it ends
/// them (a restarted node has a new pid).
const PIDS_FILE: &str = "pids";

impl LocalCluster {
    /// Kills node `node_id` at once (SIGKILL), as a crash would.
    pub fn kill_node(&mut self, node_id: u32) -> anyhow::Result<()> {
        let index = self
            .info
            .brokers
            .iter()
            .position(|b| b.node_id == node_id)
            .with_context(|| format!("no node {node_id} in this cluster"))?;
        let child = &mut self.children[index];
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Starts node `node_id` again (after [`LocalCluster::kill_node`], or
    /// killing it first if it runs) with its data, and waits until it serves.
    pub fn restart_node(&mut self, node_id: u32) -> anyhow::Result<()> {
        let index = self
            .info
            .brokers
            .iter()
            .position(|b| b.node_id == node_id)
            .with_context(|| format!("no node {node_id} in this cluster"))?;
        let child = &mut self.children[index];
        if child.try_wait()?.is_none() {
            child.kill()?;
            child.wait()?;
        }
        let node = &self.info.brokers[index];
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&node.log_file)?;
        self.children[index] = launch(&self.launches[index], log)?;
        self.info.brokers[index].pid = Some(self.children[index].id());
        write_pids(&self.info.state_dir, &self.children)?;
        let addr = client_address(&self.info.brokers[index])?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while probe::api_versions(addr, Duration::from_secs(2)).is_err() {
            if let Some(status) = self.children[index].try_wait()? {
                bail!("node {node_id} exited while restarting ({status})");
            }
            if Instant::now() > deadline {
                bail!("node {node_id} did not answer within {READY_TIMEOUT:?} of its restart");
            }
            // Polling a port that is not open yet: there is no event to wait on.
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    /// Ends every node and, for a cluster tied to this process, removes its
    /// folder.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let pids: Vec<u32> = self.children.iter().map(Child::id).collect();
        process::terminate(&pids, Duration::from_secs(20));
        for child in &mut self.children {
            let _ = child.wait();
        }
        self.children.clear();
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            // Closing the pipe lets the watchdog finish its clean-up.
            drop(stdin);
            let _ = watchdog.wait();
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a cluster under `dir` and waits until every node serves.
pub fn start(
    options: &StartOptions,
    dir: &Path,
    lifetime: Lifetime,
) -> anyhow::Result<LocalCluster> {
    crate::tools::require("java", "a Java 17+ runtime")?;
    let libs = jars::resolve(&options.harness_dir, &options.version)?;
    let mut classpath = jars::classpath(&libs)?;
    if !options.extra_classpath.is_empty() {
        classpath = format!("{}:{classpath}", options.extra_classpath);
    }
    let mut last_error = None;
    for _ in 0..PORT_ATTEMPTS {
        match start_once(options, dir, lifetime, &classpath) {
            Ok(cluster) => return Ok(cluster),
            Err(StartError::PortTaken(e)) => last_error = Some(e),
            Err(StartError::Other(e)) => return Err(e),
        }
    }
    Err(last_error
        .expect("at least one attempt")
        .context("ports kept being taken by other programs"))
}

enum StartError {
    PortTaken(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Other(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Other(e.into())
    }
}

fn start_once(
    options: &StartOptions,
    dir: &Path,
    lifetime: Lifetime,
    classpath: &str,
) -> Result<LocalCluster, StartError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let addresses = node_addresses(options)?;
    let certificates = if options.security {
        Some(security::make_certificates(&dir.join("certificates"))?)
    } else {
        None
    };
    let cluster_id = random_cluster_id();
    let log4j2 = dir.join("log4j2.properties");
    let log4j = dir.join("log4j.properties");
    std::fs::write(&log4j2, config::LOG4J2_PROPERTIES)?;
    std::fs::write(&log4j, config::LOG4J_PROPERTIES)?;

    let mut nodes = Vec::new();
    for address in &addresses {
        let node_dir = dir.join(format!("node-{}", address.node_id));
        let data_dir = node_dir.join("data");
        std::fs::create_dir_all(&data_dir)?;
        let properties = node_dir.join("server.properties");
        std::fs::write(
            &properties,
            config::server_properties(
                address,
                &addresses,
                &data_dir,
                certificates.as_ref(),
                options.defaults,
                &options.extra_properties,
            ),
        )?;
        nodes.push((address.clone(), node_dir, data_dir, properties));
    }

    let java = |main: &str, jvm_options: &[&str]| {
        let mut command = Command::new("java");
        command
            .args(jvm_options)
            .arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
            .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
            .arg("-Djava.awt.headless=true")
            .arg("-cp")
            .arg(classpath)
            .arg(main);
        command
    };

    // Formatting runs one short JVM per node; they are independent.
    let formats: Vec<_> =
        nodes
            .iter()
            .map(|(_, node_dir, _, properties)| {
                let log = std::fs::File::create(node_dir.join("format.log"))?;
                java("kafka.tools.StorageTool", &[])
                    .arg("format")
                    .arg(format!("--cluster-id={cluster_id}"))
                    .arg("-c")
                    .arg(properties)
                    .args(if options.security {
                        security::scram_format_args()
                    } else {
                        Vec::new()
                    })
                    .args(options.features.iter().flat_map(|(name, level)| {
                        ["--feature".to_string(), format!("{name}={level}")]
                    }))
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .context("starting kafka.tools.StorageTool")
            })
            .collect::<anyhow::Result<_>>()?;
    for ((_, node_dir, _, _), mut format) in nodes.iter().zip(formats) {
        if !format.wait()?.success() {
            let log = node_dir.join("format.log");
            return Err(StartError::Other(anyhow::anyhow!(
                "formatting KRaft storage failed:\n{}",
                process::tail(&log, 30)
            )));
        }
    }

    let mut children = Vec::new();
    let mut launches = Vec::new();
    let mut infos = Vec::new();
    for (address, node_dir, data_dir, properties) in &nodes {
        let log_file = node_dir.join("server.log");
        let log = std::fs::File::create(&log_file)?;
        // The heap fits a 2-core, 24 GiB machine running three nodes and the
        // test processes side by side.
        let mut jvm_options = vec![
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
        ];
        jvm_options.extend(options.jvm_options.iter().map(String::as_str));
        let arguments: Vec<OsString> = java("kafka.Kafka", &jvm_options)
            .arg(properties)
            .get_args()
            .map(OsString::from)
            .collect();
        let child = launch(&arguments, log)?;
        launches.push(arguments);
        infos.push(NodeInfo {
            node_id: address.node_id,
            host: address.host.clone(),
            port: address.port,
            controller_port: address.controller_port,
            pid: Some(child.id()),
            container_id: None,
            data_dir: data_dir.clone(),
            log_file,
        });
        children.push(child);
    }

    write_pids(dir, &children)?;
    let watchdog = match lifetime {
        Lifetime::Detached => None,
        Lifetime::TiedToThisProcess => Some(spawn_watchdog(dir)?),
    };
    let mut cluster = LocalCluster {
        info: ClusterInfo {
            backend: "local".to_string(),
            version: options.version.clone(),
            cluster_id,
            bootstrap_servers: infos
                .iter()
                .map(|n| format!("{}:{}", n.host, n.port))
                .collect::<Vec<_>>()
                .join(","),
            brokers: infos,
            state_dir: dir.to_path_buf(),
            security: certificates.map(|c| {
                let ports: Vec<SecurePorts> = addresses.iter().filter_map(|a| a.secure).collect();
                SecurityInfo::new(&ports, c)
            }),
        },
        children,
        launches,
        watchdog,
    };
    if let Err(e) = wait_until_serving(&mut cluster) {
        let port_taken = cluster
            .info
            .brokers
            .iter()
            .any(|b| process::tail(&b.log_file, 200).contains("Address already in use"));
        cluster.shutdown();
        return Err(if port_taken {
            StartError::PortTaken(e)
        } else {
            StartError::Other(e)
        });
    }
    Ok(cluster)
}

fn wait_until_serving(cluster: &mut LocalCluster) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut pending: Vec<usize> = (0..cluster.info.brokers.len()).collect();
    while !pending.is_empty() {
        for index in 0..cluster.children.len() {
            if let Some(status) = cluster.children[index].try_wait()? {
                let node = &cluster.info.brokers[index];
                bail!(
                    "broker node {} exited while starting ({status}); the end of {}:\n{}",
                    node.node_id,
                    node.log_file.display(),
                    process::tail(&node.log_file, 40)
                );
            }
        }
        pending.retain(|&index| {
            let node = &cluster.info.brokers[index];
            client_address(node).map_or(true, |addr| {
                probe::api_versions(addr, Duration::from_secs(2)).is_err()
            })
        });
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let node = &cluster.info.brokers[pending[0]];
            bail!(
                "broker node {} did not answer within {READY_TIMEOUT:?}; the end of {}:\n{}",
                node.node_id,
                node.log_file.display(),
                process::tail(&node.log_file, 40)
            );
        }
        // Polling a port that is not open yet: there is no event to wait on.
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// A shell that waits for end-of-file on its stdin (this process holding the
/// other end) and then kills the brokers and removes their folder.
fn spawn_watchdog(dir: &Path) -> anyhow::Result<(Child, ChildStdin)> {
    let script = r#"read -r _ignored; kill -9 $(cat "$DIR/pids") 2>/dev/null; rm -rf "$DIR""#;
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .env("DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the broker watchdog")?;
    let stdin = watchdog.stdin.take().context("watchdog stdin")?;
    Ok((watchdog, stdin))
}

/// Runs `java` with a node's arguments, its output to `log`, in a process
/// group of its own so a Ctrl-C meant for this process does not reach a
/// detached broker.
fn launch(arguments: &[OsString], log: std::fs::File) -> anyhow::Result<Child> {
    Command::new("java")
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting kafka.Kafka")
}

fn write_pids(dir: &Path, children: &[Child]) -> anyhow::Result<()> {
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    std::fs::write(dir.join(PIDS_FILE), pids.join(" "))
        .with_context(|| format!("writing {}", dir.join(PIDS_FILE).display()))
}

/// Where a node's client listener answers.
fn client_address(node: &NodeInfo) -> anyhow::Result<SocketAddr> {
    let ip: std::net::IpAddr = node.host.parse().with_context(|| {
        format!(
            "node {} host {:?} is not an IP address",
            node.node_id, node.host
        )
    })?;
    Ok(SocketAddr::new(ip, node.port))
}

/// The nodes' addresses: free ports, but the client ports `options` fixes.
fn node_addresses(options: &StartOptions) -> anyhow::Result<Vec<NodeAddress>> {
    let fixed = &options.client_ports;
    if !fixed.is_empty() && fixed.len() != options.brokers {
        bail!(
            "{} client ports given for {} nodes",
            fixed.len(),
            options.brokers
        );
    }
    // A fixed port was free when the free ones were picked, and so could be
    // picked for another listener: pick again until none coincide.
    for _ in 0..PORT_ATTEMPTS * 3 {
        let mut addresses =
            free_addresses(options.brokers, options.security, &options.client_host)?;
        let others: Vec<u16> = addresses
            .iter()
            .flat_map(|a| {
                let secure = a
                    .secure
                    .map_or_else(Vec::new, |s| vec![s.sasl_plaintext, s.ssl, s.sasl_ssl]);
                std::iter::once(a.controller_port).chain(secure)
            })
            .collect();
        if others.iter().any(|p| fixed.contains(p)) {
            continue;
        }
        for (address, &port) in addresses.iter_mut().zip(fixed) {
            address.port = port;
        }
        return Ok(addresses);
    }
    bail!("the free ports kept coinciding with the fixed client ports {fixed:?}")
}

/// Picks free loopback ports for `count` nodes, two each, holding them all
/// at once so no two coincide.
fn free_addresses(count: usize, secure: bool, host: &str) -> anyhow::Result<Vec<NodeAddress>> {
    let per_node = if secure { 5 } else { 2 };
    let listeners: Vec<TcpListener> = (0..count * per_node)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free ports on 127.0.0.1")?;
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    Ok(ports
        .chunks(per_node)
        .enumerate()
        .map(|(i, p)| NodeAddress {
            node_id: i as u32 + 1,
            host: host.to_string(),
            port: p[0],
            controller_port: p[1],
            secure: secure.then(|| SecurePorts {
                sasl_plaintext: p[2],
                ssl: p[3],
                sasl_ssl: p[4],
            }),
        })
        .collect())
}

/// A KRaft cluster id: 16 random bytes, base64url without padding, as
/// `kafka-storage.sh random-uuid` prints.
fn random_cluster_id() -> String {
    use base64::Engine as _;
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    // Like Kafka's own ids, never one that a command line would take for an option.
    bytes[0] &= 0x7f;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Where the harness keeps a named cluster's files.
pub fn cluster_dir(harness_dir: &Path, name: &str) -> PathBuf {
    harness_dir.join("clusters").join(name)
}
