//! The Apache Kafka wire protocol: primitive types, request and response
//! headers, and every client-facing request and response in every version,
//! generated from Kafka's JSON message schemas.
//!
//! It deliberately knows nothing of sockets, tokio or record batches: it
//! turns bytes into typed messages and back, so a client, a proxy, a broker
//! or a test fake can all depend on it alone.

pub mod varint;
