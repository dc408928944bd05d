//! Records accepted whose outcome has not been handed over yet, counted by
//! flush generation, sans-I/O. A record counts from the moment `send`
//! accepts it until its future is resolved or its callback has returned;
//! `flush()` opens a new generation and waits until every earlier one is
//! settled, so records sent while it waits do not hold it up (the Java
//! client's flush waits for the batches incomplete when it began, too).

use std::collections::VecDeque;

/// A flush generation: the records accepted between two flushes.
pub(crate) type Generation = u64;

/// The count of unsettled records per generation, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Unsettled {
    current: Generation,
    /// `(generation, records unsettled)`, generations ascending; the last
    /// entry may be the current generation.
    counts: VecDeque<(Generation, usize)>,
    total: usize,
}

impl Unsettled {
    /// The generation a record accepted now belongs to.
    pub(crate) fn current(&self) -> Generation {
        self.current
    }

    /// A record was accepted: it belongs to the current generation.
    pub(crate) fn accept(&mut self) -> Generation {
        match self.counts.back_mut() {
            Some((generation, count)) if *generation == self.current => *count += 1,
            _ => self.counts.push_back((self.current, 1)),
        }
        self.total += 1;
        self.current
    }

    /// A flush begins: the generation it waits for is the current one,
    /// and later records belong to the next.
    pub(crate) fn mark(&mut self) -> Generation {
        let marked = self.current;
        self.current += 1;
        marked
    }

    /// `records` of `generation` had their outcome handed over. Whether
    /// that settled the oldest generation, the only change that can make
    /// [`Unsettled::settled_through`] true or [`Unsettled::total`] zero.
    pub(crate) fn settle(&mut self, generation: Generation, records: usize) -> bool {
        if let Some((_, count)) = self.counts.iter_mut().find(|(g, _)| *g == generation) {
            let settled = records.min(*count);
            *count -= settled;
            self.total -= settled;
        }
        let mut ended = false;
        while self.counts.front().is_some_and(|(_, count)| *count == 0) {
            self.counts.pop_front();
            ended = true;
        }
        ended
    }

    /// Whether every record of `generation` and of those before it is settled.
    pub(crate) fn settled_through(&self, generation: Generation) -> bool {
        self.counts
            .front()
            .is_none_or(|(oldest, _)| *oldest > generation)
    }

    /// Records unsettled in all.
    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

/// `(generation, records)` runs of `generations` in order: how a batch's
/// completions, whose generations never decrease, settle in a few calls.
pub(crate) fn runs(generations: impl IntoIterator<Item = Generation>) -> Vec<(Generation, usize)> {
    let mut runs: Vec<(Generation, usize)> = Vec::new();
    for generation in generations {
        match runs.last_mut() {
            Some((last, count)) if *last == generation => *count += 1,
            _ => runs.push((generation, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_flush_waits_for_its_generation_and_earlier_ones_only() {
        let mut unsettled = Unsettled::default();
        let a = unsettled.accept();
        let flush = unsettled.mark();
        let b = unsettled.accept();
        assert_eq!((a, flush, b), (0, 0, 1));
        assert!(!unsettled.settled_through(flush));
        assert!(!unsettled.settle(b, 1), "a later generation ended nothing");
        assert!(!unsettled.settled_through(flush), "a later record settled");
        assert!(unsettled.settle(a, 1), "the oldest generation ended");
        assert!(unsettled.settled_through(flush));
        assert_eq!(unsettled.total(), 0);
    }

    #[test]
    fn settling_more_than_was_accepted_changes_nothing_else() {
        let mut unsettled = Unsettled::default();
        let a = unsettled.accept();
        unsettled.mark();
        let b = unsettled.accept();
        unsettled.settle(a, 5);
        assert_eq!(unsettled.total(), 1);
        assert!(!unsettled.settled_through(b));
        unsettled.settle(b, 1);
        assert!(unsettled.settled_through(b));
    }

    #[test]
    fn runs_group_equal_generations_in_order() {
        assert_eq!(runs([0, 0, 1, 1, 1, 3]), [(0, 2), (1, 3), (3, 1)]);
        assert_eq!(runs([]), []);
    }

    proptest! {
        /// Against a model that keeps each record's generation: a flush
        /// is done exactly when every record accepted before it is settled,
        /// and a settle says it ended a generation exactly when some
        /// flush's wait (or a close's) could end with it.
        #[test]
        fn matches_a_model(steps in proptest::collection::vec(0u8..4, 0..200), picks in proptest::collection::vec(any::<usize>(), 200)) {
            let mut unsettled = Unsettled::default();
            let mut open: Vec<Generation> = Vec::new();
            let mut flushes: Vec<Generation> = Vec::new();
            for (step, pick) in steps.into_iter().zip(picks) {
                match step {
                    0 | 1 => open.push(unsettled.accept()),
                    2 => flushes.push(unsettled.mark()),
                    _ if !open.is_empty() => {
                        let generation = open.swap_remove(pick % open.len());
                        let waits = |u: &Unsettled| {
                            let through: Vec<bool> =
                                (0..=u.current()).map(|g| u.settled_through(g)).collect();
                            (through, u.total() == 0)
                        };
                        let before = waits(&unsettled);
                        let ended = unsettled.settle(generation, 1);
                        prop_assert_eq!(ended, waits(&unsettled) != before);
                    }
                    _ => {}
                }
                prop_assert_eq!(unsettled.total(), open.len());
                for &flush in &flushes {
                    let model = open.iter().all(|&g| g > flush);
                    prop_assert_eq!(unsettled.settled_through(flush), model);
                }
            }
        }
    }
}
