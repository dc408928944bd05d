//! Choosing a partition for a record: keys hash with murmur2 exactly as the
//! Java client and kafka-python do; keyless records stick to one partition
//! until a batch's worth of bytes went there (KIP-480, KIP-794).

/// What a partitioner knows of a topic when it chooses.
#[derive(Debug, Clone, Copy)]
pub struct TopicPartitions<'a> {
    /// The topic's name.
    pub topic: &'a str,
    /// How many partitions it has.
    pub count: i32,
    /// The partitions whose leader is known and that are not refusing
    /// writes for now (their last batch answered NOT_LEADER_OR_FOLLOWER or
    /// kin, as a broker answers while it brings a new topic up), in
    /// ascending order: keyless records go only there, so they do not wait
    /// for a leader election or queue behind retries.
    pub available: &'a [i32],
}

/// Chooses partitions. Implement it to plug in your own.
pub trait Partitioner: Send {
    /// The partition for a record with `key` (serialized) of
    /// `record_bytes` bytes.
    fn partition(
        &mut self,
        key: Option<&[u8]>,
        record_bytes: usize,
        topic: TopicPartitions<'_>,
    ) -> i32;
}

/// Kafka's murmur2 variant (seed `0x9747b28c`), as the Java client's
/// `Utils.murmur2`.
///
/// ```
/// use ferrokafka_producer::partitioner::murmur2;
/// assert_eq!(murmur2(b""), 275_646_681);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client gives `key` among `count` partitions.
///
/// ```
/// use ferrokafka_producer::partitioner::partition_for_key;
/// assert_eq!(partition_for_key(b"123456789", 1000), 566);
/// ```
pub fn partition_for_key(key: &[u8], count: i32) -> i32 {
    // `toPositive` masks the sign bit rather than taking the absolute value.
    (murmur2(key) & 0x7fff_ffff) % count.max(1)
}

