//! Windowed statistics computed as the Java client's metrics compute them
//! (`SampledStat` and `Rate`): values fall into a few time windows
//! (`metrics_sample_window_ms` long, `metrics_num_samples` of them kept),
//! and a rate is what the retained windows hold divided by the time they
//! cover. No clock is read here: every call is given its `now`, so the
//! producer and the consumer decide how often time is looked at, and tests
//! inject it.

use std::time::{Duration, Instant};

/// `metrics_sample_window_ms` and `metrics_num_samples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// How long one sample collects values (`metrics_sample_window_ms`,
    /// default 30 s).
    pub window: Duration,
    /// How many samples a measurement spans (`metrics_num_samples`,
    /// default 2).
    pub samples: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            window: Duration::from_secs(30),
            samples: 2,
        }
    }
}

/// One window's values.
#[derive(Debug, Clone, Copy)]
struct Sample {
    start: Instant,
    last_event: Instant,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    fn new(now: Instant) -> Self {
        Sample {
            start: now,
            last_event: now,
            count: 0,
            sum: 0.0,
            max: 0.0,
        }
    }
}

/// Values recorded over sliding windows: their rate per second, mean and
/// largest over the windows still retained.
///
/// As in the Java client, one sample more than `samples` is kept, a sample
/// whose last value is `samples` windows old or more no longer counts, and
/// until `samples - 1` whole windows have passed since the oldest sample
/// began, the missing ones count as windows that saw nothing (so the first
/// values do not read as a burst).
#[derive(Debug, Clone, Default)]
pub struct SampledStat {
    samples: Vec<Sample>,
    current: usize,
}

impl SampledStat {
    /// A statistic that has seen nothing (it allocates on the first value).
    pub fn new() -> Self {
        SampledStat::default()
    }

    /// Adds `value`, seen at `now`.
    pub fn record(&mut self, config: &WindowConfig, value: f64, now: Instant) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
            self.current = 0;
        }
        if now.saturating_duration_since(self.samples[self.current].start) >= config.window {
            self.advance(config, now);
        }
        let sample = &mut self.samples[self.current];
        sample.max = if sample.count == 0 {
            value
        } else {
            sample.max.max(value)
        };
        sample.sum += value;
        sample.count += 1;
        sample.last_event = now;
    }

    /// Moves on to the next sample, reusing the oldest slot once
    /// `samples + 1` exist.
    fn advance(&mut self, config: &WindowConfig, now: Instant) {
        let slots = config.samples.max(1) + 1;
        self.current = (self.current + 1) % slots;
        if self.current >= self.samples.len() {
            self.samples.push(Sample::new(now));
            self.current = self.samples.len() - 1;
        } else {
            self.samples[self.current] = Sample::new(now);
        }
    }

    /// Empties the samples that saw nothing for `samples` windows, as if
    /// they began now.
    fn purge(&mut self, config: &WindowConfig, now: Instant) {
        let expiry = config
            .window
            .saturating_mul(u32::try_from(config.samples).unwrap_or(u32::MAX));
        for sample in &mut self.samples {
            if now.saturating_duration_since(sample.last_event) >= expiry {
                *sample = Sample::new(now);
            }
        }
    }

    /// The sum of the values per second over the retained windows at `now`
    /// (`Rate` over a `WindowedSum`; record 1 per event for an event rate).
    pub fn rate(&mut self, config: &WindowConfig, now: Instant) -> f64 {
        if self.samples.is_empty() {
            // As Java's: the span measured begins with the first look, and
            // later values fall into that sample while its window lasts.
            self.samples.push(Sample::new(now));
            self.current = 0;
        }
        self.purge(config, now);
        let sum: f64 = self.samples.iter().map(|s| s.sum).sum();
        let oldest = self.samples.iter().map(|s| s.start).min().unwrap_or(now);
        let mut elapsed = now.saturating_duration_since(oldest);
        let window = config.window.max(Duration::from_nanos(1));
        let full = elapsed.as_nanos() / window.as_nanos();
        let wanted = u128::try_from(config.samples.saturating_sub(1)).unwrap_or(u128::MAX);
        if full < wanted {
            let missing = u32::try_from(wanted - full).unwrap_or(u32::MAX);
            elapsed += window.saturating_mul(missing);
        }
        if sum == 0.0 {
            return 0.0;
        }
        // Java measures in whole milliseconds: a span shorter than one
        // counts as one rather than making the rate infinite.
        sum / elapsed.max(Duration::from_millis(1)).as_secs_f64()
    }

    /// The mean of the values in the retained windows (0 when none).
    pub fn avg(&mut self, config: &WindowConfig, now: Instant) -> f64 {
        self.purge(config, now);
        let (sum, count) = self.samples.iter().fold((0.0, 0u64), |(sum, count), s| {
            (sum + s.sum, count + s.count)
        });
        if count == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let count = count as f64;
            sum / count
        }
    }

    /// The largest value in the retained windows (0 when none).
    pub fn max(&mut self, config: &WindowConfig, now: Instant) -> f64 {
        self.purge(config, now);
        self.samples
            .iter()
            .filter(|s| s.count > 0)
            .map(|s| s.max)
            .reduce(f64::max)
            .unwrap_or(0.0)
    }
}

/// `duration` in milliseconds, fractions kept: the unit of the Java
/// client's latency and time metrics.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A running total and its windowed rate (Java's `Meter`, as behind
/// `record-send-total` and `record-send-rate`).
#[derive(Debug, Clone, Default)]
pub struct Meter {
    total: u64,
    rate: SampledStat,
}

