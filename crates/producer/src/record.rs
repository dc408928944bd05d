//! What a user sends and what comes back: a record to produce, and the
//! metadata of a delivered one.

use bytes::Bytes;
use ferrokafka_records::Header;
use ferrokafka_serde::{SerdeError, Serializer};

/// A record to send: topic, optional key, value (`None` is a tombstone),
/// headers, and optionally a fixed partition and timestamp.
///
/// ```
/// use ferrokafka_producer::ProducerRecord;
/// let record = ProducerRecord::new("events")
///     .key("user-1")
///     .value(r#"{"clicks":3}"#)
///     .header("source", "web");
/// assert_eq!(record.topic, "events");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// A fixed partition, or `None` for the partitioner to choose.
    pub partition: Option<i32>,
    /// The serialized key.
    pub key: Option<Bytes>,
    /// The serialized value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// CreateTime in milliseconds since the epoch; `None` for now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, a null value and no headers.
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            ..ProducerRecord::default()
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    #[must_use]
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// A record whose key and value go through serializers (the Java
    /// client's `key.serializer` / `value.serializer`).
    ///
    /// ```
    /// use ferrokafka_producer::ProducerRecord;
    /// use ferrokafka_serde::{Json, Utf8};
    /// let record = ProducerRecord::serialized("orders", Some("user-1"), Some(&vec![1, 2, 3]), &Utf8, &Json)?;
    /// assert_eq!(record.value.as_deref(), Some(&b"[1,2,3]"[..]));
    /// # Ok::<(), ferrokafka_serde::SerdeError>(())
    /// ```
    pub fn serialized<K: ?Sized, V: ?Sized>(
        topic: impl Into<String>,
        key: Option<&K>,
        value: Option<&V>,
        key_serializer: &(impl Serializer<K> + ?Sized),
        value_serializer: &(impl Serializer<V> + ?Sized),
    ) -> Result<Self, SerdeError> {
        let topic = topic.into();
        let key = key
            .map(|k| key_serializer.serialize(&topic, k))
            .transpose()?;
        let value = value
            .map(|v| value_serializer.serialize(&topic, v))
            .transpose()?;
        Ok(ProducerRecord {
            topic,
            key,
            value,
            ..ProducerRecord::default()
        })
    }

    /// Fixes the partition.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    #[must_use]
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Where a delivered record went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset; `-1` with `acks=0`, where the broker says nothing.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's
    /// LogAppendTime when the topic uses that.
    pub timestamp: i64,
    /// Bytes of the serialized key (`-1` without a key).
    pub serialized_key_size: i32,
    /// Bytes of the serialized value (`-1` for a tombstone).
    pub serialized_value_size: i32,
    /// Bytes of header keys and values.
    pub serialized_header_size: i32,
}
