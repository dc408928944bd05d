//! The producer's metrics, named as in the Java client: totals since the
//! producer started, and rates over sampled windows
//! (`metrics_sample_window_ms` x `metrics_num_samples`, as Java's `Rate`).
//!
//! Nothing here runs per record: the sender records once per batch when it
//! is drained or settled and once per request when it is answered, each
//! time with the instant it already read. `send` never touches these
//! counters, and the lock here is never held while the producer's state
//! lock is taken, nor the other way round.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_transport::metrics::{Meter, SampledStat, WindowConfig, millis};

/// A snapshot of the producer's metrics, named as in the Java client.
///
/// The `_total` fields, `batch_size_avg`, `records_per_request_avg`,
/// `request_latency_avg_ms`/`_max_ms` and `compression_rate_avg` cover the
/// producer's whole life; the `_rate` fields and the record size and queue
/// time statistics cover the sampled windows (Java's semantics: the
/// retained samples over the time they span, at least
/// `metrics_num_samples - 1` windows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerMetrics {
    /// Records acknowledged (`record-send-total`).
    pub record_send_total: u64,
    /// Records acknowledged per second (`record-send-rate`).
    pub record_send_rate: f64,
    /// Records failed (`record-error-total`).
    pub record_error_total: u64,
    /// Records failed per second (`record-error-rate`).
    pub record_error_rate: f64,
    /// Records resent (`record-retry-total`).
    pub record_retry_total: u64,
    /// Records resent per second (`record-retry-rate`).
    pub record_retry_rate: f64,
    /// Bytes of batches acknowledged (`byte-total`).
    pub byte_total: u64,
    /// Bytes of batches acknowledged per second (`byte-rate`; Java's
    /// `outgoing-byte-rate` also counts request headers and resent bytes).
    pub byte_rate: f64,
    /// Produce requests answered (`request-total`).
    pub request_total: u64,
    /// Produce requests answered per second (`request-rate`).
    pub request_rate: f64,
    /// Produce requests sent and not yet answered (`requests-in-flight`).
    pub requests_in_flight: u64,
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
    /// Mean, over the batches sent in the windows, of each batch's largest
    /// record in bytes (`record-size-avg`, which Java computes so too; the
    /// size is the upper bound the accumulator reserves).
    pub record_size_avg: f64,
    /// Largest record sent in the windows, in bytes (`record-size-max`).
    pub record_size_max: u64,
    /// Mean time in milliseconds from a batch's first record to its drain
    /// into a request (`record-queue-time-avg`; a retry counts again).
    pub record_queue_time_avg_ms: f64,
    /// Longest such time in the windows (`record-queue-time-max`).
    pub record_queue_time_max_ms: f64,
    /// Per topic (Java's `producer-topic-metrics`), every topic a batch was
    /// settled or resent for; the topics' totals add up to the producer's.
    pub topics: BTreeMap<String, TopicMetrics>,
}

/// One topic's metrics (Java's `producer-topic-metrics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicMetrics {
    /// Records acknowledged (`record-send-total`).
    pub record_send_total: u64,
    /// Records acknowledged per second (`record-send-rate`).
    pub record_send_rate: f64,
    /// Bytes of batches acknowledged (`byte-total`).
    pub byte_total: u64,
    /// Bytes of batches acknowledged per second (`byte-rate`).
    pub byte_rate: f64,
    /// Compressed size over uncompressed size of the batches acknowledged
    /// (`compression-rate`, since the start).
    pub compression_rate: f64,
    /// Records failed (`record-error-total`).
    pub record_error_total: u64,
    /// Records failed per second (`record-error-rate`).
    pub record_error_rate: f64,
    /// Records resent (`record-retry-total`).
    pub record_retry_total: u64,
    /// Records resent per second (`record-retry-rate`).
    pub record_retry_rate: f64,
}

#[derive(Debug, Default)]
struct Topic {
    records: Meter,
    bytes: Meter,
    uncompressed_bytes: u64,
    errors: Meter,
    retries: Meter,
}

#[derive(Debug, Default)]
struct Recorded {
    records: Meter,
    bytes: Meter,
    errors: Meter,
    retries: Meter,
    requests: Meter,
    batches: u64,
    batch_size_max: u64,
    uncompressed_bytes: u64,
    latency_total: Duration,
    latency_max: Duration,
    record_size: SampledStat,
    queue_time_ms: SampledStat,
    topics: HashMap<Arc<str>, Topic>,
}

