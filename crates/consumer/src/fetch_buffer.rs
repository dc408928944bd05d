//! The completed fetches waiting to be handed out, in the order they came,
//! with what is buffered of each partition kept at hand: the fetcher asks
//! that of every fetchable partition on every poll, and walking the whole
//! buffer for each of thousands of partitions made a poll cost the square
//! of the partitions read.

use std::collections::{HashMap, VecDeque};

use ferrokafka_group::assignor::TopicPartition;

use crate::fetch::Fetched;
use crate::positions::Position;

/// What is buffered of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ahead {
    /// How many fetches of it are buffered.
    pub(crate) fetches: usize,
    /// Where the last of them ends.
    pub(crate) next: Position,
}

/// Completed fetches, handed out in order.
#[derive(Debug, Default)]
pub(crate) struct FetchBuffer {
    fetches: VecDeque<Fetched>,
    ahead: HashMap<TopicPartition, Ahead>,
    /// The `bytes` of the fetches held.
    bytes: usize,
    /// How many fetches were ever added: changes whenever data comes in.
    added: u64,
}

impl FetchBuffer {
    /// Adds a fetch at the back.
    pub(crate) fn push_back(&mut self, fetched: Fetched) {
        self.bytes += fetched.bytes;
        self.added += 1;
        self.ahead
            .entry(fetched.partition.clone())
            .and_modify(|a| {
                a.fetches += 1;
                a.next = fetched.next;
            })
            .or_insert(Ahead {
                fetches: 1,
                next: fetched.next,
            });
        self.fetches.push_back(fetched);
    }

    /// Drops the fetch at the front.
    pub(crate) fn pop_front(&mut self) {
        let Some(done) = self.fetches.pop_front() else {
            return;
        };
        self.bytes = self.bytes.saturating_sub(done.bytes);
        if let Some(ahead) = self.ahead.get_mut(&done.partition) {
            ahead.fetches -= 1;
            if ahead.fetches == 0 {
                self.ahead.remove(&done.partition);
            }
        }
    }

    /// The fetch at the front, to take records from.
    pub(crate) fn front_mut(&mut self) -> Option<&mut Fetched> {
        self.fetches.front_mut()
    }

    /// Keeps only the fetches `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&Fetched) -> bool) {
        self.fetches.retain(keep);
        let fetches = std::mem::take(&mut self.fetches);
        self.clear();
        for fetched in fetches {
            self.push_back(fetched);
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.fetches.clear();
        self.ahead.clear();
        self.bytes = 0;
    }

    /// Whether nothing is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.fetches.is_empty()
    }

    /// How many fetches were ever added (only an addition changes it).
    pub(crate) fn added(&self) -> u64 {
        self.added
    }

    /// How many fetches are buffered.
    pub(crate) fn len(&self) -> usize {
        self.fetches.len()
    }

    /// The fetches, front first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Fetched> {
        self.fetches.iter()
    }

    /// The `bytes` of the fetches held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// What is buffered of `partition`, if anything.
    pub(crate) fn ahead(&self, partition: &TopicPartition) -> Option<Ahead> {
        self.ahead.get(partition).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(partition: i32, from: i64, to: i64, bytes: usize) -> Fetched {
        Fetched {
            partition: TopicPartition::new("t".to_string(), partition),
            position: from,
            batches: VecDeque::new(),
            records: 0,
            next: Position {
                offset: to,
                leader_epoch: None,
            },
            bytes,
        }
    }

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition::new("t".to_string(), partition)
    }

    fn at(buffer: &FetchBuffer, partition: i32) -> Option<(usize, i64)> {
        buffer
            .ahead(&tp(partition))
            .map(|a| (a.fetches, a.next.offset))
    }

    #[test]
    fn follows_pushes_pops_and_filters() {
        let mut buffer = FetchBuffer::default();
        buffer.push_back(fetched(0, 0, 3, 10));
        buffer.push_back(fetched(1, 0, 2, 20));
        buffer.push_back(fetched(0, 3, 5, 30));
        assert_eq!(at(&buffer, 0), Some((2, 5)));
        assert_eq!(at(&buffer, 1), Some((1, 2)));
        assert_eq!(at(&buffer, 2), None);
        assert_eq!(buffer.bytes(), 60);

        // The front fetch of partition 0 goes: the one behind it still ends at 5.
        buffer.pop_front();
        assert_eq!(at(&buffer, 0), Some((1, 5)));
        assert_eq!(buffer.bytes(), 50);

        buffer.retain(|f| f.partition.partition != 1);
        assert_eq!(at(&buffer, 1), None);
        assert_eq!(at(&buffer, 0), Some((1, 5)));
        assert_eq!((buffer.len(), buffer.bytes()), (1, 30));

        buffer.pop_front();
        assert_eq!(at(&buffer, 0), None);
        assert!(buffer.is_empty());
        assert_eq!(buffer.bytes(), 0);

        buffer.push_back(fetched(3, 0, 1, 5));
        buffer.clear();
        assert_eq!((at(&buffer, 3), buffer.bytes()), (None, 0));
        // Popping an empty buffer is harmless.
        buffer.pop_front();
    }
}
