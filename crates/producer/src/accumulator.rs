//! The record accumulator, sans-I/O: records are appended into per-partition
//! batches encoded in place; the sender asks which partitions are ready
//! (a full batch, `linger_ms` passed, a flush), drains one batch per
//! partition into a request, and reports each batch's outcome. Memory is
//! bounded by `buffer_memory`: an append that would exceed it is refused, so
//! the caller waits (up to `max_block_ms`) for completed batches to free room.
//!
//! Partitions are any ordered key (`P`) and completions any value (`C`, say a
//! channel to the waiting future), so the accumulator knows neither
//! metadata nor tokio.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_protocol::RecordSet;
use ferrokafka_records::{
    BATCH_HEADER_LEN, BatchHeader, Compression, Crc32c, HeaderRef, RecordBatchBuilder, RecordsError,
};
use ferrokafka_transport::backoff::exponential;

use crate::partitioner::Xorshift;

/// Completion lists kept for new batches at most.
const SPARE_COMPLETION_LISTS: usize = 64;

/// The accumulator's settings, named after the producer's keys.
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    /// `batch_size`: bytes of records per batch before it is sent.
    pub batch_size: usize,
    /// `linger_ms`: how long a batch that is not full may wait for more records.
    pub linger: Duration,
    /// `buffer_memory`: bytes all unsent batches may hold.
    pub buffer_memory: usize,
    /// `max_request_size`: no single record may be larger.
    pub max_request_size: usize,
    /// `compression_type`.
    pub compression: Compression,
    /// The codec's level, `None` for its default.
    pub compression_level: Option<i32>,
    /// `delivery_timeout_ms`: a record not acknowledged by then fails.
    pub delivery_timeout: Duration,
    /// `retry_backoff_ms`: a batch's first retry waits this long.
    pub retry_backoff: Duration,
    /// `retry_backoff_max_ms`: each further retry of a batch waits twice
    /// as long, jittered, up to this (KIP-580).
    pub retry_backoff_max: Duration,
    /// Whether batches are marked transactional (`transactional_id` set).
    pub transactional: bool,
}

impl Default for AccumulatorConfig {
    fn default() -> Self {
        AccumulatorConfig {
            batch_size: 16 * 1024,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            compression_level: None,
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            transactional: false,
        }
    }
}

/// What [`Accumulator::drain`]'s closure decides for a batch drained for
/// the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainStamp {
    /// Send it with this `(producer id, epoch, base sequence)`.
    Sequenced(i64, i16, i32),
    /// Send it without a producer id (idempotence off).
    Unsequenced,
    /// Leave the partition's batch queued this time.
    Skip,
}

/// Why a record was not appended; the completion comes back with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// Not enough of `buffer_memory` is free: wait for batches to complete.
    #[error("buffer_memory is full: {needed} bytes needed, {available} free")]
    BufferFull {
        /// Bytes the record's batch needs.
        needed: usize,
        /// Bytes free now.
        available: usize,
    },
    /// The record can never be sent.
    #[error("a {size}-byte record exceeds {limit} ({key})")]
    RecordTooLarge {
        /// The record's size upper bound.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
        /// The setting that sets the limit.
        key: &'static str,
    },
}

/// What happened to an appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record opened a new batch.
    pub new_batch: bool,
    /// This append made the partition's batch ready to send (wake the
    /// sender): it filled the batch or opened one behind a full batch.
    /// Appends to a partition already ready say `false`.
    pub batch_full: bool,
}

/// What [`Accumulator::partitions`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitions<P> {
    /// Partitions with a batch to send now (full, lingered long enough,
    /// retried, or flushing).
    pub ready: Vec<P>,
    /// Partitions whose batch may still wait for more records, but may go
    /// along in a request sent anyway.
    pub lingering: Vec<P>,
    /// When the next lingering batch or retry becomes ready.
    pub next: Option<Instant>,
}

impl<P> Default for Partitions<P> {
    /// None ready, none lingering.
    fn default() -> Self {
        Partitions {
            ready: Vec::new(),
            lingering: Vec::new(),
            next: None,
        }
    }
}

/// Lowers `bound` to `at` (sets it when unset).
fn lower_to(bound: &mut Option<Instant>, at: Instant) {
    *bound = Some(bound.map_or(at, |b| b.min(at)));
}

/// Whether sequence `a` comes before `b`, with sequences wrapping from
/// `i32::MAX` to 0: the batches of one partition in flight or waiting for a
/// retry span far less than half the sequence space, so the shorter way
/// round the circle tells the order.
fn sequence_precedes(a: i32, b: i32) -> bool {
    const SPACE: i64 = 1 << 31;
    let distance = (i64::from(b) - i64::from(a)).rem_euclid(SPACE);
    distance != 0 && distance < SPACE / 2
}

/// A batch of one partition's records, open for appends until drained.
pub struct ProducerBatch<P, C> {
    /// Unique among the batches of its accumulator.
    pub id: u64,
    /// The partition it goes to.
    pub partition: P,
    builder: Option<RecordBatchBuilder>,
    /// Drained and stamped, to be encoded by [`ProducerBatch::encode`].
    pending: Option<RecordBatchBuilder>,
    encoded: Option<RecordSet>,
    completions: Vec<C>,
    /// When the first record was appended.
    pub created: Instant,
    /// Send attempts so far.
    pub attempts: u32,
    retry_after: Option<Instant>,
    reserved: usize,
    record_count: i32,
    /// Bytes of records before compression.
    pub uncompressed_bytes: usize,
    /// The largest [`record_size_upper_bound`] of its records (for
    /// `record-size-max`, which Java measures by this bound too).
    pub max_record_size: usize,
    /// Idempotent producer id, epoch and base sequence, fixed at the first
    /// drain so a retry resends the same bytes.
    pub producer: Option<(i64, i16, i32)>,
    /// Why the last attempt failed, for the error of a batch that then
    /// runs out of `delivery_timeout_ms` while waiting to be retried.
    pub last_error: Option<crate::ProduceError>,
    /// Whether the batch may go to another partition than the one it was
    /// opened for: every record in it let the built-in partitioner choose
    /// (see [`Accumulator::pin`]).
    pub movable: bool,
}

impl<P, C> ProducerBatch<P, C> {
    /// Whether [`Accumulator::relocate`] may give the batch another
    /// partition: it is not pinned, and carries no sequence (an
    /// idempotent batch's sequence belongs to its partition).
    pub fn may_move(&self) -> bool {
        self.movable && self.producer.is_none()
    }

    /// Records in the batch.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// The encoded batch (set when drained, or by
    /// [`ProducerBatch::encode`] after [`Accumulator::drain_unencoded`]).
    pub fn encoded(&self) -> Option<&RecordSet> {
        self.encoded.as_ref()
    }

    /// Encodes a batch [`Accumulator::drain_unencoded`] handed out: its
    /// records are compressed and the header and CRC written. Does nothing
    /// to a batch already encoded.
    pub fn encode(&mut self) -> Result<(), RecordsError> {
        if let Some(builder) = self.pending.take() {
            self.encoded = Some(builder.build_set()?);
        }
        Ok(())
    }

    /// The completions, in append order (record `i` has offset delta `i`).
    pub fn into_completions(self) -> Vec<C> {
        self.completions
    }

    /// Takes the completions out, in append order, leaving none: a sender
    /// that must be able to complete a batch's records while the batch is
    /// on the wire (a close that cannot wait for its answer) keeps them
    /// apart from it.
    pub fn take_completions(&mut self) -> Vec<C> {
        std::mem::take(&mut self.completions)
    }
}

