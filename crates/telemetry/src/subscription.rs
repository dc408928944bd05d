//! What a GetTelemetrySubscriptions answer asks of the client: which
//! metrics, how often, in which temporality, compressed how, and how big a
//! push may be.

use std::time::Duration;

use ferrokafka_protocol::Uuid;
use ferrokafka_protocol::messages::GetTelemetrySubscriptionsResponse;
use ferrokafka_records::Compression;

/// Which metrics the broker asked for (KIP-714 `RequestedMetrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricSelector {
    /// An empty list: nothing is wanted now; ask again after the interval.
    Nothing,
    /// A list holding one empty string: every metric.
    Everything,
    /// Metrics whose name starts with one of these prefixes.
    Prefixes(Vec<String>),
}

impl MetricSelector {
    /// Reads the `RequestedMetrics` list as KIP-714 defines it.
    pub fn from_requested(requested: &[String]) -> Self {
        if requested.is_empty() {
            Self::Nothing
        } else if requested.iter().any(String::is_empty) {
            Self::Everything
        } else {
            Self::Prefixes(requested.to_vec())
        }
    }

    /// Whether the metric named `name` is wanted.
    ///
    /// ```
    /// use ferrokafka_telemetry::MetricSelector;
    /// let selector = MetricSelector::from_requested(&["org.apache.kafka.producer.".into()]);
    /// assert!(selector.wants("org.apache.kafka.producer.record.send.total"));
    /// assert!(!selector.wants("org.apache.kafka.consumer.fetch.manager.fetch.total"));
    /// ```
    pub fn wants(&self, name: &str) -> bool {
        match self {
            Self::Nothing => false,
            Self::Everything => true,
            Self::Prefixes(prefixes) => prefixes.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

/// A subscription the broker handed out.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The id the broker gave this client; sent back on every request.
    pub client_instance_id: Uuid,
    /// The subscription's id; a push naming an old one is refused with
    /// UNKNOWN_SUBSCRIPTION_ID.
    pub subscription_id: i32,
    /// How often to push.
    pub push_interval: Duration,
    /// The compression every push uses: the broker's first preference this
    /// build can write, or none.
    pub compression: Compression,
    /// The most bytes one push's metrics may take.
    pub max_bytes: usize,
    /// Sums as the change since the previous push (`true`) or since the
    /// client started.
    pub delta_temporality: bool,
    /// Which metrics to send.
    pub selector: MetricSelector,
}

/// Java's push interval when the broker sends none that makes sense.
pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(5 * 60);

impl Subscription {
    /// Reads an error-free answer. `previous_id` is the instance id the
    /// client already had; an answer naming the zero id keeps it.
    pub fn from_response(response: &GetTelemetrySubscriptionsResponse, previous_id: Uuid) -> Self {
        let client_instance_id = if response.client_instance_id == Uuid::ZERO {
            previous_id
        } else {
            response.client_instance_id
        };
        let push_interval = if response.push_interval_ms > 0 {
            Duration::from_millis(response.push_interval_ms as u64)
        } else {
            DEFAULT_PUSH_INTERVAL
        };
        Self {
            client_instance_id,
            subscription_id: response.subscription_id,
            push_interval,
            compression: preferred_compression(&response.accepted_compression_types),
            max_bytes: usize::try_from(response.telemetry_max_bytes.max(0)).unwrap_or(0),
            delta_temporality: response.delta_temporality,
            selector: MetricSelector::from_requested(&response.requested_metrics),
        }
    }
}

/// The first type in the broker's list that this build can write; none when
/// the list is empty or holds nothing this build has.
fn preferred_compression(accepted: &[i8]) -> Compression {
    accepted
        .iter()
        .filter_map(|&id| u8::try_from(id).ok())
        .filter_map(|id| Compression::from_id(id).ok())
        .find(|c| c.is_enabled())
        .unwrap_or(Compression::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> GetTelemetrySubscriptionsResponse {
        GetTelemetrySubscriptionsResponse {
            client_instance_id: Uuid([7; 16]),
            subscription_id: 42,
            accepted_compression_types: vec![4, 3, 1],
            push_interval_ms: 1000,
            telemetry_max_bytes: 1 << 20,
            delta_temporality: true,
            requested_metrics: vec!["org.apache.kafka.producer.".into()],
            ..Default::default()
        }
    }

    #[test]
    fn reads_every_field() {
        let sub = Subscription::from_response(&response(), Uuid::ZERO);
        assert_eq!(sub.client_instance_id, Uuid([7; 16]));
        assert_eq!(sub.subscription_id, 42);
        assert_eq!(sub.push_interval, Duration::from_secs(1));
        assert_eq!(sub.compression, Compression::Zstd);
        assert_eq!(sub.max_bytes, 1 << 20);
        assert!(sub.delta_temporality);
        assert_eq!(
            sub.selector,
            MetricSelector::Prefixes(vec!["org.apache.kafka.producer.".into()])
        );
    }

    #[test]
    fn zero_instance_id_keeps_the_previous_one() {
        let mut r = response();
        r.client_instance_id = Uuid::ZERO;
        let sub = Subscription::from_response(&r, Uuid([9; 16]));
        assert_eq!(sub.client_instance_id, Uuid([9; 16]));
    }

    #[test]
    fn bad_interval_and_unknown_codecs_fall_back() {
        let mut r = response();
        r.push_interval_ms = -5;
        r.accepted_compression_types = vec![-1, 99];
        r.telemetry_max_bytes = -3;
        let sub = Subscription::from_response(&r, Uuid::ZERO);
        assert_eq!(sub.push_interval, DEFAULT_PUSH_INTERVAL);
        assert_eq!(sub.compression, Compression::None);
        assert_eq!(sub.max_bytes, 0);
    }

    #[test]
    fn selector_reads_kip_714_lists() {
        assert_eq!(MetricSelector::from_requested(&[]), MetricSelector::Nothing);
        assert!(!MetricSelector::Nothing.wants("x"));
        let all = MetricSelector::from_requested(&[String::new()]);
        assert_eq!(all, MetricSelector::Everything);
        assert!(all.wants("anything"));
    }
}
