//! The producer: `send` appends a record to the accumulator and returns a
//! future of its delivery; a sender task (see `sender.rs`) turns ready
//! batches into Produce requests, one per broker per wave.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrokafka_records::HeaderRef as _;
use ferrokafka_transport::Client;
use tokio::sync::{Notify, oneshot};

use crate::accumulator::{Accumulator, AppendError, RecordRef};
use crate::config::{PartitionerChoice, ProducerConfig};
use crate::partitioner::{DefaultPartitioner, Partitioner, RoundRobinPartitioner, TopicPartitions};
use crate::{ProduceError, ProducerRecord, RecordMetadata};

/// A partition of a topic, the accumulator's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
}

/// Who waits for one record, and what its metadata will say.
pub(crate) struct Completion {
    pub(crate) sender: oneshot::Sender<Result<RecordMetadata, ProduceError>>,
    pub(crate) timestamp: i64,
    pub(crate) key_size: i32,
    pub(crate) value_size: i32,
    pub(crate) header_size: i32,
}

/// The producer's mutable state, behind one lock held only for in-memory
/// work (never across an await).
pub(crate) struct State {
    pub(crate) accumulator: Accumulator<TopicPartition, Completion>,
    partitioner: Box<dyn Partitioner>,
    /// Partitions with a batch in flight: one at a time per partition, so
    /// a retry can never overtake a later batch.
    pub(crate) in_flight: HashSet<TopicPartition>,
    /// Produce requests in flight per broker.
    pub(crate) requests_in_flight: HashMap<i32, usize>,
    /// Idempotent producer id and epoch, once InitProducerId answered.
    pub(crate) producer_id: Option<(i64, i16)>,
    /// The next sequence number per partition (idempotence).
    pub(crate) next_sequence: HashMap<TopicPartition, i32>,
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) config: ProducerConfig,
    pub(crate) state: Mutex<State>,
    /// Wakes the sender: a batch filled, a response came, a flush began.
    pub(crate) wake: Notify,
    /// Wakes senders blocked on `buffer_memory` and flushes waiting for the
    /// accumulator to empty.
    pub(crate) progress: Notify,
    pub(crate) closed: AtomicBool,
    pub(crate) metrics: Counters,
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock in a way that leaves the
        // state half-updated, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Running totals behind [`Producer::metrics`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) records_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) batches_sent: AtomicU64,
    pub(crate) requests_sent: AtomicU64,
    pub(crate) record_errors: AtomicU64,
    pub(crate) record_retries: AtomicU64,
    pub(crate) request_latency_total_us: AtomicU64,
    pub(crate) request_latency_max_us: AtomicU64,
    pub(crate) batch_size_max: AtomicU64,
    pub(crate) uncompressed_bytes: AtomicU64,
}

/// A snapshot of the producer's metrics, named as in the Java client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerMetrics {
    /// Records acknowledged (`record-send-total`).
    pub record_send_total: u64,
    /// Records failed (`record-error-total`).
    pub record_error_total: u64,
    /// Records resent (`record-retry-total`).
    pub record_retry_total: u64,
    /// Bytes of batches acknowledged (`byte-total`).
    pub byte_total: u64,
    /// Produce requests answered (`request-total`).
    pub request_total: u64,
    /// Mean batch size in bytes (`batch-size-avg`).
    pub batch_size_avg: f64,
    /// Largest batch in bytes (`batch-size-max`).
    pub batch_size_max: u64,
    /// Mean records per request (`records-per-request-avg`).
    pub records_per_request_avg: f64,
    /// Mean request latency in milliseconds (`request-latency-avg`).
    pub request_latency_avg_ms: f64,
    /// Largest request latency in milliseconds (`request-latency-max`).
    pub request_latency_max_ms: f64,
    /// Compressed size over uncompressed size (`compression-rate-avg`).
    pub compression_rate_avg: f64,
    /// Free `buffer_memory` bytes (`buffer-available-bytes`).
    pub buffer_available_bytes: u64,
}