impl<P: std::fmt::Debug, C> std::fmt::Debug for ProducerBatch<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("partition", &self.partition)
            .field("records", &self.record_count)
            .field("attempts", &self.attempts)
            .field("uncompressed_bytes", &self.uncompressed_bytes)
            .finish_non_exhaustive()
    }
}

/// An upper bound of a record's encoded size in a v2 batch: the varints at
/// their widest, as the Java client's estimate does.
pub fn record_size_upper_bound<H: HeaderRef>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[H],
) -> usize {
    record_size_with(5, 10, key, value, headers)
}

/// The fewest bytes a record takes in a batch: every varint of one byte.
fn record_size_lower_bound<H: HeaderRef>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[H],
) -> usize {
    record_size_with(1, 1, key, value, headers)
}

/// A record's encoded size in a v2 batch with each varint taking `varint`
/// bytes and each varlong `varlong` bytes: its length, attributes,
/// timestamp and offset deltas, key and value with their lengths, and
/// headers with their count and each header's two lengths.
fn record_size_with<H: HeaderRef>(
    varint: usize,
    varlong: usize,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[H],
) -> usize {
    let fields = 1 + varlong + varint; // attributes, timestamp delta, offset delta
    let key_len = varint + key.map_or(0, <[u8]>::len);
    let value_len = varint + value.map_or(0, <[u8]>::len);
    let headers_len: usize = varint
        + headers
            .iter()
            .map(|h| 2 * varint + h.key().len() + h.value().map_or(0, <[u8]>::len))
            .sum::<usize>();
    varint + fields + key_len + value_len + headers_len
}

/// One record to append, borrowed from the caller.
#[derive(Debug)]
pub struct RecordRef<'a, H> {
    /// CreateTime, in milliseconds since the epoch.
    pub timestamp: i64,
    /// The serialized key.
    pub key: Option<&'a [u8]>,
    /// The serialized value (`None` is a tombstone). A large one is kept
    /// by reference, not copied (see [`RecordBatchBuilder::append_shared`]).
    pub value: Option<&'a Bytes>,
    /// Headers.
    pub headers: &'a [H],
}

impl<H> Clone for RecordRef<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for RecordRef<'_, H> {}

/// Batches per partition, bounded by `buffer_memory`.
pub struct Accumulator<P, C> {
    config: AccumulatorConfig,
    queues: BTreeMap<P, VecDeque<ProducerBatch<P, C>>>,
    used_memory: usize,
    /// Flushes under way.
    flushes: usize,
    /// The id the next batch gets.
    next_batch_id: u64,
    /// Buffers of completed batches, for the next ones (the Java client's
    /// BufferPool): a producer opens batches of `batch_size` at its send
    /// rate, and fresh ones cost an allocation each and, once freed memory
    /// goes back to the kernel, a page fault for every 4 KiB sent.
    spare: Vec<Vec<u8>>,
    /// The capacity of the spare buffers.
    spare_bytes: usize,
    /// Emptied completion lists of delivered batches, for the next ones.
    spare_completions: Vec<Vec<C>>,
    /// The retry backoff's jitter, seeded so runs are reproducible.
    jitter: Xorshift,
    /// No queued batch was created before this (a lower bound, lowered as
    /// batches are queued): until `delivery_timeout_ms` after it none can
    /// expire, and [`Accumulator::expire`] need not walk every queue.
    oldest_created: Option<Instant>,
}

impl<P: Ord + Clone, C> Accumulator<P, C> {
    /// An empty accumulator.
    pub fn new(config: AccumulatorConfig) -> Self {
        Accumulator {
            config,
            queues: BTreeMap::new(),
            used_memory: 0,
            flushes: 0,
            next_batch_id: 0,
            spare: Vec::new(),
            spare_bytes: 0,
            oldest_created: None,
            spare_completions: Vec::new(),
            jitter: Xorshift::new(0),
        }
    }

    /// An empty buffer for a batch of `reserve` bytes: one of `spare` when it
    /// is large enough, else a new one of that size (one allocation: a
    /// builder's default buffer would be reallocated by its first records).
    fn batch_buffer(spare: &mut Vec<Vec<u8>>, spare_bytes: &mut usize, reserve: usize) -> Vec<u8> {
        let wanted = BATCH_HEADER_LEN + reserve;
        match spare.last() {
            Some(buffer) if buffer.capacity() >= wanted => {
                let buffer = spare.pop().unwrap_or_default();
                *spare_bytes -= buffer.capacity();
                buffer
            }
            _ => Vec::with_capacity(wanted),
        }
    }

    /// Keeps the list a delivered batch's completions came in (emptied)
    /// for a later batch: a list has room for a batch's records, about as
    /// large as the batch's own buffer.
    pub fn recycle_completions(&mut self, mut completions: Vec<C>) {
        completions.clear();
        if self.spare_completions.len() < SPARE_COMPLETION_LISTS {
            self.spare_completions.push(completions);
        }
    }

    /// Keeps a completed batch's buffer for a later batch, when nothing
    /// else holds it and it has a whole batch's room; the spares stay
    /// within a quarter of `buffer_memory`.
    fn recycle(&mut self, encoded: RecordSet) {
        let wanted = BATCH_HEADER_LEN + self.config.batch_size;
        // The batch's own buffer starts it; the rest are values shared,
        // or the parts of its buffer between them, let go first.
        let Some(head) = encoded.into_segments().into_iter().next() else {
            return;
        };
        let Ok(mut buffer) = head.try_into_mut() else {
            return;
        };
        // Emptied first: the conversion then moves no byte.
        buffer.clear();
        let buffer = Vec::from(buffer);
        let capacity = buffer.capacity();
        if capacity >= wanted && self.spare_bytes + capacity <= self.config.buffer_memory / 4 {
            self.spare_bytes += capacity;
            self.spare.push(buffer);
        }
    }

    /// Bytes of `buffer_memory` free.
    pub fn available_memory(&self) -> usize {
        self.config.buffer_memory.saturating_sub(self.used_memory)
    }

