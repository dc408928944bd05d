//! One client's runs of one workload, over the benchmark's rounds, and the
//! run that stands for them: the median by the workload's measure
//! (throughput, or p99 latency when the clients were paced), so that one
//! lucky or unlucky run on a noisy machine decides nothing.

use super::measure::Measurement;

/// Every round's outcome for one client on one workload.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    /// Each round's measurement, or why that round failed.
    pub outcomes: Vec<Result<Measurement, String>>,
}

impl Runs {
    /// The measured runs, in round order.
    pub fn measured(&self) -> impl Iterator<Item = &Measurement> {
        self.outcomes.iter().filter_map(|o| o.as_ref().ok())
    }

    /// How many rounds failed.
    pub fn failures(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_err()).count()
    }

    /// The first failure's reason.
    pub fn first_failure(&self) -> Option<&str> {
        self.outcomes
            .iter()
            .find_map(|o| o.as_ref().err().map(String::as_str))
    }

    /// The median run by `measure` (the lower middle one of an even
    /// count), or `None` when no round was measured.
    pub fn median(&self, paced: bool) -> Option<&Measurement> {
        let mut runs: Vec<&Measurement> = self.measured().collect();
        runs.sort_by(|a, b| key(a, paced).total_cmp(&key(b, paced)));
        let middle = runs.len().checked_sub(1)? / 2;
        runs.get(middle).copied()
    }

    /// The lowest and highest value of the workload's measure over the
    /// measured runs.
    pub fn range(&self, paced: bool) -> Option<(f64, f64)> {
        self.measured().map(|m| key(m, paced)).fold(None, |acc, v| {
            Some(acc.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v))))
        })
    }
}

/// What a run is ranked by: records per second, or (paced) p99 latency.
pub fn key(m: &Measurement, paced: bool) -> f64 {
    if paced {
        m.latency_p99_ms.unwrap_or(f64::INFINITY)
    } else {
        m.records_per_s()
    }
}

/// The order clients run in during round `round`: rotated by one place a
/// round, so no client always runs first (on the coldest broker) or right
/// after the same neighbour.
pub fn rotation<T: Clone>(clients: &[T], round: usize) -> Vec<T> {
    if clients.is_empty() {
        return Vec::new();
    }
    let start = round % clients.len();
    clients[start..]
        .iter()
        .chain(&clients[..start])
        .cloned()
        .collect()
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // the values are exact: copied, never computed
mod tests {
    use super::*;

    fn run(elapsed_s: f64, p99: f64) -> Measurement {
        Measurement {
            client: "c".into(),
            records: 1000,
            bytes: 100_000,
            elapsed_s,
            latency_p50_ms: Some(p99 / 2.0),
            latency_p99_ms: Some(p99),
            cpu_s: 0.1,
            max_rss_bytes: 0,
        }
    }

    #[test]
    fn the_median_run_stands_for_the_rounds() {
        let runs = Runs {
            outcomes: vec![
                Ok(run(2.0, 9.0)),
                Err("timed out".into()),
                Ok(run(1.0, 7.0)),
                Ok(run(4.0, 8.0)),
            ],
        };
        // Throughput 500, 1000, 250 records/s: the median is 500.
        assert_eq!(runs.median(false).unwrap().elapsed_s, 2.0);
        // p99 9, 7, 8 ms: the median is 8.
        assert_eq!(runs.median(true).unwrap().latency_p99_ms, Some(8.0));
        assert_eq!(runs.range(false), Some((250.0, 1000.0)));
        assert_eq!(runs.failures(), 1);
        assert_eq!(runs.first_failure(), Some("timed out"));
    }

    #[test]
    fn an_even_count_takes_the_lower_middle_and_none_measured_has_no_median() {
        let runs = Runs {
            outcomes: vec![Ok(run(1.0, 5.0)), Ok(run(2.0, 6.0))],
        };
        assert_eq!(runs.median(false).unwrap().elapsed_s, 2.0);
        let failed = Runs {
            outcomes: vec![Err("x".into())],
        };
        assert!(failed.median(false).is_none());
        assert!(failed.range(true).is_none());
    }

    #[test]
    fn every_round_starts_with_the_next_client() {
        let clients = ["a", "b", "c"];
        assert_eq!(rotation(&clients, 0), ["a", "b", "c"]);
        assert_eq!(rotation(&clients, 1), ["b", "c", "a"]);
        assert_eq!(rotation(&clients, 4), ["b", "c", "a"]);
        assert!(rotation::<u8>(&[], 3).is_empty());
    }
}
