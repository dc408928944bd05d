//! Record timestamps (CreateTime) from the monotonic clock a send reads
//! anyway: the system clock is read at most once a second and the time
//! since then added, so a record costs one clock read rather than two (a
//! clock read is a few percent of a record's cost). A step of the system
//! clock reaches the timestamps within a second.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one reading of the system clock serves.
const READ_EVERY: Duration = Duration::from_secs(1);

/// Milliseconds since the epoch, anchored to the last system clock read.
#[derive(Debug, Default)]
pub(crate) struct WallClock {
    anchor: Option<(Instant, i64)>,
}

impl WallClock {
    /// The time at `now` in milliseconds since the Unix epoch.
    pub(crate) fn millis(&mut self, now: Instant) -> i64 {
        if let Some((at, millis)) = self.anchor
            && now >= at
        {
            let since = now - at;
            if since < READ_EVERY {
                return millis.saturating_add(i64::from(since.subsec_millis()));
            }
        }
        let millis = system_millis();
        self.anchor = Some((now, millis));
        millis
    }
}

/// The system clock in milliseconds since the Unix epoch (0 before it).
pub(crate) fn system_millis() -> i64 {
    // Seconds and milliseconds apart: `as_millis` divides a u128.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        i64::try_from(d.as_secs())
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .and_then(|ms| ms.checked_add(i64::from(d.subsec_millis())))
            .unwrap_or(i64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_millis_is_the_system_clock_in_milliseconds() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let now = u128::try_from(system_millis()).unwrap();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn within_a_second_the_anchor_plus_the_elapsed_time_is_the_time() {
        let mut clock = WallClock::default();
        let start = Instant::now();
        let first = clock.millis(start);
        let anchor = clock.anchor;
        assert_eq!(
            clock.millis(start + Duration::from_millis(250)),
            first + 250
        );
        assert_eq!(
            clock.millis(start + Duration::from_micros(999_999)),
            first + 999
        );
        assert_eq!(clock.anchor, anchor, "the system clock was not read again");
    }

    #[test]
    fn the_system_clock_is_read_again_after_a_second_or_going_back() {
        let mut clock = WallClock::default();
        let start = Instant::now();
        clock.millis(start);
        let later = start + READ_EVERY;
        let read = clock.millis(later);
        assert_eq!(clock.anchor, Some((later, read)));
        let system = system_millis();
        assert!((read - system).abs() < 1000, "{read} against {system}");
        clock.millis(start);
        assert_eq!(
            clock.anchor.map(|(at, _)| at),
            Some(start),
            "an earlier instant re-anchors"
        );
    }
}
