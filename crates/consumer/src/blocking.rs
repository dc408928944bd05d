//! The consumer for code that is not async, as kafka-python users write it:
//! the same [`Consumer`] driven by a small runtime of its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::offsets::{OffsetAndMetadata, OffsetAndTimestamp};
use crate::{
    ConsumeError, Consumer, ConsumerConfig, ConsumerMetrics, ConsumerRecord, RebalanceListener,
    TopicPartition,
};

/// A runtime of one worker thread for a blocking consumer: membership's
/// heartbeats run there while the application works between polls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ConsumeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ferrokafka-consumer")
        .enable_all()
        .build()
        .map_err(|e| {
            ConsumeError::IllegalState(format!("cannot start the consumer's runtime: {e}"))
        })
}

/// A [`Consumer`] with blocking calls, and an iterator over its records.
///
/// ```no_run
/// use ferrokafka_consumer::{BlockingConsumer, ConsumerConfig};
///
/// let consumer = BlockingConsumer::new(ConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_id", "reporting"),
///     ("consumer_timeout_ms", "10000"),
/// ])?)?;
/// consumer.subscribe(&["events"])?;
/// for record in consumer.iter() {
///     let record = record?;
///     println!("{}@{}", record.partition, record.offset);
/// }
/// # Ok::<(), ferrokafka_consumer::ConsumeError>(())
/// ```
#[derive(Debug)]
pub struct BlockingConsumer {
    runtime: tokio::runtime::Runtime,
    consumer: Consumer,
}

impl BlockingConsumer {
    /// Connects, on a runtime of one worker thread (membership's heartbeats
    /// run there while the application works between polls).
    pub fn new(config: ConsumerConfig) -> Result<Self, ConsumeError> {
        let runtime = runtime()?;
        let consumer = runtime.block_on(Consumer::new(config))?;
        Ok(BlockingConsumer { runtime, consumer })
    }

