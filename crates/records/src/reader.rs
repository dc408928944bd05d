//! Reading a buffer of batches: a fetch response's records or a log
//! segment, in any mix of magic 0, 1 and 2.

use bytes::Bytes;

use crate::compression::DEFAULT_MAX_DECOMPRESSED_SIZE;
use nom::Parser as _;
use nom::number::complete::{be_i32, be_i64};

use crate::header::{BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_OFFSET};
use crate::parse::Failure;
use crate::{BatchHeader, Compression, LegacyBatch, Record, RecordBatch, RecordIter, RecordsError};

/// How strictly to read.
///
/// ```
/// use ferrokafka_records::ReadOptions;
/// let options = ReadOptions { verify_crc: false, ..ReadOptions::default() };
/// assert_eq!(options.max_decompressed_size, 64 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Verify each batch's CRC (kafka-python's `check_crcs`); default on.
    pub verify_crc: bool,
    /// Largest decompressed size of one batch or wrapper message.
    pub max_decompressed_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            verify_crc: true,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
        }
    }
}

/// One entry of a record buffer: a batch (magic 2) or a legacy message.
#[derive(Debug, Clone)]
pub enum Batch {
    /// A record batch.
    V2(RecordBatch),
    /// A legacy message or compressed wrapper.
    Legacy(LegacyBatch),
}

impl Batch {
    /// The magic byte (format version).
    pub fn magic(&self) -> i8 {
        match self {
            Self::V2(_) => 2,
            Self::Legacy(legacy) => legacy.magic(),
        }
    }

    /// Offset of the first record (for a legacy wrapper, of its first inner record).
    pub fn base_offset(&self) -> i64 {
        match self {
            Self::V2(batch) => batch.header().base_offset,
            Self::Legacy(legacy) => legacy
                .records()
                .first()
                .map_or(legacy.offset(), |r| r.offset),
        }
    }

    /// Offset of the last record the entry covers.
    pub fn last_offset(&self) -> i64 {
        match self {
            Self::V2(batch) => batch.header().last_offset(),
            Self::Legacy(legacy) => legacy.offset(),
        }
    }

    /// The compression type.
    pub fn compression(&self) -> Compression {
        match self {
            Self::V2(batch) => batch.compression(),
            Self::Legacy(legacy) => legacy.compression(),
        }
    }

    /// The magic-2 header, if this is a record batch.
    pub fn header(&self) -> Option<&BatchHeader> {
        match self {
            Self::V2(batch) => Some(batch.header()),
            Self::Legacy(_) => None,
        }
    }

    /// Whether the entry belongs to a transaction (never for legacy).
    pub fn is_transactional(&self) -> bool {
        self.header()
            .is_some_and(|h| h.attributes.is_transactional())
    }

    /// Whether the entry is a control batch (never for legacy).
    pub fn is_control(&self) -> bool {
        self.header().is_some_and(|h| h.attributes.is_control())
    }

    /// The producer id (-1 if none, and for legacy messages).
    pub fn producer_id(&self) -> i64 {
        self.header().map_or(-1, |h| h.producer_id)
    }

    /// Whether the stored CRC matches.
    pub fn crc_is_valid(&self) -> bool {
        match self {
            Self::V2(batch) => batch.crc_is_valid(),
            Self::Legacy(legacy) => legacy.crc_is_valid(),
        }
    }

    /// The entry's bytes as read.
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Self::V2(batch) => batch.as_bytes(),
            Self::Legacy(legacy) => legacy.as_bytes(),
        }
    }

    /// The records of the entry, from an iterator that owns them and can
    /// be kept between calls (see [`RecordBatch::into_records`]).
    pub fn into_records(self) -> IntoRecords {
        match self {
            Self::V2(batch) => IntoRecords::V2(batch.into_records()),
            Self::Legacy(legacy) => IntoRecords::Legacy(legacy.into_records().into_iter()),
        }
    }

    /// The records of the entry.
    pub fn records(&self) -> Records<'_> {
        match self {
            Self::V2(batch) => Records::V2(batch.records()),
            Self::Legacy(legacy) => Records::Legacy(legacy.records().iter()),
        }
    }
}

