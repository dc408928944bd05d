//! Which partitions keyless records avoid for now: those whose last batch
//! the broker refused as not ready to take writes (NOT_LEADER_OR_FOLLOWER
//! and kin), as a broker answers for a topic it is still bringing up, a
//! leader it is still moving, or a disk it lost.
//!
//! The metadata cannot tell these partitions apart: it names the broker as
//! their leader before the broker is ready to lead them (a new topic's logs
//! are created in the background after the controller commits it). Only
//! the broker's answer tells. A keyless record may go to any partition, so
//! sending more of them where the last batch was refused only queues
//! retries behind it; they go to the partitions that take writes instead.
//!
//! A refused partition is avoided for a backoff that doubles with each
//! refusal in a row, from `retry_backoff_ms` up to `retry_backoff_max_ms`
//! (the exponential backoff of KIP-580, unjittered), and is offered again as soon as a batch
//! of it is written. Keyed records and records naming their partition are
//! never moved: their partition is part of their meaning. Sans-I/O: driven
//! by the sender's answers and the sends' clock.
//!
//! While some of a topic's partitions refuse, the partitions never written
//! to are no better bets than the refused ones: on a topic just created,
//! most of them are not ready yet. So while a topic has refusals and some
//! of its partitions have taken writes, keyless records go only to those
//! (and to refused ones whose avoidance ended, which is how a refused
//! partition is tried again), and a refused keyless batch may be moved to
//! one of them at once ([`Availability::destination`]) rather than wait
//! for its own partition. Once every refused partition has taken a write,
//! every partition is offered again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bit_set::BitSet;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_transport::backoff::exponential;
use rustc_hash::FxHashMap;

/// Whether a produce error means the partition is not taking writes now
/// (so keyless records are better off elsewhere), as opposed to a problem
/// of the batch itself.
pub(crate) fn refuses_writes(error: ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::NotEnoughReplicas
            | ErrorCode::KafkaStorageError
    )
}

/// The partitions avoided, by topic.
#[derive(Debug)]
pub(crate) struct Availability {
    base: Duration,
    max: Duration,
    topics: FxHashMap<Arc<str>, Avoided>,
    /// The partitions of each topic that took a write from this producer.
    written: FxHashMap<Arc<str>, BitSet>,
}

/// One topic's avoided partitions and the offer made of the rest.
///
/// The offer is kept up to date through refusals and writes rather than
/// computed again after each: on a new topic of thousands of partitions
/// there is an event for nearly every batch, and a computation walks every
/// partition.
#[derive(Debug, Default)]
struct Avoided {
    /// Refused partitions: until when each is avoided, and its refusals
    /// in a row (kept past the avoidance, until a write succeeds, so a
    /// partition that keeps refusing is avoided longer each time).
    partitions: FxHashMap<i32, Refusals>,
    /// The available partitions minus those avoided, sorted.
    offer: Vec<i32>,
    /// Whether `offer` holds the untried partitions too (no partition
    /// that took writes and has not refused since was available).
    untried_offered: bool,
    /// How many partitions of `offer` took writes and have not refused
    /// since.
    written_offered: usize,
    /// The available partitions `offer` was computed from.
    available: BitSet,
    /// Until when `offer` holds (the first avoidance to end after it was
    /// computed); `None` when it must be computed again.
    valid_until: Option<Instant>,
    /// The available list `offer` was computed from (its length and first
    /// and last entries: a metadata update changes at least one of them
    /// in practice, and recomputing is only a cost, never wrong).
    from: (usize, Option<i32>, Option<i32>),
}

#[derive(Debug, Clone, Copy)]
struct Refusals {
    until: Instant,
    in_a_row: u32,
}

/// A partition's index in a bit set (partitions come from the metadata,
/// never negative).
fn bit(partition: i32) -> usize {
    usize::try_from(partition).unwrap_or(usize::MAX)
}

fn has(set: &BitSet, partition: i32) -> bool {
    let index = bit(partition);
    index != usize::MAX && set.contains(index)
}

impl Avoided {
    /// Takes `partition` (refused, its avoidance ending `until`) out of a
    /// valid offer; `counted`: whether it was offered as written.
    fn withdraw(&mut self, partition: i32, until: Instant, counted: bool) {
        let Some(valid_until) = self.valid_until else {
            return;
        };
        if let Ok(at) = self.offer.binary_search(&partition) {
            self.offer.remove(at);
            if counted {
                self.written_offered -= 1;
            }
        }
        self.valid_until = if !self.untried_offered && self.written_offered == 0 {
            // The last written partition refused: untried ones are offered.
            None
        } else {
            Some(valid_until.min(until))
        };
    }