/// A small, fast, seedable random source (xorshift64*), so partitioning is
/// reproducible in tests and needs no global randomness.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from `seed` (zero is replaced, xorshift needs a set bit).
    pub fn new(seed: u64) -> Self {
        Xorshift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next number below `bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (value % bound as u64) as usize
    }

    /// The next number in `[0, 1)`, in steps of 2^-20 (enough for jitter).
    pub fn unit(&mut self) -> f64 {
        const STEPS: u32 = 1 << 20;
        let step = u32::try_from(self.below(STEPS as usize)).unwrap_or(0);
        f64::from(step) / f64::from(STEPS)
    }
}

/// The Java client's built-in partitioner: murmur2 for keyed records; for
/// keyless ones, one partition until `batch_size` bytes went to it, then
/// another chosen at random among the available ones.
#[derive(Debug, Clone)]
pub struct DefaultPartitioner {
    batch_size: usize,
    sticky: rustc_hash::FxHashMap<String, Sticky>,
    random: Xorshift,
}

#[derive(Debug, Clone, Copy)]
struct Sticky {
    partition: i32,
    bytes: usize,
}

impl DefaultPartitioner {
    /// A partitioner switching keyless partitions every `batch_size` bytes.
    pub fn new(batch_size: usize, seed: u64) -> Self {
        DefaultPartitioner {
            batch_size: batch_size.max(1),
            sticky: rustc_hash::FxHashMap::default(),
            random: Xorshift::new(seed),
        }
    }

    fn pick(&mut self, topic: TopicPartitions<'_>, avoid: Option<i32>) -> i32 {
        let candidates = if topic.available.is_empty() {
            // No leader known anywhere: spread over all and let the
            // accumulator wait for metadata.
            (0..topic.count).collect::<Vec<_>>()
        } else {
            topic.available.to_vec()
        };
        let choices: Vec<i32> = match avoid {
            Some(current) if candidates.len() > 1 => {
                candidates.into_iter().filter(|&p| p != current).collect()
            }
            _ => candidates,
        };
        choices[self.random.below(choices.len())]
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &mut self,
        key: Option<&[u8]>,
        record_bytes: usize,
        topic: TopicPartitions<'_>,
    ) -> i32 {
        if let Some(key) = key {
            return partition_for_key(key, topic.count);
        }
        let batch_size = self.batch_size;
        // Every partition available (the usual case) needs no search of
        // the list: at thousands of partitions, a search per record cost
        // more than the rest of the choice.
        let all_available = topic.available.is_empty()
            || usize::try_from(topic.count).is_ok_and(|count| topic.available.len() >= count);
        let keep = |s: &Sticky| {
            s.bytes < batch_size
                && s.partition < topic.count
                && (all_available || topic.available.binary_search(&s.partition).is_ok())
        };
        // Most records stay where the last one went: one lookup.
        if let Some(current) = self.sticky.get_mut(topic.topic)
            && keep(current)
        {
            current.bytes += record_bytes;
            return current.partition;
        }
        let current = self.sticky.get(topic.topic).copied();
        let mut state = Sticky {
            partition: self.pick(topic, current.map(|s| s.partition)),
            bytes: 0,
        };
        state.bytes += record_bytes;
        // The topic's name is copied only the first time it is seen.
        match self.sticky.get_mut(topic.topic) {
            Some(kept) => *kept = state,
            None => {
                self.sticky.insert(topic.topic.to_string(), state);
            }
        }
        state.partition
    }
}

/// Every record to the next available partition in turn, keyed or not.
#[derive(Debug, Clone, Default)]
pub struct RoundRobinPartitioner {
    next: rustc_hash::FxHashMap<String, usize>,
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &mut self,
        _key: Option<&[u8]>,
        _record_bytes: usize,
        topic: TopicPartitions<'_>,
    ) -> i32 {
        if !self.next.contains_key(topic.topic) {
            self.next.insert(topic.topic.to_string(), 0);
        }
        let counter = self
            .next
            .get_mut(topic.topic)
            .expect("the topic's counter was just ensured");
        let turn = *counter;
        *counter = counter.wrapping_add(1);
        if topic.available.is_empty() {
            (turn % topic.count.max(1) as usize) as i32
        } else {
            topic.available[turn % topic.available.len()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(count: i32, available: &[i32]) -> TopicPartitions<'_> {
        TopicPartitions {
            topic: "t",
            count,
            available,
        }
    }

    #[test]
    fn keyless_records_stick_for_a_batch_then_move() {
        let all: Vec<i32> = (0..6).collect();
        let mut partitioner = DefaultPartitioner::new(1000, 7);
        let first = partitioner.partition(None, 100, topic(6, &all));
        for _ in 0..9 {
            assert_eq!(partitioner.partition(None, 100, topic(6, &all)), first);
        }
        let next = partitioner.partition(None, 100, topic(6, &all));
        assert_ne!(next, first, "switches after batch_size bytes");
    }

    #[test]
    fn keyless_records_reach_every_partition_over_time() {
        let all: Vec<i32> = (0..8).collect();
        let mut partitioner = DefaultPartitioner::new(500, 1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(partitioner.partition(None, 100, topic(8, &all)));
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn keyless_records_avoid_partitions_without_a_leader() {
        let mut partitioner = DefaultPartitioner::new(10, 3);
        for _ in 0..200 {
            let p = partitioner.partition(None, 10, topic(4, &[1, 3]));
            assert!(p == 1 || p == 3, "{p}");
        }
    }

    #[test]
    fn keyed_records_ignore_availability() {
        let mut partitioner = DefaultPartitioner::new(10, 3);
        assert_eq!(
            partitioner.partition(Some(b"abc"), 10, topic(1000, &[1])),
            107
        );
    }

    #[test]
    fn round_robin_cycles_over_available_partitions() {
        let mut partitioner = RoundRobinPartitioner::default();
        let chosen: Vec<i32> = (0..5)
            .map(|_| partitioner.partition(Some(b"k"), 1, topic(4, &[0, 2, 3])))
            .collect();
        assert_eq!(chosen, [0, 2, 3, 0, 2]);
    }
}
