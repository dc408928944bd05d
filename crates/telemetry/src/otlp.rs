//! The metrics a push carries, as OTLP `MetricsData` (the protobuf KIP-714
//! names), built from the client's own metric snapshots with the Java
//! client's telemetry names, and compressed as the subscription asks.

use std::collections::HashMap;

use bytes::Bytes;
use ferrokafka_records::{Compression, RecordsError};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, MetricsData, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric, number_data_point,
};
use prost::Message;

use crate::subscription::MetricSelector;

/// The domain every Java client telemetry metric name starts with.
pub const METRIC_DOMAIN: &str = "org.apache.kafka";

/// The telemetry name Java gives a metric of `group` named `name`: the
/// domain, the group without its `-metrics`, the name, hyphens turned into
/// dots (Java's `MetricNamingConvention`).
///
/// ```
/// use ferrokafka_telemetry::telemetry_name;
/// assert_eq!(
///     telemetry_name("producer-metrics", "record-send-total"),
///     "org.apache.kafka.producer.record.send.total"
/// );
/// assert_eq!(
///     telemetry_name("consumer-fetch-manager-metrics", "fetch-total"),
///     "org.apache.kafka.consumer.fetch.manager.fetch.total"
/// );
/// ```
pub fn telemetry_name(group: &str, name: &str) -> String {
    let group = group.to_lowercase().replace('-', ".");
    let group = group.replace(".metrics", "");
    format!(
        "{METRIC_DOMAIN}.{group}.{}",
        name.to_lowercase().replace('-', ".")
    )
}

/// A measured value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    /// A count since the client started (Java's `CumulativeSum` or
    /// `CumulativeCount`): sent as a monotonic sum, as a delta when the
    /// subscription asks for one.
    Counter(u64),
    /// A value now (rates, means, maxima, sizes): sent as a gauge.
    Gauge(f64),
}

/// One metric of the client's, ready to be pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Its telemetry name (see [`telemetry_name`]).
    pub name: String,
    /// Its tags, with Java's snake_case keys (`client_id`, `topic`).
    pub attributes: Vec<(String, String)>,
    /// Its value.
    pub value: MetricValue,
}

impl MetricPoint {
    /// A point with no attributes.
    pub fn new(name: impl Into<String>, value: MetricValue) -> Self {
        Self {
            name: name.into(),
            attributes: Vec::new(),
            value,
        }
    }

    /// This point with one more attribute.
    #[must_use]
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }
}

/// Why a push could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The compressed metrics exceed the subscription's `TelemetryMaxBytes`.
    #[error("telemetry payload of {size} bytes exceeds the broker's limit of {max} bytes")]
    TooLarge {
        /// The payload's size.
        size: usize,
        /// The broker's limit.
        max: usize,
    },
    /// The codec failed.
    #[error("telemetry payload compression failed: {0}")]
    Compression(#[from] RecordsError),
}

type SeriesKey = (String, Vec<(String, String)>);

/// Turns snapshots into `MetricsData`, remembering what each counter last
/// sent so that a delta subscription gets the change since the last push.
#[derive(Debug, Clone)]
pub struct MetricsEncoder {
    started_unix_nanos: u64,
    last_push_unix_nanos: Option<u64>,
    last_counters: HashMap<SeriesKey, u64>,
}

impl MetricsEncoder {
    /// An encoder for a client that started at `started_unix_nanos`.
    pub fn new(started_unix_nanos: u64) -> Self {
        Self {
            started_unix_nanos,
            last_push_unix_nanos: None,
            last_counters: HashMap::new(),
        }
    }

    /// Forgets the values last sent: the broker switched temporality, so
    /// the next delta starts again from the client's start.
    pub fn reset(&mut self) {
        self.last_push_unix_nanos = None;
        self.last_counters.clear();
    }

    /// The points `selector` wants, as `MetricsData` taken at
    /// `now_unix_nanos`; counters as deltas when `delta` is set.
    pub fn encode(
        &mut self,
        points: &[MetricPoint],
        selector: &MetricSelector,
        delta: bool,
        now_unix_nanos: u64,
    ) -> MetricsData {
        let delta_start = self.last_push_unix_nanos.unwrap_or(self.started_unix_nanos);
        let metrics = points
            .iter()
            .filter(|p| selector.wants(&p.name))
            .map(|p| self.metric(p, delta, delta_start, now_unix_nanos))
            .collect();
        self.last_push_unix_nanos = Some(now_unix_nanos);
        MetricsData {
            resource_metrics: vec![ResourceMetrics {
                resource: None,
                scope_metrics: vec![ScopeMetrics {
                    scope: None,
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn metric(&mut self, point: &MetricPoint, delta: bool, delta_start: u64, now: u64) -> Metric {
        let attributes = point
            .attributes
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(v.clone())),
                }),
                ..Default::default()
            })
            .collect();
        let data = match point.value {
            MetricValue::Counter(total) => {
                let key = (point.name.clone(), point.attributes.clone());
                let previous = self.last_counters.insert(key, total).unwrap_or(0);
                let (value, start, temporality) = if delta {
                    // A counter that went down (a reset) restarts its delta.
                    let change = total.checked_sub(previous).unwrap_or(total);
                    (change, delta_start, AggregationTemporality::Delta)
                } else {
                    (
                        total,
                        self.started_unix_nanos,
                        AggregationTemporality::Cumulative,
                    )
                };
                metric::Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(
                            i64::try_from(value).unwrap_or(i64::MAX),
                        )),
                        ..Default::default()
                    }],
                    aggregation_temporality: temporality as i32,
                    is_monotonic: true,
                })
            }
            MetricValue::Gauge(value) => metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes,
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsDouble(value)),
                    ..Default::default()
                }],
            }),
        };
        Metric {
            name: point.name.clone(),
            data: Some(data),
            ..Default::default()
        }
    }
}

/// The bytes of a PushTelemetry's `Metrics` field: `data` serialized and
/// compressed with `compression`, refused when larger than `max_bytes`
/// (0: no limit).
pub fn payload(
    data: &MetricsData,
    compression: Compression,
    max_bytes: usize,
) -> Result<Bytes, PayloadError> {
    let raw = data.encode_to_vec();
    let packed = if compression == Compression::None {
        raw
    } else {
        let mut out = Vec::with_capacity(raw.len() / 2);
        ferrokafka_records::compress(compression, None, &raw, &mut out)?;
        out
    };
    if max_bytes > 0 && packed.len() > max_bytes {
        return Err(PayloadError::TooLarge {
            size: packed.len(),
            max: max_bytes,
        });
    }
    Ok(Bytes::from(packed))
}