    /// Puts `partition` (just written, not avoided) into a valid offer.
    fn restore(&mut self, partition: i32) {
        if self.valid_until.is_none() || !has(&self.available, partition) {
            return;
        }
        if self.untried_offered {
            // The first written partition: untried ones are no longer offered.
            self.valid_until = None;
            return;
        }
        if let Err(at) = self.offer.binary_search(&partition) {
            self.offer.insert(at, partition);
        }
        self.written_offered += 1;
    }

    /// Computes the offer from `available` at `now` again.
    fn compute(
        &mut self,
        available: &[i32],
        written: Option<&BitSet>,
        now: Instant,
        max: Duration,
    ) {
        self.offer.clear();
        self.available.make_empty();
        let mut valid_until: Option<Instant> = None;
        // Untried partitions are left out only while a partition that took
        // writes and has not refused since is offered.
        let mut untried = Vec::new();
        let mut written_offered = 0;
        for &partition in available {
            if partition >= 0 {
                self.available.insert(bit(partition));
            }
            match self.partitions.get(&partition) {
                Some(refusals) if now < refusals.until => {
                    valid_until =
                        Some(valid_until.map_or(refusals.until, |v| v.min(refusals.until)));
                }
                // Tried again, but no evidence of a ready topic.
                Some(_) => self.offer.push(partition),
                None if written.is_some_and(|w| has(w, partition)) => {
                    written_offered += 1;
                    self.offer.push(partition);
                }
                None => untried.push(partition),
            }
        }
        self.untried_offered = written_offered == 0;
        if self.untried_offered {
            self.offer.extend(untried);
        }
        self.offer.sort_unstable();
        self.written_offered = written_offered;
        // Nothing avoided any more: offered until the next refusal.
        self.valid_until = Some(valid_until.unwrap_or(now + max));
        self.from = (
            available.len(),
            available.first().copied(),
            available.last().copied(),
        );
    }
}

