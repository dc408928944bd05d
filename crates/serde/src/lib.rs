//! `Serializer` and `Deserializer` traits for Kafka keys and values, and
//! implementations for bytes, UTF-8 strings and JSON (any `serde` type).
//! Any other serde format plugs in with [`SerdeFormat`] or a closure.
//!
//! It deliberately knows nothing of Kafka connections: it turns values into
//! bytes and back, nothing more.
//!
//! ```
//! use ferrokafka_serde::{Deserializer, Json, Serializer};
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Order { id: u64, item: String }
//!
//! let order = Order { id: 7, item: "tea".into() };
//! let bytes = Json.serialize("orders", &order).unwrap();
//! assert_eq!(&bytes[..], br#"{"id":7,"item":"tea"}"#);
//! let back: Order = Json.deserialize("orders", &bytes).unwrap();
//! assert_eq!(back, order);
//! ```

use bytes::Bytes;

/// Why a value could not be turned into bytes or back.
#[derive(Debug, thiserror::Error)]
#[error("{direction} for topic {topic:?} failed ({format}): {reason}")]
pub struct SerdeError {
    /// `serializing` or `deserializing`.
    pub direction: &'static str,
    /// The record's topic.
    pub topic: String,
    /// The format's name (`json`, `utf-8`, ...).
    pub format: &'static str,
    /// What went wrong.
    pub reason: String,
}

impl SerdeError {
    /// An error while serializing.
    pub fn serializing(topic: &str, format: &'static str, reason: impl std::fmt::Display) -> Self {
        SerdeError {
            direction: "serializing",
            topic: topic.to_string(),
            format,
            reason: reason.to_string(),
        }
    }

    /// An error while deserializing.
    pub fn deserializing(
        topic: &str,
        format: &'static str,
        reason: impl std::fmt::Display,
    ) -> Self {
        SerdeError {
            direction: "deserializing",
            topic: topic.to_string(),
            format,
            reason: reason.to_string(),
        }
    }
}

/// Turns a `T` into the bytes of a record key or value.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// Serializes `value` for a record on `topic`.
    fn serialize(&self, topic: &str, value: &T) -> Result<Bytes, SerdeError>;
}

/// Turns record key or value bytes into a `T`.
pub trait Deserializer<T>: Send + Sync {
    /// Deserializes `data` from a record on `topic`.
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<T, SerdeError>;
}

/// Bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Serializer<[u8]> for Raw {
    fn serialize(&self, _topic: &str, value: &[u8]) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(value))
    }
}

impl Serializer<Vec<u8>> for Raw {
    fn serialize(&self, _topic: &str, value: &Vec<u8>) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(value))
    }
}

impl Serializer<Bytes> for Raw {
    fn serialize(&self, _topic: &str, value: &Bytes) -> Result<Bytes, SerdeError> {
        // A clone of `Bytes` shares the buffer: no copy.
        Ok(value.clone())
    }
}

impl Deserializer<Bytes> for Raw {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(data))
    }
}

impl Deserializer<Vec<u8>> for Raw {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(data.to_vec())
    }
}

/// UTF-8 text (the Java client's `StringSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8;

impl Serializer<str> for Utf8 {
    fn serialize(&self, _topic: &str, value: &str) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }
}

impl Serializer<String> for Utf8 {
    fn serialize(&self, _topic: &str, value: &String) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }
}

impl Deserializer<String> for Utf8 {
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<String, SerdeError> {
        String::from_utf8(data.to_vec()).map_err(|e| SerdeError::deserializing(topic, "utf-8", e))
    }
}

/// JSON for any `serde` type (kafka-python's `json.dumps(v).encode()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: serde::Serialize + ?Sized> Serializer<T> for Json {
    fn serialize(&self, topic: &str, value: &T) -> Result<Bytes, SerdeError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| SerdeError::serializing(topic, "json", e))
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<T> for Json {
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<T, SerdeError> {
        serde_json::from_slice(data).map_err(|e| SerdeError::deserializing(topic, "json", e))
    }
}

/// Any serde format given as two functions: how MessagePack, CBOR, bincode
/// and the like plug in (see `examples/msgpack.rs`).
pub struct SerdeFormat<S, D> {
    name: &'static str,
    to_bytes: S,
    from_bytes: D,
}

impl<S, D> SerdeFormat<S, D> {
    /// A format called `name` (used in error messages).
    pub fn new(name: &'static str, to_bytes: S, from_bytes: D) -> Self {
        SerdeFormat {
            name,
            to_bytes,
            from_bytes,
        }
    }
}

impl<T, S, D, E> Serializer<T> for SerdeFormat<S, D>
where
    T: serde::Serialize + ?Sized,
    S: Fn(&T) -> Result<Vec<u8>, E> + Send + Sync,
    D: Send + Sync,
    E: std::fmt::Display,
{
    fn serialize(&self, topic: &str, value: &T) -> Result<Bytes, SerdeError> {
        (self.to_bytes)(value)
            .map(Bytes::from)
            .map_err(|e| SerdeError::serializing(topic, self.name, e))
    }
}

impl<T, S, D, E> Deserializer<T> for SerdeFormat<S, D>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
    D: Fn(&[u8]) -> Result<T, E> + Send + Sync,
    E: std::fmt::Display,
{
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<T, SerdeError> {
        (self.from_bytes)(data).map_err(|e| SerdeError::deserializing(topic, self.name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_json_integers() {
        let bytes = Json.serialize("numbers", &42_i64).unwrap();
        assert_eq!(&bytes[..], b"42");
        let back: i64 = Json.deserialize("numbers", &bytes).unwrap();
        assert_eq!(back, 42);
    }

    #[test]
    fn bad_input_names_topic_and_format() {
        let error = Deserializer::<String>::deserialize(&Utf8, "names", &[0xff, 0xfe]).unwrap_err();
        assert!(
            error.to_string().contains("\"names\"") && error.to_string().contains("utf-8"),
            "{error}"
        );
        let error = Deserializer::<u32>::deserialize(&Json, "numbers", b"\"text\"").unwrap_err();
        assert!(error.to_string().contains("json"), "{error}");
    }

    #[test]
    fn raw_bytes_share_the_buffer() {
        let value = Bytes::from_static(b"payload");
        let out = Raw.serialize("t", &value).unwrap();
        assert_eq!(out.as_ptr(), value.as_ptr());
        assert_eq!(
            Serializer::<str>::serialize(&Utf8, "t", "é").unwrap().len(),
            2
        );
    }
}
