//! Everything between a typed Kafka request and the broker's typed response:
//! tokio connections, framing, correlation ids, version negotiation, the
//! cluster metadata view and the client that keeps it fresh and routes
//! requests to leaders and coordinators, TLS and SASL.
//!
//! It is deliberately not a producer or a consumer: those crates talk to the
//! cluster through [`Client`], whose links to brokers sit behind the
//! [`link::Connector`] trait, so each can also run against the in-memory
//! cluster of the `fake` feature in unit tests.

pub mod backoff;
mod broker;
mod client;
pub mod cluster;
pub mod config;
mod connection;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod frame;
pub mod link;
mod low_water;
pub mod metrics;
mod network_metrics;
pub mod recovery;
mod request_frame;
pub mod sasl;
pub mod tls;

/// The attribute an implementation of [`link::Connector`], [`link::BrokerLink`]
/// or [`sasl::TokenProvider`] puts on its `impl`, re-exported so a user
/// needs no dependency of their own.
pub use async_trait::async_trait;
pub use broker::{BrokerConnection, FinalizedFeatures, decode_response};
pub use client::{Client, CoordinatorKind, Lane};
pub use connection::{Connection, ConnectionConfig};
pub use error::TransportError;
pub use network_metrics::{NetworkMetrics, NodeMetrics};
pub use request_frame::RequestFrame;
pub use tls::{TlsConfig, TlsConfigError};