    /// Batches waiting (not drained).
    pub fn queued_batches(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Appends a record to `partition`'s open batch, opening one if needed.
    pub fn append<H: HeaderRef>(
        &mut self,
        now: Instant,
        partition: &P,
        record: RecordRef<'_, H>,
        completion: C,
    ) -> Result<Appended, (AppendError, C)> {
        let RecordRef {
            timestamp,
            key,
            value,
            headers,
        } = record;
        let size = record_size_upper_bound(key, value.map(|v| &v[..]), headers);
        let limit = self.config.max_request_size.min(self.config.buffer_memory);
        if size > limit {
            let key = if limit == self.config.max_request_size {
                "max_request_size"
            } else {
                "buffer_memory"
            };
            return Err((AppendError::RecordTooLarge { size, limit, key }, completion));
        }
        let batch_size = self.config.batch_size;
        // Looked up before any key is cloned: a clone per record would
        // touch a count every other thread's clones touch too.
        if !self.queues.contains_key(partition) {
            self.queues.insert(partition.clone(), VecDeque::new());
        }
        let queue = self
            .queues
            .get_mut(partition)
            .expect("the queue was just ensured");
        let fits = queue.back().is_some_and(|b| {
            b.builder.is_some()
                && b.retry_after.is_none()
                && b.uncompressed_bytes + size <= b.reserved
        });
        let mut new_batch = false;
        if !fits {
            // Like the Java client's buffer pool: a batch takes batch_size
            // bytes, or the record's size if that is larger.
            let reserve = batch_size.max(size);
            let available = self.config.buffer_memory.saturating_sub(self.used_memory);
            if reserve > available {
                return Err((
                    AppendError::BufferFull {
                        needed: reserve,
                        available,
                    },
                    completion,
                ));
            }
            self.used_memory += reserve;
            // A shared value needs no room in the batch's own buffer.
            let shared = value
                .map(Bytes::len)
                .filter(|&len| RecordBatchBuilder::shares_value(self.config.compression, len))
                .unwrap_or(0);
            let room = batch_size.max(size - shared);
            let builder = RecordBatchBuilder::in_buffer(
                Self::batch_buffer(&mut self.spare, &mut self.spare_bytes, room),
                0,
            )
            .with_compression(self.config.compression, self.config.compression_level);
            let id = self.next_batch_id;
            self.next_batch_id += 1;
            queue.push_back(ProducerBatch {
                id,
                partition: partition.clone(),
                builder: Some(builder),
                pending: None,
                encoded: None,
                // Room for as many records like this one as the batch can
                // hold: a list that grew would copy itself to new memory.
                completions: {
                    let least = record_size_lower_bound(key, value.map(|v| &v[..]), headers);
                    let room = (reserve / least).clamp(1, 4096);
                    match self.spare_completions.pop() {
                        Some(list) if list.capacity() >= room => list,
                        _ => Vec::with_capacity(room),
                    }
                },
                created: now,
                attempts: 0,
                retry_after: None,
                reserved: reserve,
                record_count: 0,
                uncompressed_bytes: 0,
                max_record_size: 0,
                producer: None,
                last_error: None,
                movable: true,
            });
            new_batch = true;
            lower_to(&mut self.oldest_created, now);
        }
        let queued = queue.len();
        let batch = queue.back_mut().expect("a batch was just ensured");
        let builder = batch.builder.as_mut().expect("the last batch is open");
        let before = batch.uncompressed_bytes;
        builder.append_shared(timestamp, key, value, headers);
        batch.record_count += 1;
        batch.uncompressed_bytes = builder.uncompressed_size();
        batch.max_record_size = batch.max_record_size.max(size);
        batch.completions.push(completion);
        // Only the append that makes the partition ready says so: once a
        // partition has a full batch, the appends behind it change nothing
        // for the sender, and waking it for each would cost a wake-up per
        // record while the buffer is full.
        let batch_full = (new_batch && queued > 1)
            || (before < batch_size && batch.uncompressed_bytes >= batch_size);
        Ok(Appended {
            new_batch,
            batch_full,
        })
    }

    /// Marks `partition`'s open batch (the one the last append went to)
    /// as bound to it: a record whose partition means something (keyed,
    /// named by the caller, or chosen by a partitioner of the caller's
    /// own) went into it. Unpinned batches may be moved with
    /// [`Accumulator::relocate`].
    pub fn pin(&mut self, partition: &P) {
        if let Some(batch) = self.queues.get_mut(partition).and_then(VecDeque::back_mut) {
            batch.movable = false;
        }
    }

    /// Puts a batch that its partition refused as not ready at the front
    /// of `to`'s queue instead, to be sent at once: `to` took writes while
    /// its own partition did not. The batch keeps its bytes (a partition is
    /// not part of them) and its attempts. A pinned or sequenced batch
    /// (whose records must stay in their partition) is not moved but
    /// [reenqueued](Accumulator::reenqueue) in its own.
    pub fn relocate(&mut self, now: Instant, mut batch: ProducerBatch<P, C>, to: P) {
        if !batch.may_move() {
            self.reenqueue(now, batch);
            return;
        }
        batch.partition = to.clone();
        batch.retry_after = None;
        lower_to(&mut self.oldest_created, batch.created);
        self.queues.entry(to).or_default().push_front(batch);
    }

    /// A flush begins (`flush()`, a transaction's commit): every batch is
    /// ready at once, lingering or not, until each flush begun has ended
    /// with [`Accumulator::end_flush`].
    pub fn begin_flush(&mut self) {
        self.flushes += 1;
    }

    /// A flush begun with [`Accumulator::begin_flush`] has ended.
    pub fn end_flush(&mut self) {
        self.flushes = self.flushes.saturating_sub(1);
    }

    /// Whether a flush is under way.
    pub fn flushing(&self) -> bool {
        self.flushes > 0
    }

    /// The partitions with a batch to send now, and the next time another
    /// may become ready.
    pub fn ready(&self, now: Instant) -> (Vec<P>, Option<Instant>) {
        let partitions = self.partitions(now);
        (partitions.ready, partitions.next)
    }

    /// Every partition with a batch that may go now: those ready, and those
    /// whose batch is still lingering, which a request to their leader for
    /// a ready partition takes along (as the Java client's drain does: a
    /// request goes anyway, so their records need not wait for it to come
    /// back).
    pub fn partitions(&self, now: Instant) -> Partitions<P> {
        let mut partitions = Partitions::default();
        let mut next: Option<Instant> = None;
        for (partition, queue) in &self.queues {
            let Some(first) = queue.front() else { continue };
            if let Some(retry_after) = first.retry_after
                && now < retry_after
            {
                next = Some(next.map_or(retry_after, |n| n.min(retry_after)));
                continue;
            }
            let full = queue.len() > 1
                || first.uncompressed_bytes >= self.config.batch_size
                || first.builder.is_none();
            let lingered_until = first.created + self.config.linger;
            if full || self.flushes > 0 || now >= lingered_until {
                partitions.ready.push(partition.clone());
            } else {
                partitions.lingering.push(partition.clone());
                next = Some(next.map_or(lingered_until, |n| n.min(lingered_until)));
            }
        }
        partitions.next = next;
        partitions
    }

    /// Takes the first batch of each of `partitions` (in order) while their
    /// encoded sizes fit in `max_bytes`, always at least one. `producer`
    /// decides for a batch of `n` records drained for the first time: its
    /// (producer id, epoch, base sequence) when idempotence is on, none, or
    /// to skip the partition this time; it is asked once per batch, at the
    /// batch's first drain (a batch skipped is asked again next time).
    pub fn drain(
        &mut self,
        now: Instant,
        partitions: &[P],
        max_bytes: usize,
        producer: impl FnMut(&P, i32) -> DrainStamp,
    ) -> Result<Vec<ProducerBatch<P, C>>, RecordsError> {
        let mut drained = self.drain_unencoded(now, partitions, max_bytes, producer);
        for batch in &mut drained {
            batch.encode()?;
        }
        Ok(drained)
    }

    /// [`Accumulator::drain`], but a batch drained for the first time comes
    /// out stamped and not yet encoded (its records size standing for its
    /// encoded size): call [`ProducerBatch::encode`] on it before sending,
    /// once the accumulator's lock is released, so that compressing and
    /// checksumming it does not hold up appends.
    pub fn drain_unencoded(
        &mut self,
        now: Instant,
        partitions: &[P],
        max_bytes: usize,
        mut producer: impl FnMut(&P, i32) -> DrainStamp,
    ) -> Vec<ProducerBatch<P, C>> {
        // Room for as many batches as a request takes, allocated once:
        // growing it one batch at a time cost a reallocation or two per
        // request, each large enough to make the allocator consolidate
        // the small chunks freed since.
        let mut drained = Vec::with_capacity(
            partitions
                .len()
                .min(max_bytes / self.config.batch_size.max(1) + 1),
        );
        let mut total = 0usize;
        for partition in partitions {
            let Some(queue) = self.queues.get_mut(partition) else {
                continue;
            };
            let Some(first) = queue.front_mut() else {
                continue;
            };
            if first.retry_after.is_some_and(|t| now < t) {
                continue;
            }
            let size = match &first.encoded {
                Some(encoded) => encoded.len(),
                None => first.uncompressed_bytes,
            };
            if !drained.is_empty() && total + size > max_bytes {
                break;
            }
            if first.encoded.is_none() && first.pending.is_none() {
                let stamp = producer(partition, first.record_count);
                if stamp == DrainStamp::Skip {
                    continue;
                }
                let mut builder = first
                    .builder
                    .take()
                    .expect("an undrained batch has its builder");
                if let DrainStamp::Sequenced(id, epoch, sequence) = stamp {
                    builder = builder.with_producer(id, epoch, sequence);
                    first.producer = Some((id, epoch, sequence));
                }
                first.pending = Some(builder.with_transactional(self.config.transactional));
            }
            total += size;
            let mut batch = queue.pop_front().expect("front exists");
            if queue.is_empty() {
                // Walks of the queues (readiness, expiry) then cost what
                // has batches, not every partition ever written.
                self.queues.remove(partition);
            }
            batch.attempts += 1;
            batch.retry_after = None;
            drained.push(batch);
        }
        drained
    }

    /// Lets the batches of `partition` that wait out a retry backoff go at
    /// once: its leader moved, and the backoff was meant for the old one
    /// (KIP-951).
    pub fn retry_now(&mut self, partition: &P) {
        if let Some(queue) = self.queues.get_mut(partition) {
            for batch in queue {
                batch.retry_after = None;
            }
        }
    }

    /// Puts a batch that failed retriably back in its queue, to be resent
    /// with the same bytes after the retry backoff (`retry_backoff_ms`,
    /// doubling with each attempt up to `retry_backoff_max_ms`): an
    /// unsequenced batch at
    /// the front, a sequenced one among the sequenced batches in
    /// base-sequence order, ahead of every batch without a sequence (with
    /// several batches in flight their retries may come back in any order).
    pub fn reenqueue(&mut self, now: Instant, mut batch: ProducerBatch<P, C>) {
        let backoff = exponential(
            self.config.retry_backoff,
            self.config.retry_backoff_max,
            batch.attempts.saturating_sub(1),
            self.jitter.unit(),
        );
        batch.retry_after = Some(now + backoff);
        lower_to(&mut self.oldest_created, batch.created);
        let queue = self.queues.entry(batch.partition.clone()).or_default();
        let position = match batch.producer {
            None => 0,
            Some((_, _, sequence)) => queue
                .iter()
                .position(|b| {
                    b.producer
                        .is_none_or(|(_, _, s)| sequence_precedes(sequence, s))
                })
                .unwrap_or(queue.len()),
        };
        queue.insert(position, batch);
    }

    /// Gives the queued batch of `partition` stamped `from` (producer id,
    /// epoch, base sequence) the stamp `to`, rewriting its encoded header
    /// and CRC-32C. Returns false when no queued batch carries `from`.
    pub fn rewrite_producer(
        &mut self,
        partition: &P,
        from: (i64, i16, i32),
        to: (i64, i16, i32),
    ) -> bool {
        let Some(batch) = self
            .queues
            .get_mut(partition)
            .and_then(|q| q.iter_mut().find(|b| b.producer == Some(from)))
        else {
            return false;
        };
        if let Some(encoded) = &batch.encoded {
            let Some(rewritten) = restamp(encoded, to) else {
                return false;
            };
            batch.encoded = Some(rewritten);
        }
        if let Some(pending) = batch.pending.take() {
            batch.pending = Some(pending.with_producer(to.0, to.1, to.2));
        }
        batch.producer = Some(to);
        true
    }

    /// Removes every queued batch never sent (no attempt yet), freeing
    /// their memory: a transaction being aborted, or in an error state,
    /// fails them. Batches already sent stay to learn their outcome.
    pub fn abort_undrained(&mut self) -> Vec<ProducerBatch<P, C>> {
        let mut aborted = Vec::new();
        for queue in self.queues.values_mut() {
            let (keep, gone): (VecDeque<_>, VecDeque<_>) = std::mem::take(queue)
                .into_iter()
                .partition(|b| b.attempts > 0);
            *queue = keep;
            aborted.extend(gone);
        }
        for batch in &mut aborted {
            self.release(batch);
        }
        aborted
    }

    /// A batch's outcome is known: frees its memory and returns its
    /// completions in append order.
    pub fn complete(&mut self, mut batch: ProducerBatch<P, C>) -> Vec<C> {
        self.release(&mut batch);
        if let Some(encoded) = batch.encoded.take() {
            self.recycle(encoded);
        }
        batch.completions
    }

    /// Gives a batch's memory back, once: a batch released when it was
    /// taken out (expired, aborted) holds none when it completes.
    fn release(&mut self, batch: &mut ProducerBatch<P, C>) {
        self.used_memory = self.used_memory.saturating_sub(batch.reserved);
        batch.reserved = 0;
    }

    /// Removes queued batches older than `delivery_timeout_ms` (their records
    /// must fail) and frees their memory.
    pub fn expire(&mut self, now: Instant) -> Vec<ProducerBatch<P, C>> {
        let timeout = self.config.delivery_timeout;
        let mut expired = Vec::new();
        if self
            .oldest_created
            .is_none_or(|oldest| oldest.checked_add(timeout).is_none_or(|at| now < at))
        {
            // Called at every wake of the sender: a walk over thousands of
            // partitions each time cost more than their records.
            return expired;
        }
        let mut oldest: Option<Instant> = None;
        self.queues.retain(|_, queue| {
            while queue.front().is_some_and(|b| now >= b.created + timeout) {
                let batch = queue.pop_front().expect("front exists");
                expired.push(batch);
            }
            // Every batch, not only the front: one behind it (a retry put
            // back by sequence) becomes the front once that one is sent.
            for batch in queue.iter() {
                lower_to(&mut oldest, batch.created);
            }
            !queue.is_empty()
        });
        self.oldest_created = oldest;
        for batch in &mut expired {
            self.release(batch);
        }
        expired
    }

    /// Removes every queued batch (closing without delivering), freeing memory.
    pub fn abort_all(&mut self) -> Vec<ProducerBatch<P, C>> {
        let mut batches: Vec<_> = std::mem::take(&mut self.queues)
            .into_values()
            .flatten()
            .collect();
        for batch in &mut batches {
            self.release(batch);
        }
        batches
    }
}

/// `encoded` with another producer id, epoch and base sequence, and the
/// CRC-32C recomputed; `None` if it is not a batch header.
fn restamp(encoded: &RecordSet, (id, epoch, sequence): (i64, i16, i32)) -> Option<RecordSet> {
    /// Where the CRC-covered part of a batch starts (the attributes).
    const CRC_START: usize = 21;
    // The header is in the first segment: shared values come after it.
    let mut segments = encoded.segments().to_vec();
    let mut head = segments.first()?.to_vec();
    let mut header = BatchHeader::parse(&head).ok()?;
    header.producer_id = id;
    header.producer_epoch = epoch;
    header.base_sequence = sequence;
    let mut fixed = [0u8; BATCH_HEADER_LEN];
    header.write(&mut fixed);
    head[..BATCH_HEADER_LEN].copy_from_slice(&fixed);
    let mut crc = Crc32c::default();
    crc.update(&head[CRC_START..]);
    for segment in &segments[1..] {
        crc.update(segment);
    }
    head[17..CRC_START].copy_from_slice(&crc.value().to_be_bytes());
    segments[0] = Bytes::from(head);
    Some(RecordSet::from_segments(segments))
}

#[cfg(test)]
mod tests {
    use ferrokafka_records::{BatchReader, Header};

