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

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    pub(crate) fn accepted(&mut self, topic: &str, partition: i32) {
        if self.topics.is_empty() {
            return;
        }
        let Some(avoided) = self.topics.get_mut(topic) else {
            return;
        };
        if avoided.partitions.remove(&partition).is_some() {
            avoided.valid_until = None;
            if avoided.partitions.is_empty() {
                self.topics.remove(topic);
            }
        }
    }

    /// The partitions of `topic` a keyless record may go to at `now`: those
    /// of `available` (the partitions with a leader) not avoided, or all of
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
            for &partition in available {
                match avoided.partitions.get(&partition) {
                    Some(refusals) if now < refusals.until => {
                        valid_until =
                            Some(valid_until.map_or(refusals.until, |v| v.min(refusals.until)));
                    }
                    _ => avoided.offer.push(partition),
                }
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
        availability.accepted("t", 1);
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
    fn only_errors_of_a_partition_not_taking_writes_count() {
        assert!(refuses_writes(ErrorCode::NotLeaderOrFollower));
        assert!(refuses_writes(ErrorCode::UnknownTopicOrPartition));
        assert!(!refuses_writes(ErrorCode::MessageTooLarge));
        assert!(!refuses_writes(ErrorCode::None));
    }
}
