//! A record as the consumer hands it out.

use bytes::Bytes;
use ferrokafka_records::{Header, TimestampType};

/// One consumed record. Key, value and header values of uncompressed
/// batches are slices of the fetch response, not copies.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: String,
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
    /// Bytes of the serialized key (`-1` without one), as kafka-python reports.
    pub fn serialized_key_size(&self) -> i32 {
        self.key
            .as_ref()
            .map_or(-1, |k| i32::try_from(k.len()).unwrap_or(i32::MAX))
    }

    /// Bytes of the serialized value (`-1` for a tombstone).
    pub fn serialized_value_size(&self) -> i32 {
        self.value
            .as_ref()
            .map_or(-1, |v| i32::try_from(v.len()).unwrap_or(i32::MAX))
    }
}