    use super::*;

    fn config() -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: 1000,
            linger: Duration::from_millis(5),
            buffer_memory: 4000,
            ..AccumulatorConfig::default()
        }
    }

    const NO_HEADERS: &[Header] = &[];

    #[test]
    fn a_batch_is_ready_when_full_or_after_linger() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        acc.append(
            t0,
            &0,
            RecordRef {
                timestamp: 1,
                key: None,
                value: Some(&Bytes::from_static(&[0; 100])),
                headers: NO_HEADERS,
            },
            1,
        )
        .unwrap();
        let (ready, next) = acc.ready(t0);
        assert!(ready.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_millis(5)));
        assert_eq!(acc.ready(t0 + Duration::from_millis(5)).0, [0]);
        for i in 0..8 {
            acc.append(
                t0,
                &1,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(&[0; 100])),
                    headers: NO_HEADERS,
                },
                i,
            )
            .unwrap();
        }
        let full = acc
            .append(
                t0,
                &1,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(&[0; 100])),
                    headers: NO_HEADERS,
                },
                9,
            )
            .unwrap();
        assert!(full.batch_full, "{full:?}");
        assert_eq!(acc.ready(t0).0, [1]);
    }

    #[test]
    fn only_the_append_that_makes_a_partition_ready_says_so() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        let mut outcomes = Vec::new();
        for i in 0..12 {
            outcomes.push(
                acc.append(
                    t0,
                    &0,
                    RecordRef {
                        timestamp: 1,
                        key: None,
                        value: Some(&Bytes::from_static(&[0; 100])),
                        headers: NO_HEADERS,
                    },
                    i,
                )
                .unwrap(),
            );
        }
        let n = outcomes.len();
        let opened: Vec<usize> = (0..n).filter(|&i| outcomes[i].new_batch).collect();
        let full: Vec<usize> = (0..n).filter(|&i| outcomes[i].batch_full).collect();
        assert_eq!(opened.len(), 2, "{outcomes:?}");
        assert_eq!(opened[0], 0);
        assert!(opened[1] < n - 2, "appends went behind the full batch");
        // Each batch after the first makes the one before it ready; the
        // appends in between say nothing new.
        assert_eq!(full, opened[1..], "{outcomes:?}");
        // A record that fills a batch by itself makes it ready at once.
        let big = acc
            .append(
                t0,
                &1,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(&[0; 990])),
                    headers: NO_HEADERS,
                },
                99,
            )
            .unwrap();
        assert!(big.new_batch && big.batch_full, "{big:?}");
        assert_eq!(acc.ready(t0).0, [0, 1]);
    }

    #[test]
    fn unencoded_drains_encode_later_to_the_same_bytes() {
        let t0 = Instant::now();
        let compressed = AccumulatorConfig {
            compression: Compression::Lz4,
            ..config()
        };
        let mut now_encoded: Accumulator<i32, u32> = Accumulator::new(compressed.clone());
        let mut later: Accumulator<i32, u32> = Accumulator::new(compressed);
        for acc in [&mut now_encoded, &mut later] {
            for i in 0..6 {
                append(acc, t0, i % 2, &[b'x'; 120], u32::try_from(i).unwrap());
            }
        }
        let stamp = |p: &i32, _: i32| DrainStamp::Sequenced(9, 0, *p * 10);
        let expected = now_encoded.drain(t0, &[0, 1], 1 << 20, stamp).unwrap();
        let mut drained = later.drain_unencoded(t0, &[0, 1], 1 << 20, stamp);
        assert_eq!(drained.len(), 2);
        assert!(drained.iter().all(|b| b.encoded().is_none()));
        assert_eq!(drained[1].producer, Some((9, 0, 10)));
        // A batch put back before it was encoded keeps its stamp...
        let back = drained.pop().unwrap();
        later.reenqueue(t0, back);
        assert!(later.rewrite_producer(&1, (9, 0, 10), (9, 1, 0)));
        let mut again =
            later.drain_unencoded(t0 + Duration::from_secs(1), &[1], 1 << 20, |_, _| {
                panic!("stamped at the first drain")
            });
        drained.append(&mut again);
        for batch in &mut drained {
            batch.encode().unwrap();
            batch.encode().unwrap();
        }
        assert_eq!(drained[0].encoded(), expected[0].encoded());
        // ...and its new one once rewritten.
        let decoded = BatchReader::new(drained[1].encoded().unwrap().to_bytes())
            .next()
            .unwrap()
            .unwrap();
        let ferrokafka_records::Batch::V2(decoded) = decoded else {
            panic!("a v2 batch");
        };
        let header = decoded.header();
        assert_eq!(
            (
                header.producer_epoch,
                header.base_sequence,
                header.record_count
            ),
            (1, 0, 3)
        );
        assert!(decoded.crc_is_valid());
        assert_ne!(drained[1].encoded(), expected[1].encoded());
    }

    #[test]
    fn drained_batches_hold_every_record_in_order() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        for i in 0..5u32 {
            acc.append(
                t0,
                &3,
                RecordRef {
                    timestamp: i64::from(i),
                    key: Some(&i.to_be_bytes()),
                    value: Some(&Bytes::from_static(b"v")),
                    headers: &[Header::new("h", Some("x"))],
                },
                i,
            )
            .unwrap();
        }
        let batches = acc
            .drain(t0, &[3], 1 << 20, |_, n| {
                DrainStamp::Sequenced(7, 1, 100 - n)
            })
            .unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        let decoded = BatchReader::new(batch.encoded().unwrap().to_bytes())
            .next()
            .unwrap()
            .unwrap();
        let keys: Vec<Vec<u8>> = decoded
            .records()
            .map(|r| r.unwrap().key.unwrap().to_vec())
            .collect();
        assert_eq!(
            keys,
            (0..5u32)
                .map(|i| i.to_be_bytes().to_vec())
                .collect::<Vec<_>>()
        );
        assert_eq!(batch.producer, Some((7, 1, 95)));
        let completions = acc.complete(batches.into_iter().next().unwrap());
        assert_eq!(completions, [0, 1, 2, 3, 4]);
        assert_eq!(acc.available_memory(), 4000);
    }

    #[test]
    fn buffer_memory_pushes_back_and_frees_on_completion() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        for p in 0..4 {
            acc.append(
                t0,
                &p,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(b"x")),
                    headers: NO_HEADERS,
                },
                0,
            )
            .unwrap();
        }
        let (error, completion) = acc
            .append(
                t0,
                &9,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(b"x")),
                    headers: NO_HEADERS,
                },
                42,
            )
            .unwrap_err();
        assert_eq!(
            error,
            AppendError::BufferFull {
                needed: 1000,
                available: 0
            }
        );
        assert_eq!(completion, 42, "the record comes back, nothing is lost");
        let batches = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap();
        acc.complete(batches.into_iter().next().unwrap());
        assert!(
            acc.append(
                t0,
                &9,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(b"x")),
                    headers: NO_HEADERS
                },
                42
            )
            .is_ok()
        );
    }

    #[test]
    fn records_larger_than_the_limits_are_refused() {
        let mut acc: Accumulator<i32, u32> = Accumulator::new(AccumulatorConfig {
            max_request_size: 500,
            ..config()
        });
        let (error, _) = acc
            .append(
                Instant::now(),
                &0,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(&[0; 600])),
                    headers: NO_HEADERS,
                },
                0,
            )
            .unwrap_err();
        assert!(
            matches!(
                error,
                AppendError::RecordTooLarge {
                    key: "max_request_size",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// When a batch retried `attempts` times first becomes ready again,
    /// in whole milliseconds after it was put back.
    fn ready_after(acc: &mut Accumulator<i32, u32>, t0: Instant) -> u64 {
        (0..=2_000)
            .find(|&ms| !acc.ready(t0 + Duration::from_millis(ms)).0.is_empty())
            .expect("ready within 2 s")
    }

    #[test]
    fn each_retry_of_a_batch_waits_twice_as_long_up_to_retry_backoff_max() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(AccumulatorConfig {
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(500),
            ..config()
        });
        acc.append(
            t0,
            &0,
            RecordRef {
                timestamp: 1,
                key: None,
                value: Some(&Bytes::from_static(b"v")),
                headers: NO_HEADERS,
            },
            1,
        )
        .unwrap();
        let mut waits = Vec::new();
        for _ in 0..5 {
            let batch = acc
                .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Sequenced(1, 0, 0))
                .unwrap()
                .pop()
                .expect("the batch is ready");
            acc.reenqueue(t0, batch);
            waits.push(ready_after(&mut acc, t0));
            // Drained again at t0 by pretending its backoff is over.
            let queued = acc.queues.get_mut(&0).unwrap();
            queued[0].retry_after = None;
        }
        // 100, 200, 400, 500, 500 ms, each within ±20 % and never past 500.
        for (wait, nominal) in waits.iter().zip([100u64, 200, 400, 500, 500]) {
            assert!(
                *wait >= nominal * 8 / 10 && *wait <= (nominal * 12 / 10).min(500),
                "{waits:?}"
            );
        }
    }

    #[test]
    fn a_partition_whose_leader_moved_retries_without_waiting_out_the_backoff() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        for partition in [0, 1] {
            append(&mut acc, t0, partition, b"v", 1);
        }
        acc.begin_flush();
        for batch in acc
            .drain(t0, &[0, 1], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap()
        {
            acc.reenqueue(t0, batch);
        }
        assert!(acc.ready(t0).0.is_empty(), "both back off");
        acc.retry_now(&1);
        assert_eq!(
            acc.ready(t0).0,
            [1],
            "only the moved partition goes at once"
        );
    }

    #[test]
    fn a_retried_batch_goes_first_after_the_backoff_with_the_same_bytes() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        acc.append(
            t0,
            &0,
            RecordRef {
                timestamp: 1,
                key: None,
                value: Some(&Bytes::from_static(b"first")),
                headers: NO_HEADERS,
            },
            1,
        )
        .unwrap();
        let first = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Sequenced(1, 0, 0))
            .unwrap()
            .pop()
            .unwrap();
        let bytes = first.encoded().unwrap().clone();
        acc.append(
            t0,
            &0,
            RecordRef {
                timestamp: 1,
                key: None,
                value: Some(&Bytes::from_static(b"second")),
                headers: NO_HEADERS,
            },
            2,
        )
        .unwrap();
        acc.reenqueue(t0, first);
        assert!(acc.ready(t0).0.is_empty(), "backing off");
        // retry_backoff_ms 100, jittered by up to 20 %.
        assert!(acc.ready(t0 + Duration::from_millis(79)).0.is_empty());
        let later = t0 + Duration::from_millis(120);
        assert_eq!(acc.ready(later).0, [0]);
        let again = acc
            .drain(later, &[0], 1 << 20, |_, _| {
                panic!("sequence is fixed at the first drain")
            })
            .unwrap();
        assert_eq!(again[0].encoded().unwrap(), &bytes);
        assert_eq!(again[0].attempts, 2);
    }

    #[test]
    fn a_refused_unpinned_batch_moves_to_the_front_of_another_partition_ready_at_once() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"moved", 1);
        let mut refused = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap();
        let batch = refused.pop().unwrap();
        let bytes = batch.encoded().unwrap().clone();
        append(&mut acc, t0, 3, b"already there", 2);
        acc.relocate(t0, batch, 3);
        assert!(acc.queues.get(&0).is_none_or(VecDeque::is_empty));
        // No backoff: the new partition took writes.
        assert_eq!(acc.ready(t0).0, [3]);
        let sent = acc
            .drain(t0, &[3], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap();
        assert_eq!(sent[0].partition, 3);
        assert_eq!(sent[0].encoded().unwrap(), &bytes, "the same bytes, first");
        assert_eq!(sent[0].attempts, 2);
        assert_eq!(acc.complete(sent.into_iter().next().unwrap()), [1]);
    }

    #[test]
    fn a_completed_batch_s_buffer_serves_a_later_batch_unless_still_held() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(AccumulatorConfig {
            buffer_memory: 100_000,
            ..config()
        });
        let sent = |acc: &mut Accumulator<i32, u32>, partition: i32| {
            append(acc, t0, partition, b"v", 0);
            acc.drain(t0, &[partition], 1 << 20, |_, _| DrainStamp::Unsequenced)
                .unwrap()
                .pop()
                .unwrap()
        };
        let first = sent(&mut acc, 0);
        let at = first.encoded().unwrap().to_bytes().as_ptr();
        acc.complete(first);
        let second = sent(&mut acc, 1);
        assert_eq!(second.encoded().unwrap().to_bytes().as_ptr(), at, "reused");
        assert_eq!(second.encoded().unwrap().len(), sent_len(&second));
        // Still held (by a request being written, say): not reused.
        let held = second.encoded().unwrap().to_bytes();
        let copy = held.to_vec();
        acc.complete(second);
        let third = sent(&mut acc, 2);
        assert_ne!(third.encoded().unwrap().to_bytes().as_ptr(), held.as_ptr());
        assert_eq!(&held[..], &copy[..], "the holder's bytes are intact");
        // However many complete at once, the spares stay within a quarter
        // of buffer_memory.
        let batches: Vec<_> = (0..60).map(|p| sent(&mut acc, 10 + p)).collect();
        for batch in batches {
            acc.complete(batch);
        }
        assert!(acc.spare.len() > 1);
        assert_eq!(
            acc.spare_bytes,
            acc.spare.iter().map(Vec::capacity).sum::<usize>()
        );
        assert!(acc.spare_bytes <= 25_000, "{}", acc.spare_bytes);
    }

    /// The length a batch of one record `v` encodes to.
    /// The first batch of `set`, which must be a v2 batch.
    fn first_v2(set: &RecordSet) -> ferrokafka_records::RecordBatch {
        let ferrokafka_records::Batch::V2(batch) =
            BatchReader::new(set.to_bytes()).next().unwrap().unwrap()
        else {
            panic!("a v2 batch");
        };
        batch
    }

    fn sent_len(batch: &ProducerBatch<i32, u32>) -> usize {
        let reader = ferrokafka_records::BatchReader::new(batch.encoded().unwrap().to_bytes());
        reader.map(|b| b.unwrap().as_bytes().len()).sum()
    }

    #[test]
    fn a_delivered_batch_s_completion_list_serves_a_later_batch() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"first", 1);
        let first = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap()
            .pop()
            .unwrap();
        let list = acc.complete(first);
        assert_eq!(list, [1]);
        let at = list.as_ptr();
        acc.recycle_completions(list);
        append(&mut acc, t0, 1, b"second", 2);
        let second = &acc.queues[&1][0];
        assert_eq!(second.completions.as_ptr(), at);
        assert_eq!(second.completions, [2], "emptied before reuse");
    }

    #[test]
    fn a_batch_s_completion_list_never_grows_for_records_alike() {
        for (key, value, headers) in [
            (None, 0, 0),
            (None, 10, 0),
            (Some(&b"k"[..]), 1, 3),
            (None, 100, 1),
            (Some(&b"a key"[..]), 300, 2),
        ] {
            let config = AccumulatorConfig {
                batch_size: 16384,
                buffer_memory: 1 << 20,
                ..config()
            };
            let mut acc: Accumulator<i32, u32> = Accumulator::new(config);
            let value = Bytes::from(vec![7; value]);
            let headers: Vec<Header> = (0..headers)
                .map(|i| Header::new(format!("h{i}"), Some(Bytes::from_static(b"v"))))
                .collect();
            let t0 = Instant::now();
            let mut id = 0;
            let mut sized = None;
            // Records go to one batch until it is full and a second opens.
            while acc.queues.get(&0).is_none_or(|queue| queue.len() < 2) {
                acc.append(
                    t0,
                    &0,
                    RecordRef {
                        timestamp: 1,
                        key,
                        value: Some(&value),
                        headers: &headers,
                    },
                    id,
                )
                .unwrap();
                id += 1;
                sized = sized.or(Some(acc.queues[&0][0].completions.capacity()));
            }
            let full = &acc.queues[&0][0];
            let filled = full.completions.len();
            assert_eq!(usize::try_from(full.record_count).unwrap(), filled);
            // The capacity the first record gave it, never grown, and not
            // twice what the batch took.
            let sized = sized.unwrap();
            assert_eq!(full.completions.capacity(), sized, "{filled} records");
            assert!(filled * 2 > sized, "{filled} records in room for {sized}");
        }
    }

    #[test]
    fn a_pinned_or_sequenced_batch_stays_in_its_partition() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"keyless", 1);
        append(&mut acc, t0, 0, b"keyed", 2);
        acc.pin(&0);
        let pinned = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap()
            .pop()
            .unwrap();
        assert!(!pinned.movable);
        acc.relocate(t0, pinned, 3);
        append(&mut acc, t0, 1, b"sequenced", 3);
        let sequenced = acc
            .drain(t0, &[1], 1 << 20, |_, _| DrainStamp::Sequenced(1, 0, 0))
            .unwrap()
            .pop()
            .unwrap();
        assert!(sequenced.movable, "keyless, but sequenced");
        acc.relocate(t0, sequenced, 3);
        assert!(acc.queues.get(&3).is_none_or(VecDeque::is_empty));
        assert_eq!(acc.queues[&0].len(), 1);
        assert_eq!(acc.queues[&1].len(), 1);
        // Each backs off in its own partition, as a retry does.
        assert!(acc.ready(t0).0.is_empty());
    }

    #[test]
    fn drain_respects_max_bytes_but_sends_at_least_one() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        for p in 0..3 {
            acc.append(
                t0,
                &p,
                RecordRef {
                    timestamp: 1,
                    key: None,
                    value: Some(&Bytes::from_static(&[7; 300])),
                    headers: NO_HEADERS,
                },
                0,
            )
            .unwrap();
        }
        assert_eq!(
            acc.drain(t0, &[0, 1, 2], 10, |_, _| DrainStamp::Unsequenced)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            acc.drain(t0, &[1, 2], 1 << 20, |_, _| DrainStamp::Unsequenced)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn old_batches_expire_and_flush_makes_everything_ready() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(AccumulatorConfig {
            linger: Duration::from_secs(60),
            ..config()
        });
        acc.append(
            t0,
            &0,
            RecordRef {
                timestamp: 1,
                key: None,
                value: Some(&Bytes::from_static(b"x")),
                headers: NO_HEADERS,
            },
            0,
        )
        .unwrap();
        assert!(acc.ready(t0).0.is_empty());
        acc.begin_flush();
        acc.begin_flush();
        assert_eq!(acc.ready(t0).0, [0]);
        acc.end_flush();
        assert!(acc.flushing(), "one of two flushes is still under way");
        assert_eq!(acc.ready(t0).0, [0]);
        acc.end_flush();
        assert!(acc.ready(t0).0.is_empty());
        let expired = acc.expire(t0 + Duration::from_secs(120));
        assert_eq!(expired.len(), 1);
        assert_eq!(acc.available_memory(), 4000);
    }

    #[test]
    fn a_batch_taken_out_and_then_completed_frees_its_memory_once() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"old", 0);
        append(&mut acc, t0 + Duration::from_secs(100), 1, b"new", 1);
        assert_eq!(acc.available_memory(), 2000);
        let expired = acc.expire(t0 + Duration::from_secs(120));
        assert_eq!(expired.len(), 1);
        assert_eq!(acc.available_memory(), 3000);
        for batch in expired {
            assert_eq!(acc.complete(batch), [0]);
        }
        // Still held by the batch of partition 1.
        assert_eq!(acc.available_memory(), 3000);
        for batch in acc.abort_undrained() {
            acc.complete(batch);
        }
        assert_eq!(acc.available_memory(), 4000);
    }

    #[test]
    fn a_batch_put_back_after_the_last_walk_still_expires_on_time() {
        // The walk for expired batches is skipped until the oldest batch
        // queued could have expired; a batch back from a request is older
        // than every batch the last walk saw.
        let t0 = Instant::now();
        let timeout = AccumulatorConfig::default().delivery_timeout;
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"sent", 0);
        let mut sent = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap();
        append(&mut acc, t0 + Duration::from_secs(10), 1, b"queued", 1);
        assert!(
            acc.expire(t0 + timeout).is_empty(),
            "nothing queued is old enough"
        );
        // The request failed: its batch waits for a retry, created at t0.
        acc.reenqueue(t0 + timeout, sent.pop().unwrap());
        let expired = acc.expire(t0 + timeout + Duration::from_millis(1));
        assert_eq!(
            expired
                .iter()
                .map(ProducerBatch::record_count)
                .collect::<Vec<_>>(),
            [1],
            "the batch put back expires at once"
        );
        assert_eq!(expired[0].partition, 0);
        // Relocated to another partition's front, it expires there too.
        acc.relocate(t0 + timeout, expired.into_iter().next().unwrap(), 2);
        assert_eq!(acc.expire(t0 + timeout + Duration::from_millis(2)).len(), 1);
        // The batch of partition 1 expires at its own time, not before.
        assert!(acc.expire(t0 + timeout + Duration::from_secs(9)).is_empty());
        assert_eq!(acc.expire(t0 + timeout + Duration::from_secs(10)).len(), 1);
        assert!(acc.queues.is_empty());
    }

    #[test]
    fn a_large_value_goes_by_reference_through_drain_restamp_and_recycling() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(AccumulatorConfig {
            buffer_memory: 1 << 20,
            ..config()
        });
        let value = Bytes::from(vec![3u8; 50_000]);
        acc.append(
            t0,
            &0,
            RecordRef {
                timestamp: 1,
                key: Some(b"k"),
                value: Some(&value),
                headers: NO_HEADERS,
            },
            7,
        )
        .unwrap();
        assert!(
            acc.available_memory() < (1 << 20) - 50_000,
            "counted in full"
        );
        let open = acc.queues[&0].front().unwrap();
        assert!(
            open.builder.as_ref().unwrap().uncompressed_size() > value.len(),
            "its size counts the value"
        );
        let mut batch = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Sequenced(5, 1, 0))
            .unwrap()
            .pop()
            .unwrap();
        let set = batch.encoded().unwrap().clone();
        assert_eq!(
            set.segments().len(),
            3,
            "before the value, the value, after"
        );
        assert_eq!(set.segments()[1].as_ptr(), value.as_ptr(), "not copied");
        assert!(
            set.segments()[0].len() < 1000,
            "the batch's own buffer holds no room for the value"
        );
        // A new producer id restamps the header and CRC, the value left in place.
        acc.reenqueue(t0, batch);
        assert!(acc.rewrite_producer(&0, (5, 1, 0), (6, 0, 0)));
        batch = acc
            .drain(t0 + Duration::from_secs(1), &[0], 1 << 20, |_, _| {
                panic!("already stamped")
            })
            .unwrap()
            .pop()
            .unwrap();
        let restamped = batch.encoded().unwrap().clone();
        assert_eq!(restamped.segments()[1].as_ptr(), value.as_ptr());
        let decoded = first_v2(&restamped);
        assert!(decoded.crc_is_valid());
        assert_eq!(decoded.header().producer_id, 6);
        let record = decoded.records().next().unwrap().unwrap();
        assert_eq!(record.value.as_ref(), Some(&value));
        drop((set, restamped));
        acc.complete(batch);
        assert_eq!(acc.available_memory(), 1 << 20);
        // Completed, a batch's own buffer (not the value) serves a later batch.
        append(&mut acc, t0, 1, &value, 8);
        let batch = acc
            .drain(t0, &[1], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap()
            .pop()
            .unwrap();
        let head = batch.encoded().unwrap().segments()[0].as_ptr();
        let spares = acc.spare.len();
        acc.complete(batch);
        assert_eq!(acc.spare.len(), spares + 1);
        assert_eq!(acc.spare.last().unwrap().as_ptr(), head);
    }

    fn append(acc: &mut Accumulator<i32, u32>, t: Instant, partition: i32, value: &[u8], id: u32) {
        acc.append(
            t,
            &partition,
            RecordRef {
                timestamp: 1,
                key: None,
                value: Some(&Bytes::copy_from_slice(value)),
                headers: NO_HEADERS,
            },
            id,
        )
        .unwrap();
    }

    fn sequences(acc: &Accumulator<i32, u32>, partition: i32) -> Vec<Option<i32>> {
        acc.queues[&partition]
            .iter()
            .map(|b| b.producer.map(|(_, _, s)| s))
            .collect()
    }

    #[test]
    fn sequence_order_survives_the_wrap_at_i32_max() {
        assert!(sequence_precedes(i32::MAX - 3, i32::MAX));
        assert!(sequence_precedes(i32::MAX, 0));
        assert!(sequence_precedes(i32::MAX - 1, 4));
        assert!(!sequence_precedes(4, i32::MAX - 1));
        assert!(!sequence_precedes(7, 7));

        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        let starts = [i32::MAX - 1, 0, 2];
        let mut drained = Vec::new();
        for (i, start) in starts.into_iter().enumerate() {
            append(&mut acc, t0, 0, &[0; 10], u32::try_from(i).unwrap());
            drained.extend(
                acc.drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Sequenced(1, 0, start))
                    .unwrap(),
            );
        }
        // Retries come back newest first; the queue still runs MAX-1, 0, 2.
        while let Some(batch) = drained.pop() {
            acc.reenqueue(t0, batch);
        }
        assert_eq!(sequences(&acc, 0), [Some(i32::MAX - 1), Some(0), Some(2)]);
    }

    #[test]
    fn retries_go_back_in_sequence_order_ahead_of_new_batches() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        let mut drained = Vec::new();
        for i in 0..3u32 {
            append(&mut acc, t0, 0, &[0; 10], i);
            drained.extend(
                acc.drain(t0, &[0], 1 << 20, |_, n| {
                    DrainStamp::Sequenced(1, 0, i32::try_from(i).unwrap() * n)
                })
                .unwrap(),
            );
        }
        append(&mut acc, t0, 0, &[0; 10], 9);
        // Answers come back out of order: 2, then 0, then 1.
        let third = drained.pop().unwrap();
        let second = drained.pop().unwrap();
        let first = drained.pop().unwrap();
        acc.reenqueue(t0, third);
        acc.reenqueue(t0, first);
        acc.reenqueue(t0, second);
        assert_eq!(sequences(&acc, 0), [Some(0), Some(1), Some(2), None]);
        // An unsequenced retry goes to the front, as before.
        let mut plain: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut plain, t0, 0, &[0; 10], 0);
        let batch = plain
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Unsequenced)
            .unwrap()
            .pop()
            .unwrap();
        append(&mut plain, t0, 0, &[0; 10], 1);
        plain.reenqueue(t0, batch);
        assert_eq!(
            plain.queues[&0].front().unwrap().completions,
            [0],
            "the retry goes first"
        );
    }

    #[test]
    fn a_skipped_partition_keeps_its_batch_unencoded() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"a", 0);
        append(&mut acc, t0, 1, b"b", 1);
        let drained = acc
            .drain(t0, &[0, 1], 1 << 20, |p, _| {
                if *p == 0 {
                    DrainStamp::Skip
                } else {
                    DrainStamp::Sequenced(5, 0, 0)
                }
            })
            .unwrap();
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].partition, 1);
        assert_eq!(acc.queued_batches(), 1);
        // Still open for appends, and stamped when drained later.
        append(&mut acc, t0, 0, b"c", 2);
        let later = acc
            .drain(t0, &[0], 1 << 20, |_, n| {
                assert_eq!(n, 2);
                DrainStamp::Sequenced(5, 0, 0)
            })
            .unwrap();
        assert_eq!(later[0].record_count(), 2);
    }

    #[test]
    fn rewriting_the_producer_patches_header_and_crc() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(AccumulatorConfig {
            transactional: true,
            ..config()
        });
        append(&mut acc, t0, 0, b"payload", 0);
        let batch = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Sequenced(7, 3, 40))
            .unwrap()
            .pop()
            .unwrap();
        let before = batch.encoded().unwrap().to_bytes();
        acc.reenqueue(t0, batch);
        assert!(
            !acc.rewrite_producer(&0, (7, 3, 41), (7, 4, 0)),
            "no such stamp"
        );
        assert!(acc.rewrite_producer(&0, (7, 3, 40), (7, 4, 0)));
        let later = t0 + Duration::from_secs(1);
        let again = acc
            .drain(later, &[0], 1 << 20, |_, _| panic!("already stamped"))
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(again.producer, Some((7, 4, 0)));
        let decoded = first_v2(again.encoded().unwrap());
        assert!(decoded.crc_is_valid());
        let header = decoded.header();
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 4, 0)
        );
        assert!(header.attributes.is_transactional());
        // Only the stamp and the CRC changed.
        let after = again.encoded().unwrap().to_bytes();
        assert_eq!(before.len(), after.len());
        let changed: Vec<usize> = (0..before.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        assert!(
            changed
                .iter()
                .all(|&i| (17..21).contains(&i) || (43..57).contains(&i)),
            "{changed:?}"
        );
        let records: Vec<_> = decoded.records().map(|r| r.unwrap().value).collect();
        assert_eq!(records, [Some(bytes::Bytes::from_static(b"payload"))]);
    }

    #[test]
    fn aborting_undrained_batches_keeps_those_already_sent() {
        let t0 = Instant::now();
        let mut acc: Accumulator<i32, u32> = Accumulator::new(config());
        append(&mut acc, t0, 0, b"sent", 0);
        let sent = acc
            .drain(t0, &[0], 1 << 20, |_, _| DrainStamp::Sequenced(1, 0, 0))
            .unwrap()
            .pop()
            .unwrap();
        append(&mut acc, t0, 0, b"new", 1);
        append(&mut acc, t0, 1, b"new", 2);
        acc.reenqueue(t0, sent);
        let aborted = acc.abort_undrained();
        let mut ids: Vec<u32> = aborted
            .into_iter()
            .flat_map(ProducerBatch::into_completions)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2]);
        assert_eq!(acc.queued_batches(), 1);
        assert_eq!(
            acc.available_memory(),
            3000,
            "the aborted batches' memory is free"
        );
    }
}
