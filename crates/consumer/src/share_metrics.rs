//! The share consumer's metrics, named as in the Java client's
//! `consumer-share-fetch-manager-metrics` (its `ShareFetchMetricsRegistry`):
//! totals since the consumer started, and rates, means and maxima over the
//! sampled windows (`metrics_sample_window_ms` x `metrics_num_samples`), as
//! the consumer's own metrics (`metrics.rs`). The membership's heartbeat
//! and rebalance metrics (`consumer-share-coordinator-metrics`) come from
//! `coordinator_metrics.rs`, which the membership task records into.
//!
//! Recorded once per ShareFetch sent, once per answer, once per poll that
//! hands records out, and once per acknowledgement request answered; never
//! per record.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_group::share_acks::PartitionBatches;
use ferrokafka_transport::NetworkMetrics;
use ferrokafka_transport::metrics::{Meter, SampledStat, WindowConfig, millis};

use crate::coordinator_metrics::CoordinatorMetrics;

/// A snapshot of a share consumer's metrics, named as in the Java client's
/// `consumer-share-fetch-manager-metrics`, with its
/// `consumer-share-coordinator-metrics` in [`ShareConsumerMetrics::coordinator`]
/// and the connection metrics every Java client keeps in
/// [`ShareConsumerMetrics::network`].
///
/// The `_total` fields cover the consumer's whole life; the `_rate`, `_avg`
/// and `_max` fields cover the sampled windows.
///
/// ```no_run
/// # async fn run(consumer: ferrokafka_consumer::ShareConsumer) {
/// let metrics = consumer.metrics();
/// println!(
///     "{} records, {} acknowledgements sent ({} failed), {:.1} fetches/s",
///     metrics.records_fetched_total,
///     metrics.acknowledgements_send_total,
///     metrics.acknowledgements_error_total,
///     metrics.fetch_rate,
/// );
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareConsumerMetrics {
    /// Records handed to the application (`records-fetched-total`).
    pub records_fetched_total: u64,
    /// Records handed to the application per second
    /// (`records-fetched-rate`).
    pub records_fetched_rate: f64,
    /// Bytes of keys and values handed out (`bytes-consumed-total`).
    pub bytes_consumed_total: u64,
    /// Bytes of keys and values handed out per second
    /// (`bytes-consumed-rate`).
    pub bytes_consumed_rate: f64,
    /// ShareFetch requests sent (`fetch-total`).
    pub fetch_total: u64,
    /// ShareFetch requests sent per second (`fetch-rate`).
    pub fetch_rate: f64,
    /// Mean milliseconds from sending a ShareFetch to its answer
    /// (`fetch-latency-avg`).
    pub fetch_latency_avg_ms: f64,
    /// Longest such time in milliseconds (`fetch-latency-max`).
    pub fetch_latency_max_ms: f64,
    /// Mean bytes of records a ShareFetch answer brought (`fetch-size-avg`).
    pub fetch_size_avg: f64,
    /// Largest such size (`fetch-size-max`).
    pub fetch_size_max: f64,
    /// Mean records acquired by a ShareFetch answer
    /// (`records-per-request-avg`).
    pub records_per_request_avg: f64,
    /// Most records acquired by one answer (`records-per-request-max`).
    pub records_per_request_max: f64,
    /// Record acknowledgements sent, on ShareFetch or ShareAcknowledge,
    /// renewals included (`acknowledgements-send-total`).
    pub acknowledgements_send_total: u64,
    /// Record acknowledgements sent per second
    /// (`acknowledgements-send-rate`).
    pub acknowledgements_send_rate: f64,
    /// Record acknowledgements the broker refused or that got no answer
    /// (`acknowledgements-error-total`).
    pub acknowledgements_error_total: u64,
    /// Such acknowledgements per second (`acknowledgements-error-rate`).
    pub acknowledgements_error_rate: f64,
    /// Mean time in milliseconds the broker said it throttled a ShareFetch
    /// (`fetch-throttle-time-avg`).
    pub fetch_throttle_time_avg_ms: f64,
    /// Longest such time (`fetch-throttle-time-max`).
    pub fetch_throttle_time_max_ms: f64,
    /// The share-group membership's heartbeats and rebalances
    /// (`consumer-share-coordinator-metrics`).
    pub coordinator: CoordinatorMetrics,
    /// The consumer's connections, requests and responses, in all and per
    /// broker (Java's `consumer-share-metrics` and
    /// `consumer-share-node-metrics`): its cluster client's.
    pub network: NetworkMetrics,
}

