//! Where the consumer is in each partition, sans-I/O: the assignment, each
//! partition's position (offset and leader epoch), pending resets, pauses
//! and the watermarks the last fetch reported. The fetcher asks it which
//! partitions to fetch and at which offsets; `seek`, `pause` and the
//! rebalance listener change it. Like the Java client's `SubscriptionState`.

use std::cell::Cell;
use std::collections::BTreeMap;

/// `auto_offset_reset`: where to start when there is no valid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The end of the log (the default, as in the Java client).
    #[default]
    Latest,
    /// Fail: the application must seek.
    None,
}

impl OffsetReset {
    /// Parses an `auto_offset_reset` value (`smallest`/`largest` as in
    /// kafka-python's old names too).
    ///
    /// ```
    /// use ferrokafka_consumer::positions::OffsetReset;
    /// assert_eq!(OffsetReset::parse("earliest"), Some(OffsetReset::Earliest));
    /// assert_eq!(OffsetReset::parse("sometimes"), None);
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "earliest" | "smallest" => Some(OffsetReset::Earliest),
            "latest" | "largest" => Some(OffsetReset::Latest),
            "none" => Some(OffsetReset::None),
            _ => None,
        }
    }
}

/// A position: the next offset to fetch and the leader epoch of the
/// record before it (for log-truncation checks, KIP-320).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Next offset to fetch.
    pub offset: i64,
    /// Leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
}

/// Why a partition has no usable position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// Not assigned to this consumer.
    #[error("partition {0} is not assigned to this consumer")]
    NotAssigned(String),
    /// Out of range (or no committed offset) with `auto_offset_reset=none`.
    #[error(
        "no valid position for {partition} and auto_offset_reset is none (offset {offset:?} out of range)"
    )]
    NoResetPolicy {
        /// The partition.
        partition: String,
        /// The offset that was out of range, if any.
        offset: Option<i64>,
    },
    /// KIP-320: the log was truncated below the position (an unclean
    /// leader election) and `auto_offset_reset` is none. Records from
    /// `divergent_offset` on differ from those consumed; seek to go on.
    #[error(
        "the log of {partition} was truncated: records from offset {divergent_offset} on differ \
         from those consumed up to {offset} (auto_offset_reset is none)"
    )]
    LogTruncation {
        /// The partition.
        partition: String,
        /// The position when the truncation was detected.
        offset: i64,
        /// The first offset known to diverge.
        divergent_offset: i64,
    },
}

#[derive(Debug, Clone)]
enum Fetch {
    /// Needs the committed offset (group) or a reset.
    AwaitingCommitted,
    /// Needs a ListOffsets lookup for this reset.
    AwaitingReset(OffsetReset),
    /// Has a position.
    Fetching(Position),
    /// Has a position to check against the new leader's log (KIP-320).
    Validating(Position),
    /// Failed; the error surfaces at the next poll.
    Failed(PositionError),
}

#[derive(Debug, Clone)]
struct PartitionState {
    fetch: Fetch,
    paused: bool,
    high_watermark: Option<i64>,
    last_stable_offset: Option<i64>,
    log_start_offset: Option<i64>,
    /// The highest leader epoch the metadata gave.
    leader_epoch: Option<i32>,
}

impl PartitionState {
    fn note_leader_epoch(&mut self, epoch: i32) -> bool {
        if epoch < 0 {
            return false;
        }
        let changed = self.leader_epoch.is_some_and(|seen| epoch > seen);
        self.leader_epoch = Some(self.leader_epoch.map_or(epoch, |seen| seen.max(epoch)));
        match self.fetch {
            Fetch::Fetching(position) if changed && position.leader_epoch.is_some() => {
                self.fetch = Fetch::Validating(position);
                true
            }
            _ => false,
        }
    }
}

/// The positions of every assigned partition of type `P`.
#[derive(Debug, Clone)]
pub struct Positions<P: Ord> {
    default_reset: OffsetReset,
    partitions: BTreeMap<P, PartitionState>,
    /// Which states some partition may be in besides fetching. Every poll
    /// asks for the partitions in each; while a state's flag is down the
    /// answer costs nothing rather than a walk over every assigned
    /// partition (thousands, some of them waiting for a reset for seconds).
    maybe: MaybeIn,
    /// Bumped by every change to which partitions are fetchable, or at
    /// which position, except [`Positions::advance`]: see
    /// [`Positions::generation`].
    generation: u64,
}

