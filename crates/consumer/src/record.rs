//! A record as the consumer hands it out.

use bytes::Bytes;
use ferrokafka_records::{Header, TimestampType};
use ferrokafka_serde::{Deserializer, SerdeError};

/// One consumed record. Key, value and header values of uncompressed
/// batches are slices of the fetch response, not copies.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    /// The topic: one allocation shared by every record of a fetch, not a
    /// copy per record.
    pub topic: std::sync::Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp, in milliseconds since the epoch.
    pub timestamp: i64,
    /// Whether the producer (CreateTime) or the broker (LogAppendTime) set it.
    pub timestamp_type: TimestampType,
    /// The key, `None` for null.
    pub key: Option<Bytes>,
    /// The value, `None` for a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// The leader epoch of the batch, if the broker wrote one.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// A decoded record of `topic`'s `partition`, from a batch written in
    /// `leader_epoch`.
    pub(crate) fn decoded(
        topic: &std::sync::Arc<str>,
        partition: i32,
        record: ferrokafka_records::Record,
        leader_epoch: Option<i32>,
    ) -> Self {
        ConsumerRecord {
            topic: std::sync::Arc::clone(topic),
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            key: record.key,
            value: record.value,
            headers: record.headers,
            leader_epoch,
        }
    }

    /// Bytes of the serialized key (`-1` without one), as kafka-python reports.
    pub fn serialized_key_size(&self) -> i32 {
        self.key
            .as_ref()
            .map_or(-1, |k| i32::try_from(k.len()).unwrap_or(i32::MAX))
    }

    /// The key through a deserializer (the Java client's
    /// `key.deserializer`); `None` for a null key.
    pub fn key_as<T>(
        &self,
        deserializer: &(impl Deserializer<T> + ?Sized),
    ) -> Result<Option<T>, SerdeError> {
        self.key
            .as_deref()
            .map(|k| deserializer.deserialize(&self.topic, k))
            .transpose()
    }

    /// The value through a deserializer; `None` for a tombstone.
    ///
    /// ```
    /// # use ferrokafka_consumer::ConsumerRecord;
    /// # use ferrokafka_records::TimestampType;
    /// use ferrokafka_serde::Json;
    /// # let record = ConsumerRecord { topic: "t".into(), partition: 0, offset: 0, timestamp: 0,
    /// #     timestamp_type: TimestampType::CreateTime, key: None, value: Some("[1,2]".into()),
    /// #     headers: vec![], leader_epoch: None };
    /// let numbers: Option<Vec<u32>> = record.value_as(&Json)?;
    /// assert_eq!(numbers, Some(vec![1, 2]));
    /// # Ok::<(), ferrokafka_serde::SerdeError>(())
    /// ```
    pub fn value_as<T>(
        &self,
        deserializer: &(impl Deserializer<T> + ?Sized),
    ) -> Result<Option<T>, SerdeError> {
        self.value
            .as_deref()
            .map(|v| deserializer.deserialize(&self.topic, v))
            .transpose()
    }

    /// Bytes of the serialized value (`-1` for a tombstone).
    pub fn serialized_value_size(&self) -> i32 {
        self.value
            .as_ref()
            .map_or(-1, |v| i32::try_from(v.len()).unwrap_or(i32::MAX))
    }
}
