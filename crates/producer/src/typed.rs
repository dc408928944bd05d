//! A producer that carries its key and value serializers, as the Java
//! client's `KafkaProducer<K, V>` and kafka-python's `key_serializer` /
//! `value_serializer` do, so a send names only the topic and the values.
//! The untyped [`Producer`] stays underneath, reachable for transactions
//! and everything else.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_records::Header;
use ferrokafka_serde::{SerdeError, Serializer};

use crate::{DeliveryFuture, ProduceError, Producer, ProducerRecord, RecordMetadata};

/// A record of typed key and value, borrowed until it is serialized in
/// [`TypedProducer::send`].
///
/// ```
/// use ferrokafka_producer::TypedRecord;
/// let order = vec!["tea", "cake"];
/// let record: TypedRecord<'_, str, _> = TypedRecord::new("orders", &order).key("user-1").header("source", "web");
/// assert_eq!(record.topic, "orders");
/// ```
#[derive(Debug)]
pub struct TypedRecord<'a, K: ?Sized, V: ?Sized> {
    /// The topic.
    pub topic: String,
    /// A fixed partition, or `None` for the partitioner to choose.
    pub partition: Option<i32>,
    /// The key, or `None` for a null key.
    pub key: Option<&'a K>,
    /// The value; `None` is a tombstone.
    pub value: Option<&'a V>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// CreateTime in milliseconds since the epoch; `None` for now.
    pub timestamp: Option<i64>,
}

impl<'a, K: ?Sized, V: ?Sized> TypedRecord<'a, K, V> {
    /// A record of `value` for `topic`, with no key.
    pub fn new(topic: impl Into<String>, value: &'a V) -> Self {
        TypedRecord {
            value: Some(value),
            ..TypedRecord::tombstone(topic)
        }
    }

    /// A record with a null value (deleting its key in a compacted topic).
    ///
    /// ```
    /// use ferrokafka_producer::TypedRecord;
    /// let record: TypedRecord<'_, str, str> = TypedRecord::tombstone("users").key("user-1");
    /// assert!(record.value.is_none());
    /// ```
    pub fn tombstone(topic: impl Into<String>) -> Self {
        TypedRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
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

    /// Adds a header (headers are bytes, not serialized).
    #[must_use]
    pub fn header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// The untyped record: key and value through the serializers.
    ///
    /// ```
    /// use ferrokafka_producer::TypedRecord;
    /// use ferrokafka_serde::{Json, Utf8};
    /// let record = TypedRecord::new("orders", &[1, 2]).key("user-1").serialize(&Utf8, &Json)?;
    /// assert_eq!(record.value.as_deref(), Some(&b"[1,2]"[..]));
    /// assert_eq!(record.key.as_deref(), Some(&b"user-1"[..]));
    /// # Ok::<(), ferrokafka_serde::SerdeError>(())
    /// ```
    pub fn serialize(
        self,
        key_serializer: &(impl Serializer<K> + ?Sized),
        value_serializer: &(impl Serializer<V> + ?Sized),
    ) -> Result<ProducerRecord, SerdeError> {
        let mut record = ProducerRecord::serialized(
            self.topic,
            self.key,
            self.value,
            key_serializer,
            value_serializer,
        )?;
        record.partition = self.partition;
        record.headers = self.headers;
        record.timestamp = self.timestamp;
        Ok(record)
    }
}

/// Why a typed send did not queue its record.
#[derive(Debug, thiserror::Error)]
pub enum TypedSendError {
    /// The key or value could not be serialized; nothing was sent.
    #[error(transparent)]
    Serialize(#[from] SerdeError),
    /// The producer refused the record, as [`Producer::send`] does.
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// A [`Producer`] with a key and a value serializer: Java's
/// `KafkaProducer<K, V>`. Clones share the producer.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use ferrokafka_producer::{Producer, ProducerConfig, TypedProducer, TypedRecord};
/// use ferrokafka_serde::{Json, Utf8};
///
/// #[derive(serde::Serialize)]
/// struct Order { id: u64, item: String }
///
/// let config = ProducerConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
/// let producer: TypedProducer<str, Order> =
///     TypedProducer::new(Producer::new(config).await?, Utf8, Json);
/// let order = Order { id: 7, item: "tea".into() };
/// let delivery = producer.send(TypedRecord::new("orders", &order).key("user-1")).await?;
/// println!("written at offset {}", delivery.await?.offset);
/// # Ok(()) }
/// ```
pub struct TypedProducer<K: ?Sized, V: ?Sized> {
    producer: Producer,
    key_serializer: Arc<dyn Serializer<K>>,
    value_serializer: Arc<dyn Serializer<V>>,
}

impl<K: ?Sized, V: ?Sized> Clone for TypedProducer<K, V> {
    fn clone(&self) -> Self {
        TypedProducer {
            producer: self.producer.clone(),
            key_serializer: Arc::clone(&self.key_serializer),
            value_serializer: Arc::clone(&self.value_serializer),
        }
    }
}

impl<K: ?Sized, V: ?Sized> std::fmt::Debug for TypedProducer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedProducer")
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl<K: ?Sized, V: ?Sized> TypedProducer<K, V> {
    /// `producer` with these serializers for every record it sends.
    pub fn new(
        producer: Producer,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Self {
        TypedProducer {
            producer,
            key_serializer: Arc::new(key_serializer),
            value_serializer: Arc::new(value_serializer),
        }
    }

    /// The untyped producer underneath (transactions, metrics, untyped
    /// sends).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Serializes `record` and queues it, as [`Producer::send`]; a key or
    /// value that cannot be serialized is an error and sends nothing.
    pub async fn send(
        &self,
        record: TypedRecord<'_, K, V>,
    ) -> Result<DeliveryFuture, TypedSendError> {
        let record = record.serialize(&*self.key_serializer, &*self.value_serializer)?;
        Ok(self.producer.send(record).await?)
    }

    /// Serializes `record` and queues it with a callback, as
    /// [`Producer::send_with_callback`].
    pub async fn send_with_callback(
        &self,
        record: TypedRecord<'_, K, V>,
        callback: impl FnOnce(Result<&RecordMetadata, &ProduceError>) + Send + 'static,
    ) -> Result<(), TypedSendError> {
        let record = record.serialize(&*self.key_serializer, &*self.value_serializer)?;
        Ok(self.producer.send_with_callback(record, callback).await?)
    }

    /// Waits until every queued record has its outcome ([`Producer::flush`]).
    pub async fn flush(&self) {
        self.producer.flush().await;
    }

    /// Sends what is queued and closes ([`Producer::close`]).
    pub async fn close(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.producer.close(timeout).await
    }
}