impl Recorded {
    fn topic(&mut self, topic: &Arc<str>) -> &mut Topic {
        // Looked up by name first: a clone of the key only for a new topic.
        if !self.topics.contains_key(topic) {
            self.topics.insert(Arc::clone(topic), Topic::default());
        }
        self.topics.get_mut(topic).expect("just ensured")
    }
}

/// What a drained batch tells the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drained {
    /// When its first record was appended.
    pub(crate) created: Instant,
    /// Its largest record's size bound.
    pub(crate) max_record_size: usize,
}

/// Everything the producer measures, behind a lock of its own.
#[derive(Debug)]
pub(crate) struct Metrics {
    config: WindowConfig,
    recorded: Mutex<Recorded>,
}

impl Metrics {
    /// No values yet, windows as `config` says.
    pub(crate) fn new(config: WindowConfig) -> Self {
        Metrics {
            config,
            recorded: Mutex::new(Recorded::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // Counters are plain numbers: a panic elsewhere cannot leave them
        // inconsistent in a way that matters.
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The batches of one request, drained at `now`.
    pub(crate) fn record_drained(&self, now: Instant, batches: impl IntoIterator<Item = Drained>) {
        let config = self.config;
        let mut recorded = self.lock();
        for batch in batches {
            #[allow(clippy::cast_precision_loss)]
            recorded
                .record_size
                .record(&config, batch.max_record_size as f64, now);
            let queued = now.saturating_duration_since(batch.created);
            recorded.queue_time_ms.record(&config, millis(queued), now);
        }
    }

    /// A Produce request answered (or failed) `latency` after it was sent.
    pub(crate) fn record_request(&self, now: Instant, latency: Duration) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.requests.record(&config, 1, now);
        recorded.latency_total += latency;
        recorded.latency_max = recorded.latency_max.max(latency);
    }

    /// A batch of `records` acknowledged: `bytes` on the wire, `uncompressed`
    /// before compression.
    pub(crate) fn record_delivered(
        &self,
        now: Instant,
        topic: &Arc<str>,
        records: u64,
        bytes: u64,
        uncompressed: u64,
    ) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.records.record(&config, records, now);
        recorded.bytes.record(&config, bytes, now);
        recorded.uncompressed_bytes += uncompressed;
        recorded.batches += 1;
        recorded.batch_size_max = recorded.batch_size_max.max(bytes);
        let topic = recorded.topic(topic);
        topic.records.record(&config, records, now);
        topic.bytes.record(&config, bytes, now);
        topic.uncompressed_bytes += uncompressed;
    }

    /// A batch of `records` failed.
    pub(crate) fn record_failed(&self, now: Instant, topic: &Arc<str>, records: u64) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.errors.record(&config, records, now);
        recorded.topic(topic).errors.record(&config, records, now);
    }

