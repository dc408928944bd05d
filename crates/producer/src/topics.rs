//! What `send` keeps of each topic's metadata between sends: read again
//! only after a metadata update, and found without hashing when a send
//! goes to the same topic as the one before it (the common case, at every
//! record).

use std::sync::Arc;

use ferrokafka_protocol::TopicPartition;
use ferrokafka_transport::Client;
use rustc_hash::FxHashMap;

/// A topic as `send` sees it: its name shared by every batch, its partition
/// count and the partitions with a leader, as of one metadata update.
pub(crate) struct TopicEntry {
    pub(crate) name: Arc<str>,
    pub(crate) count: usize,
    pub(crate) available: Vec<i32>,
    /// Each partition's key, lent to the accumulator by every send: making
    /// one per record would touch the name's shared count twice a record,
    /// a cache line the sender thread touches too.
    partitions: Vec<TopicPartition>,
    /// The client's metadata updates when the entry was read.
    as_of: u64,
}

impl TopicEntry {
    /// The key of `partition`, which is below `count`.
    pub(crate) fn partition(&self, partition: i32) -> Option<&TopicPartition> {
        self.partitions.get(usize::try_from(partition).ok()?)
    }
}

/// The topics `send` has met.
#[derive(Default)]
pub(crate) struct Topics {
    entries: Vec<TopicEntry>,
    index: FxHashMap<Arc<str>, usize>,
    /// The entry the last send found.
    last: usize,
}

impl Topics {
    /// The index of `topic`'s entry, if there is one.
    fn find(&mut self, topic: &str) -> Option<usize> {
        if self
            .entries
            .get(self.last)
            .is_some_and(|e| &*e.name == topic)
        {
            return Some(self.last);
        }
        let found = *self.index.get(topic)?;
        self.last = found;
        Some(found)
    }

    fn remove(&mut self, at: usize) {
        let removed = self.entries.swap_remove(at);
        self.index.remove(&removed.name);
        if let Some(moved) = self.entries.get(at) {
            self.index.insert(Arc::clone(&moved.name), at);
        }
        self.last = 0;
    }

    /// `topic`'s entry, brought up to date with the client's metadata;
    /// `None` while the metadata does not know the topic.
    pub(crate) fn get(&mut self, client: &Client, topic: &str) -> Option<&TopicEntry> {
        let found = self.find(topic);
        // Read before the view: an update in between is then seen next time.
        let as_of = client.metadata_updates();
        if let Some(at) = found
            && self.entries[at].as_of == as_of
        {
            // Nothing changed since the entry was made: no lock taken.
            return Some(&self.entries[at]);
        }
        let fresh = client.view(|v| {
            let view = v.topic(topic)?;
            Some((view.partitions.len(), v.available_partitions(topic)))
        });
        match fresh {
            None => {
                // The metadata no longer knows it.
                if let Some(at) = found {
                    self.remove(at);
                }
                None
            }
            Some((count, available)) => {
                let at = found.unwrap_or_else(|| {
                    let name: Arc<str> = Arc::from(topic);
                    self.entries.push(TopicEntry {
                        name: Arc::clone(&name),
                        count,
                        available: Vec::new(),
                        partitions: Vec::new(),
                        as_of,
                    });
                    let at = self.entries.len() - 1;
                    self.index.insert(name, at);
                    self.last = at;
                    at
                });
                let entry = &mut self.entries[at];
                let name = &entry.name;
                entry.partitions.truncate(count);
                let known = entry.partitions.len();
                entry.partitions.extend(
                    (known..count)
                        .map(|p| TopicPartition::new(name, i32::try_from(p).unwrap_or(i32::MAX))),
                );
                entry.count = count;
                entry.available = available;
                entry.as_of = as_of;
                Some(entry)
            }
        }
    }
}
