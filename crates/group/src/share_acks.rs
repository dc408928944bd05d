//! The records a share consumer holds and their acknowledgements, per
//! partition, with no I/O: what ShareFetch acquired (offset ranges with
//! delivery counts), which of those the application has seen, how it
//! acknowledged them, and the wire's `AcknowledgementBatches` that carry
//! the acknowledgements on the next ShareFetch or ShareAcknowledge.
//!
//! The life of an offset: acquired (in a ShareFetch response's
//! `AcquiredRecords`) → delivered (its record handed to the application)
//! → acknowledged (Accept, Release, Reject; Renew keeps it acquired) →
//! sent. Acquired offsets with no record in the fetched data (control
//! records, compacted away) are acknowledged as gaps. Offsets are tracked
//! as ranges, so a broker naming a huge range costs no memory.
//!
//! ```
//! use ferrokafka_group::share_acks::{AcknowledgeType, PartitionAcks};
//!
//! let mut acks = PartitionAcks::default();
//! acks.acquire(10, 14, 1);
//! for offset in 10..=13 {
//!     assert_eq!(acks.deliver(offset), Some(1));
//! }
//! acks.gap(14, 14); // a transaction marker
//! acks.acknowledge(12, AcknowledgeType::Release).unwrap();
//! acks.accept_delivered(); // implicit mode: the next poll accepts the rest
//! let batches = acks.take_batches();
//! assert_eq!(batches.len(), 1);
//! assert_eq!((batches[0].first_offset, batches[0].last_offset), (10, 14));
//! assert_eq!(batches[0].acknowledge_types, vec![1, 1, 2, 1, 0]);
//! assert!(acks.is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ferrokafka_protocol::Uuid;
use ferrokafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AcknowledgeBatch,
};
use ferrokafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch as FetchBatch, FetchPartition, FetchTopic,
};
use ferrokafka_protocol::messages::share_fetch_response::AcquiredRecords;

/// The wire's acknowledge type for an offset that holds no record.
pub const GAP: i8 = 0;

/// How long a run of one acknowledge type must be to get a batch of its
/// own (one type for the whole range) rather than one entry per offset in
/// a mixed batch: keeps requests small when most records share a type, and
/// keeps a long gap from being spelled out offset by offset.
pub const RUN_FOR_OWN_BATCH: u64 = 8;

/// How the application acknowledged a record (`share_acknowledgement_mode=explicit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AcknowledgeType {
    /// Processed: never delivered again.
    Accept,
    /// Give it back: delivered again, to this or another member, with its
    /// delivery count raised.
    Release,
    /// Unprocessable: never delivered again (archived).
    Reject,
    /// KIP-1222: extend the acquisition lock; the record stays acquired and
    /// must still be acknowledged (ShareFetch/ShareAcknowledge v2).
    Renew,
}

impl AcknowledgeType {
    /// The wire value: 1 Accept, 2 Release, 3 Reject, 4 Renew.
    pub fn id(self) -> i8 {
        match self {
            AcknowledgeType::Accept => 1,
            AcknowledgeType::Release => 2,
            AcknowledgeType::Reject => 3,
            AcknowledgeType::Renew => 4,
        }
    }

    /// The type of a wire value, if it names one (0, a gap, does not).
    pub fn from_id(id: i8) -> Option<Self> {
        match id {
            1 => Some(AcknowledgeType::Accept),
            2 => Some(AcknowledgeType::Release),
            3 => Some(AcknowledgeType::Reject),
            4 => Some(AcknowledgeType::Renew),
            _ => None,
        }
    }
}

/// `share_acknowledgement_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcknowledgementMode {
    /// Every record a poll returned is accepted by the next poll or commit.
    #[default]
    Implicit,
    /// The application acknowledges each record; a poll with records still
    /// unacknowledged is refused.
    Explicit,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// The offset is not a delivered record this member still holds: never
    /// acquired, not delivered yet, already acknowledged, or lost.
    NotDelivered(i64),
    /// `share_acknowledgement_mode=implicit`: the consumer acknowledges,
    /// not the application.
    ImplicitMode,
    /// Explicit mode: the previous poll's records are not all acknowledged
    /// (this many remain), so the next poll is refused.
    Unacknowledged(usize),
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::NotDelivered(offset) => write!(
                f,
                "offset {offset} is not a delivered record this consumer holds \
                 (not acquired, already acknowledged, or its partition was revoked)"
            ),
            AckError::ImplicitMode => f.write_str(
                "records are acknowledged implicitly; set \
                 share_acknowledgement_mode=explicit to acknowledge them one by one",
            ),
            AckError::Unacknowledged(n) => write!(
                f,
                "{n} records of the previous poll are not acknowledged \
                 (share_acknowledgement_mode=explicit): acknowledge them before polling again"
            ),
        }
    }
}