/// One flag per state other than fetching, raised whenever a partition
/// enters that state and lowered only by a walk that found none in it: a
/// partition in a state implies its flag is up.
#[derive(Debug, Clone, Default)]
struct MaybeIn {
    committed: Cell<bool>,
    reset: Cell<bool>,
    validating: Cell<bool>,
    failed: Cell<bool>,
}

impl MaybeIn {
    /// The flag of the state `fetch` is in (none for fetching).
    fn flag(&self, fetch: &Fetch) -> Option<&Cell<bool>> {
        match fetch {
            Fetch::AwaitingCommitted => Some(&self.committed),
            Fetch::AwaitingReset(_) => Some(&self.reset),
            Fetch::Validating(_) => Some(&self.validating),
            Fetch::Failed(_) => Some(&self.failed),
            Fetch::Fetching(_) => None,
        }
    }

    /// A partition entered the state `fetch` is in.
    fn entered(&self, fetch: &Fetch) {
        if let Some(flag) = self.flag(fetch) {
            flag.set(true);
        }
    }
}

impl<P: Ord + Clone + std::fmt::Display> Positions<P> {
    /// No partitions yet; `default_reset` is `auto_offset_reset`.
    pub fn new(default_reset: OffsetReset) -> Self {
        Positions {
            default_reset,
            partitions: BTreeMap::new(),
            maybe: MaybeIn::default(),
            generation: 0,
        }
    }

