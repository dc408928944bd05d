//! A consumer that carries its key and value deserializers, as the Java
//! client's `KafkaConsumer<K, V>` and kafka-python's `key_deserializer` /
//! `value_deserializer` do. A record that does not deserialize is an error
//! of its own, carrying the raw record, so one bad record neither hides the
//! others nor stops the consumer (Java's `RecordDeserializationException`
//! names the partition and offset to seek past; here the rest of the poll
//! is delivered as well).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ferrokafka_records::{Header, TimestampType};
use ferrokafka_serde::{Deserializer, SerdeError};

use crate::{ConsumeError, Consumer, ConsumerRecord};

/// A consumed record with its key and value deserialized.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedConsumerRecord<K, V> {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp, in milliseconds since the epoch.
    pub timestamp: i64,
    /// Whether the producer (CreateTime) or the broker (LogAppendTime) set it.
    pub timestamp_type: TimestampType,
    /// The key, `None` for null.
    pub key: Option<K>,
    /// The value, `None` for a tombstone.
    pub value: Option<V>,
    /// Headers, in order (bytes, not deserialized).
    pub headers: Vec<Header>,
    /// The leader epoch of the batch, if the broker wrote one.
    pub leader_epoch: Option<i32>,
}

impl<K, V> TypedConsumerRecord<K, V> {
    /// `record` with its key and value through the deserializers; the
    /// first that fails is the error, which keeps the raw record.
    ///
    /// ```
    /// use ferrokafka_consumer::{ConsumerRecord, RecordPart, TypedConsumerRecord};
    /// use ferrokafka_records::TimestampType;
    /// use ferrokafka_serde::{Json, Utf8};
    /// let record = ConsumerRecord { topic: "orders".into(), partition: 0, offset: 9, timestamp: 0,
    ///     timestamp_type: TimestampType::CreateTime, key: Some("user-1".into()),
    ///     value: Some("[1,2]".into()), headers: vec![], leader_epoch: None };
    /// let typed = TypedConsumerRecord::<String, Vec<u32>>::deserialize(record.clone(), &Utf8, &Json)?;
    /// assert_eq!(typed.value, Some(vec![1, 2]));
    /// let error = TypedConsumerRecord::<String, String>::deserialize(record, &Utf8, &Json).unwrap_err();
    /// assert_eq!((error.part, error.record.offset), (RecordPart::Value, 9));
    /// # Ok::<(), ferrokafka_consumer::DeserializeError>(())
    /// ```
    pub fn deserialize(
        record: ConsumerRecord,
        key_deserializer: &(impl Deserializer<K> + ?Sized),
        value_deserializer: &(impl Deserializer<V> + ?Sized),
    ) -> Result<Self, DeserializeError> {
        let key = match record.key_as(key_deserializer) {
            Ok(key) => key,
            Err(source) => return Err(DeserializeError::new(RecordPart::Key, record, source)),
        };
        let value = match record.value_as(value_deserializer) {
            Ok(value) => value,
            Err(source) => return Err(DeserializeError::new(RecordPart::Value, record, source)),
        };
        Ok(TypedConsumerRecord {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            key,
            value,
            headers: record.headers,
            leader_epoch: record.leader_epoch,
        })
    }
}

/// Which part of a record did not deserialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPart {
    /// The key.
    Key,
    /// The value.
    Value,
}

impl fmt::Display for RecordPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordPart::Key => "key",
            RecordPart::Value => "value",
        })
    }
}

/// A record whose key or value did not deserialize: the raw record (to
/// log, skip or send to a dead-letter topic) and why.
#[derive(Debug, thiserror::Error)]
#[error("the {part} of {}-{} at offset {}: {source}", record.topic, record.partition, record.offset)]
pub struct DeserializeError {
    /// The part that failed.
    pub part: RecordPart,
    /// The record as consumed (boxed: it is large, and errors travel in
    /// every poll's results).
    pub record: Box<ConsumerRecord>,
    /// The deserializer's error.
    #[source]
    pub source: SerdeError,
}

impl DeserializeError {
    fn new(part: RecordPart, record: ConsumerRecord, source: SerdeError) -> Self {
        DeserializeError {
            part,
            record: Box::new(record),
            source,
        }
    }
}

