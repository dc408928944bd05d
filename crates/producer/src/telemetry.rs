//! The producer's metrics as KIP-714 telemetry points, under the names the
//! Java producer pushes (`org.apache.kafka.producer.*` for
//! `producer-metrics`, `org.apache.kafka.producer.topic.*` for
//! `producer-topic-metrics`).

use ferrokafka_telemetry::{MetricPoint, MetricValue, telemetry_name};

use crate::ProducerMetrics;

const GROUP: &str = "producer-metrics";
const TOPIC_GROUP: &str = "producer-topic-metrics";

/// Every metric in `metrics`, tagged with `client_id` (and `topic` for the
/// per-topic ones), as Java tags them.
// Java pushes every gauge as a double; the counts and sizes here are far
// below 2^52, where the cast would start to round.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn points(metrics: &ProducerMetrics, client_id: &str) -> Vec<MetricPoint> {
    use MetricValue::{Counter, Gauge};
    let m = metrics;
    let producer = [
        ("record-send-total", Counter(m.record_send_total)),
        ("record-send-rate", Gauge(m.record_send_rate)),
        ("record-error-total", Counter(m.record_error_total)),
        ("record-error-rate", Gauge(m.record_error_rate)),
        ("record-retry-total", Counter(m.record_retry_total)),
        ("record-retry-rate", Gauge(m.record_retry_rate)),
        ("byte-total", Counter(m.byte_total)),
        ("byte-rate", Gauge(m.byte_rate)),
        ("request-total", Counter(m.request_total)),
        ("request-rate", Gauge(m.request_rate)),
        ("requests-in-flight", Gauge(m.requests_in_flight as f64)),
        ("batch-size-avg", Gauge(m.batch_size_avg)),
        ("batch-size-max", Gauge(m.batch_size_max as f64)),
        ("records-per-request-avg", Gauge(m.records_per_request_avg)),
        ("request-latency-avg", Gauge(m.request_latency_avg_ms)),
        ("request-latency-max", Gauge(m.request_latency_max_ms)),
        ("compression-rate-avg", Gauge(m.compression_rate_avg)),
        (
            "buffer-available-bytes",
            Gauge(m.buffer_available_bytes as f64),
        ),
        ("record-size-avg", Gauge(m.record_size_avg)),
        ("record-size-max", Gauge(m.record_size_max as f64)),
        ("record-queue-time-avg", Gauge(m.record_queue_time_avg_ms)),
        ("record-queue-time-max", Gauge(m.record_queue_time_max_ms)),
    ];
    let mut points: Vec<MetricPoint> = producer
        .into_iter()
        .map(|(name, value)| {
            MetricPoint::new(telemetry_name(GROUP, name), value)
                .with_attribute("client_id", client_id)
        })
        .collect();
    for (topic, t) in &m.topics {
        let per_topic = [
            ("record-send-total", Counter(t.record_send_total)),
            ("record-send-rate", Gauge(t.record_send_rate)),
            ("byte-total", Counter(t.byte_total)),
            ("byte-rate", Gauge(t.byte_rate)),
            ("compression-rate", Gauge(t.compression_rate)),
            ("record-error-total", Counter(t.record_error_total)),
            ("record-error-rate", Gauge(t.record_error_rate)),
            ("record-retry-total", Counter(t.record_retry_total)),
            ("record-retry-rate", Gauge(t.record_retry_rate)),
        ];
        points.extend(per_topic.into_iter().map(|(name, value)| {
            MetricPoint::new(telemetry_name(TOPIC_GROUP, name), value)
                .with_attribute("client_id", client_id)
                .with_attribute("topic", topic.as_str())
        }));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TopicMetrics;

    #[test]
    fn names_follow_the_java_producer() {
        let mut metrics = ProducerMetrics {
            record_send_total: 12,
            request_latency_avg_ms: 3.5,
            ..ProducerMetrics::default()
        };
        metrics.topics.insert(
            "events".into(),
            TopicMetrics {
                record_send_total: 12,
                ..TopicMetrics::default()
            },
        );
        let points = points(&metrics, "p1");
        let find = |name: &str, topic: bool| {
            points
                .iter()
                .find(|p| p.name == name && p.attributes.len() == 1 + usize::from(topic))
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let sent = find("org.apache.kafka.producer.record.send.total", false);
        assert_eq!(sent.value, MetricValue::Counter(12));
        assert_eq!(sent.attributes, [("client_id".into(), "p1".into())]);
        assert_eq!(
            find("org.apache.kafka.producer.request.latency.avg", false).value,
            MetricValue::Gauge(3.5)
        );
        let topic = find("org.apache.kafka.producer.topic.record.send.total", true);
        assert_eq!(topic.value, MetricValue::Counter(12));
        assert_eq!(topic.attributes[1], ("topic".into(), "events".into()));
    }
}