    /// Replaces the assignment: partitions kept keep their state, new ones
    /// wait for their committed offset (or a reset).
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = P>) {
        let mut next = BTreeMap::new();
        for partition in partitions {
            let state = self
                .partitions
                .remove(&partition)
                .unwrap_or(PartitionState {
                    fetch: Fetch::AwaitingCommitted,
                    paused: false,
                    high_watermark: None,
                    last_stable_offset: None,
                    log_start_offset: None,
                    leader_epoch: None,
                });
            next.insert(partition, state);
        }
        self.partitions = next;
        self.maybe.committed.set(true);
        self.generation += 1;
    }

    /// Adds partitions (cooperative rebalance), keeping the others.
    pub fn add(&mut self, partitions: impl IntoIterator<Item = P>) {
        let mut all: Vec<P> = self.partitions.keys().cloned().collect();
        all.extend(partitions);
        self.assign(all);
    }

    /// Removes partitions (revoked or lost).
    pub fn remove<'a>(&mut self, partitions: impl IntoIterator<Item = &'a P>)
    where
        P: 'a,
    {
        for partition in partitions {
            self.partitions.remove(partition);
        }
        self.generation += 1;
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> impl Iterator<Item = &P> {
        self.partitions.keys()
    }

    /// How many times which partitions are fetchable, or at which
    /// position, changed other than by [`Positions::advance`]. Records
    /// found deliverable at one generation stay deliverable while it
    /// lasts, less those handed out: a poll need not walk every partition
    /// again to know that.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The state of `partition`, to change it (a new generation).
    fn state(&mut self, partition: &P) -> Result<&mut PartitionState, PositionError> {
        self.generation += 1;
        self.partitions
            .get_mut(partition)
            .ok_or_else(|| PositionError::NotAssigned(partition.to_string()))
    }

    /// `seek`: fetch from `offset` next.
    pub fn seek(
        &mut self,
        partition: &P,
        offset: i64,
        leader_epoch: Option<i32>,
    ) -> Result<(), PositionError> {
        self.state(partition)?.fetch = Fetch::Fetching(Position {
            offset,
            leader_epoch,
        });
        Ok(())
    }

    /// `seek_to_beginning` / `seek_to_end`: look the offset up before the next fetch.
    pub fn request_reset(
        &mut self,
        partition: &P,
        reset: OffsetReset,
    ) -> Result<(), PositionError> {
        self.state(partition)?.fetch = Fetch::AwaitingReset(reset);
        self.maybe.reset.set(true);
        Ok(())
    }

    /// The position, if known; an error if the partition failed.
    pub fn position(&self, partition: &P) -> Result<Option<Position>, PositionError> {
        match self.partitions.get(partition).map(|s| &s.fetch) {
            None => Err(PositionError::NotAssigned(partition.to_string())),
            Some(Fetch::Fetching(position) | Fetch::Validating(position)) => Ok(Some(*position)),
            Some(Fetch::Failed(error)) => Err(error.clone()),
            Some(_) => Ok(None),
        }
    }

    /// Partitions waiting for their committed offset (OffsetFetch).
    pub fn awaiting_committed(&self) -> Vec<P> {
        self.walk(&self.maybe.committed, |p, fetch| {
            matches!(fetch, Fetch::AwaitingCommitted).then(|| p.clone())
        })
    }

    /// What `pick` takes of the partitions, walking them only while `flag`
    /// is up, and lowering it when it took nothing.
    fn walk<T>(&self, flag: &Cell<bool>, mut pick: impl FnMut(&P, &Fetch) -> Option<T>) -> Vec<T> {
        if !flag.get() {
            return Vec::new();
        }
        let found: Vec<T> = self
            .partitions
            .iter()
            .filter_map(|(p, s)| pick(p, &s.fetch))
            .collect();
        if found.is_empty() {
            flag.set(false);
        }
        found
    }

    /// The committed offsets arrived: partitions with one start there,
    /// the others reset by `auto_offset_reset`. A committed offset that
    /// carries its record's leader epoch is validated first (KIP-320): the
    /// log may have been truncated since it was committed.
    pub fn committed(&mut self, partition: &P, committed: Option<Position>) {
        let reset = self.default_reset;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        if !matches!(state.fetch, Fetch::AwaitingCommitted) {
            return;
        }
        state.fetch = match committed {
            Some(position) if position.leader_epoch.is_some() => Fetch::Validating(position),
            Some(position) => Fetch::Fetching(position),
            None if reset == OffsetReset::None => Fetch::Failed(PositionError::NoResetPolicy {
                partition: partition.to_string(),
                offset: None,
            }),
            None => Fetch::AwaitingReset(reset),
        };
        self.maybe.entered(&state.fetch);
        self.generation += 1;
    }

    /// Partitions needing a ListOffsets lookup, with the reset each needs.
    pub fn awaiting_reset(&self) -> Vec<(P, OffsetReset)> {
        self.walk(&self.maybe.reset, |p, fetch| match fetch {
            Fetch::AwaitingReset(reset) => Some((p.clone(), *reset)),
            _ => None,
        })
    }

    /// ListOffsets answered for a reset.
    pub fn reset_to(&mut self, partition: &P, offset: i64, leader_epoch: Option<i32>) {
        if let Some(state) = self.partitions.get_mut(partition)
            && matches!(state.fetch, Fetch::AwaitingReset(_))
        {
            state.fetch = Fetch::Fetching(Position {
                offset,
                leader_epoch,
            });
            self.generation += 1;
        }
    }

    /// The broker said OFFSET_OUT_OF_RANGE at `offset`: reset by policy, or
    /// fail the partition with `auto_offset_reset=none`. A stale answer
    /// (the position moved meanwhile, e.g. by a seek) is ignored.
    pub fn out_of_range(&mut self, partition: &P, offset: i64) {
        let reset = self.default_reset;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        if !matches!(state.fetch, Fetch::Fetching(p) if p.offset == offset) {
            return;
        }
        state.fetch = if reset == OffsetReset::None {
            Fetch::Failed(PositionError::NoResetPolicy {
                partition: partition.to_string(),
                offset: Some(offset),
            })
        } else {
            Fetch::AwaitingReset(reset)
        };
        self.maybe.entered(&state.fetch);
        self.generation += 1;
    }

    /// Records were handed to the application up to `next_offset`.
    /// Ignored unless the fetch started at the current position, so a
    /// response that raced a seek changes nothing.
    pub fn advance(&mut self, partition: &P, fetched_from: i64, next: Position) {
        if let Some(state) = self.partitions.get_mut(partition)
            && matches!(state.fetch, Fetch::Fetching(p) if p.offset == fetched_from)
        {
            state.fetch = Fetch::Fetching(next);
        }
    }

    /// The watermarks a fetch response reported.
    pub fn update_watermarks(
        &mut self,
        partition: &P,
        high: i64,
        last_stable: Option<i64>,
        log_start: Option<i64>,
    ) {
        if let Some(state) = self.partitions.get_mut(partition) {
            state.high_watermark = Some(high);
            state.last_stable_offset = last_stable.or(state.last_stable_offset);
            state.log_start_offset = log_start.or(state.log_start_offset);
        }
    }

    /// `pause`.
    pub fn pause(&mut self, partition: &P) -> Result<(), PositionError> {
        self.state(partition)?.paused = true;
        Ok(())
    }

    /// `resume`.
    pub fn resume(&mut self, partition: &P) -> Result<(), PositionError> {
        self.state(partition)?.paused = false;
        Ok(())
    }

    /// `paused`.
    pub fn paused(&self) -> Vec<P> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Partitions to fetch now, with their positions: assigned, not
    /// paused, with a position.
    pub fn fetchable(&self) -> Vec<(P, Position)> {
        self.partitions
            .iter()
            .filter(|(_, s)| !s.paused)
            .filter_map(|(p, s)| match s.fetch {
                Fetch::Fetching(position) => Some((p.clone(), position)),
                _ => None,
            })
            .collect()
    }

    /// The metadata gave `epoch` as the leader epoch of `partition`. When
    /// the leader changed (the epoch grew) and the position knows the
    /// epoch of its last record, the position must be validated (KIP-320)
    /// before fetching on; returns whether it must.
    pub fn note_leader_epoch(&mut self, partition: &P, epoch: i32) -> bool {
        let must = self
            .partitions
            .get_mut(partition)
            .is_some_and(|state| state.note_leader_epoch(epoch));
        if must {
            self.maybe.validating.set(true);
            self.generation += 1;
        }
        must
    }

    /// [`Positions::note_leader_epoch`] for every assigned partition whose
    /// leader epoch `epoch_of` knows; returns whether any must be validated.
    pub fn note_leader_epochs(&mut self, mut epoch_of: impl FnMut(&P) -> Option<i32>) -> bool {
        let mut any = false;
        for (partition, state) in &mut self.partitions {
            if let Some(epoch) = epoch_of(partition) {
                any |= state.note_leader_epoch(epoch);
            }
        }
        if any {
            self.maybe.validating.set(true);
            self.generation += 1;
        }
        any
    }

    /// Positions to validate with OffsetForLeaderEpoch.
    pub fn awaiting_validation(&self) -> Vec<(P, Position)> {
        self.walk(&self.maybe.validating, |p, fetch| match fetch {
            Fetch::Validating(position) => Some((p.clone(), *position)),
            _ => None,
        })
    }

    /// The leader answered OffsetForLeaderEpoch for the epoch of
    /// `position`: `end` is the end offset of that epoch and the epoch it
    /// belongs to (`None` or a negative offset: unknown, the position
    /// stands). An end below the position means the log was truncated:
    /// fetching goes on from the first divergent offset, or the partition
    /// fails with [`PositionError::LogTruncation`] when
    /// `auto_offset_reset=none`. A stale answer changes nothing.
    pub fn validated(&mut self, partition: &P, position: Position, end: Option<(i64, i32)>) {
        let reset = self.default_reset;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        if !matches!(state.fetch, Fetch::Validating(p) if p == position) {
            return;
        }
        state.fetch = match end {
            Some((end_offset, epoch)) if end_offset >= 0 && end_offset < position.offset => {
                if reset == OffsetReset::None {
                    Fetch::Failed(PositionError::LogTruncation {
                        partition: partition.to_string(),
                        offset: position.offset,
                        divergent_offset: end_offset,
                    })
                } else {
                    Fetch::Fetching(Position {
                        offset: end_offset,
                        leader_epoch: (epoch >= 0).then_some(epoch),
                    })
                }
            }
            _ => Fetch::Fetching(position),
        };
        self.maybe.entered(&state.fetch);
        self.generation += 1;
    }

    /// The position of `partition` if it is fetchable now (assigned, not
    /// paused, with a position).
    pub fn fetchable_position(&self, partition: &P) -> Option<Position> {
        match self.partitions.get(partition) {
            Some(PartitionState {
                fetch: Fetch::Fetching(position),
                paused: false,
                ..
            }) => Some(*position),
            _ => None,
        }
    }

    /// Whether data fetched from `offset` continues the position of a
    /// fetchable `partition` (so it may be handed out).
    pub fn is_fetchable_at(&self, partition: &P, offset: i64) -> bool {
        self.fetchable_position(partition)
            .is_some_and(|p| p.offset == offset)
    }

    /// Records behind the end (`read_committed` uses the last stable offset).
    pub fn lag(&self, partition: &P, read_committed: bool) -> Option<i64> {
        let state = self.partitions.get(partition)?;
        let end = if read_committed {
            state.last_stable_offset.or(state.high_watermark)
        } else {
            state.high_watermark
        };
        match state.fetch {
            // The watermarks are the broker's word: any int64.
            Fetch::Fetching(position) => end.map(|end| end.saturating_sub(position.offset).max(0)),
            _ => None,
        }
    }

    /// Partitions that failed, with why (surfaced, then cleared, by `poll`).
    pub fn take_failures(&mut self) -> Vec<(P, PositionError)> {
        let mut failures = Vec::new();
        if !self.maybe.failed.get() {
            return failures;
        }
        for (partition, state) in &mut self.partitions {
            if let Fetch::Failed(error) = &state.fetch {
                failures.push((partition.clone(), error.clone()));
                state.fetch = Fetch::AwaitingReset(OffsetReset::None);
            }
        }
        self.maybe.failed.set(false);
        if !failures.is_empty() {
            self.maybe.reset.set(true);
            self.generation += 1;
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(reset: OffsetReset) -> Positions<String> {
        let mut p = Positions::new(reset);
        p.assign(["t-0".to_string(), "t-1".to_string()]);
        p
    }

    #[test]
    fn committed_offsets_or_the_reset_policy_start_fetching() {
        let mut p = positions(OffsetReset::Earliest);
        assert_eq!(p.awaiting_committed().len(), 2);
        p.committed(
            &"t-0".into(),
            Some(Position {
                offset: 42,
                leader_epoch: None,
            }),
        );
        p.committed(&"t-1".into(), None);
        assert_eq!(
            p.awaiting_reset(),
            [("t-1".to_string(), OffsetReset::Earliest)]
        );
        p.reset_to(&"t-1".into(), 0, None);
        let fetchable: Vec<i64> = p.fetchable().iter().map(|(_, pos)| pos.offset).collect();
        assert_eq!(fetchable, [42, 0]);
    }

    #[test]
    fn a_partition_losing_its_position_is_found_after_all_had_one() {
        let mut p = positions(OffsetReset::Earliest);
        let at = |offset| Position {
            offset,
            leader_epoch: Some(1),
        };
        p.seek(&"t-0".into(), 5, Some(1)).unwrap();
        p.committed(&"t-1".into(), None);
        p.reset_to(&"t-1".into(), 0, Some(1));
        // Every partition has a position: the lookups find nothing.
        assert!(p.take_failures().is_empty());
        assert!(p.awaiting_committed().is_empty());
        assert!(p.awaiting_reset().is_empty());
        assert!(p.awaiting_validation().is_empty());

        // Each way of losing a position is still seen afterwards.
        p.out_of_range(&"t-0".into(), 5);
        assert_eq!(
            p.awaiting_reset(),
            [("t-0".to_string(), OffsetReset::Earliest)]
        );
        p.reset_to(&"t-0".into(), 7, Some(1));
        assert!(p.take_failures().is_empty());
        assert!(p.awaiting_reset().is_empty());

        p.request_reset(&"t-1".into(), OffsetReset::Latest).unwrap();
        assert_eq!(
            p.awaiting_reset(),
            [("t-1".to_string(), OffsetReset::Latest)]
        );
        p.reset_to(&"t-1".into(), 3, Some(1));
        assert!(p.take_failures().is_empty());

        assert!(!p.note_leader_epoch(&"t-0".into(), 1), "first epoch seen");
        assert!(p.take_failures().is_empty());
        assert!(p.note_leader_epoch(&"t-0".into(), 2), "a new leader");
        assert_eq!(p.awaiting_validation(), [("t-0".to_string(), at(7))]);
        p.validated(&"t-0".into(), at(7), None);
        assert!(p.take_failures().is_empty());

        // t-1's first epoch seen, t-0's leader changed again.
        assert!(p.note_leader_epochs(|_| Some(3)));
        assert_eq!(p.awaiting_validation(), [("t-0".to_string(), at(7))]);
        p.validated(&"t-0".into(), at(7), None);
        assert!(p.take_failures().is_empty());

        p.assign(["t-0".to_string(), "t-1".to_string(), "t-2".to_string()]);
        assert_eq!(p.awaiting_committed(), ["t-2".to_string()]);
    }

    #[test]
    fn out_of_range_resets_or_fails_by_policy() {
        let mut p = positions(OffsetReset::Latest);
        p.seek(&"t-0".into(), 100, None).unwrap();
        p.out_of_range(&"t-0".into(), 99); // stale: the position moved
        assert_eq!(p.position(&"t-0".into()).unwrap().unwrap().offset, 100);
        p.out_of_range(&"t-0".into(), 100);
        assert_eq!(
            p.awaiting_reset(),
            [("t-0".to_string(), OffsetReset::Latest)]
        );

        let mut strict = positions(OffsetReset::None);
        strict.seek(&"t-0".into(), 5, None).unwrap();
        strict.out_of_range(&"t-0".into(), 5);
        let error = strict.position(&"t-0".into()).unwrap_err();
        assert!(
            error.to_string().contains("auto_offset_reset is none"),
            "{error}"
        );
        assert_eq!(strict.take_failures().len(), 1);
        assert!(strict.take_failures().is_empty(), "reported once");
    }

    #[test]
    fn pause_seek_and_advance() {
        let mut p = positions(OffsetReset::Earliest);
        p.seek(&"t-0".into(), 10, None).unwrap();
        p.seek(&"t-1".into(), 20, None).unwrap();
        p.pause(&"t-1".into()).unwrap();
        assert_eq!(p.fetchable().len(), 1);
        assert_eq!(p.paused(), ["t-1".to_string()]);
        p.resume(&"t-1".into()).unwrap();
        // A response for a fetch from 10 advances; one from a stale position does not.
        p.advance(
            &"t-0".into(),
            10,
            Position {
                offset: 15,
                leader_epoch: Some(1),
            },
        );
        p.advance(
            &"t-0".into(),
            10,
            Position {
                offset: 99,
                leader_epoch: None,
            },
        );
        assert_eq!(p.position(&"t-0".into()).unwrap().unwrap().offset, 15);
        p.update_watermarks(&"t-0".into(), 40, Some(30), Some(0));
        assert_eq!(p.lag(&"t-0".into(), false), Some(25));
        assert_eq!(p.lag(&"t-0".into(), true), Some(15));
        assert!(matches!(
            p.seek(&"t-9".into(), 1, None),
            Err(PositionError::NotAssigned(_))
        ));
    }

    #[test]
    fn a_leader_change_validates_the_position_and_detects_truncation() {
        let at = |offset, epoch| Position {
            offset,
            leader_epoch: Some(epoch),
        };
        let mut p = positions(OffsetReset::Earliest);
        p.seek(&"t-0".into(), 100, Some(3)).unwrap();
        p.seek(&"t-1".into(), 50, None).unwrap();
        assert!(!p.note_leader_epoch(&"t-0".into(), 3), "first epoch seen");
        assert!(!p.note_leader_epoch(&"t-0".into(), 3), "unchanged");
        assert!(!p.note_leader_epoch(&"t-1".into(), 1));
        assert!(!p.note_leader_epoch(&"t-1".into(), 2), "no epoch to check");
        assert!(p.note_leader_epoch(&"t-0".into(), 4));
        assert_eq!(p.awaiting_validation(), [("t-0".to_string(), at(100, 3))]);
        assert_eq!(p.fetchable().len(), 1, "not fetched while validating");
        assert_eq!(p.position(&"t-0".into()).unwrap(), Some(at(100, 3)));
        // A stale answer (another position) is ignored.
        p.validated(&"t-0".into(), at(90, 3), Some((10, 3)));
        assert_eq!(p.awaiting_validation().len(), 1);
        // Truncated to 80: fetching goes on from there.
        p.validated(&"t-0".into(), at(100, 3), Some((80, 3)));
        assert_eq!(p.position(&"t-0".into()).unwrap(), Some(at(80, 3)));
        assert_eq!(p.fetchable().len(), 2);

        // Not truncated: the position stands.
        p.note_leader_epoch(&"t-0".into(), 5);
        p.validated(&"t-0".into(), at(80, 3), Some((120, 3)));
        assert_eq!(p.position(&"t-0".into()).unwrap(), Some(at(80, 3)));

        let mut strict = positions(OffsetReset::None);
        strict.seek(&"t-0".into(), 100, Some(1)).unwrap();
        strict.note_leader_epoch(&"t-0".into(), 1);
        strict.note_leader_epoch(&"t-0".into(), 2);
        strict.validated(&"t-0".into(), at(100, 1), Some((60, 1)));
        let failures = strict.take_failures();
        assert!(matches!(
            &failures[..],
            [(
                _,
                PositionError::LogTruncation {
                    offset: 100,
                    divergent_offset: 60,
                    ..
                }
            )]
        ));
    }

    #[test]
    fn a_committed_offset_with_an_epoch_is_validated_before_fetching() {
        let mut p = positions(OffsetReset::Earliest);
        p.assign(["t-0".to_string(), "t-1".to_string()]);
        let with_epoch = Position {
            offset: 100,
            leader_epoch: Some(2),
        };
        p.committed(&"t-0".into(), Some(with_epoch));
        p.committed(
            &"t-1".into(),
            Some(Position {
                offset: 7,
                leader_epoch: None,
            }),
        );
        assert_eq!(p.awaiting_validation(), [("t-0".to_string(), with_epoch)]);
        assert_eq!(p.fetchable().len(), 1, "only the one without an epoch");
        p.validated(&"t-0".into(), with_epoch, Some((40, 2)));
        assert_eq!(
            p.position(&"t-0".into()).unwrap(),
            Some(Position {
                offset: 40,
                leader_epoch: Some(2)
            })
        );
    }

    #[test]
    fn reassignment_keeps_positions_of_kept_partitions() {
        let mut p = positions(OffsetReset::Earliest);
        p.seek(&"t-0".into(), 7, None).unwrap();
        p.assign(["t-0".to_string(), "t-2".to_string()]);
        assert_eq!(p.position(&"t-0".into()).unwrap().unwrap().offset, 7);
        assert_eq!(p.awaiting_committed(), ["t-2".to_string()]);
        p.remove([&"t-0".to_string()]);
        assert_eq!(p.assignment().count(), 1);
    }

    #[test]
    fn every_change_to_what_is_fetchable_but_an_advance_is_a_new_generation() {
        let tp = || "t-0".to_string();
        let at = |offset| Position {
            offset,
            leader_epoch: Some(0),
        };
        let mut p = Positions::new(OffsetReset::Earliest);
        let mut seen = p.generation();
        let mut changed = |p: &Positions<String>, what: &str| {
            assert!(p.generation() > seen, "{what} kept the generation");
            seen = p.generation();
        };
        p.assign([tp()]);
        changed(&p, "assign");
        p.committed(&tp(), Some(at(5)));
        changed(&p, "committed");
        p.validated(&tp(), at(5), Some((9, 0)));
        changed(&p, "validated");
        p.pause(&tp()).unwrap();
        changed(&p, "pause");
        p.resume(&tp()).unwrap();
        changed(&p, "resume");
        p.out_of_range(&tp(), 5);
        changed(&p, "out_of_range");
        p.reset_to(&tp(), 0, Some(0));
        changed(&p, "reset_to");
        assert!(!p.note_leader_epoch(&tp(), 0), "the first epoch seen");
        assert!(p.note_leader_epoch(&tp(), 1));
        changed(&p, "a new leader epoch");
        p.seek(&tp(), 3, None).unwrap();
        changed(&p, "seek");
        p.request_reset(&tp(), OffsetReset::Latest).unwrap();
        changed(&p, "request_reset");
        p.reset_to(&tp(), 7, None);
        changed(&p, "reset_to");

        let before = p.generation();
        p.advance(&tp(), 7, at(8));
        p.update_watermarks(&tp(), 10, None, None);
        assert!(!p.note_leader_epoch(&tp(), 1));
        assert_eq!(p.generation(), before);
        p.remove([&tp()]);
        assert!(p.generation() > before, "remove kept the generation");
    }

    /// A restarted consumer's partition, committed at 50 with leader epoch 0:
    /// whatever order the poll's walks (the idle check's, each lookup's),
    /// the metadata's epochs and the committed offset come in, the
    /// partition ends up fetchable at 50. No per-state flag is lowered while
    /// a partition is still in its state.
    #[test]
    fn a_validated_committed_position_is_fetched_whatever_the_order_of_events() {
        #[derive(Clone, Copy, Debug)]
        enum Event {
            Committed,
            Validated,
            WalkCommitted,
            WalkReset,
            WalkValidation,
            TakeFailures,
            Epoch(i32),
        }
        let tp = || "t-0".to_string();
        let committed = Position {
            offset: 50,
            leader_epoch: Some(0),
        };
        let apply = |p: &mut Positions<String>, event: Event| match event {
            Event::Committed => {
                if p.awaiting_committed().contains(&tp()) {
                    p.committed(&tp(), Some(committed));
                }
            }
            // The leader answers OffsetForLeaderEpoch: epoch 0 ends at 100.
            Event::Validated => {
                for (partition, position) in p.awaiting_validation() {
                    p.validated(&partition, position, Some((100, 0)));
                }
            }
            Event::WalkCommitted => {
                let _ = p.awaiting_committed();
            }
            Event::WalkReset => {
                let _ = p.awaiting_reset();
            }
            // The poll's idle check.
            Event::WalkValidation => {
                let _ = (p.fetchable(), p.awaiting_validation());
            }
            Event::TakeFailures => assert!(p.take_failures().is_empty()),
            Event::Epoch(epoch) => {
                let _ = p.note_leader_epochs(|_| Some(epoch));
            }
        };
        let events = [
            Event::Committed,
            Event::Validated,
            Event::WalkCommitted,
            Event::WalkReset,
            Event::WalkValidation,
            Event::TakeFailures,
            Event::Epoch(0),
        ];
        // Every order of the events (Heap's algorithm).
        let mut order: Vec<usize> = (0..events.len()).collect();
        let mut counters = vec![0; order.len()];
        let mut orders = vec![order.clone()];
        let mut i = 0;
        while i < order.len() {
            if counters[i] < i {
                order.swap(if i % 2 == 0 { 0 } else { counters[i] }, i);
                orders.push(order.clone());
                counters[i] += 1;
                i = 0;
            } else {
                counters[i] = 0;
                i += 1;
            }
        }
        assert_eq!(orders.len(), 5040);
        for order in orders {
            let mut p = Positions::new(OffsetReset::Earliest);
            p.assign([tp()]);
            for &at in &order {
                apply(&mut p, events[at]);
            }
            // Later polls: what each asks for, in the poll's order.
            for _ in 0..2 {
                apply(&mut p, Event::Committed);
                apply(&mut p, Event::WalkReset);
                apply(&mut p, Event::TakeFailures);
                apply(&mut p, Event::Validated);
            }
            let seen: Vec<Event> = order.iter().map(|&at| events[at]).collect();
            assert_eq!(p.fetchable(), [(tp(), committed)], "after {seen:?}");
        }
    }
}