/// A [`Consumer`] with a key and a value deserializer: Java's
/// `KafkaConsumer<K, V>`. Subscriptions, commits, seeks and the rest are
/// the untyped consumer's, through [`TypedConsumer::consumer`].
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use ferrokafka_consumer::{Consumer, ConsumerConfig, TypedConsumer};
/// use ferrokafka_serde::{Json, Utf8};
///
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64, item: String }
///
/// let config = ConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_id", "billing"),
/// ])?;
/// let consumer: TypedConsumer<String, Order> =
///     TypedConsumer::new(Consumer::new(config).await?, Utf8, Json);
/// consumer.consumer().subscribe(&["orders"]).await?;
/// for outcome in consumer.poll(Duration::from_secs(1)).await? {
///     match outcome {
///         Ok(record) => println!("{:?} ordered item {:?}", record.key, record.value.map(|o| o.item)),
///         Err(bad) => eprintln!("skipping: {bad}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct TypedConsumer<K, V> {
    consumer: Consumer,
    key_deserializer: Arc<dyn Deserializer<K>>,
    value_deserializer: Arc<dyn Deserializer<V>>,
}

impl<K, V> fmt::Debug for TypedConsumer<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedConsumer").finish_non_exhaustive()
    }
}

impl<K, V> TypedConsumer<K, V> {
    /// `consumer` with these deserializers for every record it polls.
    pub fn new(
        consumer: Consumer,
        key_deserializer: impl Deserializer<K> + 'static,
        value_deserializer: impl Deserializer<V> + 'static,
    ) -> Self {
        TypedConsumer {
            consumer,
            key_deserializer: Arc::new(key_deserializer),
            value_deserializer: Arc::new(value_deserializer),
        }
    }

    /// The untyped consumer underneath: subscribe, assign, commit, seek,
    /// close, untyped polls.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// The untyped consumer, giving up the deserializers.
    pub fn into_inner(self) -> Consumer {
        self.consumer
    }

    /// As [`Consumer::poll`], each record deserialized; one that does not
    /// deserialize is its own error among the others. Its offset counts
    /// as consumed, as every record the poll returned does.
    pub async fn poll(
        &self,
        timeout: Duration,
    ) -> Result<Vec<Result<TypedConsumerRecord<K, V>, DeserializeError>>, ConsumeError> {
        let records = self.consumer.poll(timeout).await?;
        Ok(records
            .into_iter()
            .map(|record| {
                TypedConsumerRecord::deserialize(
                    record,
                    &*self.key_deserializer,
                    &*self.value_deserializer,
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ferrokafka_serde::{Json, Utf8};

    use super::*;

    fn record(offset: i64, key: &'static [u8], value: &'static [u8]) -> ConsumerRecord {
        ConsumerRecord {
            topic: "orders".into(),
            partition: 3,
            offset,
            timestamp: 1_000,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(key)),
            value: Some(Bytes::from_static(value)),
            headers: vec![Header {
                key: Bytes::from_static(b"source"),
                value: Some(Bytes::from_static(b"web")),
            }],
            leader_epoch: Some(4),
        }
    }

    #[test]
    fn a_good_record_keeps_everything_but_its_bytes() {
        let typed = TypedConsumerRecord::<String, Vec<u32>>::deserialize(
            record(5, b"u1", b"[1]"),
            &Utf8,
            &Json,
        )
        .unwrap();
        assert_eq!(typed.key.as_deref(), Some("u1"));
        assert_eq!(typed.value, Some(vec![1]));
        assert_eq!(
            (
                typed.partition,
                typed.offset,
                typed.timestamp,
                typed.leader_epoch
            ),
            (3, 5, 1_000, Some(4))
        );
        assert_eq!(typed.headers.len(), 1);
        let mut tombstone = record(6, b"u1", b"");
        tombstone.value = None;
        let typed =
            TypedConsumerRecord::<String, Vec<u32>>::deserialize(tombstone, &Utf8, &Json).unwrap();
        assert_eq!(typed.value, None);
    }

    #[test]
    fn each_bad_part_is_its_own_error_with_the_raw_record() {
        let bad_key = record(7, &[0xff], b"[1]");
        let error =
            TypedConsumerRecord::<String, Vec<u32>>::deserialize(bad_key.clone(), &Utf8, &Json)
                .unwrap_err();
        assert_eq!(error.part, RecordPart::Key);
        assert_eq!(*error.record, bad_key);
        assert_eq!(error.source.format, "utf-8");
        let shown = error.to_string();
        assert!(shown.contains("key of orders-3 at offset 7"), "{shown}");

        let error = TypedConsumerRecord::<String, Vec<u32>>::deserialize(
            record(8, b"u", b"{"),
            &Utf8,
            &Json,
        )
        .unwrap_err();
        assert_eq!((error.part, error.record.offset), (RecordPart::Value, 8));
        assert_eq!(error.source.format, "json");
    }
}
