//! Group membership's metrics, named as in the Java client's coordinator
//! groups (its `HeartbeatMetricsManager` and, for share groups,
//! `ShareRebalanceMetricsManager`): heartbeats sent and answered, and
//! rebalances completed. The share consumer reports them as
//! `consumer-share-coordinator-metrics`.
//!
//! The membership task records once per heartbeat and once per completed
//! rebalance; the application's metrics call reads a snapshot. Kept apart
//! from the fetch metrics so that any membership driver (the KIP-848
//! consumer's as well as the share consumer's) can record into it.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_transport::TransportError;
use ferrokafka_transport::metrics::{Meter, SampledStat, WindowConfig, millis};

/// A snapshot of a group member's heartbeat and rebalance metrics, named
/// as in the Java client's coordinator metrics group.
///
/// `heartbeat_total` and `rebalance_total` cover the consumer's life; the
/// rates and the maximum cover the sampled windows.
#[derive(Debug, Clone, PartialEq)]
pub struct CoordinatorMetrics {
    /// Heartbeats the coordinator answered, errors included
    /// (`heartbeat-total`).
    pub heartbeat_total: u64,
    /// Heartbeats answered per second (`heartbeat-rate`).
    pub heartbeat_rate: f64,
    /// Longest time in milliseconds from sending a heartbeat to its answer
    /// (`heartbeat-response-time-max`).
    pub heartbeat_response_time_max_ms: f64,
    /// Whole seconds since the last heartbeat was sent, -1 before the first
    /// (`last-heartbeat-seconds-ago`).
    pub last_heartbeat_seconds_ago: i64,
    /// Rebalances completed: new assignments reconciled and acknowledged
    /// (`rebalance-total`).
    pub rebalance_total: u64,
    /// Rebalances completed per hour over the sampled windows
    /// (`rebalance-rate-per-hour`).
    pub rebalance_rate_per_hour: f64,
}

impl Default for CoordinatorMetrics {
    /// Nothing recorded: no heartbeat sent yet.
    fn default() -> Self {
        CoordinatorMetrics {
            heartbeat_total: 0,
            heartbeat_rate: 0.0,
            heartbeat_response_time_max_ms: 0.0,
            last_heartbeat_seconds_ago: -1,
            rebalance_total: 0,
            rebalance_rate_per_hour: 0.0,
        }
    }
}

#[derive(Debug, Default)]
struct Recorded {
    heartbeats: Meter,
    heartbeat_latency_ms: SampledStat,
    last_heartbeat_sent: Option<Instant>,
    rebalances: Meter,
}

/// What a membership task records, behind a lock of its own (held only
/// to add a value or take a snapshot, never across an await).
#[derive(Debug, Default)]
pub(crate) struct MembershipMetrics {
    config: WindowConfig,
    recorded: Mutex<Recorded>,
}