impl std::error::Error for AckError {}

/// One entry of the wire's `AcknowledgementBatches`: `acknowledge_types`
/// holds one type for the whole range, or one per offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBatch {
    /// First offset.
    pub first_offset: i64,
    /// Last offset, inclusive.
    pub last_offset: i64,
    /// 0 gap, 1 Accept, 2 Release, 3 Reject, 4 Renew.
    pub acknowledge_types: Vec<i8>,
}

impl AckBatch {
    /// Whether it renews a lock: the request then sets `IsRenewAck` (v2+).
    pub fn renews(&self) -> bool {
        self.acknowledge_types
            .contains(&AcknowledgeType::Renew.id())
    }

    /// As ShareFetch carries it.
    pub fn to_fetch(&self) -> FetchBatch {
        FetchBatch {
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            acknowledge_types: self.acknowledge_types.clone(),
            ..FetchBatch::default()
        }
    }

    /// As ShareAcknowledge carries it.
    pub fn to_acknowledge(&self) -> AcknowledgeBatch {
        AcknowledgeBatch {
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            acknowledge_types: self.acknowledge_types.clone(),
            ..AcknowledgeBatch::default()
        }
    }
}

/// A range's last offset (inclusive) and what it carries, keyed by its
/// first offset in a map of disjoint ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span<V> {
    last: i64,
    value: V,
}

/// One partition's acquired records and pending acknowledgements.
#[derive(Debug, Clone, Default)]
pub struct PartitionAcks {
    /// Acquired and not finally acknowledged; disjoint ranges.
    acquired: BTreeMap<i64, Span<i16>>,
    /// Acquired offsets whose records the application has (bounded by the
    /// records actually decoded, so one entry each is fine).
    delivered: BTreeSet<i64>,
    /// Acknowledgements not yet sent; disjoint runs.
    pending: BTreeMap<i64, Span<i8>>,
}

impl PartitionAcks {
    /// Records `AcquiredRecords` from a ShareFetch response. A range that
    /// overlaps one already held replaces it there: the broker acquired
    /// those offsets again (the old lock lapsed), with a new count.
    /// Ranges with `first > last` are ignored.
    pub fn acquire(&mut self, first: i64, last: i64, delivery_count: i16) {
        if first > last {
            return;
        }
        carve(&mut self.acquired, first, last);
        let stale: Vec<i64> = self.delivered.range(first..=last).copied().collect();
        for offset in stale {
            self.delivered.remove(&offset);
        }
        self.acquired.insert(
            first,
            Span {
                last,
                value: delivery_count,
            },
        );
    }

    /// [`PartitionAcks::acquire`] for each of a response's ranges.
    pub fn acquire_all(&mut self, ranges: &[AcquiredRecords]) {
        for range in ranges {
            self.acquire(range.first_offset, range.last_offset, range.delivery_count);
        }
    }

    /// The delivery count of an acquired offset, if it is held.
    pub fn delivery_count(&self, offset: i64) -> Option<i16> {
        self.acquired
            .range(..=offset)
            .next_back()
            .filter(|(_, held)| held.last >= offset)
            .map(|(_, held)| held.value)
    }

    /// The driver hands this offset's record to the application: returns
    /// its delivery count, or `None` when the offset is not held (a record
    /// of the fetched batches this member did not acquire: skip it).
    pub fn deliver(&mut self, offset: i64) -> Option<i16> {
        let count = self.delivery_count(offset)?;
        self.delivered.insert(offset);
        Some(count)
    }

    /// Acquired offsets in `first..=last` with no record (control records,
    /// compacted away) are acknowledged as gaps, so the broker stops
    /// holding them for this member.
    pub fn gap(&mut self, first: i64, last: i64) {
        if first > last {
            return;
        }
        for (from, to, _) in carve(&mut self.acquired, first, last) {
            self.drop_delivered(from, to);
            self.put_pending(from, to, GAP);
        }
    }

    /// The application acknowledges a delivered record. Renew keeps it
    /// acquired and delivered: it must be acknowledged again.
    pub fn acknowledge(&mut self, offset: i64, kind: AcknowledgeType) -> Result<(), AckError> {
        if !self.delivered.contains(&offset) {
            return Err(AckError::NotDelivered(offset));
        }
        if kind != AcknowledgeType::Renew {
            self.delivered.remove(&offset);
            carve(&mut self.acquired, offset, offset);
        }
        self.put_pending(offset, offset, kind.id());
        Ok(())
    }

    /// Implicit mode: accepts every delivered record not yet acknowledged
    /// (including renewed ones).
    pub fn accept_delivered(&mut self) {
        let delivered = std::mem::take(&mut self.delivered);
        for offset in delivered {
            carve(&mut self.acquired, offset, offset);
            self.put_pending(offset, offset, AcknowledgeType::Accept.id());
        }
    }

