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

use ferrokafka_protocol::ErrorCode;
use ferrokafka_transport::backoff::exponential;
use rustc_hash::{FxHashMap, FxHashSet};

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
    written: FxHashMap<Arc<str>, FxHashSet<i32>>,
}

/// One topic's avoided partitions and the offer made of the rest.
#[derive(Debug, Default)]
struct Avoided {
    /// Refused partitions: until when each is avoided, and its refusals
    /// in a row (kept past the avoidance, until a write succeeds, so a
    /// partition that keeps refusing is avoided longer each time).
    partitions: FxHashMap<i32, Refusals>,
    /// The available partitions minus those avoided, as last computed.
    offer: Vec<i32>,
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

    /// `partition` of `topic` refused a batch at `now` as not ready.
    pub(crate) fn refused(&mut self, topic: &Arc<str>, partition: i32, now: Instant) {
        let avoided = self.topics.entry(Arc::clone(topic)).or_default();
        let in_a_row = avoided
            .partitions
            .get(&partition)
            .map_or(1, |r| r.in_a_row.saturating_add(1));
        // Unjittered (the middle of the jitter range): avoidance only
        // steers new records, it does not retry anything.
        let avoid = exponential(self.base, self.max, in_a_row - 1, 0.5);
        avoided.partitions.insert(
            partition,
            Refusals {
                until: now + avoid,
                in_a_row,
            },
        );
        avoided.valid_until = None;
    }

    /// A batch of `partition` of `topic` was written: it is offered again.
    pub(crate) fn accepted(&mut self, topic: &Arc<str>, partition: i32) {
        let newly_written = if let Some(written) = self.written.get_mut(&**topic) {
            written.insert(partition)
        } else {
            self.written
                .insert(Arc::clone(topic), FxHashSet::from_iter([partition]));
            true
        };
        if self.topics.is_empty() {
            return;
        }
        let Some(avoided) = self.topics.get_mut(&**topic) else {
            return;
        };
        if newly_written {
            avoided.valid_until = None;
        }
        if avoided.partitions.remove(&partition).is_some() {
            avoided.valid_until = None;
            if avoided.partitions.is_empty() {
                self.topics.remove(&**topic);
            }
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
        candidates.retain(|p| *p != refused && written.contains(p));
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
            avoided.offer.clear();
            let mut valid_until: Option<Instant> = None;
            let written = self.written.get(topic);
            // Untried partitions are left out only while a partition that
            // took writes and has not refused since is offered.
            let mut untried = Vec::new();
            let mut any_written = false;
            for &partition in available {
                match avoided.partitions.get(&partition) {
                    Some(refusals) if now < refusals.until => {
                        valid_until =
                            Some(valid_until.map_or(refusals.until, |v| v.min(refusals.until)));
                    }
                    // Tried again, but no evidence of a ready topic.
                    Some(_) => avoided.offer.push(partition),
                    None if written.is_some_and(|w| w.contains(&partition)) => {
                        any_written = true;
                        avoided.offer.push(partition);
                    }
                    None => untried.push(partition),
                }
            }
            if !any_written {
                avoided.offer.extend(untried);
                avoided.offer.sort_unstable();
            }
            // Nothing avoided any more: offered until the next refusal.
            avoided.valid_until = Some(valid_until.unwrap_or(now + self.max));
            avoided.from = from;
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

    #[test]
    fn only_errors_of_a_partition_not_taking_writes_count() {
        assert!(refuses_writes(ErrorCode::NotLeaderOrFollower));
        assert!(refuses_writes(ErrorCode::UnknownTopicOrPartition));
        assert!(!refuses_writes(ErrorCode::MessageTooLarge));
        assert!(!refuses_writes(ErrorCode::None));
    }
}
