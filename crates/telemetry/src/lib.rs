//! Client telemetry (KIP-714): what a Kafka client pushes to the brokers
//! about itself when an operator subscribes to its metrics.
//!
//! This crate holds the sans-I/O parts: [`TelemetryMachine`] decides when to
//! fetch a subscription and when to push and reads every answer;
//! [`MetricsEncoder`] and [`payload`] turn the client's metric snapshots into
//! the compressed OTLP `MetricsData` a PushTelemetry carries.
//!
//! Those parts send nothing and read no clock. [`TelemetryHandle`] is the
//! thin driver: a task over the cluster connection a client (producer,
//! consumer, admin) already holds, fed by the client's own metrics as
//! [`MetricPoint`]s through a [`MetricsSource`].
//!
//! It is not an OpenTelemetry SDK: it exports nothing anywhere but to the
//! Kafka brokers, and only what their subscription asks for.

mod driver;
mod machine;
mod otlp;
mod subscription;

pub use driver::{MetricsSource, TelemetryHandle, TelemetrySlot};
pub use machine::{TelemetryMachine, TelemetryRequest, TelemetryState};
pub use otlp::{
    METRIC_DOMAIN, MetricPoint, MetricValue, MetricsEncoder, PayloadError, payload, telemetry_name,
};
pub use subscription::{DEFAULT_PUSH_INTERVAL, MetricSelector, Subscription};

/// The OTLP messages a push carries, for callers that decode one (tests,
/// a broker-side receiver written in Rust).
pub use opentelemetry_proto::tonic::metrics::v1 as otlp_metrics;