    /// A batch of `records` put back to be resent.
    pub(crate) fn record_retried(&self, now: Instant, topic: &Arc<str>, records: u64) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.retries.record(&config, records, now);
        recorded.topic(topic).retries.record(&config, records, now);
    }

    /// The metrics at `now`; the producer's state supplies the free buffer
    /// and the requests in flight.
    pub(crate) fn snapshot(
        &self,
        now: Instant,
        buffer_available_bytes: u64,
        requests_in_flight: u64,
    ) -> ProducerMetrics {
        let config = &self.config;
        let mut guard = self.lock();
        let recorded = &mut *guard;
        let (record_send_total, record_send_rate) = recorded.records.read(config, now);
        let (byte_total, byte_rate) = recorded.bytes.read(config, now);
        let (record_error_total, record_error_rate) = recorded.errors.read(config, now);
        let (record_retry_total, record_retry_rate) = recorded.retries.read(config, now);
        let (request_total, request_rate) = recorded.requests.read(config, now);
        let latency_avg_ms = u32::try_from(request_total)
            .ok()
            .filter(|n| *n > 0)
            .map_or(0.0, |n| millis(recorded.latency_total / n));
        let topics = recorded
            .topics
            .iter_mut()
            .map(|(name, topic)| {
                let (record_send_total, record_send_rate) = topic.records.read(config, now);
                let (byte_total, byte_rate) = topic.bytes.read(config, now);
                let (record_error_total, record_error_rate) = topic.errors.read(config, now);
                let (record_retry_total, record_retry_rate) = topic.retries.read(config, now);
                let metrics = TopicMetrics {
                    record_send_total,
                    record_send_rate,
                    byte_total,
                    byte_rate,
                    compression_rate: ratio(byte_total, topic.uncompressed_bytes),
                    record_error_total,
                    record_error_rate,
                    record_retry_total,
                    record_retry_rate,
                };
                (name.to_string(), metrics)
            })
            .collect();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let record_size_max = recorded.record_size.max(config, now) as u64;
        ProducerMetrics {
            record_send_total,
            record_send_rate,
            record_error_total,
            record_error_rate,
            record_retry_total,
            record_retry_rate,
            byte_total,
            byte_rate,
            request_total,
            request_rate,
            requests_in_flight,
            batch_size_avg: ratio(byte_total, recorded.batches),
            batch_size_max: recorded.batch_size_max,
            records_per_request_avg: ratio(record_send_total, request_total),
            request_latency_avg_ms: latency_avg_ms,
            request_latency_max_ms: millis(recorded.latency_max),
            compression_rate_avg: ratio(byte_total, recorded.uncompressed_bytes),
            buffer_available_bytes,
            record_size_avg: recorded.record_size.avg(config, now),
            record_size_max,
            record_queue_time_avg_ms: recorded.queue_time_ms.avg(config, now),
            record_queue_time_max_ms: recorded.queue_time_ms.max(config, now),
            topics,
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

// Exact comparisons on purpose: the expected values are exact in binary,
// and a window off by one is what they must catch.
#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn topics_add_up_and_rates_follow_the_windows() {
        let metrics = Metrics::new(WindowConfig {
            window: Duration::from_secs(1),
            samples: 2,
        });
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        metrics.record_drained(
            at(0),
            [Drained {
                created: t0,
                max_record_size: 10,
            }],
        );
        metrics.record_delivered(at(0), &a, 10, 500, 1000);
        metrics.record_delivered(at(1000), &b, 20, 300, 300);
        metrics.record_failed(at(1000), &a, 3);
        metrics.record_retried(at(1000), &b, 2);
        metrics.record_request(at(1000), Duration::from_millis(4));
        metrics.record_request(at(1000), Duration::from_millis(2));
        let m = metrics.snapshot(at(1500), 7, 1);
        assert_eq!(m.record_send_total, 30);
        assert_eq!(m.record_send_rate, 30.0 / 1.5);
        assert_eq!(m.byte_rate, 800.0 / 1.5);
        assert_eq!(m.record_error_rate, 3.0 / 1.5);
        assert_eq!(m.request_rate, 2.0 / 1.5);
        assert_eq!(m.request_latency_avg_ms, 3.0);
        assert_eq!(m.request_latency_max_ms, 4.0);
        assert_eq!(m.batch_size_avg, 400.0);
        assert_eq!(m.compression_rate_avg, 800.0 / 1300.0);
        assert_eq!((m.buffer_available_bytes, m.requests_in_flight), (7, 1));
        assert_eq!((m.record_size_avg, m.record_size_max), (10.0, 10));
        assert_eq!(m.topics.len(), 2);
        let sum = |f: fn(&TopicMetrics) -> u64| m.topics.values().map(f).sum::<u64>();
        assert_eq!(sum(|t| t.record_send_total), m.record_send_total);
        assert_eq!(sum(|t| t.byte_total), m.byte_total);
        assert_eq!(sum(|t| t.record_error_total), m.record_error_total);
        assert_eq!(sum(|t| t.record_retry_total), m.record_retry_total);
        assert_eq!(m.topics["a"].compression_rate, 0.5);
        assert_eq!(m.topics["a"].record_send_rate, 10.0 / 1.5);
        // The topic's own windows began with its first batch, at 1000.
        assert_eq!(m.topics["b"].record_send_rate, 20.0 / 1.5);
        assert_eq!(m.topics["b"].record_retry_rate, 2.0 / 1.5);
    }
}
