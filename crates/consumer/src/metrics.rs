//! The consumer's metrics, named as in the Java client's
//! `consumer-fetch-manager-metrics` and `consumer-coordinator-metrics`:
//! totals since the consumer started, and rates, means and maxima over
//! sampled windows (`metrics_sample_window_ms` x `metrics_num_samples`,
//! as Java's `SampledStat`).
//!
//! Nothing here runs per record: the consumer records once per batch a
//! poll hands out, the fetcher once per request sent and once per
//! response, and commits once each, every time with an instant the caller
//! read for it. The lock here is never held while the positions' lock is
//! taken, nor the other way round.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_transport::metrics::{Meter, SampledStat, WindowConfig, millis};

use crate::coordinator_metrics::MembershipMetrics;

/// A snapshot of the consumer's metrics, named as in the Java client.
///
/// The `_total` fields and the fetch-session counters cover the consumer's
/// whole life; the `_rate`, `_avg` and `_max` fields (but `records_lag`)
/// cover the sampled windows (Java's semantics: the retained samples over
/// the time they span, at least `metrics_num_samples - 1` windows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerMetrics {
    /// Records handed to the application (`records-consumed-total`).
    pub records_consumed_total: u64,
    /// Records handed to the application per second
    /// (`records-consumed-rate`).
    pub records_consumed_rate: f64,
    /// Bytes of keys and values handed out (`bytes-consumed-total`).
    pub bytes_consumed_total: u64,
    /// Bytes of keys and values handed out per second
    /// (`bytes-consumed-rate`).
    pub bytes_consumed_rate: f64,
    /// Fetch requests sent (`fetch-total`).
    pub fetch_total: u64,
    /// Fetch requests sent per second (`fetch-rate`).
    pub fetch_rate: f64,
    /// Mean time in milliseconds from sending a Fetch to its answer
    /// (`fetch-latency-avg`).
    pub fetch_latency_avg_ms: f64,
    /// Longest such time in milliseconds (`fetch-latency-max`).
    pub fetch_latency_max_ms: f64,
    /// Mean records a Fetch answer brought (`records-per-request-avg`;
    /// records of aborted transactions and control batches not counted).
    pub records_per_request_avg: f64,
    /// Mean bytes of record batches a Fetch answer brought
    /// (`fetch-size-avg`).
    pub fetch_size_avg: f64,
    /// Largest such size in bytes (`fetch-size-max`).
    pub fetch_size_max: f64,
    /// Fetch requests that were full: a new fetch session, or none
    /// (KIP-227).
    pub fetch_requests_full: u64,
    /// Fetch requests that were incremental within a fetch session.
    pub fetch_requests_incremental: u64,
    /// Fetch sessions the broker dropped or that a failed request ended.
    pub fetch_session_resets: u64,
    /// Fetch requests sent to a preferred read replica (KIP-392).
    pub fetch_requests_to_replicas: u64,
    /// Positions checked against a new leader's log after a leader change
    /// (KIP-320 OffsetForLeaderEpoch).
    pub fetch_position_validations: u64,
    /// The largest lag a Fetch answer showed in the windows: its high
    /// watermark (last stable offset with `read_committed`) minus the
    /// partition's position then (`records-lag-max`).
    pub records_lag_max: i64,
    /// The largest lag of an assigned partition now (the largest of Java's
    /// per-partition `records-lag`).
    pub records_lag: i64,
    /// Commits made (`commit-total`).
    pub commit_total: u64,
    /// Commits made per second (`commit-rate`).
    pub commit_rate: f64,
    /// Mean commit latency in milliseconds in the windows
    /// (`commit-latency-avg`).
    pub commit_latency_avg_ms: f64,
    /// Longest commit latency in milliseconds in the windows
    /// (`commit-latency-max`).
    pub commit_latency_max_ms: f64,
    /// Assignment changes seen (`rebalance-total`).
    pub rebalance_total: u64,
    /// Heartbeats the coordinator answered, errors included
    /// (`heartbeat-total`; classic and KIP-848 protocols alike).
    pub heartbeat_total: u64,
    /// Heartbeats answered per second (`heartbeat-rate`).
    pub heartbeat_rate: f64,
    /// Longest time in milliseconds from sending a heartbeat to its answer
    /// (`heartbeat-response-time-max`).
    pub heartbeat_response_time_max_ms: f64,
    /// Whole seconds since the last heartbeat was sent, -1 before the first
    /// (`last-heartbeat-seconds-ago`).
    pub last_heartbeat_seconds_ago: i64,
    /// Bytes of fetched record data waiting to be handed out. Fetching
    /// stops while a whole answer's worth (`fetch_max_bytes`) waits, so
    /// this stays within `fetch_max_bytes` plus the answers in flight
    /// however many partitions are read.
    pub buffered_bytes: u64,
    /// Per topic (Java's per-topic `consumer-fetch-manager-metrics`), every
    /// topic records were handed out of; the topics' totals add up to the
    /// consumer's.
    pub topics: BTreeMap<String, TopicMetrics>,
}