impl Meter {
    /// Adds `amount`, seen at `now`, to the total and the rate.
    pub fn record(&mut self, config: &WindowConfig, amount: u64, now: Instant) {
        self.total += amount;
        #[allow(clippy::cast_precision_loss)]
        self.rate.record(config, amount as f64, now);
    }

    /// The total so far and the rate per second at `now`.
    pub fn read(&mut self, config: &WindowConfig, now: Instant) -> (u64, f64) {
        (self.total, self.rate.rate(config, now))
    }
}

// Exact comparisons on purpose: the expected values are exact in binary,
// and a window off by one is what they must catch.
#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    fn config() -> WindowConfig {
        WindowConfig {
            window: Duration::from_secs(1),
            samples: 2,
        }
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// Equal but for the last bits of a division (an off-by-one window is
    /// far more).
    #[track_caller]
    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= expected.abs() * 1e-12,
            "{actual} != {expected}"
        );
    }

    #[test]
    fn the_first_window_counts_the_missing_ones_as_empty() {
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        assert_eq!(stat.rate(&config(), t0), 0.0);
        stat.record(&config(), 30.0, t0);
        // 500 ms elapsed plus one empty window of 1 s.
        assert_eq!(stat.rate(&config(), at(t0, 500)), 20.0);
    }

    #[test]
    fn a_look_before_any_value_begins_the_span() {
        let c = config();
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        assert_eq!(stat.rate(&c, t0), 0.0);
        // The sample begun at 0 is complete at 1500: a new one begins, and
        // the span still starts at 0.
        stat.record(&c, 16.0, at(t0, 1500));
        assert_close(stat.rate(&c, at(t0, 1600)), 10.0);
    }

    #[test]
    fn a_rate_spans_the_retained_windows_and_drops_expired_ones() {
        let c = config();
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        stat.record(&c, 30.0, t0);
        // Exactly one window later: a new sample begins.
        stat.record(&c, 30.0, at(t0, 1000));
        assert_eq!(stat.rate(&c, at(t0, 1500)), 60.0 / 1.5);
        stat.record(&c, 30.0, at(t0, 2000));
        // The first sample's last value is exactly two windows old: it no
        // longer counts, and the span starts at the second sample.
        assert_eq!(stat.rate(&c, at(t0, 2000)), 60.0);
        assert_eq!(stat.rate(&c, at(t0, 2500)), 60.0 / 1.5);
        // Three slots for two samples: the fourth window reuses the first.
        stat.record(&c, 90.0, at(t0, 3000));
        assert_eq!(stat.rate(&c, at(t0, 3000)), 120.0 / 1.0);
        assert_close(stat.rate(&c, at(t0, 3999)), 120.0 / 1.999);
        // Nothing for two windows after the last value: empty again.
        assert_eq!(stat.rate(&c, at(t0, 5000)), 0.0);
    }

    #[test]
    fn a_window_stays_open_until_its_full_length_has_passed() {
        let c = config();
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        stat.record(&c, 10.0, t0);
        stat.record(&c, 10.0, at(t0, 999));
        stat.record(&c, 10.0, at(t0, 1999));
        // Samples began at 0 and 1999: the one of 0 ended with its value at
        // 999, less than two windows before 2998.
        assert_close(stat.rate(&c, at(t0, 2998)), 30.0 / 2.998);
        assert_eq!(stat.rate(&c, at(t0, 2999)), 10.0 / 1.0);
    }

    #[test]
    fn one_sample_more_is_kept_as_the_oldest_may_still_count() {
        let c = config();
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        stat.record(&c, 10.0, t0);
        stat.record(&c, 10.0, at(t0, 999));
        stat.record(&c, 10.0, at(t0, 1000));
        stat.record(&c, 10.0, at(t0, 2000));
        // Three samples, begun at 0, 1000 and 2000; the first one's last
        // value (999) is less than two windows old at 2500.
        assert_eq!(stat.rate(&c, at(t0, 2500)), 40.0 / 2.5);
    }

    #[test]
    fn avg_and_max_cover_the_retained_windows() {
        let c = config();
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        assert_eq!((stat.avg(&c, t0), stat.max(&c, t0)), (0.0, 0.0));
        stat.record(&c, 4.0, t0);
        stat.record(&c, 8.0, at(t0, 100));
        stat.record(&c, 3.0, at(t0, 1200));
        assert_eq!(stat.avg(&c, at(t0, 1500)), 5.0);
        assert_eq!(stat.max(&c, at(t0, 1500)), 8.0);
        // The first sample's last value (at 100) expires at 2100.
        assert_eq!(stat.avg(&c, at(t0, 2100)), 3.0);
        assert_eq!(stat.max(&c, at(t0, 2100)), 3.0);
    }

    #[test]
    fn a_meter_keeps_the_total_after_its_rate_expires() {
        let c = config();
        let t0 = Instant::now();
        let mut meter = Meter::default();
        meter.record(&c, 30, t0);
        meter.record(&c, 30, at(t0, 1000));
        assert_eq!(meter.read(&c, at(t0, 1500)), (60, 60.0 / 1.5));
        assert_eq!(meter.read(&c, at(t0, 5000)), (60, 0.0));
    }

    #[test]
    fn one_sample_rates_the_time_since_it_began() {
        let c = WindowConfig {
            window: Duration::from_secs(10),
            samples: 1,
        };
        let t0 = Instant::now();
        let mut stat = SampledStat::new();
        stat.record(&c, 5.0, t0);
        assert_eq!(stat.rate(&c, at(t0, 2500)), 2.0);
        assert_close(stat.rate(&c, t0), 5000.0);
    }
}
