//! When to fetch the next token, and how long to wait between failed
//! fetches: the Java client's login refresh rules, as plain functions of
//! the clock so they can be tested without waiting.

use std::time::Duration;

/// The `sasl_login_refresh_*` settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshConfig {
    /// `sasl_login_refresh_window_factor` (0.5-1.0, default 0.8): the share
    /// of a token's lifetime after which it is refreshed.
    pub window_factor: f64,
    /// `sasl_login_refresh_window_jitter` (0-0.25, default 0.05): at most
    /// this share of the lifetime is added at random, so clients started
    /// together do not all refresh together.
    pub window_jitter: f64,
    /// `sasl_login_refresh_min_period_seconds` (0-900, default 60): the
    /// least time between fetching a token and refreshing it.
    pub min_period: Duration,
    /// `sasl_login_refresh_buffer_seconds` (0-3600, default 300): the time
    /// before expiry a refresh should happen by.
    pub buffer: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            window_factor: 0.8,
            window_jitter: 0.05,
            min_period: Duration::from_secs(60),
            buffer: Duration::from_secs(300),
        }
    }
}

/// How long after an expired token to try again, as Java waits.
pub(super) const RETRY_AFTER_EXPIRY: Duration = Duration::from_secs(10);

/// When to refresh a token valid from `start_ms` (its `iat`, or when it was
/// fetched) to `expiry_ms`, at `now_ms` (milliseconds since the epoch);
/// `random` in [0, 1) picks the jitter. Returns milliseconds since the epoch.
///
/// The window point comes first; the buffer before expiry and the minimum
/// period after now then bound it, and both are dropped when the token
/// lives too short a time to honour them.
///
/// ```
/// use std::time::Duration;
/// use ferrokafka_transport::sasl::oidc::{RefreshConfig, refresh_at};
/// // A one-hour token fetched at 0 is refreshed at 80-85 % of its life.
/// let at = refresh_at(&RefreshConfig::default(), 0, 0, 3_600_000, 0.5);
/// assert_eq!(at, 2_970_000);
/// ```
pub fn refresh_at(
    config: &RefreshConfig,
    now_ms: u64,
    start_ms: u64,
    expiry_ms: u64,
    random: f64,
) -> u64 {
    if now_ms > expiry_ms {
        return now_ms + millis(RETRY_AFTER_EXPIRY);
    }
    let share = config.window_factor + config.window_jitter * random.clamp(0.0, 1.0);
    let min_period = millis(config.min_period);
    let buffer = millis(config.buffer);
    if now_ms + min_period + buffer > expiry_ms {
        return now_ms + portion(expiry_ms - now_ms, share);
    }
    let start_ms = start_ms.min(now_ms);
    let proposed = start_ms + portion(expiry_ms - start_ms, share);
    let buffer_begins = expiry_ms - buffer;
    if proposed > buffer_begins {
        return buffer_begins;
    }
    proposed.max(now_ms + min_period)
}

/// The `sasl_login_retry_backoff_*` settings: failed fetches are tried
/// again after `initial`, doubling, until `max` has passed since the first
/// attempt (Java's login retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// `sasl_login_retry_backoff_ms` (default 100 ms).
    pub initial: Duration,
    /// `sasl_login_retry_backoff_max_ms` (default 10 s).
    pub max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryConfig {
    /// The wait after failed attempt number `attempt` (1 for the first),
    /// `elapsed` after the first began; `None` when time is up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferrokafka_transport::sasl::oidc::RetryConfig;
    /// let retry = RetryConfig::default();
    /// assert_eq!(retry.delay(1, Duration::ZERO), Some(Duration::from_millis(100)));
    /// assert_eq!(retry.delay(3, Duration::from_secs(1)), Some(Duration::from_millis(400)));
    /// assert_eq!(retry.delay(9, Duration::from_secs(10)), None);
    /// ```
    pub fn delay(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        let left = self.max.checked_sub(elapsed)?;
        let doubled = self.initial.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let wait = doubled.min(left);
        (!wait.is_zero()).then_some(wait)
    }
}

/// `share` of `span` milliseconds (token lifetimes are far below 2^52 ms,
/// where f64 stops being exact).
#[allow(clippy::cast_precision_loss)]
fn portion(span: u64, share: f64) -> u64 {
    (span as f64 * share) as u64
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn a_long_token_refreshes_in_its_window() {
        let config = RefreshConfig::default();
        assert_eq!(refresh_at(&config, 0, 0, HOUR, 0.0), 2_880_000);
        assert_eq!(refresh_at(&config, 0, 0, HOUR, 0.999_999), 3_059_999);
    }

    #[test]
    fn the_buffer_before_expiry_moves_the_refresh_earlier() {
        let config = RefreshConfig {
            window_factor: 1.0,
            window_jitter: 0.0,
            ..RefreshConfig::default()
        };
        assert_eq!(refresh_at(&config, 0, 0, HOUR, 0.5), HOUR - 300_000);
    }

    #[test]
    fn the_minimum_period_holds_a_refresh_back() {
        let config = RefreshConfig {
            window_factor: 0.5,
            window_jitter: 0.0,
            min_period: Duration::from_secs(900),
            buffer: Duration::ZERO,
        };
        // Issued long ago: the window point is already behind us.
        assert_eq!(
            refresh_at(&config, 1_700_000, 0, HOUR, 0.0),
            1_700_000 + 900_000
        );
    }

    #[test]
    fn a_short_token_ignores_the_buffers() {
        let config = RefreshConfig::default();
        // Ten seconds left: 80 % of what is left, whatever the buffers say.
        assert_eq!(refresh_at(&config, 50_000, 0, 60_000, 0.0), 58_000);
    }

    #[test]
    fn an_expired_token_is_retried_after_ten_seconds() {
        let config = RefreshConfig::default();
        assert_eq!(refresh_at(&config, 70_000, 0, 60_000, 0.3), 80_000);
    }

    #[test]
    fn retries_double_and_stop_when_the_budget_is_spent() {
        let retry = RetryConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut elapsed = Duration::ZERO;
        let mut waits = Vec::new();
        let mut attempt = 1;
        while let Some(wait) = retry.delay(attempt, elapsed) {
            waits.push(wait.as_millis());
            elapsed += wait;
            attempt += 1;
        }
        assert_eq!(waits, [100, 200, 400, 300]);
        assert_eq!(retry.delay(40, Duration::ZERO), Some(retry.max));
    }
}
