//! Exponential backoff as the Java client computes it (its
//! `ExponentialBackoff`): doubling from an initial delay up to a ceiling,
//! with ±20 % jitter so clients that failed together do not retry
//! together. Reconnects use it between `reconnect_backoff_ms` and
//! `reconnect_backoff_max_ms`; retried requests (KIP-580) between
//! `retry_backoff_ms` and `retry_backoff_max_ms`.

use std::time::Duration;

/// The jitter fraction either side of the nominal delay.
const JITTER: f64 = 0.2;

/// Backoff state for one broker.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Backoff from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// Records a failed attempt and returns how long to wait before the
    /// next. `unit_random` is a number in `[0, 1)`: the caller's randomness,
    /// so the schedule itself stays deterministic and testable.
    pub fn next_delay(&mut self, unit_random: f64) -> Duration {
        let delay = exponential(self.initial, self.max, self.failures, unit_random);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// [`Backoff::next_delay`] jittered from the system's random source.
    pub fn next_jittered_delay(&mut self) -> Duration {
        self.next_delay(unit_random())
    }

    /// Forgets past failures after a successful connection.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failed attempts since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// When something retried in passing (by each poll, say, rather than in a
/// loop of its own) may next be tried: at once until it fails, then after
/// a [`Backoff`] that grows with each failure in a row.
///
/// ```
/// use std::time::{Duration, Instant};
/// use ferrokafka_transport::backoff::RetryGate;
///
/// let ms = Duration::from_millis;
/// let mut gate = RetryGate::new(ms(100), ms(1000));
/// let now = Instant::now();
/// assert!(gate.due(now));
/// let wait = gate.failed(now);
/// assert!(!gate.due(now) && gate.due(now + wait));
/// gate.succeeded();
/// assert!(gate.due(now));
/// ```
#[derive(Debug, Clone)]
pub struct RetryGate {
    backoff: Backoff,
    not_before: Option<std::time::Instant>,
}

impl RetryGate {
    /// A gate whose waits double from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        RetryGate {
            backoff: Backoff::new(initial, max),
            not_before: None,
        }
    }

    /// Whether it may be tried at `now`.
    pub fn due(&self, now: std::time::Instant) -> bool {
        self.not_before.is_none_or(|at| now >= at)
    }

    /// It failed at `now`: the wait before the next try, longer than the
    /// last one's.
    pub fn failed(&mut self, now: std::time::Instant) -> Duration {
        let wait = self.backoff.next_jittered_delay();
        self.not_before = Some(now + wait);
        wait
    }

    /// It succeeded: the next failure waits the initial delay again.
    pub fn succeeded(&mut self) {
        self.backoff.reset();
        self.not_before = None;
    }
}

/// A number in `[0, 1)` for backoff jitter: it need not be unpredictable,
/// only different between clients and attempts.
pub(crate) fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// The delay before retry number `attempt + 1` (`attempt` 0 after the
/// first failure): `initial` × 2^`attempt`, jittered by ±20 % with
/// `unit_random` in `[0, 1)`, never above `max`. When `max` is not above
/// `initial` the delay is `initial`, unjittered, as Java's is.
///
/// ```
/// use std::time::Duration;
/// use ferrokafka_transport::backoff::exponential;
///
/// let ms = Duration::from_millis;
/// assert_eq!(exponential(ms(100), ms(1000), 0, 0.5), ms(100));
/// assert_eq!(exponential(ms(100), ms(1000), 3, 0.5), ms(800));
/// assert_eq!(exponential(ms(100), ms(1000), 9, 0.99), ms(1000));
/// assert_eq!(exponential(ms(100), ms(50), 9, 0.0), ms(100));
/// ```
pub fn exponential(initial: Duration, max: Duration, attempt: u32, unit_random: f64) -> Duration {
    if max <= initial {
        return initial;
    }
    let nominal = initial.as_secs_f64() * f64::from(1u32 << attempt.min(30));
    let nominal = nominal.min(max.as_secs_f64());
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit_random.clamp(0.0, 1.0);
    Duration::from_secs_f64(nominal * factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_the_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let delays: Vec<u128> = (0..8)
            .map(|_| backoff.next_delay(0.5).as_millis())
            .collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        let mut low = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(low.next_delay(0.0).as_millis(), 80);
        let mut high = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(high.next_delay(0.999_999).as_millis(), 119);
    }

    #[test]
    fn reset_starts_over_and_many_failures_do_not_overflow() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(5));
        for _ in 0..100 {
            backoff.next_delay(0.5);
        }
        assert_eq!(backoff.next_delay(0.5), Duration::from_secs(5));
        backoff.reset();
        assert_eq!(backoff.next_delay(0.5), Duration::from_millis(10));
    }
}