    /// The asynchronous consumer underneath.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// See [`Consumer::subscribe`].
    pub fn subscribe(&self, topics: &[&str]) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.subscribe(topics))
    }

    /// See [`Consumer::subscribe_with`]: the listener runs inside
    /// [`BlockingConsumer::poll`].
    pub fn subscribe_with(
        &self,
        topics: &[&str],
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), ConsumeError> {
        self.runtime
            .block_on(self.consumer.subscribe_with(topics, listener))
    }

    /// See [`Consumer::subscribe_pattern`].
    pub fn subscribe_pattern(
        &self,
        pattern: &str,
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), ConsumeError> {
        self.runtime
            .block_on(self.consumer.subscribe_pattern(pattern, listener))
    }

    /// See [`Consumer::subscription`].
    pub fn subscription(&self) -> Vec<String> {
        self.runtime.block_on(self.consumer.subscription())
    }

    /// See [`Consumer::unsubscribe`].
    pub fn unsubscribe(&self) {
        self.runtime.block_on(self.consumer.unsubscribe());
    }

    /// See [`Consumer::assignment`].
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.consumer.assignment()
    }

    /// See [`Consumer::assign`].
    pub fn assign(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.assign(partitions))
    }

    /// See [`Consumer::poll`].
    pub fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ConsumeError> {
        self.runtime.block_on(self.consumer.poll(timeout))
    }

    /// See [`Consumer::poll_records`].
    pub fn poll_records(
        &self,
        timeout: Duration,
        max_records: usize,
    ) -> Result<Vec<ConsumerRecord>, ConsumeError> {
        self.runtime
            .block_on(self.consumer.poll_records(timeout, max_records))
    }

    /// See [`Consumer::commit`].
    pub fn commit(&self) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.commit())
    }

    /// See [`Consumer::commit_offsets`].
    pub fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.commit_offsets(offsets))
    }

    /// See [`Consumer::committed`].
    pub fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, ConsumeError> {
        self.runtime.block_on(self.consumer.committed(partitions))
    }

    /// See [`Consumer::seek`].
    pub fn seek(&self, partition: &TopicPartition, offset: i64) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.seek(partition, offset))
    }

    /// See [`Consumer::seek_to_beginning`].
    pub fn seek_to_beginning(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        self.runtime
            .block_on(self.consumer.seek_to_beginning(partitions))
    }

    /// See [`Consumer::seek_to_end`].
    pub fn seek_to_end(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.seek_to_end(partitions))
    }

    /// See [`Consumer::pause`].
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        self.consumer.pause(partitions)
    }

    /// See [`Consumer::resume`].
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        self.consumer.resume(partitions)
    }

    /// See [`Consumer::position`].
    pub fn position(&self, partition: &TopicPartition) -> Result<i64, ConsumeError> {
        self.runtime.block_on(self.consumer.position(partition))
    }

    /// See [`Consumer::beginning_offsets`].
    pub fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ConsumeError> {
        self.runtime
            .block_on(self.consumer.beginning_offsets(partitions))
    }

    /// See [`Consumer::end_offsets`].
    pub fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ConsumeError> {
        self.runtime.block_on(self.consumer.end_offsets(partitions))
    }

    /// See [`Consumer::offsets_for_times`].
    pub fn offsets_for_times(
        &self,
        times: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, ConsumeError> {
        self.runtime
            .block_on(self.consumer.offsets_for_times(times))
    }

    /// Any other call of the asynchronous consumer, blocking until it is
    /// done.
    ///
    /// ```no_run
    /// # fn example(consumer: &ferrokafka_consumer::BlockingConsumer)
    /// #     -> Result<(), ferrokafka_consumer::ConsumeError> {
    /// let partitions = consumer.call(|c| c.partitions_for_topic("events"))?;
    /// # Ok(()) }
    /// ```
    pub fn call<'a, F: std::future::Future>(
        &'a self,
        call: impl FnOnce(&'a Consumer) -> F,
    ) -> F::Output {
        self.runtime.block_on(call(&self.consumer))
    }

    /// See [`Consumer::metrics`].
    pub fn metrics(&self) -> ConsumerMetrics {
        self.consumer.metrics()
    }

    /// See [`Consumer::close`].
    pub fn close(&self, timeout: Duration) -> Result<(), ConsumeError> {
        self.runtime.block_on(self.consumer.close(timeout))
    }

    /// The records one at a time (kafka-python's `for msg in consumer`),
    /// ending after `consumer_timeout_ms` without one, or never without it.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            consumer: self,
            ready: std::collections::VecDeque::new(),
            last_record: Instant::now(),
        }
    }
}

/// The iterator of [`BlockingConsumer::iter`].
#[derive(Debug)]
pub struct RecordIter<'a> {
    consumer: &'a BlockingConsumer,
    ready: std::collections::VecDeque<ConsumerRecord>,
    last_record: Instant,
}

impl Iterator for RecordIter<'_> {
    type Item = Result<ConsumerRecord, ConsumeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let idle = self.consumer.consumer.config().consumer_timeout;
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Some(Ok(record));
            }
            let wait = idle.map_or(Duration::from_millis(500), |idle| {
                idle.saturating_sub(self.last_record.elapsed())
                    .min(Duration::from_millis(500))
            });
            match self.consumer.poll(wait) {
                Err(error) => return Some(Err(error)),
                Ok(records) if records.is_empty() => {
                    if idle.is_some_and(|idle| self.last_record.elapsed() >= idle) {
                        return None;
                    }
                }
                Ok(records) => {
                    self.last_record = Instant::now();
                    self.ready.extend(records);
                }
            }
        }
    }
}

impl<'a> IntoIterator for &'a BlockingConsumer {
    type Item = Result<ConsumerRecord, ConsumeError>;
    type IntoIter = RecordIter<'a>;

    /// `for record in &consumer`: see [`BlockingConsumer::iter`].
    fn into_iter(self) -> RecordIter<'a> {
        self.iter()
    }
}