    /// Closing or giving the partition up: everything still held and not
    /// acknowledged is released, delivered or not, so other members get it
    /// without waiting for the lock to lapse.
    pub fn release_unacknowledged(&mut self) {
        self.delivered.clear();
        let held = std::mem::take(&mut self.acquired);
        for (first, Span { last, .. }) in held {
            self.put_pending(first, last, AcknowledgeType::Release.id());
        }
    }

    /// Forgets everything held, without acknowledging: the partition was
    /// lost (fencing, a new share session) and the broker releases the
    /// records when their locks lapse. Pending acknowledgements stay.
    pub fn forget_acquired(&mut self) {
        self.delivered.clear();
        self.acquired.clear();
    }

    /// Delivered records not acknowledged yet: in explicit mode, the
    /// next poll waits for these.
    pub fn unacknowledged(&self) -> impl Iterator<Item = i64> + '_ {
        self.delivered.iter().copied()
    }

    /// The offset ranges still held (acquired, not finally acknowledged).
    pub fn acquired_ranges(&self) -> Vec<(i64, i64)> {
        self.acquired.iter().map(|(f, h)| (*f, h.last)).collect()
    }

    /// Whether acknowledgements wait to be sent.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether nothing is held or pending.
    pub fn is_empty(&self) -> bool {
        self.acquired.is_empty() && self.delivered.is_empty() && self.pending.is_empty()
    }

    /// Takes the pending acknowledgements as the wire's batches, in offset
    /// order: contiguous offsets share a batch; a batch of one type carries
    /// it once, a mixed one carries a type per offset; a run of one type at
    /// least [`RUN_FOR_OWN_BATCH`] long gets a batch of its own.
    pub fn take_batches(&mut self) -> Vec<AckBatch> {
        let pending = std::mem::take(&mut self.pending);
        coalesce(
            pending
                .into_iter()
                .map(|(first, run)| (first, run.last, run.value)),
        )
    }

    fn drop_delivered(&mut self, first: i64, last: i64) {
        let seen: Vec<i64> = self.delivered.range(first..=last).copied().collect();
        for offset in seen {
            self.delivered.remove(&offset);
        }
    }

    /// Adds a pending run, replacing what it overlaps (a renew followed by
    /// a final acknowledgement of the same record keeps the final one).
    fn put_pending(&mut self, first: i64, last: i64, kind: i8) {
        carve(&mut self.pending, first, last);
        self.pending.insert(first, Span { last, value: kind });
    }
}

/// The acknowledgements of one partition, ready for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatches {
    /// The topic's id.
    pub topic_id: Uuid,
    /// The partition.
    pub partition: i32,
    /// The batches, in offset order.
    pub batches: Vec<AckBatch>,
}

/// A share consumer's acknowledgement bookkeeping over all its partitions,
/// in one acknowledgement mode.
#[derive(Debug, Clone, Default)]
pub struct ShareAcks {
    mode: AcknowledgementMode,
    partitions: BTreeMap<(Uuid, i32), PartitionAcks>,
}

impl ShareAcks {
    /// Nothing held yet.
    pub fn new(mode: AcknowledgementMode) -> Self {
        ShareAcks {
            mode,
            partitions: BTreeMap::new(),
        }
    }

    /// The acknowledgement mode.
    pub fn mode(&self) -> AcknowledgementMode {
        self.mode
    }

    /// One partition's bookkeeping, created on first use.
    pub fn partition(&mut self, topic_id: Uuid, partition: i32) -> &mut PartitionAcks {
        self.partitions.entry((topic_id, partition)).or_default()
    }

    /// One partition's bookkeeping, if it has any.
    pub fn get(&self, topic_id: Uuid, partition: i32) -> Option<&PartitionAcks> {
        self.partitions.get(&(topic_id, partition))
    }

    /// The application acknowledges a record (explicit mode only).
    pub fn acknowledge(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
        kind: AcknowledgeType,
    ) -> Result<(), AckError> {
        if self.mode == AcknowledgementMode::Implicit {
            return Err(AckError::ImplicitMode);
        }
        self.partitions
            .get_mut(&(topic_id, partition))
            .ok_or(AckError::NotDelivered(offset))?
            .acknowledge(offset, kind)
    }

    /// Explicit mode: acknowledges every delivered record not yet
    /// acknowledged with `kind`.
    pub fn acknowledge_delivered(&mut self, kind: AcknowledgeType) -> Result<(), AckError> {
        if self.mode == AcknowledgementMode::Implicit {
            return Err(AckError::ImplicitMode);
        }
        for acks in self.partitions.values_mut() {
            let offsets: Vec<i64> = acks.unacknowledged().collect();
            for offset in offsets {
                acks.acknowledge(offset, kind)?;
            }
        }
        Ok(())
    }