/// Iterator over the records of a [`Batch`] that owns them
/// ([`Batch::into_records`]): kept, it resumes where it stopped.
#[derive(Debug)]
pub enum IntoRecords {
    /// Records decoded lazily from a batch.
    V2(crate::IntoRecordIter),
    /// Records of a legacy entry, already decoded.
    Legacy(std::vec::IntoIter<Record>),
}

impl Iterator for IntoRecords {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::V2(iter) => iter.next(),
            Self::Legacy(iter) => iter.next().map(Ok),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::V2(iter) => iter.size_hint(),
            Self::Legacy(iter) => iter.size_hint(),
        }
    }
}

/// Iterator over the records of a [`Batch`].
#[derive(Debug)]
pub enum Records<'a> {
    /// Records decoded lazily from a batch.
    V2(RecordIter<'a>),
    /// Records of a legacy entry, already decoded.
    Legacy(std::slice::Iter<'a, Record>),
}

impl Iterator for Records<'_> {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::V2(iter) => iter.next(),
            Self::Legacy(iter) => iter.next().cloned().map(Ok),
        }
    }
}

/// Reads the entries of a buffer one at a time.
///
/// A buffer may end with a partial entry (a fetch response cuts the last
/// batch at its size limit): the reader stops before it without error, and
/// [`BatchReader::consumed`] says how many bytes were whole entries.
///
/// When an entry's framing is sound but its content is not (bad CRC,
/// corrupt compression) the reader yields the error and moves on to the
/// next entry. When the framing itself is broken (a negative or too small
/// length, an unknown magic) it yields the error and stops.
///
/// ```
/// use ferrokafka_records::{BatchReader, Header, RecordBatchBuilder};
/// let mut builder = RecordBatchBuilder::new(0);
/// builder.append(1, None, Some(b"one"), &[] as &[Header]);
/// let batch = builder.build().unwrap();
/// let mut fetched = batch.to_vec();
/// fetched.extend_from_slice(&batch[..20]); // a partial second batch
/// let mut reader = BatchReader::new(fetched.into());
/// assert_eq!(reader.by_ref().count(), 1);
/// assert_eq!(reader.consumed(), batch.len());
/// assert_eq!(reader.partial_tail(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct BatchReader {
    data: Bytes,
    pos: usize,
    options: ReadOptions,
    stopped: bool,
}

impl BatchReader {
    /// A reader with the default options (CRCs verified).
    pub fn new(data: Bytes) -> Self {
        Self::with_options(data, ReadOptions::default())
    }

    /// A reader with explicit options.
    pub fn with_options(data: Bytes, options: ReadOptions) -> Self {
        Self {
            data,
            pos: 0,
            options,
            stopped: false,
        }
    }

    /// Bytes of whole entries read so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// Bytes after the last whole entry: a partial entry, if any.
    pub fn partial_tail(&self) -> usize {
        self.data.len() - self.pos
    }

    fn stop(&mut self, error: RecordsError) -> Result<Batch, RecordsError> {
        self.stopped = true;
        Err(error)
    }
}

impl Iterator for BatchReader {
    type Item = Result<Batch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped {
            return None;
        }
        let rest = &self.data[self.pos..];
        // Fewer than LOG_OVERHEAD bytes: a partial entry, not an error.
        let Ok((_, (offset, length))) = (be_i64::<_, Failure>, be_i32).parse(rest) else {
            return None;
        };
        // The magic byte sits at the same place in every format.
        if length < (MAGIC_OFFSET + 1 - LOG_OVERHEAD) as i32 {
            return Some(self.stop(RecordsError::InvalidLength {
                what: "batch length",
                length: i64::from(length),
            }));
        }
        let total = LOG_OVERHEAD + length as usize;
        if rest.len() < total {
            return None;
        }
        let magic = rest[MAGIC_OFFSET] as i8;
        let minimum = match magic {
            0 | 1 => LOG_OVERHEAD + 14,
            2 => BATCH_HEADER_LEN,
            _ => return Some(self.stop(RecordsError::UnsupportedMagic { offset, magic })),
        };
        if total < minimum {
            return Some(self.stop(RecordsError::InvalidLength {
                what: "batch length",
                length: i64::from(length),
            }));
        }
        let raw = self.data.slice(self.pos..self.pos + total);
        self.pos += total;
        Some(if magic == 2 {
            RecordBatch::decode(raw, &self.options).map(Batch::V2)
        } else {
            LegacyBatch::decode(raw, &self.options).map(Batch::Legacy)
        })
    }
}
