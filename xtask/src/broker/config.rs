//! The broker configuration the harness writes: KRaft combined mode on
//! 127.0.0.1, sized for small machines and fast tests (or, with
//! `defaults`, with Kafka's own settings for what is tuned for speed).

use std::fmt::Write as _;
use std::path::Path;

use super::security::{self, Certificates, SecurePorts};

/// One node's place in the cluster.
#[derive(Debug, Clone)]
pub struct NodeAddress {
    /// KRaft node id (1-based).
    pub node_id: u32,
    /// The loopback address of the PLAINTEXT client listener.
    pub host: String,
    /// Port of the PLAINTEXT client listener.
    pub port: u16,
    /// Port of the CONTROLLER listener.
    pub controller_port: u16,
    /// Ports of the security listeners, when the cluster has them.
    pub secure: Option<SecurePorts>,
}

/// `server.properties` for `node`, a member of a cluster made of `all`.
pub fn server_properties(
    node: &NodeAddress,
    all: &[NodeAddress],
    data_dir: &Path,
    certificates: Option<&Certificates>,
    defaults: bool,
    extra: &[(String, String)],
) -> String {
    let n = all.len();
    let min_isr = n.min(2);
    let voters: Vec<String> = all
        .iter()
        .map(|a| format!("{}@127.0.0.1:{}", a.node_id, a.controller_port))
        .collect();
    let mut out = String::new();
    let mut set = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{key}={value}");
    };
    set("process.roles", &"broker,controller");
    set("node.id", &node.node_id);
    set("controller.quorum.voters", &voters.join(","));
    let mut listeners = vec![
        format!("PLAINTEXT://{}:{}", node.host, node.port),
        format!("CONTROLLER://127.0.0.1:{}", node.controller_port),
    ];
    let mut protocols = vec!["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"];
    if let Some(secure) = node.secure {
        listeners.push(format!(
            "SASL_PLAINTEXT://127.0.0.1:{}",
            secure.sasl_plaintext
        ));
        listeners.push(format!("SSL://127.0.0.1:{}", secure.ssl));
        listeners.push(format!("SASL_SSL://127.0.0.1:{}", secure.sasl_ssl));
        protocols.extend([
            "SASL_PLAINTEXT:SASL_PLAINTEXT",
            "SSL:SSL",
            "SASL_SSL:SASL_SSL",
        ]);
    }
    let advertised: Vec<&String> = listeners
        .iter()
        .filter(|l| !l.starts_with("CONTROLLER:"))
        .collect();
    set("listeners", &listeners.join(","));
    set(
        "advertised.listeners",
        &advertised
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    set("inter.broker.listener.name", &"PLAINTEXT");
    set("controller.listener.names", &"CONTROLLER");
    set("listener.security.protocol.map", &protocols.join(","));
    set("log.dirs", &data_dir.display());
    // Kafka's defaults of these ask for three replicas: sized to the cluster.
    set("default.replication.factor", &n);
    set("min.insync.replicas", &min_isr);
    set("offsets.topic.replication.factor", &n);
    set("transaction.state.log.replication.factor", &n);
    set("transaction.state.log.min.isr", &min_isr);
    set("share.coordinator.state.topic.replication.factor", &n);
    set("share.coordinator.state.topic.min.isr", &min_isr);
    // Kafka's default is 128 MiB, more than the small heap the harness
    // gives each node.
    set("log.cleaner.dedupe.buffer.size", &(16 * 1024 * 1024));
    if !defaults {
        // Tests create their topics explicitly, with the partition count
        // they need.
        set("auto.create.topics.enable", &false);
        set("num.partitions", &1);
        set("offsets.topic.num.partitions", &10);
        set("transaction.state.log.num.partitions", &10);
        // A test that starts a group must not wait three seconds for nothing.
        set("group.initial.rebalance.delay.ms", &0);
        // A killed node leaves the ISR within seconds, not the default 30 s,
        // so fault tests finish quickly.
        set("broker.session.timeout.ms", &6000);
        set("replica.lag.time.max.ms", &10000);
        // Share groups (KIP-932): members learn their assignment within a
        // second, a share-group test may lower its record locks to a
        // second, and the share state topic is as small as the others.
        set("group.share.min.heartbeat.interval.ms", &500);
        set("group.share.heartbeat.interval.ms", &1000);
        set("group.share.min.record.lock.duration.ms", &1000);
        set("share.coordinator.state.topic.num.partitions", &10);
        set("num.network.threads", &2);
        set("num.io.threads", &4);
    }
    if let Some(certificates) = certificates {
        out.push_str(&security::properties(certificates));
    }
    for (key, value) in extra {
        // `{node_id}` in a value is this node's id: per-node settings
        // such as `broker.rack=rack-{node_id}`.
        let value = value.replace("{node_id}", &node.node_id.to_string());
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

/// Log4j 2 configuration (Kafka 4.x): INFO to the process's stdout, which
/// the harness sends to the node's log file. The properties format needs no
/// parser beyond log4j-core itself.
pub const LOG4J2_PROPERTIES: &str = "status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
";

/// reload4j configuration (Kafka 3.x), same behaviour as [`LOG4J2_PROPERTIES`].
pub const LOG4J_PROPERTIES: &str = "log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
";

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{NodeAddress, server_properties};

    fn properties(defaults: bool, extra: &[(String, String)]) -> Vec<(String, String)> {
        let node = NodeAddress {
            node_id: 1,
            host: "127.0.0.1".to_string(),
            port: 9092,
            controller_port: 9093,
            secure: None,
        };
        server_properties(
            &node,
            std::slice::from_ref(&node),
            Path::new("/data"),
            None,
            defaults,
            extra,
        )
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn value<'a>(properties: &'a [(String, String)], key: &str) -> Option<&'a str> {
        // The last line wins, as in Java's Properties.
        properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_tuned_broker_creates_no_topics_and_waits_for_no_group() {
        let tuned = properties(false, &[]);
        assert_eq!(value(&tuned, "auto.create.topics.enable"), Some("false"));
        assert_eq!(value(&tuned, "group.initial.rebalance.delay.ms"), Some("0"));
        assert_eq!(value(&tuned, "broker.session.timeout.ms"), Some("6000"));
    }

    #[test]
    fn defaults_leave_kafkas_own_settings_but_fit_the_cluster_size() {
        let defaults = properties(true, &[]);
        for key in [
            "auto.create.topics.enable",
            "group.initial.rebalance.delay.ms",
            "broker.session.timeout.ms",
            "replica.lag.time.max.ms",
            "offsets.topic.num.partitions",
        ] {
            assert_eq!(value(&defaults, key), None, "{key} is set");
        }
        assert_eq!(
            value(&defaults, "offsets.topic.replication.factor"),
            Some("1")
        );
    }

    #[test]
    fn properties_given_win() {
        let extra = [
            ("auto.create.topics.enable".to_string(), "true".to_string()),
            ("broker.rack".to_string(), "rack-{node_id}".to_string()),
        ];
        let tuned = properties(false, &extra);
        assert_eq!(value(&tuned, "auto.create.topics.enable"), Some("true"));
        assert_eq!(value(&tuned, "broker.rack"), Some("rack-1"));
    }
}