/// One topic's metrics (Java's per-topic `consumer-fetch-manager-metrics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicMetrics {
    /// Records handed to the application (`records-consumed-total`).
    pub records_consumed_total: u64,
    /// Records handed to the application per second
    /// (`records-consumed-rate`).
    pub records_consumed_rate: f64,
    /// Bytes of keys and values handed out (`bytes-consumed-total`).
    pub bytes_consumed_total: u64,
    /// Bytes of keys and values handed out per second
    /// (`bytes-consumed-rate`).
    pub bytes_consumed_rate: f64,
}

/// What one poll handed out, topic by topic, gathered while the records
/// were moved out of the fetch buffer so that nothing walks them again.
#[derive(Debug, Default)]
pub(crate) struct Consumed {
    /// Records and key and value bytes, one entry per run of one topic.
    topics: Vec<(String, u64, u64)>,
}

impl Consumed {
    /// Adds `records` records of `bytes` bytes of `topic`.
    pub(crate) fn add(&mut self, topic: &str, records: u64, bytes: u64) {
        match self.topics.last_mut() {
            Some((last, r, b)) if last == topic => {
                *r += records;
                *b += bytes;
            }
            _ => self.topics.push((topic.to_string(), records, bytes)),
        }
    }

    fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
}

/// What one Fetch answer brought.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FetchAnswer {
    /// Records buffered from it.
    pub(crate) records: u64,
    /// Bytes of record batches in it.
    pub(crate) bytes: u64,
    /// The largest lag of its partitions, if any partition told one.
    pub(crate) lag_max: Option<i64>,
}

#[derive(Debug, Default)]
struct Topic {
    records: Meter,
    bytes: Meter,
}

#[derive(Debug, Default)]
struct Recorded {
    records: Meter,
    bytes: Meter,
    fetches: Meter,
    fetches_full: u64,
    fetches_to_replicas: u64,
    session_resets: u64,
    validations: u64,
    fetch_latency_ms: SampledStat,
    fetch_records: SampledStat,
    fetch_size: SampledStat,
    lag: SampledStat,
    commits: Meter,
    commit_latency_ms: SampledStat,
    rebalances: u64,
    topics: HashMap<String, Topic>,
}

/// Everything the consumer measures, behind a lock of its own.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    config: WindowConfig,
    recorded: Mutex<Recorded>,
    /// The fetcher's buffered bytes, as it last said.
    buffered_bytes: AtomicU64,
    /// The membership task's heartbeats (it records into them directly).
    pub(crate) membership: Arc<MembershipMetrics>,
}

impl Metrics {
    /// No values yet, windows as `config` says.
    pub(crate) fn new(config: WindowConfig) -> Self {
        Metrics {
            config,
            recorded: Mutex::new(Recorded::default()),
            buffered_bytes: AtomicU64::new(0),
            membership: Arc::new(MembershipMetrics::new(config)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // Counters are plain numbers: a panic elsewhere cannot leave them
        // inconsistent in a way that matters.
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The records one poll handed out, at `now`.
    pub(crate) fn record_consumed(&self, now: Instant, consumed: &Consumed) {
        if consumed.is_empty() {
            return;
        }
        let config = self.config;
        let mut recorded = self.lock();
        let (mut records, mut bytes) = (0, 0);
        for (name, r, b) in &consumed.topics {
            records += r;
            bytes += b;
            // Looked up by name first: a copy of the name only for a new
            // topic.
            if !recorded.topics.contains_key(name) {
                recorded.topics.insert(name.clone(), Topic::default());
            }
            let topic = recorded.topics.get_mut(name).expect("just ensured");
            topic.records.record(&config, *r, now);
            topic.bytes.record(&config, *b, now);
        }
        recorded.records.record(&config, records, now);
        recorded.bytes.record(&config, bytes, now);
    }

    /// A Fetch request built at `now`: `full` for a new session or none,
    /// `to_replica` when sent to a preferred read replica.
    pub(crate) fn record_fetch_sent(&self, now: Instant, full: bool, to_replica: bool) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.fetches.record(&config, 1, now);
        recorded.fetches_full += u64::from(full);
        recorded.fetches_to_replicas += u64::from(to_replica);
    }

    /// A Fetch answered at `now`, `latency` after it was sent.
    pub(crate) fn record_fetch_answer(&self, now: Instant, latency: Duration, answer: FetchAnswer) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded
            .fetch_latency_ms
            .record(&config, millis(latency), now);
        #[allow(clippy::cast_precision_loss)]
        {
            recorded
                .fetch_records
                .record(&config, answer.records as f64, now);
            recorded
                .fetch_size
                .record(&config, answer.bytes as f64, now);
            if let Some(lag) = answer.lag_max {
                recorded.lag.record(&config, lag as f64, now);
            }
        }
    }

    /// A fetch session dropped by the broker or ended by a failed request.
    pub(crate) fn record_session_reset(&self) {
        self.lock().session_resets += 1;
    }

    /// A position checked against a new leader's log.
    pub(crate) fn record_validation(&self) {
        self.lock().validations += 1;
    }

    /// A commit answered at `now`, `latency` after it was sent.
    pub(crate) fn record_commit(&self, now: Instant, latency: Duration) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.commits.record(&config, 1, now);
        recorded
            .commit_latency_ms
            .record(&config, millis(latency), now);
    }

