//! The producer for code that is not async, as kafka-python users write it:
//! the same [`Producer`] driven by a small runtime of its own.

use std::time::Duration;

use crate::producer::TopicPartition;
use crate::transaction::{GroupIdentity, OffsetAndMetadata, TransactionError, TransactionState};
use crate::{DeliveryFuture, ProduceError, Producer, ProducerConfig, ProducerMetrics};
use crate::{ProducerRecord, RecordMetadata};

/// A [`Producer`] with blocking calls.
///
/// Dropped without [`BlockingProducer::close`], it closes itself first,
/// waiting up to `delivery_timeout_ms` (the time within which every record
/// has its outcome anyway), so that no future or callback of a record it
/// accepted is left without one. Dropped inside an async runtime, where it
/// may not block, it skips that: futures then resolve to
/// [`ProduceError::Closed`] and callbacks still to run are not called.
///
/// ```no_run
/// use ferrokafka_producer::{BlockingProducer, ProducerConfig, ProducerRecord};
///
/// let config = ProducerConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
/// let producer = BlockingProducer::new(config)?;
/// let metadata = producer
///     .send(ProducerRecord::new("events").value("hello"))?
///     .get(Some(std::time::Duration::from_secs(10)))?;
/// println!("written at offset {}", metadata.offset);
/// producer.close(std::time::Duration::from_secs(10))?;
/// # Ok::<(), ferrokafka_producer::ProduceError>(())
/// ```
#[derive(Debug)]
pub struct BlockingProducer {
    runtime: tokio::runtime::Runtime,
    producer: Producer,
}

/// The delivery of one record sent by a [`BlockingProducer`].
#[derive(Debug)]
pub struct BlockingDelivery {
    handle: tokio::runtime::Handle,
    delivery: DeliveryFuture,
}

impl BlockingDelivery {
    /// Waits for the record's metadata, at most `timeout` if given
    /// (kafka-python's `future.get(timeout)`).
    pub fn get(self, timeout: Option<Duration>) -> Result<RecordMetadata, ProduceError> {
        let mut delivery = self.delivery;
        if let Some(outcome) = delivery.try_take() {
            return outcome;
        }
        self.handle.block_on(async move {
            match timeout {
                None => delivery.await,
                Some(limit) => tokio::time::timeout(limit, delivery).await.unwrap_or(Err(
                    ProduceError::Blocked {
                        what: "the record's delivery".to_string(),
                        waited: limit,
                    },
                )),
            }
        })
    }
}

impl BlockingProducer {
    /// Connects and starts the sender on a runtime of one worker thread.
    pub fn new(config: ProducerConfig) -> Result<Self, ProduceError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferrokafka-producer")
            .enable_all()
            .build()
            .map_err(|e| {
                ProduceError::Record(format!("cannot start the producer's runtime: {e}"))
            })?;
        let producer = runtime.block_on(Producer::new(config))?;
        Ok(BlockingProducer { runtime, producer })
    }

    /// The asynchronous producer underneath.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Queues `record`; see [`Producer::send`].
    pub fn send(&self, record: ProducerRecord) -> Result<BlockingDelivery, ProduceError> {
        let delivery = self.runtime.block_on(self.producer.send(record))?;
        Ok(BlockingDelivery {
            handle: self.runtime.handle().clone(),
            delivery,
        })
    }

    /// See [`Producer::flush`].
    pub fn flush(&self) {
        self.runtime.block_on(self.producer.flush());
    }

    /// See [`Producer::close`].
    pub fn close(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.runtime.block_on(self.producer.close(timeout))
    }

    /// See [`Producer::partitions_for`].
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<i32>, ProduceError> {
        self.runtime.block_on(self.producer.partitions_for(topic))
    }

    /// See [`Producer::init_transactions`].
    pub fn init_transactions(&self, timeout: Duration) -> Result<(), TransactionError> {
        self.runtime
            .block_on(self.producer.init_transactions(timeout))
    }

    /// See [`Producer::begin_transaction`].
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        self.producer.begin_transaction()
    }

    /// See [`Producer::send_offsets_to_transaction`].
    pub fn send_offsets_to_transaction(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
        group: GroupIdentity,
    ) -> Result<(), TransactionError> {
        self.runtime
            .block_on(self.producer.send_offsets_to_transaction(offsets, group))
    }

    /// See [`Producer::commit_transaction`].
    pub fn commit_transaction(&self, timeout: Duration) -> Result<(), TransactionError> {
        self.runtime
            .block_on(self.producer.commit_transaction(timeout))
    }

    /// See [`Producer::abort_transaction`].
    pub fn abort_transaction(&self, timeout: Duration) -> Result<(), TransactionError> {
        self.runtime
            .block_on(self.producer.abort_transaction(timeout))
    }

    /// See [`Producer::transaction_state`].
    pub fn transaction_state(&self) -> Option<TransactionState> {
        self.producer.transaction_state()
    }

    /// See [`Producer::metrics`].
    pub fn metrics(&self) -> ProducerMetrics {
        self.producer.metrics()
    }
}

impl Drop for BlockingProducer {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking here would panic; see the type's documentation.
            return;
        }
        let timeout = self.producer.delivery_timeout();
        if let Err(error) = self.runtime.block_on(self.producer.close(timeout)) {
            tracing::warn!(%error, "closing a dropped producer");
        }
    }
}
