//! The consumer's metrics as KIP-714 telemetry points, under the names the
//! Java consumer pushes: `org.apache.kafka.consumer.fetch.manager.*`
//! (`consumer-fetch-manager-metrics`, per topic with a `topic` tag) and
//! `org.apache.kafka.consumer.coordinator.*`
//! (`consumer-coordinator-metrics`).

use ferrokafka_telemetry::{MetricPoint, MetricValue, telemetry_name};

use crate::metrics::ConsumerMetrics;

const FETCH: &str = "consumer-fetch-manager-metrics";
const COORDINATOR: &str = "consumer-coordinator-metrics";

/// Every metric in `metrics` Java also has, tagged with `client_id` (and
/// `topic` for the per-topic ones), as Java tags them.
// Java pushes every gauge as a double; the lags here are far below 2^52,
// where the cast would start to round.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn points(metrics: &ConsumerMetrics, client_id: &str) -> Vec<MetricPoint> {
    use MetricValue::{Counter, Gauge};
    let m = metrics;
    let fetch = [
        ("records-consumed-total", Counter(m.records_consumed_total)),
        ("records-consumed-rate", Gauge(m.records_consumed_rate)),
        ("bytes-consumed-total", Counter(m.bytes_consumed_total)),
        ("bytes-consumed-rate", Gauge(m.bytes_consumed_rate)),
        ("fetch-total", Counter(m.fetch_total)),
        ("fetch-rate", Gauge(m.fetch_rate)),
        ("fetch-latency-avg", Gauge(m.fetch_latency_avg_ms)),
        ("fetch-latency-max", Gauge(m.fetch_latency_max_ms)),
        ("records-per-request-avg", Gauge(m.records_per_request_avg)),
        ("fetch-size-avg", Gauge(m.fetch_size_avg)),
        ("fetch-size-max", Gauge(m.fetch_size_max)),
        ("records-lag-max", Gauge(m.records_lag_max as f64)),
    ];
    let coordinator = [
        ("commit-total", Counter(m.commit_total)),
        ("commit-rate", Gauge(m.commit_rate)),
        ("commit-latency-avg", Gauge(m.commit_latency_avg_ms)),
        ("commit-latency-max", Gauge(m.commit_latency_max_ms)),
        ("rebalance-total", Counter(m.rebalance_total)),
        ("heartbeat-total", Counter(m.heartbeat_total)),
        ("heartbeat-rate", Gauge(m.heartbeat_rate)),
        (
            "heartbeat-response-time-max",
            Gauge(m.heartbeat_response_time_max_ms),
        ),
        (
            "last-heartbeat-seconds-ago",
            Gauge(m.last_heartbeat_seconds_ago as f64),
        ),
    ];
    let tagged = |group: &str, (name, value): (&str, MetricValue)| {
        MetricPoint::new(telemetry_name(group, name), value).with_attribute("client_id", client_id)
    };
    let mut points: Vec<MetricPoint> = fetch
        .into_iter()
        .map(|metric| tagged(FETCH, metric))
        .chain(
            coordinator
                .into_iter()
                .map(|metric| tagged(COORDINATOR, metric)),
        )
        .collect();
    for (topic, t) in &m.topics {
        let per_topic = [
            ("records-consumed-total", Counter(t.records_consumed_total)),
            ("records-consumed-rate", Gauge(t.records_consumed_rate)),
            ("bytes-consumed-total", Counter(t.bytes_consumed_total)),
            ("bytes-consumed-rate", Gauge(t.bytes_consumed_rate)),
        ];
        points.extend(
            per_topic
                .into_iter()
                .map(|metric| tagged(FETCH, metric).with_attribute("topic", topic.as_str())),
        );
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TopicMetrics;

    #[test]
    fn names_follow_the_java_consumer() {
        let mut metrics = ConsumerMetrics {
            records_consumed_total: 9,
            commit_total: 2,
            heartbeat_total: 5,
            ..ConsumerMetrics::default()
        };
        metrics.topics.insert(
            "events".into(),
            TopicMetrics {
                records_consumed_total: 9,
                ..TopicMetrics::default()
            },
        );
        let points = points(&metrics, "c1");
        let find = |name: &str, tags: usize| {
            points
                .iter()
                .find(|p| p.name == name && p.attributes.len() == tags)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(
            find(
                "org.apache.kafka.consumer.fetch.manager.records.consumed.total",
                1
            )
            .value,
            MetricValue::Counter(9)
        );
        assert_eq!(
            find("org.apache.kafka.consumer.coordinator.commit.total", 1).value,
            MetricValue::Counter(2)
        );
        assert_eq!(
            find("org.apache.kafka.consumer.coordinator.heartbeat.total", 1).value,
            MetricValue::Counter(5)
        );
        let topic = find(
            "org.apache.kafka.consumer.fetch.manager.records.consumed.total",
            2,
        );
        assert_eq!(topic.attributes[1], ("topic".into(), "events".into()));
    }
}