    /// The partitions of a topic with acknowledgements waiting to be sent.
    pub fn pending_partitions(&self, topic_id: Uuid) -> Vec<i32> {
        self.partitions
            .range((topic_id, i32::MIN)..=(topic_id, i32::MAX))
            .filter(|(_, acks)| acks.has_pending())
            .map(|((_, partition), _)| *partition)
            .collect()
    }

    /// The application polls (or commits): in implicit mode the previous
    /// poll's records are accepted; in explicit mode the poll is refused
    /// while any of them is unacknowledged.
    pub fn on_poll(&mut self) -> Result<(), AckError> {
        match self.mode {
            AcknowledgementMode::Implicit => {
                for acks in self.partitions.values_mut() {
                    acks.accept_delivered();
                }
                Ok(())
            }
            AcknowledgementMode::Explicit => {
                let left: usize = self
                    .partitions
                    .values()
                    .map(|acks| acks.unacknowledged().count())
                    .sum();
                if left == 0 {
                    Ok(())
                } else {
                    Err(AckError::Unacknowledged(left))
                }
            }
        }
    }

    /// Closing: implicit mode accepts what the application saw, then
    /// everything still held is released.
    pub fn close(&mut self) {
        for acks in self.partitions.values_mut() {
            if self.mode == AcknowledgementMode::Implicit {
                acks.accept_delivered();
            }
            acks.release_unacknowledged();
        }
    }

    /// The partition is no longer this member's: what the application has
    /// not acknowledged is released (its pending acknowledgements still go
    /// out). Returns the partition's bookkeeping for its last request.
    pub fn revoke(&mut self, topic_id: Uuid, partition: i32) -> Option<PartitionAcks> {
        let mut acks = self.partitions.remove(&(topic_id, partition))?;
        acks.release_unacknowledged();
        Some(acks)
    }

    /// Takes the pending acknowledgements of the partitions `which` picks
    /// (those led by one broker, say), in partition order.
    pub fn take_pending(
        &mut self,
        mut which: impl FnMut(Uuid, i32) -> bool,
    ) -> Vec<PartitionBatches> {
        let mut taken = Vec::new();
        for ((topic_id, partition), acks) in &mut self.partitions {
            if acks.has_pending() && which(*topic_id, *partition) {
                taken.push(PartitionBatches {
                    topic_id: *topic_id,
                    partition: *partition,
                    batches: acks.take_batches(),
                });
            }
        }
        self.partitions.retain(|_, acks| !acks.is_empty());
        taken
    }
}

/// Whether any of these batches renews a lock: the request's `IsRenewAck`.
pub fn renews(pending: &[PartitionBatches]) -> bool {
    pending
        .iter()
        .any(|p| p.batches.iter().any(AckBatch::renews))
}

/// Pending acknowledgements as ShareFetch's topics (partitions to fetch
/// with nothing to acknowledge are the driver's to add).
pub fn fetch_topics(pending: &[PartitionBatches]) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in pending {
        let partition = FetchPartition {
            partition_index: p.partition,
            acknowledgement_batches: p.batches.iter().map(AckBatch::to_fetch).collect(),
            ..FetchPartition::default()
        };
        match topics.last_mut() {
            Some(topic) if topic.topic_id == p.topic_id => topic.partitions.push(partition),
            _ => topics.push(FetchTopic {
                topic_id: p.topic_id,
                partitions: vec![partition],
                ..FetchTopic::default()
            }),
        }
    }
    topics
}

/// Pending acknowledgements as ShareAcknowledge's topics.
pub fn acknowledge_topics(pending: &[PartitionBatches]) -> Vec<AcknowledgeTopic> {
    let mut topics: Vec<AcknowledgeTopic> = Vec::new();
    for p in pending {
        let partition = AcknowledgePartition {
            partition_index: p.partition,
            acknowledgement_batches: p.batches.iter().map(AckBatch::to_acknowledge).collect(),
            ..AcknowledgePartition::default()
        };
        match topics.last_mut() {
            Some(topic) if topic.topic_id == p.topic_id => topic.partitions.push(partition),
            _ => topics.push(AcknowledgeTopic {
                topic_id: p.topic_id,
                partitions: vec![partition],
                ..AcknowledgeTopic::default()
            }),
        }
    }
    topics
}

/// Removes `first..=last` from a map of disjoint ranges, splitting ranges
/// at its edges; returns the pieces removed with their values.
fn carve<V: Copy>(map: &mut BTreeMap<i64, Span<V>>, first: i64, last: i64) -> Vec<(i64, i64, V)> {
    let mut removed = Vec::new();
    // The ranges that may overlap start at or before `last`; only the one
    // starting before `first` can reach in from the left.
    let start = map
        .range(..first)
        .next_back()
        .filter(|(_, h)| h.last >= first)
        .map_or(first, |(f, _)| *f);
    let keys: Vec<i64> = map.range(start..=last).map(|(f, _)| *f).collect();
    for key in keys {
        let Some(held) = map.remove(&key) else {
            continue;
        };
        if key < first {
            map.insert(
                key,
                Span {
                    last: first - 1,
                    ..held
                },
            );
        }
        if held.last > last {
            map.insert(last + 1, held);
        }
        removed.push((key.max(first), held.last.min(last), held.value));
    }
    removed
}

