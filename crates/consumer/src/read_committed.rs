//! `isolation_level=read_committed`: records of aborted transactions and
//! control batches never reach the application. The fetch response lists
//! the aborted transactions overlapping the returned data (producer id and
//! first offset); a transaction is aborted from its first offset until its
//! producer's ABORT marker, as in the Java client's fetcher.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use ferrokafka_records::{Batch, ControlRecordType};

/// An entry of a fetch response's aborted-transactions list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AbortedTransaction {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// The transaction's first offset in this partition.
    pub first_offset: i64,
}

/// Decides, batch by batch in offset order, what a read-committed consumer sees.
#[derive(Debug, Default)]
pub struct TransactionFilter {
    upcoming: BinaryHeap<Reverse<(i64, i64)>>,
    aborting: HashSet<i64>,
}

impl TransactionFilter {
    /// A filter for one partition's fetched data.
    pub fn new(aborted: impl IntoIterator<Item = AbortedTransaction>) -> Self {
        TransactionFilter {
            upcoming: aborted
                .into_iter()
                .map(|a| Reverse((a.first_offset, a.producer_id)))
                .collect(),
            aborting: HashSet::new(),
        }
    }

    /// Whether `batch`'s records go to the application. Call it for every
    /// batch, in offset order: control batches update the state (and are
    /// never delivered).
    pub fn accept(&mut self, batch: &Batch) -> bool {
        let Batch::V2(v2) = batch else {
            // Message sets before magic 2 have no transactions.
            return true;
        };
        let header = v2.header();
        let last_offset = batch.last_offset();
        while let Some(Reverse((first_offset, producer_id))) = self.upcoming.peek().copied() {
            if first_offset > last_offset {
                break;
            }
            self.upcoming.pop();
            self.aborting.insert(producer_id);
        }
        if v2.is_control() {
            if let Some(Ok(control)) = v2.control_record()
                && control.kind == ControlRecordType::Abort
            {
                self.aborting.remove(&header.producer_id);
            }
            return false;
        }
        !(header.attributes.is_transactional() && self.aborting.contains(&header.producer_id))
    }
}
