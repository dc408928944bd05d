//! The one name for "a partition of a topic" that every client crate shares.
//!
//! It is hand-written (not generated): the schemas name partitions field by
//! field, this is the client-side key the producer, consumer, group and admin
//! crates put in their maps.

use std::fmt;
use std::sync::Arc;

/// A topic and one of its partitions.
///
/// The topic is an `Arc<str>`, so a clone (done for every batch, fetch and
/// offset) is a reference-count increment, not a string copy.
///
/// ```
/// use ferrokafka_protocol::TopicPartition;
///
/// let tp = TopicPartition::new("orders", 3);
/// assert_eq!(tp.topic(), "orders");
/// assert_eq!(tp.to_string(), "orders-3");
/// assert!(TopicPartition::new("orders", 2) < tp);
/// ```
#[derive(Debug, Clone)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`. `topic` is any string form
    /// ([`TopicName`]); an `Arc<str>` is shared, not copied.
    pub fn new(topic: impl TopicName, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into_topic(),
            partition,
        }
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

// Compared by name, as a derive would, but two partitions sharing one
// name (as a producer's or consumer's maps do) skip the string compare.
impl PartialEq for TopicPartition {
    fn eq(&self, other: &Self) -> bool {
        self.partition == other.partition
            && (Arc::ptr_eq(&self.topic, &other.topic) || self.topic == other.topic)
    }
}

impl Eq for TopicPartition {}

impl std::hash::Hash for TopicPartition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.topic.hash(state);
        self.partition.hash(state);
    }
}

impl Ord for TopicPartition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.topic, &other.topic) {
            self.partition.cmp(&other.partition)
        } else {
            (&self.topic, self.partition).cmp(&(&other.topic, other.partition))
        }
    }
}

impl PartialOrd for TopicPartition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for TopicPartition {
    /// `topic-partition`, as Kafka's tools print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A string form a topic name is taken from: `&str`, `String`, `&String`,
/// `Arc<str>` (shared, not copied), `&Arc<str>`, `Box<str>`.
pub trait TopicName {
    /// The name as the shared string [`TopicPartition`] keeps.
    fn into_topic(self) -> Arc<str>;
}

impl TopicName for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl TopicName for Box<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl TopicName for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::clone(self)
    }
}

impl<T: TopicName> From<(T, i32)> for TopicPartition {
    fn from((topic, partition): (T, i32)) -> Self {
        TopicPartition::new(topic, partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn orders_by_topic_then_partition() {
        let mut tps = [
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 10),
            TopicPartition::new("a", 2),
        ];
        tps.sort();
        let shown: Vec<String> = tps.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a-2", "a-10", "b-0"]);
    }

    #[test]
    fn clones_share_the_topic_and_hash_equal() {
        let tp = TopicPartition::new(String::from("t"), 1);
        let copy = tp.clone();
        assert!(Arc::ptr_eq(&tp.topic, &copy.topic));
        let shared = TopicPartition::new(&tp.topic, 1);
        assert!(Arc::ptr_eq(&tp.topic, &shared.topic));
        let name = String::from("t");
        let set: HashSet<_> = [
            tp,
            copy,
            shared,
            TopicPartition::new(&name, 1),
            TopicPartition::from(("t", 1)),
        ]
        .into();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn a_shared_name_compares_as_its_text_does() {
        let a: Arc<str> = Arc::from("a");
        let shared = [TopicPartition::new(&a, 2), TopicPartition::new(&a, 10)];
        let apart = [TopicPartition::new("a", 2), TopicPartition::new("a", 10)];
        for (x, y) in shared.iter().zip(&apart) {
            assert_eq!(x, y);
            assert_eq!(x.cmp(y), std::cmp::Ordering::Equal);
        }
        assert!(shared[0] < shared[1] && shared[0] < apart[1] && apart[0] < shared[1]);
        assert!(shared[1] < TopicPartition::new("b", 0));
        assert_ne!(shared[0], shared[1]);
    }
}
