//! The rebalance listener (the Java client's `ConsumerRebalanceListener`)
//! and what it may do to the consumer while it runs.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use ferrokafka_group::assignor::TopicPartition;

use crate::error::ConsumeError;
use crate::offsets::OffsetAndMetadata;
use crate::positions::Positions;

/// Called when the group moves partitions, from inside `poll` (and from
/// `close` / `unsubscribe` for the partitions still owned).
///
/// Revocations wait for this: `on_partitions_revoked` runs while the
/// partitions are still this member's, so offsets committed through the
/// [`RebalanceContext`] there are where the next owner starts. (The
/// membership task waits for the application's next `poll` at most half
/// the session timeout, and 20 s with `group_protocol=consumer`; a later
/// `poll` still runs the listener, after the partitions were given up.)
///
/// ```
/// use std::collections::BTreeMap;
/// use ferrokafka_consumer::offsets::OffsetAndMetadata;
/// use ferrokafka_consumer::{RebalanceContext, RebalanceListener, TopicPartition};
///
/// /// Commits what the application finished before partitions move away.
/// struct CommitProcessed {
///     processed: BTreeMap<TopicPartition, i64>,
/// }
///
/// impl RebalanceListener for CommitProcessed {
///     fn on_partitions_revoked(
///         &mut self,
///         consumer: &mut RebalanceContext<'_>,
///         partitions: &[TopicPartition],
///     ) {
///         for tp in partitions {
///             if let Some(last) = self.processed.remove(tp) {
///                 consumer.commit(tp.clone(), OffsetAndMetadata::new(last + 1));
///             }
///         }
///     }
/// }
/// ```
pub trait RebalanceListener: Send {
    /// These partitions are being taken away; offsets committed through
    /// `consumer` are committed before they are given up (after the
    /// auto-commit, when that is on).
    fn on_partitions_revoked(
        &mut self,
        _consumer: &mut RebalanceContext<'_>,
        _partitions: &[TopicPartition],
    ) {
    }

    /// These partitions are now this consumer's; a seek through `consumer`
    /// sets where fetching starts.
    fn on_partitions_assigned(
        &mut self,
        _consumer: &mut RebalanceContext<'_>,
        _partitions: &[TopicPartition],
    ) {
    }

    /// These partitions were lost without a clean hand-over: another member
    /// may own them already, so commits made here are dropped.
    fn on_partitions_lost(
        &mut self,
        consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.on_partitions_revoked(consumer, partitions);
    }
}

/// The consumer as a [`RebalanceListener`] sees it: positions, commits
/// (made when the callback returns, before the rebalance goes on) and
/// seeks. The listener cannot call the [`Consumer`](crate::Consumer)
/// itself: `poll` is running it.
pub struct RebalanceContext<'a> {
    positions: &'a Mutex<Positions<TopicPartition>>,
    commits: BTreeMap<TopicPartition, OffsetAndMetadata>,
    seeked: Vec<TopicPartition>,
}

impl<'a> RebalanceContext<'a> {
    pub(crate) fn new(positions: &'a Mutex<Positions<TopicPartition>>) -> Self {
        RebalanceContext {
            positions,
            commits: BTreeMap::new(),
            seeked: Vec::new(),
        }
    }

    fn positions(&self) -> MutexGuard<'_, Positions<TopicPartition>> {
        // Nothing panics while holding this lock mid-update.
        self.positions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The offset of the next record `poll` would hand out from this
    /// partition, if it is known (an assigned partition gets one after its
    /// committed offset is looked up).
    pub fn position(&self, partition: &TopicPartition) -> Option<i64> {
        self.positions()
            .position(partition)
            .ok()
            .flatten()
            .map(|p| p.offset)
    }

    /// Commits `offset` for `partition` (the offset of the next record to
    /// read, as with [`Consumer::commit_offsets`](crate::Consumer::commit_offsets))
    /// when the callback returns; a failed commit is `poll`'s error.
    pub fn commit(&mut self, partition: TopicPartition, offset: OffsetAndMetadata) {
        self.commits.insert(partition, offset);
    }

    /// Commits the current positions of these partitions (what `poll` has
    /// handed out of them) when the callback returns.
    pub fn commit_positions(&mut self, partitions: &[TopicPartition]) {
        let found = crate::offsets::of_positions(&self.positions(), partitions);
        self.commits.extend(found);
    }

    /// Fetches `partition` from `offset` next (an assigned partition).
    pub fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<(), ConsumeError> {
        self.positions().seek(partition, offset, None)?;
        self.seeked.push(partition.clone());
        Ok(())
    }

    /// The commits asked for and the partitions seeked.
    pub(crate) fn finish(
        self,
    ) -> (
        BTreeMap<TopicPartition, OffsetAndMetadata>,
        Vec<TopicPartition>,
    ) {
        (self.commits, self.seeked)
    }
}