    /// `count` assignment changes applied.
    pub(crate) fn record_rebalances(&self, count: u64) {
        if count > 0 {
            self.lock().rebalances += count;
        }
    }

    /// The fetcher buffers `bytes` now.
    pub(crate) fn set_buffered_bytes(&self, bytes: usize) {
        self.buffered_bytes
            .store(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The metrics at `now`; the positions supply the lag now.
    pub(crate) fn snapshot(&self, now: Instant, records_lag: i64) -> ConsumerMetrics {
        let config = &self.config;
        let mut guard = self.lock();
        let recorded = &mut *guard;
        let (records_consumed_total, records_consumed_rate) = recorded.records.read(config, now);
        let (bytes_consumed_total, bytes_consumed_rate) = recorded.bytes.read(config, now);
        let (fetch_total, fetch_rate) = recorded.fetches.read(config, now);
        let (commit_total, commit_rate) = recorded.commits.read(config, now);
        let topics = recorded
            .topics
            .iter_mut()
            .map(|(name, topic)| {
                let (records_consumed_total, records_consumed_rate) =
                    topic.records.read(config, now);
                let (bytes_consumed_total, bytes_consumed_rate) = topic.bytes.read(config, now);
                let metrics = TopicMetrics {
                    records_consumed_total,
                    records_consumed_rate,
                    bytes_consumed_total,
                    bytes_consumed_rate,
                };
                (name.clone(), metrics)
            })
            .collect();
        #[allow(clippy::cast_possible_truncation)]
        let records_lag_max = recorded.lag.max(config, now) as i64;
        let heartbeats = self.membership.snapshot(now);
        ConsumerMetrics {
            records_consumed_total,
            records_consumed_rate,
            bytes_consumed_total,
            bytes_consumed_rate,
            fetch_total,
            fetch_rate,
            fetch_latency_avg_ms: recorded.fetch_latency_ms.avg(config, now),
            fetch_latency_max_ms: recorded.fetch_latency_ms.max(config, now),
            records_per_request_avg: recorded.fetch_records.avg(config, now),
            fetch_size_avg: recorded.fetch_size.avg(config, now),
            fetch_size_max: recorded.fetch_size.max(config, now),
            fetch_requests_full: recorded.fetches_full,
            fetch_requests_incremental: fetch_total - recorded.fetches_full,
            fetch_session_resets: recorded.session_resets,
            fetch_requests_to_replicas: recorded.fetches_to_replicas,
            fetch_position_validations: recorded.validations,
            records_lag_max,
            records_lag,
            commit_total,
            commit_rate,
            commit_latency_avg_ms: recorded.commit_latency_ms.avg(config, now),
            commit_latency_max_ms: recorded.commit_latency_ms.max(config, now),
            rebalance_total: recorded.rebalances,
            heartbeat_total: heartbeats.heartbeat_total,
            heartbeat_rate: heartbeats.heartbeat_rate,
            heartbeat_response_time_max_ms: heartbeats.heartbeat_response_time_max_ms,
            last_heartbeat_seconds_ago: heartbeats.last_heartbeat_seconds_ago,
            buffered_bytes: self.buffered_bytes.load(Ordering::Relaxed),
            topics,
        }
    }
}

// Exact comparisons on purpose: the expected values are exact in binary,
// and a window off by one is what they must catch.
#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(WindowConfig {
            window: Duration::from_secs(1),
            samples: 2,
        })
    }

    #[test]
    fn consumed_records_add_up_by_topic_and_rate_over_the_windows() {
        let metrics = metrics();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut first = Consumed::default();
        first.add("a", 10, 100);
        first.add("a", 20, 200);
        first.add("b", 5, 50);
        metrics.record_consumed(at(0), &first);
        let mut second = Consumed::default();
        second.add("b", 15, 150);
        metrics.record_consumed(at(1000), &second);
        // An empty poll changes nothing.
        metrics.record_consumed(at(1000), &Consumed::default());
        let m = metrics.snapshot(at(1500), 0);
        assert_eq!(
            (m.records_consumed_total, m.bytes_consumed_total),
            (50, 500)
        );
        assert_eq!(m.records_consumed_rate, 50.0 / 1.5);
        assert_eq!(m.bytes_consumed_rate, 500.0 / 1.5);
        assert_eq!(m.topics.len(), 2);
        assert_eq!(m.topics["a"].records_consumed_total, 30);
        assert_eq!(m.topics["a"].bytes_consumed_rate, 300.0 / 1.5);
        assert_eq!(m.topics["b"].records_consumed_total, 20);
        assert_eq!(m.topics["b"].records_consumed_rate, 20.0 / 1.5);
        let sum = |f: fn(&TopicMetrics) -> u64| m.topics.values().map(f).sum::<u64>();
        assert_eq!(sum(|t| t.records_consumed_total), m.records_consumed_total);
        assert_eq!(sum(|t| t.bytes_consumed_total), m.bytes_consumed_total);
        // Two windows after the last poll the rates are back to nothing,
        // the totals stay.
        let m = metrics.snapshot(at(3000), 0);
        assert_eq!((m.records_consumed_rate, m.bytes_consumed_rate), (0.0, 0.0));
        assert_eq!(m.topics["b"].records_consumed_rate, 0.0);
        assert_eq!(m.records_consumed_total, 50);
    }

    #[test]
    fn fetches_keep_their_counters_and_windowed_statistics() {
        let metrics = metrics();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        metrics.record_fetch_sent(at(0), true, false);
        metrics.record_fetch_sent(at(0), false, true);
        metrics.record_fetch_sent(at(1000), false, false);
        metrics.record_fetch_answer(
            at(10),
            Duration::from_millis(10),
            FetchAnswer {
                records: 6,
                bytes: 600,
                lag_max: Some(40),
            },
        );
        metrics.record_fetch_answer(
            at(1200),
            Duration::from_millis(200),
            FetchAnswer {
                records: 2,
                bytes: 1000,
                lag_max: None,
            },
        );
        metrics.record_session_reset();
        metrics.record_validation();
        metrics.record_rebalances(0);
        metrics.record_rebalances(2);
        let m = metrics.snapshot(at(1500), 7);
        assert_eq!(m.fetch_total, 3);
        assert_eq!(m.fetch_rate, 3.0 / 1.5);
        assert_eq!(
            (m.fetch_requests_full, m.fetch_requests_incremental),
            (1, 2)
        );
        assert_eq!(m.fetch_requests_to_replicas, 1);
        assert_eq!(m.fetch_latency_avg_ms, 105.0);
        assert_eq!(m.fetch_latency_max_ms, 200.0);
        assert_eq!(m.records_per_request_avg, 4.0);
        assert_eq!((m.fetch_size_avg, m.fetch_size_max), (800.0, 1000.0));
        assert_eq!((m.records_lag_max, m.records_lag), (40, 7));
        assert_eq!(
            (m.fetch_session_resets, m.fetch_position_validations),
            (1, 1)
        );
        assert_eq!(m.rebalance_total, 2);
        // The first answer (at 10) is two windows old at 2010: only the
        // second counts; no answer told a lag since.
        let m = metrics.snapshot(at(2010), 0);
        assert_eq!(m.fetch_latency_avg_ms, 200.0);
        assert_eq!(m.records_per_request_avg, 2.0);
        assert_eq!((m.fetch_size_avg, m.fetch_size_max), (1000.0, 1000.0));
        assert_eq!(m.records_lag_max, 0);
        assert_eq!(m.fetch_total, 3);
    }

    #[test]
    fn commits_count_with_their_latency() {
        let metrics = metrics();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let m = metrics.snapshot(t0, 0);
        assert_eq!((m.commit_total, m.commit_rate), (0, 0.0));
        assert_eq!(
            (m.commit_latency_avg_ms, m.commit_latency_max_ms),
            (0.0, 0.0)
        );
        metrics.record_commit(at(0), Duration::from_millis(4));
        metrics.record_commit(at(1000), Duration::from_millis(2));
        let m = metrics.snapshot(at(1500), 0);
        assert_eq!(m.commit_total, 2);
        assert_eq!(m.commit_rate, 2.0 / 1.5);
        assert_eq!(m.commit_latency_avg_ms, 3.0);
        assert_eq!(m.commit_latency_max_ms, 4.0);
        let m = metrics.snapshot(at(2000), 0);
        assert_eq!(
            (m.commit_latency_avg_ms, m.commit_latency_max_ms),
            (2.0, 2.0)
        );
    }
}
