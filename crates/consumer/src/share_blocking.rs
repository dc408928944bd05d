//! The share consumer for code that is not async: the same
//! [`ShareConsumer`] driven by a small runtime of its own.

use std::time::Duration;

use ferrokafka_group::share_acks::AcknowledgeType;

use crate::blocking::runtime;
use crate::{
    AcknowledgementCallback, AcknowledgementResults, ConsumeError, ShareConsumer,
    ShareConsumerConfig, ShareConsumerMetrics, ShareRecord, TopicPartition,
};

/// A [`ShareConsumer`] with blocking calls.
///
/// ```no_run
/// use std::time::Duration;
/// use ferrokafka_consumer::{AcknowledgeType, BlockingShareConsumer, ShareConsumerConfig};
///
/// let consumer = BlockingShareConsumer::new(ShareConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_id", "workers"),
///     ("share_acknowledgement_mode", "explicit"),
/// ])?)?;
/// consumer.subscribe(&["jobs"])?;
/// for record in consumer.poll(Duration::from_secs(1))? {
///     consumer.acknowledge(&record, AcknowledgeType::Accept)?;
/// }
/// consumer.commit_sync(Duration::from_secs(5))?;
/// consumer.close(Duration::from_secs(5))?;
/// # Ok::<(), ferrokafka_consumer::ConsumeError>(())
/// ```
#[derive(Debug)]
pub struct BlockingShareConsumer {
    runtime: tokio::runtime::Runtime,
    consumer: ShareConsumer,
}

impl BlockingShareConsumer {
    /// Connects, on a runtime of one worker thread.
    pub fn new(config: ShareConsumerConfig) -> Result<Self, ConsumeError> {
        let runtime = runtime()?;
        let consumer = runtime.block_on(ShareConsumer::new(config))?;
        Ok(BlockingShareConsumer { runtime, consumer })
    }

    /// The asynchronous share consumer underneath.
    pub fn consumer(&self) -> &ShareConsumer {
        &self.consumer
    }

    /// See [`ShareConsumer::subscribe`].
    pub fn subscribe(&self, topics: &[&str]) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.subscribe(topics))
    }

    /// See [`ShareConsumer::unsubscribe`].
    pub fn unsubscribe(&self) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.unsubscribe())
    }

    /// See [`ShareConsumer::subscription`].
    pub fn subscription(&self) -> Vec<String> {
        self.runtime.block_on(self.consumer.subscription())
    }

    /// See [`ShareConsumer::metrics`].
    pub fn metrics(&self) -> ShareConsumerMetrics {
        self.consumer.metrics()
    }

    /// See [`ShareConsumer::assignment`].
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.consumer.assignment()
    }

    /// See [`ShareConsumer::poll`].
    pub fn poll(&self, timeout: Duration) -> Result<Vec<ShareRecord>, ConsumeError> {
        self.runtime.block_on(self.consumer.poll(timeout))
    }

    /// See [`ShareConsumer::acknowledge`].
    pub fn acknowledge(
        &self,
        record: &ShareRecord,
        kind: AcknowledgeType,
    ) -> Result<(), ConsumeError> {
        self.consumer.acknowledge(record, kind)
    }

    /// See [`ShareConsumer::acknowledge_all`].
    pub fn acknowledge_all(&self, kind: AcknowledgeType) -> Result<(), ConsumeError> {
        self.consumer.acknowledge_all(kind)
    }

    /// See [`ShareConsumer::commit_sync`].
    pub fn commit_sync(&self, timeout: Duration) -> Result<AcknowledgementResults, ConsumeError> {
        self.runtime.block_on(self.consumer.commit_sync(timeout))
    }

    /// See [`ShareConsumer::commit_async`].
    pub fn commit_async(&self) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.commit_async())
    }

    /// See [`ShareConsumer::set_acknowledgement_commit_callback`].
    pub fn set_acknowledgement_commit_callback(&self, callback: AcknowledgementCallback) {
        self.runtime
            .block_on(self.consumer.set_acknowledgement_commit_callback(callback));
    }

    /// See [`ShareConsumer::acquisition_lock_timeout`].
    pub fn acquisition_lock_timeout(&self) -> Option<Duration> {
        self.consumer.acquisition_lock_timeout()
    }

    /// See [`ShareConsumer::wakeup`]; callable from another thread.
    pub fn wakeup(&self) {
        self.consumer.wakeup();
    }

    /// See [`ShareConsumer::close`].
    pub fn close(&self, timeout: Duration) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.close(timeout))
    }
}
