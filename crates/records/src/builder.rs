//! Encoding a record batch (magic 2) straight into its final buffer.
//!
//! The builder reserves the 61-byte header, appends each record as it
//! comes, and at the end compresses the record section if asked, then
//! patches the length, counts, timestamps and CRC once. Large values of an
//! uncompressed batch may stay in their own buffers instead
//! ([`RecordBatchBuilder::append_shared`]): the batch then comes out as a
//! [`RecordSet`] of several segments.

use bytes::Bytes;
use ferrokafka_protocol::RecordSet;

use crate::checksum::Crc32c;
use crate::compression::compress;
use crate::header::{BATCH_HEADER_LEN, CRC_START, LOG_OVERHEAD};
use crate::record::{HeaderRef, encode_record, encode_record_around_value};
use crate::{BatchHeader, Compression, ControlRecord, Record, RecordsError, TimestampType};

/// Builds one record batch.
///
/// ```
/// # #[cfg(feature = "lz4")] {
/// use ferrokafka_records::{BatchReader, Compression, RecordBatchBuilder};
/// let mut builder = RecordBatchBuilder::new(0)
///     .with_compression(Compression::Lz4, None)
///     .with_producer(4000, 0, 17);
/// builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[("h", Some(&b"v"[..]))]);
/// builder.append(1_700_000_000_001, None, None, &[] as &[(&str, Option<&[u8]>)]);
/// let bytes = builder.build().unwrap();
///
/// let batch = BatchReader::new(bytes).next().unwrap().unwrap();
/// let records: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
/// assert_eq!(records.len(), 2);
/// assert_eq!(records[0].headers[0].key_str(), Some("h"));
/// assert_eq!(records[1].offset, 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    buf: Vec<u8>,
    start: usize,
    header: BatchHeader,
    compression: Compression,
    level: Option<i32>,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    fixed_max_timestamp: Option<i64>,
    next_offset_delta: i32,
    last_offset_delta: Option<i32>,
    record_count: i32,
    /// Values kept by reference, each with the position in `buf` its bytes
    /// belong at, in order.
    shared: Vec<(usize, Bytes)>,
    /// Their bytes in all.
    shared_len: usize,
}

/// Values of at least this many bytes that [`RecordBatchBuilder::append_shared`]
/// is given for an uncompressed batch stay in their own buffers: copying
/// them costs more than the write segments of their own they need.
pub const SHARED_VALUE_FROM: usize = 4096;

impl RecordBatchBuilder {
    /// A builder for a batch starting at `base_offset` (0 for a produce
    /// request: the broker assigns offsets), in a new buffer.
    pub fn new(base_offset: i64) -> Self {
        Self::in_buffer(Vec::with_capacity(1024), base_offset)
    }

    /// A builder appending its batch to `buffer` after what it already
    /// holds (for example the rest of a produce request).
    ///
    /// ```
    /// use ferrokafka_records::{BatchReader, RecordBatchBuilder};
    /// let request_so_far = b"request header".to_vec();
    /// let mut builder = RecordBatchBuilder::in_buffer(request_so_far, 0);
    /// builder.append(1, None, Some(b"v"), &[] as &[(&str, Option<&[u8]>)]);
    /// let request = builder.finish().unwrap();
    /// assert!(request.starts_with(b"request header"));
    /// let batch = BatchReader::new(request[14..].to_vec().into()).next().unwrap().unwrap();
    /// assert_eq!(batch.records().count(), 1);
    /// ```
    pub fn in_buffer(mut buffer: Vec<u8>, base_offset: i64) -> Self {
        let start = buffer.len();
        buffer.resize(start + BATCH_HEADER_LEN, 0);
        Self {
            buf: buffer,
            start,
            header: BatchHeader {
                base_offset,
                ..BatchHeader::default()
            },
            compression: Compression::None,
            level: None,
            base_timestamp: None,
            max_timestamp: -1,
            fixed_max_timestamp: None,
            next_offset_delta: 0,
            last_offset_delta: None,
            record_count: 0,
            shared: Vec::new(),
            shared_len: 0,
        }
    }

