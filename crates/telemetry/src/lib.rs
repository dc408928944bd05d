//! Client telemetry (KIP-714): what a Kafka client pushes to the brokers
//! about itself when an operator subscribes to its metrics.
//!
//! This crate holds the sans-I/O parts: [`TelemetryMachine`] decides when to
//! fetch a subscription and when to push and reads every answer;
//! [`MetricsEncoder`] and [`payload`] turn the client's metric snapshots into
//! the compressed OTLP `MetricsData` a PushTelemetry carries.
//!
//! It is not a driver: it sends nothing and reads no clock. The clients
//! (producer, consumer, admin) run it from a task of theirs over the
//! cluster connection they already hold, and supply their own metrics as
//! [`MetricPoint`]s.

mod machine;
mod otlp;
mod subscription;

pub use machine::{TelemetryMachine, TelemetryRequest, TelemetryState};
pub use otlp::{
    METRIC_DOMAIN, MetricPoint, MetricValue, MetricsEncoder, PayloadError, payload, telemetry_name,
};
pub use subscription::{DEFAULT_PUSH_INTERVAL, MetricSelector, Subscription};

/// The OTLP messages a push carries, for callers that decode one (tests,
/// a broker-side receiver written in Rust).
pub use opentelemetry_proto::tonic::metrics::v1 as otlp_metrics;