impl Availability {
    /// Avoidance starting at `base` (`retry_backoff_ms`) and doubling up
    /// to `max` (`retry_backoff_max_ms`).
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Availability {
            base: base.max(Duration::from_millis(1)),
            max,
            topics: FxHashMap::default(),
            written: FxHashMap::default(),
        }
    }

    fn written(&self, topic: &str, partition: i32) -> bool {
        self.written.get(topic).is_some_and(|w| has(w, partition))
    }

    /// `partition` of `topic` refused a batch at `now` as not ready.
    pub(crate) fn refused(&mut self, topic: &Arc<str>, partition: i32, now: Instant) {
        let written = self.written(topic, partition);
        let avoided = self.topics.entry(Arc::clone(topic)).or_default();
        let earlier = avoided.partitions.get(&partition).copied();
        let in_a_row = earlier.map_or(1, |r| r.in_a_row.saturating_add(1));
        // Unjittered (the middle of the jitter range): avoidance only
        // steers new records, it does not retry anything.
        let until = now + exponential(self.base, self.max, in_a_row - 1, 0.5);
        avoided
            .partitions
            .insert(partition, Refusals { until, in_a_row });
        avoided.withdraw(partition, until, written && earlier.is_none());
    }

    /// A batch of `partition` of `topic` was written: it is offered again.
    pub(crate) fn accepted(&mut self, topic: &Arc<str>, partition: i32) {
        let index = bit(partition);
        if index == usize::MAX {
            return;
        }
        let newly_written = if let Some(written) = self.written.get_mut(&**topic) {
            written.insert(index)
        } else {
            let mut written = BitSet::new();
            written.insert(index);
            self.written.insert(Arc::clone(topic), written);
            true
        };
        if self.topics.is_empty() {
            return;
        }
        let Some(avoided) = self.topics.get_mut(&**topic) else {
            return;
        };
        let was_refused = avoided.partitions.remove(&partition).is_some();
        if avoided.partitions.is_empty() {
            self.topics.remove(&**topic);
        } else if newly_written || was_refused {
            avoided.restore(partition);
        }
    }

    /// Where a keyless batch that `refused` (a partition of `topic`)
    /// turned away may go at `now` instead of waiting for it: a partition
    /// of `available` that took a write and is not avoided, spread by
    /// `spread` (the batch's id). `None` when there is none.
    pub(crate) fn destination(
        &mut self,
        topic: &str,
        available: &[i32],
        refused: i32,
        spread: u64,
        now: Instant,
    ) -> Option<i32> {
        if !self.written.contains_key(topic) {
            return None;
        }
        // Copied: a move is rare (a refused batch), the offer borrowed.
        let mut candidates = self.offer(topic, available, now).to_vec();
        let written = self.written.get(topic)?;
        candidates.retain(|p| *p != refused && has(written, *p));
        let pick = usize::try_from(spread % candidates.len().max(1) as u64).unwrap_or(0);
        candidates.get(pick).copied()
    }

    /// The partitions of `topic` a keyless record may go to at `now`: those
    /// of `available` (the partitions with a leader) not avoided and, while
    /// some of them have taken writes, not untried either; or all of
    /// `available` when every one of them is avoided (records must go
    /// somewhere, and waiting for none in particular is no better).
    pub(crate) fn offer<'a>(
        &'a mut self,
        topic: &str,
        available: &'a [i32],
        now: Instant,
    ) -> &'a [i32] {
        if self.topics.is_empty() {
            return available;
        }
        let Some(avoided) = self.topics.get_mut(topic) else {
            return available;
        };
        let from = (
            available.len(),
            available.first().copied(),
            available.last().copied(),
        );
        if avoided.valid_until.is_none_or(|until| now >= until) || avoided.from != from {
            avoided.compute(available, self.written.get(topic), now, self.max);
        }
        if avoided.offer.is_empty() {
            available
        } else {
            &avoided.offer
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_refused_offers_every_available_partition() {
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1, 2, 3];
        assert_eq!(availability.offer("t", &all, Instant::now()), &all);
    }

    #[test]
    fn a_refused_partition_is_avoided_until_its_backoff_ends() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1, 2, 3];
        availability.refused(&topic, 2, start);
        assert_eq!(availability.offer("t", &all, start + ms(99)), &[0, 1, 3]);
        // Other topics are not affected.
        assert_eq!(availability.offer("u", &all, start + ms(99)), &all);
        assert_eq!(availability.offer("t", &all, start + ms(100)), &all);
    }

    #[test]
    fn refusals_in_a_row_double_the_avoidance_up_to_the_cap() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1];
        let mut now = start;
        for expected in [100, 200, 400, 800, 1000, 1000] {
            availability.refused(&topic, 0, now);
            assert_eq!(
                availability.offer("t", &all, now + ms(expected - 1)),
                &[1],
                "avoided for {expected} ms"
            );
            now += ms(expected);
            assert_eq!(availability.offer("t", &all, now), &all);
        }
    }

    #[test]
    fn a_written_batch_makes_its_partition_offered_again_and_resets_the_backoff() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1, 2];
        availability.refused(&topic, 1, start);
        availability.refused(&topic, 1, start);
        availability.accepted(&topic, 1);
        assert_eq!(availability.offer("t", &all, start), &all);
        // The next refusal starts from the base again.
        availability.refused(&topic, 1, start);
        assert_eq!(availability.offer("t", &all, start + ms(100)), &all);
    }

    #[test]
    fn every_partition_refused_offers_them_all_rather_than_none() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1];
        availability.refused(&topic, 0, start);
        availability.refused(&topic, 1, start);
        assert_eq!(availability.offer("t", &all, start), &all);
    }

    #[test]
    fn a_metadata_update_is_followed() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        availability.refused(&topic, 1, start);
        assert_eq!(availability.offer("t", &[0, 1, 2], start), &[0, 2]);
        // Partition 2 lost its leader; partition 3 was added.
        assert_eq!(availability.offer("t", &[0, 1, 3], start), &[0, 3]);
    }

    #[test]
    fn while_some_partitions_refuse_untried_ones_wait_for_those_that_took_writes() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1, 2, 3, 4];
        // A new topic: the first request found 1 ready, 2 and 3 not.
        availability.accepted(&topic, 1);
        availability.refused(&topic, 2, start);
        availability.refused(&topic, 3, start);
        assert_eq!(availability.offer("t", &all, start), &[1]);
        // A refused partition is tried again once its avoidance ends.
        assert_eq!(availability.offer("t", &all, start + ms(100)), &[1, 2, 3]);
        availability.accepted(&topic, 2);
        assert_eq!(availability.offer("t", &all, start + ms(100)), &[1, 2, 3]);
        // Every refused partition took a write: all are offered again.
        availability.accepted(&topic, 3);
        assert_eq!(availability.offer("t", &all, start + ms(100)), &all);
    }

    #[test]
    fn with_nothing_written_untried_partitions_are_offered() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        availability.refused(&topic, 0, start);
        assert_eq!(availability.offer("t", &[0, 1, 2], start), &[1, 2]);
        // A written partition counts only while it is offered.
        availability.accepted(&topic, 0);
        availability.refused(&topic, 0, start);
        availability.refused(&topic, 2, start);
        assert_eq!(availability.offer("t", &[0, 1, 2], start), &[1]);
    }

    #[test]
    fn a_refused_batch_goes_to_a_partition_that_took_writes_spread_by_its_id() {
        let start = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut availability = Availability::new(ms(100), ms(1000));
        let all = [0, 1, 2, 3, 4];
        assert_eq!(availability.destination("t", &all, 2, 0, start), None);
        availability.refused(&topic, 2, start);
        assert_eq!(
            availability.destination("t", &all, 2, 0, start),
            None,
            "no partition took writes: the batch waits for its own"
        );
        availability.accepted(&topic, 0);
        availability.accepted(&topic, 4);
        availability.refused(&topic, 3, start);
        availability.refused(&topic, 4, start);
        // 4 took writes but refuses now: only 0 is a destination.
        for id in 0..4 {
            assert_eq!(availability.destination("t", &all, 2, id, start), Some(0));
        }
        availability.accepted(&topic, 1);
        let spread: std::collections::BTreeSet<i32> = (0..4)
            .filter_map(|id| availability.destination("t", &all, 2, id, start))
            .collect();
        assert_eq!(spread, [0, 1].into());
        // Never the partition that refused it, even once it is offered.
        assert_eq!(
            availability.destination("t", &[2], 2, 0, start + ms(500)),
            None
        );
    }

    /// An operation on one topic of 8 partitions.
    #[derive(Debug, Clone)]
    enum Op {
        Refused(i32),
        Accepted(i32),
        /// Asks for the offer from one of three available lists.
        Offer(usize),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..8i32).prop_map(Op::Refused),
            (0..8i32).prop_map(Op::Accepted),
            (0..3usize).prop_map(Op::Offer),
            (0..300u64).prop_map(Op::Wait),
        ]
    }

    /// The offer as the module's doc defines it, computed from scratch.
    fn defined_offer(
        refusals: &BTreeMap<i32, (Instant, u32)>,
        written: &BTreeSet<i32>,
        available: &[i32],
        now: Instant,
    ) -> Vec<i32> {
        if refusals.is_empty() {
            return available.to_vec();
        }
        let written_unrefused: Vec<i32> = available
            .iter()
            .copied()
            .filter(|p| !refusals.contains_key(p) && written.contains(p))
            .collect();
        let offer: Vec<i32> = available
            .iter()
            .copied()
            .filter(|p| match refusals.get(p) {
                Some((until, _)) => now >= *until,
                None => written.contains(p) || written_unrefused.is_empty(),
            })
            .collect();
        if offer.is_empty() {
            available.to_vec()
        } else {
            offer
        }
    }

    proptest! {
        /// The offer kept up to date through refusals and writes is the
        /// offer computed from scratch, after every operation.
        #[test]
        fn the_offer_kept_up_to_date_is_the_one_computed_afresh(
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let lists: [Vec<i32>; 3] = [(0..8).collect(), vec![0, 1, 2, 4, 5, 6, 7], (1..8).collect()];
            let (base, max) = (ms(100), ms(1000));
            let topic: Arc<str> = Arc::from("t");
            let mut availability = Availability::new(base, max);
            let mut refusals: BTreeMap<i32, (Instant, u32)> = BTreeMap::new();
            let mut written = BTreeSet::new();
            let mut now = Instant::now();
            let mut list = 0;
            for op in ops {
                match op {
                    Op::Refused(p) => {
                        availability.refused(&topic, p, now);
                        let in_a_row = refusals.get(&p).map_or(1, |r| r.1 + 1);
                        let until = now + exponential(base, max, in_a_row - 1, 0.5);
                        refusals.insert(p, (until, in_a_row));
                    }
                    Op::Accepted(p) => {
                        availability.accepted(&topic, p);
                        written.insert(p);
                        refusals.remove(&p);
                    }
                    Op::Offer(l) => list = l,
                    Op::Wait(n) => now += ms(n),
                }
                let mut offered = availability.offer("t", &lists[list], now).to_vec();
                offered.sort_unstable();
                prop_assert_eq!(offered, defined_offer(&refusals, &written, &lists[list], now));
            }
        }
    }

    #[test]
    fn only_errors_of_a_partition_not_taking_writes_count() {
        assert!(refuses_writes(ErrorCode::NotLeaderOrFollower));
        assert!(refuses_writes(ErrorCode::UnknownTopicOrPartition));
        assert!(!refuses_writes(ErrorCode::MessageTooLarge));
        assert!(!refuses_writes(ErrorCode::None));
    }
}
