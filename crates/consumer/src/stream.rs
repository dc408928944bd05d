//! Records one at a time: a [`futures_core::Stream`] over `poll`, ending
//! after `consumer_timeout_ms` without a record (kafka-python's iterator).
//!
//! The stream takes records from the consumer a poll at a time and hands
//! them out one by one; a stream dropped with records still in hand gives
//! them back (their partitions fetched again from the first of them), so
//! dropping a stream, like dropping a poll, loses no record.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::positions::Position;
use crate::{ConsumeError, Consumer, ConsumerRecord, TopicPartition};

// Not a trait boundary (so not #[async_trait]): the stream keeps the one
// `poll` in flight between `poll_next` calls, which needs a nameable, pinned
// type; it is boxed once per batch of records, not per record.
type Polling<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<ConsumerRecord>, ConsumeError>> + Send + 'a>>;

/// The records of a [`Consumer`], one at a time (see [`Consumer::stream`]).
pub struct RecordStream<'a> {
    consumer: &'a Consumer,
    ready: VecDeque<ConsumerRecord>,
    /// Where each partition of `ready`'s records stood once the poll
    /// took them: what a drop checks before handing them back.
    taken: HashMap<TopicPartition, Position>,
    polling: Option<Polling<'a>>,
    idle_timeout: Option<Duration>,
    last_record: Instant,
    ended: bool,
}

impl std::fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("ready", &self.ready.len())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// How long one poll of the stream waits before it checks the idle timeout.
const POLL_SLICE: Duration = Duration::from_millis(500);

impl<'a> RecordStream<'a> {
    pub(crate) fn new(consumer: &'a Consumer, idle_timeout: Option<Duration>) -> Self {
        RecordStream {
            consumer,
            ready: VecDeque::new(),
            taken: HashMap::new(),
            polling: None,
            idle_timeout,
            last_record: Instant::now(),
            ended: false,
        }
    }
}

impl futures_core::Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord, ConsumeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(record)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            if self.polling.is_none() {
                let wait = match self.idle_timeout {
                    Some(idle) => idle
                        .saturating_sub(self.last_record.elapsed())
                        .min(POLL_SLICE),
                    None => POLL_SLICE,
                };
                let consumer = self.consumer;
                self.polling = Some(Box::pin(consumer.poll(wait)));
            }
            let polling = self.polling.as_mut().expect("set just above");
            let result = match polling.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            };
            self.polling = None;
            match result {
                Err(error) => return Poll::Ready(Some(Err(error))),
                Ok(records) if records.is_empty() => {
                    if self
                        .idle_timeout
                        .is_some_and(|idle| self.last_record.elapsed() >= idle)
                    {
                        self.ended = true;
                    }
                }
                Ok(records) => {
                    self.last_record = Instant::now();
                    let mut taken = HashMap::new();
                    for record in &records {
                        let partition = TopicPartition::new(
                            std::sync::Arc::clone(&record.topic),
                            record.partition,
                        );
                        if !taken.contains_key(&partition)
                            && let Some(now) = self.consumer.position_now(&partition)
                        {
                            taken.insert(partition, now);
                        }
                    }
                    self.taken = taken;
                    self.ready.extend(records);
                }
            }
        }
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        // A poll in flight goes first (a dropped poll loses nothing); then
        // each partition with records still in hand goes back to the first
        // of them, unless something moved it since they were taken.
        self.polling = None;
        for (partition, taken_at) in self.taken.drain() {
            let first = self
                .ready
                .iter()
                .find(|r| r.partition == partition.partition && r.topic == partition.topic);
            if let Some(first) = first {
                let to = Position {
                    offset: first.offset,
                    leader_epoch: first.leader_epoch,
                };
                self.consumer.rewind(&partition, taken_at, to);
            }
        }
    }
}
