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