/// Builds wire batches from sorted, disjoint runs `(first, last, type)`.
fn coalesce(runs: impl Iterator<Item = (i64, i64, i8)>) -> Vec<AckBatch> {
    // Adjacent runs of one type are one run.
    let mut merged: Vec<(i64, i64, i8)> = Vec::new();
    for (first, last, kind) in runs {
        match merged.last_mut() {
            Some(prev) if prev.2 == kind && prev.1.checked_add(1) == Some(first) => prev.1 = last,
            _ => merged.push((first, last, kind)),
        }
    }
    let mut batches: Vec<AckBatch> = Vec::new();
    let mut mixed: Option<AckBatch> = None;
    for (first, last, kind) in merged {
        let len = last.abs_diff(first).saturating_add(1);
        let joins = mixed
            .as_ref()
            .is_some_and(|m| m.last_offset.checked_add(1) == Some(first));
        if len >= RUN_FOR_OWN_BATCH || !joins {
            batches.extend(mixed.take().map(collapse));
        }
        if len >= RUN_FOR_OWN_BATCH {
            batches.push(AckBatch {
                first_offset: first,
                last_offset: last,
                acknowledge_types: vec![kind],
            });
            continue;
        }
        let short = usize::try_from(len).unwrap_or(0);
        match &mut mixed {
            Some(batch) => {
                batch.last_offset = last;
                batch
                    .acknowledge_types
                    .extend(std::iter::repeat_n(kind, short));
            }
            None => {
                mixed = Some(AckBatch {
                    first_offset: first,
                    last_offset: last,
                    acknowledge_types: vec![kind; short],
                });
            }
        }
    }
    batches.extend(mixed.map(collapse));
    batches
}