    /// A builder that rewrites a batch with `header`'s fields: base offset,
    /// leader epoch, attributes, producer fields, base and max timestamp
    /// and last offset delta (length, CRC and count are computed). Append
    /// the decoded records with [`Self::append_record`] to get the same
    /// bytes back (for compressed batches, the same records section).
    ///
    /// ```
    /// use ferrokafka_records::{RecordBatch, RecordBatchBuilder, ReadOptions};
    /// let mut original = RecordBatchBuilder::new(7).with_producer(1, 2, 3);
    /// original.append(50, Some(b"k"), None, &[] as &[(&str, Option<&[u8]>)]);
    /// original.append(40, None, Some(b"v"), &[] as &[(&str, Option<&[u8]>)]);
    /// let bytes = original.build().unwrap();
    ///
    /// let batch = RecordBatch::decode(bytes.clone(), &ReadOptions::default()).unwrap();
    /// let mut rewrite = RecordBatchBuilder::with_header(batch.header(), None).unwrap();
    /// for record in batch.records() {
    ///     rewrite.append_record(&record.unwrap());
    /// }
    /// assert_eq!(rewrite.build().unwrap(), bytes);
    /// ```
    pub fn with_header(header: &BatchHeader, level: Option<i32>) -> Result<Self, RecordsError> {
        let attributes = header.attributes;
        let mut builder = Self::new(header.base_offset)
            .with_compression(attributes.compression()?, level)
            .with_partition_leader_epoch(header.partition_leader_epoch)
            .with_producer(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
            )
            .with_transactional(attributes.is_transactional())
            .with_control(attributes.is_control())
            .with_base_timestamp(header.base_timestamp)
            .with_last_offset_delta(header.last_offset_delta);
        if attributes.has_delete_horizon() {
            builder = builder.with_delete_horizon(header.base_timestamp);
        }
        if attributes.timestamp_type() == TimestampType::LogAppendTime {
            builder = builder.with_log_append_time(header.max_timestamp);
        }
        builder.fixed_max_timestamp = Some(header.max_timestamp);
        Ok(builder)
    }

    /// Compress the records with `compression` at `level` (`None`: the
    /// codec's default).
    #[must_use]
    pub fn with_compression(mut self, compression: Compression, level: Option<i32>) -> Self {
        self.compression = compression;
        self.level = level;
        self
    }

    /// Idempotent producer id, epoch and the first record's sequence.
    #[must_use]
    pub fn with_producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Self {
        self.header.producer_id = producer_id;
        self.header.producer_epoch = producer_epoch;
        self.header.base_sequence = base_sequence;
        self
    }

    /// Mark the batch as part of a transaction.
    #[must_use]
    pub fn with_transactional(mut self, transactional: bool) -> Self {
        self.header.attributes = self.header.attributes.with_transactional(transactional);
        self
    }

    /// Mark the batch as a control batch (see [`Self::append_control`]).
    #[must_use]
    pub fn with_control(mut self, control: bool) -> Self {
        self.header.attributes = self.header.attributes.with_control(control);
        self
    }