impl MembershipMetrics {
    /// No values yet, windows as `config` says.
    pub(crate) fn new(config: WindowConfig) -> Self {
        MembershipMetrics {
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

    /// A heartbeat sent at `now`.
    pub(crate) fn record_heartbeat_sent(&self, now: Instant) {
        self.lock().last_heartbeat_sent = Some(now);
    }

    /// A heartbeat answered at `now`, `latency` after it was sent. An
    /// answer carrying an error code counts; one that never came does not
    /// (as Java records the latency of every response it gets).
    pub(crate) fn record_heartbeat_answered(&self, now: Instant, latency: Duration) {
        let config = self.config;
        let mut recorded = self.lock();
        recorded.heartbeats.record(&config, 1, now);
        recorded
            .heartbeat_latency_ms
            .record(&config, millis(latency), now);
    }

    /// Sends a heartbeat with `request`, recording it sent now and, if
    /// answered, its latency: the one place membership drivers time their
    /// heartbeats.
    pub(crate) async fn time_heartbeat<R>(
        &self,
        request: impl Future<Output = Result<R, TransportError>>,
    ) -> Result<R, TransportError> {
        let sent = Instant::now();
        self.record_heartbeat_sent(sent);
        let result = request.await;
        if result.is_ok() {
            let now = Instant::now();
            self.record_heartbeat_answered(now, now.saturating_duration_since(sent));
        }
        result
    }

    /// `count` rebalances completed by `now`.
    pub(crate) fn record_rebalances(&self, now: Instant, count: u64) {
        if count == 0 {
            return;
        }
        let config = self.config;
        self.lock().rebalances.record(&config, count, now);
    }

    /// The metrics at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> CoordinatorMetrics {
        let config = &self.config;
        let mut guard = self.lock();
        let r = &mut *guard;
        let (heartbeat_total, heartbeat_rate) = r.heartbeats.read(config, now);
        let (rebalance_total, rebalance_rate) = r.rebalances.read(config, now);
        // Java truncates to whole seconds.
        let last_heartbeat_seconds_ago = r.last_heartbeat_sent.map_or(-1, |sent| {
            i64::try_from(now.saturating_duration_since(sent).as_secs()).unwrap_or(i64::MAX)
        });
        CoordinatorMetrics {
            heartbeat_total,
            heartbeat_rate,
            heartbeat_response_time_max_ms: r.heartbeat_latency_ms.max(config, now),
            last_heartbeat_seconds_ago,
            rebalance_total,
            rebalance_rate_per_hour: rebalance_rate * 3600.0,
        }
    }
}

// Exact comparisons on purpose: the expected values are exact in binary.
#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    fn metrics() -> MembershipMetrics {
        MembershipMetrics::new(WindowConfig {
            window: Duration::from_secs(1),
            samples: 2,
        })
    }

    #[test]
    fn nothing_recorded_reads_as_no_heartbeat_yet() {
        let m = metrics().snapshot(Instant::now());
        assert_eq!(m, CoordinatorMetrics::default());
        assert_eq!(m.last_heartbeat_seconds_ago, -1);
    }

    #[test]
    fn heartbeats_count_when_answered_with_their_longest_latency() {
        let metrics = metrics();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // The windows begin with the first answer.
        metrics.record_heartbeat_answered(at(0), Duration::from_millis(40));
        metrics.record_heartbeat_sent(at(1000));
        metrics.record_heartbeat_answered(at(1010), Duration::from_millis(10));
        // Sent and never answered: the last sent moves, the counts do not.
        metrics.record_heartbeat_sent(at(1200));
        let m = metrics.snapshot(at(1500));
        assert_eq!((m.heartbeat_total, m.heartbeat_rate), (2, 2.0 / 1.5));
        assert_eq!(m.heartbeat_response_time_max_ms, 40.0);
        assert_eq!(m.last_heartbeat_seconds_ago, 0);
        // Two windows on: the maximum and the rate are gone, the total
        // stays, and the last heartbeat was 3.3 s ago (whole seconds).
        let m = metrics.snapshot(at(4500));
        assert_eq!((m.heartbeat_total, m.heartbeat_rate), (2, 0.0));
        assert_eq!(m.heartbeat_response_time_max_ms, 0.0);
        assert_eq!(m.last_heartbeat_seconds_ago, 3);
    }

    #[test]
    fn rebalances_count_with_a_rate_per_hour() {
        let metrics = metrics();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        metrics.record_rebalances(at(0), 0);
        assert_eq!(metrics.snapshot(at(0)).rebalance_total, 0);
        metrics.record_rebalances(at(0), 1);
        metrics.record_rebalances(at(500), 2);
        let m = metrics.snapshot(at(1500));
        assert_eq!(m.rebalance_total, 3);
        assert_eq!(m.rebalance_rate_per_hour, 3.0 / 1.5 * 3600.0);
        assert_eq!(m.last_heartbeat_seconds_ago, -1, "no heartbeat yet");
    }

    #[tokio::test]
    async fn a_timed_heartbeat_counts_only_when_answered() {
        let metrics = metrics();
        let answered: Result<(), TransportError> = metrics.time_heartbeat(async { Ok(()) }).await;
        assert!(answered.is_ok());
        let failed: Result<(), TransportError> = metrics
            .time_heartbeat(async {
                Err(TransportError::Closed {
                    broker: "b:9092".into(),
                    reason: "test".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        let m = metrics.snapshot(Instant::now());
        assert_eq!(m.heartbeat_total, 1);
        assert_eq!(m.last_heartbeat_seconds_ago, 0);
    }
}