/// What one ShareFetch answer brought.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShareFetchAnswer {
    /// Records acquired from it.
    pub(crate) records: u64,
    /// Bytes of record batches in it.
    pub(crate) bytes: u64,
    /// The throttle time the broker gave, in milliseconds.
    pub(crate) throttle_ms: i32,
}

#[derive(Debug, Default)]
struct Recorded {
    records: Meter,
    bytes: Meter,
    fetches: Meter,
    fetch_latency_ms: SampledStat,
    fetch_size: SampledStat,
    fetch_records: SampledStat,
    throttle_ms: SampledStat,
    acks_sent: Meter,
    ack_errors: Meter,
}

/// Everything a share consumer measures, behind a lock of its own (never
/// held with the consumer's other locks).
#[derive(Debug, Default)]
pub(crate) struct ShareMetrics {
    config: WindowConfig,
    recorded: Mutex<Recorded>,
}

/// Record acknowledgements in `sent` (each offset of each batch, gaps
/// included, as Java counts them).
pub(crate) fn acknowledgement_count(sent: &[PartitionBatches]) -> u64 {
    sent.iter()
        .flat_map(|p| &p.batches)
        .map(|b| u64::try_from(b.last_offset - b.first_offset + 1).unwrap_or(0))
        .sum()
}

