//! The admin client's metrics as KIP-714 telemetry points. The Java admin
//! client has no metrics of its own beyond its network layer's, which it
//! keeps under `admin-client-metrics` and, per broker,
//! `admin-client-node-metrics`; pushed, they are
//! `org.apache.kafka.admin.client.*` and
//! `org.apache.kafka.admin.client.node.*`. These are the same, from the
//! cluster client's [`NetworkMetrics`].

use ferrokafka_telemetry::{MetricPoint, MetricValue, telemetry_name};
use ferrokafka_transport::NetworkMetrics;

const GROUP: &str = "admin-client-metrics";
const NODE_GROUP: &str = "admin-client-node-metrics";

/// Every metric in `metrics`, tagged with `client_id` (and `node_id`,
/// `node-<id>` as Java writes it, for the per-broker ones).
// Java pushes every gauge as a double; a count of open connections is far
// below 2^52, where the cast would start to round.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn points(metrics: &NetworkMetrics, client_id: &str) -> Vec<MetricPoint> {
    use MetricValue::{Counter, Gauge};
    let m = metrics;
    let client = [
        ("connection-count", Gauge(m.connection_count as f64)),
        (
            "connection-creation-total",
            Counter(m.connection_creation_total),
        ),
        (
            "connection-creation-rate",
            Gauge(m.connection_creation_rate),
        ),
        ("connection-close-total", Counter(m.connection_close_total)),
        ("connection-close-rate", Gauge(m.connection_close_rate)),
        ("request-total", Counter(m.request_total)),
        ("request-rate", Gauge(m.request_rate)),
        ("response-total", Counter(m.response_total)),
        ("response-rate", Gauge(m.response_rate)),
    ];
    let mut points: Vec<MetricPoint> = client
        .into_iter()
        .map(|(name, value)| {
            MetricPoint::new(telemetry_name(GROUP, name), value)
                .with_attribute("client_id", client_id)
        })
        .collect();
    for (node, n) in &m.nodes {
        let node_id = format!("node-{node}");
        let per_node = [
            ("request-total", Counter(n.request_total)),
            ("request-rate", Gauge(n.request_rate)),
            ("response-total", Counter(n.response_total)),
            ("response-rate", Gauge(n.response_rate)),
            ("request-latency-avg", Gauge(n.request_latency_avg_ms)),
            ("request-latency-max", Gauge(n.request_latency_max_ms)),
        ];
        points.extend(per_node.into_iter().map(|(name, value)| {
            MetricPoint::new(telemetry_name(NODE_GROUP, name), value)
                .with_attribute("client_id", client_id)
                .with_attribute("node_id", node_id.as_str())
        }));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_transport::NodeMetrics;

    #[test]
    fn names_follow_the_java_admin_client() {
        let mut metrics = NetworkMetrics {
            connection_count: 2,
            request_total: 9,
            ..NetworkMetrics::default()
        };
        metrics.nodes.insert(
            3,
            NodeMetrics {
                request_total: 4,
                request_latency_max_ms: 12.5,
                ..NodeMetrics::default()
            },
        );
        let points = points(&metrics, "a1");
        let find = |name: &str| {
            points
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let requests = find("org.apache.kafka.admin.client.request.total");
        assert_eq!(requests.value, MetricValue::Counter(9));
        assert_eq!(requests.attributes, [("client_id".into(), "a1".into())]);
        assert_eq!(
            find("org.apache.kafka.admin.client.connection.count").value,
            MetricValue::Gauge(2.0)
        );
        let node = find("org.apache.kafka.admin.client.node.request.latency.max");
        assert_eq!(node.value, MetricValue::Gauge(12.5));
        assert_eq!(node.attributes[1], ("node_id".into(), "node-3".into()));
        assert_eq!(
            find("org.apache.kafka.admin.client.node.request.total").value,
            MetricValue::Counter(4)
        );
    }
}