    /// The partition leader epoch field (the broker sets it; -1 by default).
    #[must_use]
    pub fn with_partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.header.partition_leader_epoch = epoch;
        self
    }

    /// Make this a log-append-time batch whose max timestamp is `time`.
    #[must_use]
    pub fn with_log_append_time(mut self, time: i64) -> Self {
        self.header.attributes = self
            .header
            .attributes
            .with_timestamp_type(TimestampType::LogAppendTime);
        self.fixed_max_timestamp = Some(time);
        self
    }

    /// The timestamp deltas count from `base_timestamp` (default: the first
    /// record's timestamp). Set it before the first append.
    #[must_use]
    pub fn with_base_timestamp(mut self, base_timestamp: i64) -> Self {
        self.base_timestamp = Some(base_timestamp);
        self
    }

    /// Set the delete-horizon flag; the base timestamp becomes `horizon`.
    /// Set it before the first append.
    #[must_use]
    pub fn with_delete_horizon(mut self, horizon: i64) -> Self {
        self.header.attributes = self.header.attributes.with_delete_horizon(true);
        self.base_timestamp = Some(horizon);
        self
    }

    /// Override the last offset delta (compaction keeps it when it removes
    /// the batch's last records).
    #[must_use]
    pub fn with_last_offset_delta(mut self, last_offset_delta: i32) -> Self {
        self.last_offset_delta = Some(last_offset_delta);
        self
    }

    /// Reserve room for `additional` more bytes of records.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Bytes written so far (header included, before compression), the
    /// values kept by reference included.
    pub fn uncompressed_size(&self) -> usize {
        self.buf.len() - self.start + self.shared_len
    }

    /// Appends a record at the next offset; returns its offset delta.
    pub fn append<H: HeaderRef>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> i32 {
        let offset_delta = self.next_offset_delta;
        self.append_with_offset_delta(offset_delta, timestamp, key, value, headers);
        offset_delta
    }

    /// Whether [`Self::append_shared`] shares a value of `len` bytes (keeps
    /// it by reference) in a batch compressed with `compression`.
    pub fn shares_value(compression: Compression, len: usize) -> bool {
        len >= SHARED_VALUE_FROM && compression == Compression::None
    }

    /// Appends a record at the next offset, as [`Self::append`] does, but a
    /// value of at least [`SHARED_VALUE_FROM`] bytes in an uncompressed
    /// batch is not copied: [`Self::build_set`] hands it over as a segment
    /// of its own. Returns the record's offset delta.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ferrokafka_records::{BatchReader, RecordBatchBuilder};
    /// let value = Bytes::from(vec![b'v'; 100_000]);
    /// let mut builder = RecordBatchBuilder::new(0);
    /// builder.append_shared(1, Some(b"k"), Some(&value), &[] as &[(&str, Option<&[u8]>)]);
    /// let set = builder.build_set().unwrap();
    /// assert!(set.segments().iter().any(|s| s.as_ptr() == value.as_ptr()), "not copied");
    /// let batch = BatchReader::new(set.to_bytes()).next().unwrap().unwrap();
    /// let record = batch.records().next().unwrap().unwrap();
    /// assert_eq!(record.value, Some(value));
    /// ```
    pub fn append_shared<H: HeaderRef>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&Bytes>,
        headers: &[H],
    ) -> i32 {
        let value = match value {
            Some(value) if Self::shares_value(self.compression, value.len()) => value,
            value => return self.append(timestamp, key, value.map(|v| &v[..]), headers),
        };
        let offset_delta = self.next_offset_delta;
        let timestamp_delta = self.timestamp_delta(timestamp);
        let value_at = encode_record_around_value(
            &mut self.buf,
            0,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        );
        self.shared.push((value_at, value.clone()));
        self.shared_len += value.len();
        self.count(offset_delta);
        offset_delta
    }

    /// Appends a record with an explicit offset delta (for rewriting
    /// compacted batches, which have gaps). Deltas should increase.
    pub fn append_with_offset_delta<H: HeaderRef>(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) {
        self.append_raw(offset_delta, 0, timestamp, key, value, headers);
    }

    fn append_raw<H: HeaderRef>(
        &mut self,
        offset_delta: i32,
        attributes: i8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) {
        let timestamp_delta = self.timestamp_delta(timestamp);
        encode_record(
            &mut self.buf,
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        );
        self.count(offset_delta);
    }

    /// A record at `timestamp` is coming: its delta from the batch's base
    /// timestamp (set by the first record), the batch's max timestamp raised.
    fn timestamp_delta(&mut self, timestamp: i64) -> i64 {
        let base = *self.base_timestamp.get_or_insert(timestamp);
        self.max_timestamp = self.max_timestamp.max(timestamp);
        timestamp.wrapping_sub(base)
    }

    /// A record at `offset_delta` was written.
    fn count(&mut self, offset_delta: i32) {
        self.next_offset_delta = offset_delta.saturating_add(1);
        self.record_count = self.record_count.saturating_add(1);
    }

    /// Appends a record read from a magic-2 batch as it was written: its
    /// offset delta, attributes and timestamp delta (counted from this
    /// builder's base timestamp, or its timestamp if none is set yet).
    pub fn append_record(&mut self, record: &Record) {
        let timestamp = self.base_timestamp.map_or(record.timestamp, |base| {
            base.wrapping_add(record.timestamp_delta)
        });
        self.append_raw(
            record.offset_delta,
            record.attributes,
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
    }

    /// Appends a control record (call [`Self::with_control`] too).
    pub fn append_control(&mut self, timestamp: i64, control: &ControlRecord) {
        let value = control.value_bytes();
        self.append(
            timestamp,
            Some(&control.key_bytes()),
            value.as_deref(),
            &[] as &[(&[u8], Option<&[u8]>)],
        );
    }

    /// Finishes the batch and returns it alone, in as many segments as it
    /// keeps values by reference (see [`Self::append_shared`]), plus the
    /// bytes around them; in one buffer if it keeps none.
    pub fn build_set(mut self) -> Result<RecordSet, RecordsError> {
        if self.shared.is_empty() || self.compression != Compression::None {
            return Ok(RecordSet::from(self.build()?));
        }
        let start = self.start;
        self.write_header(self.buf.len() - start + self.shared_len)?;
        let shared = std::mem::take(&mut self.shared);
        // CRC-covered from the attributes on, each value in its place.
        let mut crc = Crc32c::default();
        let mut from = start + CRC_START;
        for (at, value) in &shared {
            crc.update(&self.buf[from..*at]);
            crc.update(value);
            from = *at;
        }
        crc.update(&self.buf[from..]);
        self.buf[start + 17..start + CRC_START].copy_from_slice(&crc.value().to_be_bytes());
        let buf = Bytes::from(self.buf);
        let mut segments = Vec::with_capacity(2 * shared.len() + 1);
        let mut from = start;
        for (at, value) in shared {
            segments.push(buf.slice(from..at));
            segments.push(value);
            from = at;
        }
        segments.push(buf.slice(from..));
        Ok(RecordSet::from_segments(segments))
    }

    /// Finishes the batch and returns it alone.
    pub fn build(self) -> Result<Bytes, RecordsError> {
        let start = self.start;
        let mut buffer = self.finish()?;
        if start > 0 {
            buffer.drain(..start);
        }
        Ok(Bytes::from(buffer))
    }

    /// Finishes the batch and returns the whole buffer (anything that
    /// preceded the batch, then the batch).
    pub fn finish(mut self) -> Result<Vec<u8>, RecordsError> {
        self.splice_shared();
        let start = self.start;
        let records_at = start + BATCH_HEADER_LEN;
        if self.compression != Compression::None {
            let mut out = Vec::with_capacity(records_at + (self.buf.len() - records_at) / 2 + 64);
            out.extend_from_slice(&self.buf[..records_at]);
            compress(
                self.compression,
                self.level,
                &self.buf[records_at..],
                &mut out,
            )?;
            self.buf = out;
        }
        self.write_header(self.buf.len() - start)?;
        let crc = crate::crc32c(&self.buf[start + CRC_START..]);
        self.buf[start + 17..start + CRC_START].copy_from_slice(&crc.to_be_bytes());
        Ok(self.buf)
    }

    /// Copies the values kept by reference into the buffer, in place.
    fn splice_shared(&mut self) {
        if self.shared.is_empty() {
            return;
        }
        let mut whole = Vec::with_capacity(self.buf.len() + self.shared_len);
        let mut from = 0;
        for (at, value) in std::mem::take(&mut self.shared) {
            whole.extend_from_slice(&self.buf[from..at]);
            whole.extend_from_slice(&value);
            from = at;
        }
        whole.extend_from_slice(&self.buf[from..]);
        self.buf = whole;
        self.shared_len = 0;
    }

    /// Writes the header of a batch of `total` bytes, its CRC left zero.
    fn write_header(&mut self, total: usize) -> Result<(), RecordsError> {
        let start = self.start;
        let records_at = start + BATCH_HEADER_LEN;
        let batch_length =
            i32::try_from(total - LOG_OVERHEAD).map_err(|_| RecordsError::BatchTooLarge(total))?;
        let mut header = self.header;
        header.batch_length = batch_length;
        header.attributes = header.attributes.with_compression(self.compression);
        header.record_count = self.record_count;
        header.last_offset_delta = self
            .last_offset_delta
            .unwrap_or(self.next_offset_delta.saturating_sub(1));
        header.base_timestamp = self.base_timestamp.unwrap_or(-1);
        header.max_timestamp = self.fixed_max_timestamp.unwrap_or(self.max_timestamp);
        header.crc = 0;
        let mut header_bytes = [0; BATCH_HEADER_LEN];
        header.write(&mut header_bytes);
        self.buf[start..records_at].copy_from_slice(&header_bytes);
        Ok(())
    }
}