/// A batch whose offsets all have one type carries it once.
fn collapse(mut batch: AckBatch) -> AckBatch {
    if let Some(first) = batch.acknowledge_types.first().copied()
        && batch.acknowledge_types.iter().all(|k| *k == first)
    {
        batch.acknowledge_types = vec![first];
    }
    batch
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const ACCEPT: i8 = 1;
    const RELEASE: i8 = 2;
    const REJECT: i8 = 3;
    const RENEW: i8 = 4;
    const T: Uuid = Uuid([7; 16]);
    const U: Uuid = Uuid([8; 16]);

    fn batch(first: i64, last: i64, types: &[i8]) -> AckBatch {
        AckBatch {
            first_offset: first,
            last_offset: last,
            acknowledge_types: types.to_vec(),
        }
    }

    /// What the broker reads from batches: a type per offset.
    fn expand(batches: &[AckBatch]) -> BTreeMap<i64, i8> {
        let mut out = BTreeMap::new();
        for b in batches {
            for (i, offset) in (b.first_offset..=b.last_offset).enumerate() {
                let kind = if b.acknowledge_types.len() == 1 {
                    b.acknowledge_types[0]
                } else {
                    b.acknowledge_types[i]
                };
                assert!(
                    out.insert(offset, kind).is_none(),
                    "{offset} twice: {batches:?}"
                );
            }
        }
        out
    }

    /// The wire's rules: ordered, disjoint, one type or one per offset.
    fn check_wire(batches: &[AckBatch]) {
        for b in batches {
            assert!(b.first_offset <= b.last_offset, "{b:?}");
            let len = u128::from(b.last_offset.abs_diff(b.first_offset)) + 1;
            let n = b.acknowledge_types.len();
            assert!(n == 1 || n as u128 == len, "{b:?}");
            if n > 1 {
                assert!(
                    b.acknowledge_types
                        .iter()
                        .any(|k| *k != b.acknowledge_types[0])
                );
            }
        }
        for pair in batches.windows(2) {
            assert!(pair[0].last_offset < pair[1].first_offset, "{batches:?}");
        }
    }

    #[test]
    fn one_type_is_sent_once_for_the_whole_range() {
        let mut acks = PartitionAcks::default();
        acks.acquire(0, 4, 1);
        for offset in 0..=4 {
            acks.deliver(offset);
        }
        acks.accept_delivered();
        assert_eq!(acks.take_batches(), vec![batch(0, 4, &[ACCEPT])]);
        assert!(acks.take_batches().is_empty(), "taken");
        assert!(acks.is_empty());
    }

    #[test]
    fn mixed_types_are_spelled_out_and_long_runs_get_their_own_batch() {
        let mut acks = PartitionAcks::default();
        acks.acquire(0, 40, 1);
        for offset in 0..=40 {
            acks.deliver(offset);
        }
        acks.acknowledge(2, AcknowledgeType::Reject).unwrap();
        acks.acknowledge(3, AcknowledgeType::Release).unwrap();
        acks.gap(5, 5);
        for offset in 20..=40 {
            acks.acknowledge(offset, AcknowledgeType::Reject).unwrap();
        }
        acks.accept_delivered();
        let batches = acks.take_batches();
        assert_eq!(
            batches,
            vec![
                batch(0, 5, &[ACCEPT, ACCEPT, REJECT, RELEASE, ACCEPT, GAP]),
                batch(6, 19, &[ACCEPT]),
                batch(20, 40, &[REJECT]),
            ]
        );
        check_wire(&batches);
    }

    #[test]
    fn separate_ranges_are_separate_batches() {
        let mut acks = PartitionAcks::default();
        acks.acquire(10, 11, 1);
        acks.acquire(20, 20, 3);
        assert_eq!(acks.deliver(10), Some(1));
        assert_eq!(acks.deliver(20), Some(3));
        assert_eq!(acks.deliver(15), None, "not acquired by this member");
        acks.accept_delivered();
        acks.release_unacknowledged();
        assert_eq!(
            acks.take_batches(),
            vec![batch(10, 11, &[ACCEPT, RELEASE]), batch(20, 20, &[ACCEPT])]
        );
    }

    #[test]
    fn only_delivered_records_can_be_acknowledged_and_only_once() {
        let mut acks = PartitionAcks::default();
        acks.acquire(0, 9, 1);
        assert_eq!(
            acks.acknowledge(3, AcknowledgeType::Accept),
            Err(AckError::NotDelivered(3))
        );
        acks.deliver(3);
        acks.acknowledge(3, AcknowledgeType::Accept).unwrap();
        assert_eq!(
            acks.acknowledge(3, AcknowledgeType::Reject),
            Err(AckError::NotDelivered(3))
        );
        assert_eq!(acks.deliver(3), None, "no longer held");
        assert_eq!(acks.acquired_ranges(), vec![(0, 2), (4, 9)]);
    }

    #[test]
    fn a_renewed_record_stays_held_and_its_final_acknowledgement_wins() {
        let mut acks = PartitionAcks::default();
        acks.acquire(0, 1, 2);
        acks.deliver(0);
        acks.deliver(1);
        acks.acknowledge(0, AcknowledgeType::Renew).unwrap();
        let batches = acks.take_batches();
        assert_eq!(batches, vec![batch(0, 0, &[RENEW])]);
        assert!(batches[0].renews());
        assert_eq!(acks.unacknowledged().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(acks.acquired_ranges(), vec![(0, 1)]);
        // Renewed again and accepted before sending: only the accept goes.
        acks.acknowledge(0, AcknowledgeType::Renew).unwrap();
        acks.acknowledge(0, AcknowledgeType::Accept).unwrap();
        acks.acknowledge(1, AcknowledgeType::Accept).unwrap();
        let batches = acks.take_batches();
        assert_eq!(batches, vec![batch(0, 1, &[ACCEPT])]);
        assert!(!batches[0].renews());
        assert!(acks.is_empty());
    }

    #[test]
    fn reacquired_offsets_take_the_new_delivery_count() {
        let mut acks = PartitionAcks::default();
        acks.acquire(0, 9, 1);
        acks.deliver(5);
        acks.acquire(4, 6, 2);
        assert_eq!(acks.delivery_count(3), Some(1));
        assert_eq!(acks.delivery_count(5), Some(2));
        assert_eq!(acks.delivery_count(7), Some(1));
        assert_eq!(acks.unacknowledged().count(), 0, "delivered again later");
        assert_eq!(acks.acquired_ranges(), vec![(0, 3), (4, 6), (7, 9)]);
        let mut acks = PartitionAcks::default();
        acks.acquire(5, 4, 1);
        assert!(acks.is_empty(), "an inverted range is ignored");
    }

    #[test]
    fn huge_ranges_from_a_broker_cost_no_memory() {
        let mut acks = PartitionAcks::default();
        acks.acquire(0, i64::MAX, 1);
        acks.acquire(i64::MIN, -1, 1);
        acks.deliver(i64::MAX);
        acks.gap(100, 1 << 40);
        acks.accept_delivered();
        acks.release_unacknowledged();
        let batches = acks.take_batches();
        check_wire(&batches);
        assert_eq!(
            batches,
            vec![
                batch(i64::MIN, 99, &[RELEASE]),
                batch(100, 1 << 40, &[GAP]),
                batch((1 << 40) + 1, i64::MAX - 1, &[RELEASE]),
                batch(i64::MAX, i64::MAX, &[ACCEPT]),
            ]
        );
    }

    #[test]
    fn implicit_mode_accepts_at_the_next_poll_and_refuses_explicit_acks() {
        let mut acks = ShareAcks::new(AcknowledgementMode::Implicit);
        let p = acks.partition(T, 0);
        p.acquire(0, 2, 1);
        p.deliver(0);
        p.deliver(1);
        assert_eq!(
            acks.acknowledge(T, 0, 0, AcknowledgeType::Reject),
            Err(AckError::ImplicitMode)
        );
        acks.on_poll().unwrap();
        let pending = acks.take_pending(|_, _| true);
        assert_eq!(
            pending,
            vec![PartitionBatches {
                topic_id: T,
                partition: 0,
                batches: vec![batch(0, 1, &[ACCEPT])]
            }]
        );
        // Closing releases what was acquired but never delivered.
        acks.close();
        let pending = acks.take_pending(|_, _| true);
        assert_eq!(pending[0].batches, vec![batch(2, 2, &[RELEASE])]);
        assert!(acks.get(T, 0).is_none(), "nothing left");
    }

    #[test]
    fn explicit_mode_refuses_a_poll_until_everything_is_acknowledged() {
        let mut acks = ShareAcks::new(AcknowledgementMode::Explicit);
        acks.partition(T, 0).acquire(0, 1, 1);
        acks.partition(U, 3).acquire(7, 7, 1);
        acks.partition(T, 0).deliver(0);
        acks.partition(T, 0).deliver(1);
        acks.partition(U, 3).deliver(7);
        assert_eq!(acks.on_poll(), Err(AckError::Unacknowledged(3)));
        acks.acknowledge(T, 0, 0, AcknowledgeType::Accept).unwrap();
        acks.acknowledge(T, 0, 1, AcknowledgeType::Release).unwrap();
        assert_eq!(
            acks.acknowledge(U, 4, 7, AcknowledgeType::Accept),
            Err(AckError::NotDelivered(7))
        );
        acks.acknowledge(U, 3, 7, AcknowledgeType::Reject).unwrap();
        acks.on_poll().unwrap();

        // One broker leads T-0 only.
        let pending = acks.take_pending(|id, _| id == T);
        assert!(!renews(&pending));
        let topics = fetch_topics(&pending);
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partitions[0].partition_index, 0);
        assert_eq!(
            topics[0].partitions[0].acknowledgement_batches[0].acknowledge_types,
            vec![ACCEPT, RELEASE]
        );
        let pending = acks.take_pending(|_, _| true);
        let topics = acknowledge_topics(&pending);
        assert_eq!(topics[0].topic_id, U);
        assert_eq!(topics[0].partitions[0].partition_index, 3);
        assert_eq!(
            topics[0].partitions[0].acknowledgement_batches[0].first_offset,
            7
        );
    }

    #[test]
    fn revoking_releases_what_the_application_did_not_acknowledge() {
        let mut acks = ShareAcks::new(AcknowledgementMode::Explicit);
        let p = acks.partition(T, 1);
        p.acquire(0, 3, 1);
        p.deliver(0);
        p.deliver(1);
        p.acknowledge(0, AcknowledgeType::Accept).unwrap();
        let mut last = acks.revoke(T, 1).unwrap();
        assert_eq!(
            last.take_batches(),
            vec![batch(0, 3, &[ACCEPT, RELEASE, RELEASE, RELEASE])]
        );
        assert!(acks.revoke(T, 1).is_none());
        assert_eq!(
            acks.acknowledge(T, 1, 1, AcknowledgeType::Accept),
            Err(AckError::NotDelivered(1))
        );
    }

    #[test]
    fn wire_ids_round_trip() {
        for kind in [
            AcknowledgeType::Accept,
            AcknowledgeType::Release,
            AcknowledgeType::Reject,
            AcknowledgeType::Renew,
        ] {
            assert_eq!(AcknowledgeType::from_id(kind.id()), Some(kind));
        }
        assert_eq!(AcknowledgeType::from_id(GAP), None);
        assert_eq!(AcknowledgeType::from_id(5), None);
        let b = batch(3, 4, &[ACCEPT, RENEW]);
        assert_eq!(
            b.to_fetch().acknowledge_types,
            b.to_acknowledge().acknowledge_types
        );
        assert!(b.renews());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Acquire(i64, i64, i16),
        Deliver(i64),
        Gap(i64, i64),
        Ack(i64, AcknowledgeType),
        AcceptDelivered,
        ReleaseAll,
        Forget,
        Take,
    }

    fn kind() -> impl Strategy<Value = AcknowledgeType> {
        prop_oneof![
            Just(AcknowledgeType::Accept),
            Just(AcknowledgeType::Release),
            Just(AcknowledgeType::Reject),
            Just(AcknowledgeType::Renew),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let offset = 0i64..48;
        prop_oneof![
            3 => (0i64..48, 0i64..16, 1i16..5).prop_map(|(f, n, c)| Op::Acquire(f, f + n, c)),
            6 => offset.clone().prop_map(Op::Deliver),
            1 => (0i64..48, 0i64..4).prop_map(|(f, n)| Op::Gap(f, f + n)),
            6 => (offset, kind()).prop_map(|(o, k)| Op::Ack(o, k)),
            1 => Just(Op::AcceptDelivered),
            1 => Just(Op::ReleaseAll),
            1 => Just(Op::Forget),
            2 => Just(Op::Take),
        ]
    }

    /// Offset by offset, what `PartitionAcks` keeps in ranges.
    #[derive(Default)]
    struct Model {
        /// Held offsets: delivery count, delivered.
        held: BTreeMap<i64, (i16, bool)>,
        pending: BTreeMap<i64, i8>,
    }

    proptest! {
        /// Any sequence of fetches, deliveries and acknowledgements: the
        /// batches taken say exactly what the model says is pending, in the
        /// wire's form, and what is held and unacknowledged matches.
        #[test]
        fn batches_carry_exactly_the_pending_acknowledgements(ops in prop::collection::vec(op(), 0..120)) {
            let mut acks = PartitionAcks::default();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Acquire(f, l, c) => {
                        acks.acquire(f, l, c);
                        for o in f..=l {
                            model.held.insert(o, (c, false));
                        }
                    }
                    Op::Deliver(o) => {
                        let expected = model.held.get_mut(&o).map(|(c, d)| {
                            *d = true;
                            *c
                        });
                        prop_assert_eq!(acks.deliver(o), expected);
                    }
                    Op::Gap(f, l) => {
                        acks.gap(f, l);
                        for o in f..=l {
                            if model.held.remove(&o).is_some() {
                                model.pending.insert(o, GAP);
                            }
                        }
                    }
                    Op::Ack(o, k) => {
                        let delivered = model.held.get(&o).is_some_and(|(_, d)| *d);
                        let result = acks.acknowledge(o, k);
                        if delivered {
                            prop_assert_eq!(result, Ok(()));
                            if k != AcknowledgeType::Renew {
                                model.held.remove(&o);
                            }
                            model.pending.insert(o, k.id());
                        } else {
                            prop_assert_eq!(result, Err(AckError::NotDelivered(o)));
                        }
                    }
                    Op::AcceptDelivered => {
                        acks.accept_delivered();
                        let seen: Vec<i64> =
                            model.held.iter().filter(|(_, (_, d))| *d).map(|(o, _)| *o).collect();
                        for o in seen {
                            model.held.remove(&o);
                            model.pending.insert(o, ACCEPT);
                        }
                    }
                    Op::ReleaseAll => {
                        acks.release_unacknowledged();
                        for (o, _) in std::mem::take(&mut model.held) {
                            model.pending.insert(o, RELEASE);
                        }
                    }
                    Op::Forget => {
                        acks.forget_acquired();
                        model.held.clear();
                    }
                    Op::Take => {
                        let batches = acks.take_batches();
                        check_wire(&batches);
                        prop_assert_eq!(expand(&batches), std::mem::take(&mut model.pending));
                    }
                }
                let held: Vec<i64> = acks
                    .acquired_ranges()
                    .into_iter()
                    .flat_map(|(f, l)| f..=l)
                    .collect();
                prop_assert_eq!(held, model.held.keys().copied().collect::<Vec<_>>());
                prop_assert_eq!(
                    acks.unacknowledged().collect::<Vec<_>>(),
                    model.held.iter().filter(|(_, (_, d))| *d).map(|(o, _)| *o).collect::<Vec<_>>()
                );
                prop_assert_eq!(acks.has_pending(), !model.pending.is_empty());
            }
            let batches = acks.take_batches();
            check_wire(&batches);
            prop_assert_eq!(expand(&batches), model.pending);
        }

        /// Any offsets with any types coalesce into batches that expand back
        /// to them, in no more batches than there are separate ranges plus
        /// long runs.
        #[test]
        fn coalescing_round_trips(entries in prop::collection::btree_map(0i64..200, 0i8..5, 0..150)) {
            let runs = entries.iter().map(|(o, k)| (*o, *o, *k));
            let batches = coalesce(runs);
            check_wire(&batches);
            prop_assert_eq!(expand(&batches), entries.clone());
            let mut ranges = 0;
            let mut prev: Option<i64> = None;
            for o in entries.keys() {
                if prev.is_none_or(|p| p + 1 != *o) {
                    ranges += 1;
                }
                prev = Some(*o);
            }
            prop_assert!(batches.len() >= ranges);
            prop_assert!(batches.len() <= 2 * ranges + entries.len() / usize::try_from(RUN_FOR_OWN_BATCH).unwrap());
        }
    }
}