/// The delivery of one record: resolves to its metadata or its error.
/// Awaiting it is the synchronous style (`future.get()`); dropping it is
/// fire-and-forget (the record is still sent).
#[derive(Debug)]
pub struct DeliveryFuture {
    receiver: oneshot::Receiver<Result<RecordMetadata, ProduceError>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(Err(ProduceError::Closed)))
    }
}

/// An asynchronous Kafka producer; clones share one sender and buffer.
///
/// ```no_run
/// # async fn example() -> Result<(), ferrokafka_producer::ProduceError> {
/// use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
///
/// let config = ProducerConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
/// let producer = Producer::new(config).await?;
/// let delivery = producer.send(ProducerRecord::new("events").key("k").value("v")).await?;
/// let metadata = delivery.await?;
/// println!("{}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
/// producer.close(std::time::Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client", &self.inner.client)
            .finish_non_exhaustive()
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn size_of(bytes: Option<&bytes::Bytes>) -> i32 {
    bytes.map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX))
}

impl Producer {
    /// Connects to the cluster and starts the sender task.
    pub async fn new(config: ProducerConfig) -> Result<Producer, ProduceError> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        Ok(Self::with_client(client, config))
    }

    /// A producer over an existing cluster client (shared with a consumer
    /// or an admin client, say).
    pub fn with_client(client: Client, config: ProducerConfig) -> Producer {
        let seed = u64::try_from(now_millis()).unwrap_or(1) ^ u64::from(std::process::id());
        let partitioner: Box<dyn Partitioner> = match config.partitioner {
            PartitionerChoice::Default => {
                Box::new(DefaultPartitioner::new(config.batching.batch_size, seed))
            }
            PartitionerChoice::RoundRobin => Box::new(RoundRobinPartitioner::default()),
        };
        Self::with_partitioner(client, config, partitioner)
    }

    /// A producer with a partitioner of your own.
    pub fn with_partitioner(
        client: Client,
        config: ProducerConfig,
        partitioner: Box<dyn Partitioner>,
    ) -> Producer {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                accumulator: Accumulator::new(config.batching.clone()),
                partitioner,
                in_flight: HashSet::new(),
                requests_in_flight: HashMap::new(),
                producer_id: None,
                next_sequence: HashMap::new(),
            }),
            client,
            config,
            wake: Notify::new(),
            progress: Notify::new(),
            closed: AtomicBool::new(false),
            metrics: Counters::default(),
        });
        tokio::spawn(crate::sender::run(Arc::clone(&inner)));
        Producer { inner }
    }

    /// The cluster client this producer sends through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Queues `record` and returns its delivery future. Waits (up to
    /// `max_block_ms`) only for the topic's metadata or for room in
    /// `buffer_memory`.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProduceError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(ProduceError::Closed);
        }
        let started = Instant::now();
        let deadline = started + self.inner.config.max_block;
        let (count, available) = self.partitions_of(&record.topic, deadline).await?;
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let key = record.key.as_deref();
        let value = record.value.as_deref();
        let header_size: usize = record
            .headers
            .iter()
            .map(|h| h.key().len() + h.value().map_or(0, <[u8]>::len))
            .sum();
        let (sender, receiver) = oneshot::channel();
        let mut completion = Completion {
            sender,
            timestamp,
            key_size: size_of(record.key.as_ref()),
            value_size: size_of(record.value.as_ref()),
            header_size: i32::try_from(header_size).unwrap_or(i32::MAX),
        };
        let topic: Arc<str> = Arc::from(record.topic.as_str());
        loop {
            let waiting = self.inner.progress.notified();
            {
                let mut state = self.inner.state();
                let partition = match record.partition {
                    Some(p) if p >= 0 && usize::try_from(p).is_ok_and(|p| p < count) => p,
                    Some(p) => {
                        return Err(ProduceError::NoSuchPartition {
                            topic: record.topic.clone(),
                            partition: p,
                            count,
                        });
                    }
                    None => state.partitioner.partition(
                        key,
                        key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len),
                        TopicPartitions {
                            topic: &record.topic,
                            count: i32::try_from(count).unwrap_or(i32::MAX),
                            available: &available,
                        },
                    ),
                };
                let at = TopicPartition {
                    topic: Arc::clone(&topic),
                    partition,
                };
                let appended = state.accumulator.append(
                    Instant::now(),
                    &at,
                    RecordRef {
                        timestamp,
                        key,
                        value,
                        headers: &record.headers,
                    },
                    completion,
                );
                match appended {
                    Ok(appended) => {
                        drop(state);
                        if appended.batch_full || appended.new_batch {
                            self.inner.wake.notify_one();
                        }
                        return Ok(DeliveryFuture { receiver });
                    }
                    Err((AppendError::BufferFull { needed, .. }, returned)) => {
                        completion = returned;
                        if Instant::now() >= deadline {
                            return Err(ProduceError::Blocked {
                                what: format!("{needed} bytes of buffer_memory"),
                                waited: started.elapsed(),
                            });
                        }
                    }
                    Err((error, _)) => return Err(ProduceError::Record(error.to_string())),
                }
            }
            // Batches complete and free memory: wait for that, or the deadline.
            let _ = tokio::time::timeout_at(deadline.into(), waiting).await;
        }
    }

    /// The topic's partition count and the partitions with a leader.
    async fn partitions_of(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<(usize, Vec<i32>), ProduceError> {
        let cached = self.inner.client.view(|v| {
            v.topic(topic)
                .map(|t| (t.partitions.len(), v.available_partitions(topic)))
        });
        if let Some(found) = cached {
            return Ok(found);
        }
        let started = Instant::now();
        match tokio::time::timeout_at(deadline.into(), self.inner.client.topic(topic)).await {
            Ok(Ok(view)) => Ok((
                view.partitions.len(),
                self.inner.client.view(|v| v.available_partitions(topic)),
            )),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(ProduceError::Blocked {
                what: format!("metadata of {topic}"),
                waited: started.elapsed(),
            }),
        }
    }

    /// The partitions of `topic`, fetching its metadata if needed.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<i32>, ProduceError> {
        let view = self.inner.client.topic(topic).await?;
        Ok(view.partitions.iter().map(|p| p.index).collect())
    }

    /// Sends everything queued now and waits until each of those records
    /// is delivered or failed.
    pub async fn flush(&self) {
        self.inner.state().accumulator.begin_flush();
        self.inner.wake.notify_one();
        loop {
            let waiting = self.inner.progress.notified();
            {
                let mut state = self.inner.state();
                if state.in_flight.is_empty() && state.accumulator.flush_done() {
                    return;
                }
            }
            waiting.await;
        }
    }

    /// Delivers what is buffered, waiting at most `timeout`; records still
    /// undelivered then fail with [`ProduceError::Closed`]. Later sends fail.
    pub async fn close(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.inner.closed.store(true, Ordering::Release);
        let flushed = tokio::time::timeout(timeout, self.flush()).await.is_ok();
        let abandoned = self.inner.state().accumulator.abort_all();
        for batch in abandoned {
            for completion in batch.into_completions() {
                let _ = completion.sender.send(Err(ProduceError::Closed));
            }
        }
        self.inner.wake.notify_one();
        if flushed {
            Ok(())
        } else {
            Err(ProduceError::Blocked {
                what: "buffered records to be delivered before close".to_string(),
                waited: timeout,
            })
        }
    }

    /// The producer's metrics now.
    pub fn metrics(&self) -> ProducerMetrics {
        let m = &self.inner.metrics;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let requests = load(&m.requests_sent);
        ProducerMetrics {
            record_send_total: load(&m.records_sent),
            record_error_total: load(&m.record_errors),
            record_retry_total: load(&m.record_retries),
            byte_total: load(&m.bytes_sent),
            request_total: requests,
            batch_size_avg: ratio(load(&m.bytes_sent), load(&m.batches_sent)),
            batch_size_max: load(&m.batch_size_max),
            records_per_request_avg: ratio(load(&m.records_sent), requests),
            request_latency_avg_ms: ratio(load(&m.request_latency_total_us), requests) / 1000.0,
            request_latency_max_ms: ratio(load(&m.request_latency_max_us), 1000),
            compression_rate_avg: ratio(load(&m.bytes_sent), load(&m.uncompressed_bytes)),
            buffer_available_bytes: self.inner.state().accumulator.available_memory() as u64,
        }
    }
}
