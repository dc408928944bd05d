//! `Serializer` and `Deserializer` traits for Kafka keys and values, and
//! implementations for bytes, UTF-8 strings and serde-based formats.
//!
//! It deliberately knows nothing of Kafka connections: it turns values into
//! bytes and back, nothing more.