impl ShareMetrics {
    /// No values yet, windows as `config` says.
    pub(crate) fn new(config: WindowConfig) -> Self {
        ShareMetrics {
            config,
            recorded: Mutex::new(Recorded::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // Plain counters: a panic elsewhere leaves nothing inconsistent.
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A ShareFetch sent at `now`.
    pub(crate) fn record_fetch_sent(&self, now: Instant) {
        let config = self.config;
        self.lock().fetches.record(&config, 1, now);
    }

    /// A ShareFetch answered at `now`, `latency` after it was sent.
    pub(crate) fn record_fetch_answer(
        &self,
        now: Instant,
        latency: Duration,
        answer: ShareFetchAnswer,
    ) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded
            .fetch_latency_ms
            .record(&config, millis(latency), now);
        #[allow(clippy::cast_precision_loss)]
        {
            recorded
                .fetch_size
                .record(&config, answer.bytes as f64, now);
            recorded
                .fetch_records
                .record(&config, answer.records as f64, now);
        }
        recorded
            .throttle_ms
            .record(&config, f64::from(answer.throttle_ms.max(0)), now);
    }

    /// A poll handed out `records` records of `bytes` key and value bytes.
    pub(crate) fn record_handed_out(&self, now: Instant, records: u64, bytes: u64) {
        if records == 0 {
            return;
        }
        let config = self.config;
        let mut recorded = self.lock();
        recorded.records.record(&config, records, now);
        recorded.bytes.record(&config, bytes, now);
    }

    /// An acknowledgement request answered (or failed) at `now`: `sent`
    /// record acknowledgements, `failed` of them refused or unanswered.
    pub(crate) fn record_acknowledgements(&self, now: Instant, sent: u64, failed: u64) {
        if sent == 0 {
            return;
        }
        let config = self.config;
        let mut recorded = self.lock();
        recorded.acks_sent.record(&config, sent, now);
        if failed > 0 {
            recorded.ack_errors.record(&config, failed, now);
        }
    }

    /// The metrics at `now`, with the membership's `coordinator` metrics
    /// and the cluster client's `network` metrics.
    pub(crate) fn snapshot(
        &self,
        now: Instant,
        coordinator: CoordinatorMetrics,
        network: NetworkMetrics,
    ) -> ShareConsumerMetrics {
        let config = &self.config;
        let mut guard = self.lock();
        let r = &mut *guard;
        let (records_fetched_total, records_fetched_rate) = r.records.read(config, now);
        let (bytes_consumed_total, bytes_consumed_rate) = r.bytes.read(config, now);
        let (fetch_total, fetch_rate) = r.fetches.read(config, now);
        let (acknowledgements_send_total, acknowledgements_send_rate) =
            r.acks_sent.read(config, now);
        let (acknowledgements_error_total, acknowledgements_error_rate) =
            r.ack_errors.read(config, now);
        ShareConsumerMetrics {
            records_fetched_total,
            records_fetched_rate,
            bytes_consumed_total,
            bytes_consumed_rate,
            fetch_total,
            fetch_rate,
            fetch_latency_avg_ms: r.fetch_latency_ms.avg(config, now),
            fetch_latency_max_ms: r.fetch_latency_ms.max(config, now),
            fetch_size_avg: r.fetch_size.avg(config, now),
            fetch_size_max: r.fetch_size.max(config, now),
            records_per_request_avg: r.fetch_records.avg(config, now),
            records_per_request_max: r.fetch_records.max(config, now),
            acknowledgements_send_total,
            acknowledgements_send_rate,
            acknowledgements_error_total,
            acknowledgements_error_rate,
            fetch_throttle_time_avg_ms: r.throttle_ms.avg(config, now),
            fetch_throttle_time_max_ms: r.throttle_ms.max(config, now),
            coordinator,
            network,
        }
    }
}

// Exact comparisons on purpose: the expected values are exact in binary.
#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use ferrokafka_group::share_acks::AckBatch;
    use ferrokafka_protocol::Uuid;

    use super::*;

    fn metrics() -> ShareMetrics {
        ShareMetrics::new(WindowConfig {
            window: Duration::from_secs(1),
            samples: 2,
        })
    }

    #[test]
    fn fetches_hand_outs_and_acknowledgements_add_up_over_the_windows() {
        let metrics = metrics();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        metrics.record_fetch_sent(at(0));
        metrics.record_fetch_sent(at(1000));
        metrics.record_fetch_answer(
            at(10),
            Duration::from_millis(10),
            ShareFetchAnswer {
                records: 6,
                bytes: 600,
                throttle_ms: 0,
            },
        );
        metrics.record_fetch_answer(
            at(1200),
            Duration::from_millis(200),
            ShareFetchAnswer {
                records: 2,
                bytes: 1000,
                throttle_ms: 40,
            },
        );
        metrics.record_handed_out(at(0), 6, 60);
        metrics.record_handed_out(at(1300), 0, 0);
        metrics.record_acknowledgements(at(1000), 6, 0);
        metrics.record_acknowledgements(at(1300), 2, 2);
        let m = metrics.snapshot(
            at(1500),
            CoordinatorMetrics::default(),
            NetworkMetrics::default(),
        );
        assert_eq!((m.fetch_total, m.fetch_rate), (2, 2.0 / 1.5));
        assert_eq!(
            (m.fetch_latency_avg_ms, m.fetch_latency_max_ms),
            (105.0, 200.0)
        );
        assert_eq!((m.fetch_size_avg, m.fetch_size_max), (800.0, 1000.0));
        assert_eq!(
            (m.records_per_request_avg, m.records_per_request_max),
            (4.0, 6.0)
        );
        assert_eq!(
            (m.fetch_throttle_time_avg_ms, m.fetch_throttle_time_max_ms),
            (20.0, 40.0)
        );
        assert_eq!((m.records_fetched_total, m.bytes_consumed_total), (6, 60));
        assert_eq!(m.records_fetched_rate, 6.0 / 1.5);
        assert_eq!(
            (
                m.acknowledgements_send_total,
                m.acknowledgements_error_total
            ),
            (8, 2)
        );
        assert_eq!(m.acknowledgements_send_rate, 8.0 / 1.5);
        // Java's rate: the time since the oldest sample's window began,
        // padded to `samples - 1` whole windows (errors began at 1300).
        assert_eq!(m.acknowledgements_error_rate, 2.0 / 1.2);
        // Two windows on, only the totals remain.
        let m = metrics.snapshot(
            at(3500),
            CoordinatorMetrics::default(),
            NetworkMetrics::default(),
        );
        assert_eq!((m.records_fetched_rate, m.fetch_rate), (0.0, 0.0));
        assert_eq!(m.acknowledgements_send_total, 8);
        assert_eq!(m.records_fetched_total, 6);
    }

    #[test]
    fn every_offset_of_every_batch_is_an_acknowledgement() {
        let batch = |first, last| AckBatch {
            first_offset: first,
            last_offset: last,
            acknowledge_types: vec![1],
        };
        let sent = [
            PartitionBatches {
                topic_id: Uuid([1; 16]),
                partition: 0,
                batches: vec![batch(0, 9), batch(12, 12)],
            },
            PartitionBatches {
                topic_id: Uuid([1; 16]),
                partition: 1,
                batches: vec![batch(5, 6)],
            },
        ];
        assert_eq!(acknowledgement_count(&sent), 13);
        assert_eq!(acknowledgement_count(&[]), 0);
    }
}
