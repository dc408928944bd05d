//! A decoded record batch (magic 2) and the lazy iterator over its records.

use bytes::Bytes;

use crate::compression::decompress_for_magic;
use crate::header::{BATCH_HEADER_LEN, CRC_START, LOG_OVERHEAD};
use crate::record::{RecordContext, decode_record};
use crate::{
    BatchHeader, Compression, ControlRecord, ReadOptions, Record, RecordsError, TimestampType,
};

/// One record batch: its header and its (decompressed) record section.
///
/// Records are decoded lazily by [`RecordBatch::records`]; for an
/// uncompressed batch they are slices of the input, for a compressed batch
/// slices of the one buffer it was decompressed into.
///
/// ```
/// use ferrokafka_records::{RecordBatch, RecordBatchBuilder, ReadOptions};
/// let mut builder = RecordBatchBuilder::new(100);
/// builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[] as &[ferrokafka_records::Header]);
/// let bytes = builder.build().unwrap();
/// let batch = RecordBatch::decode(bytes, &ReadOptions::default()).unwrap();
/// let record = batch.records().next().unwrap().unwrap();
/// assert_eq!(record.offset, 100);
/// assert_eq!(record.value.as_deref(), Some(&b"v"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatch {
    header: BatchHeader,
    raw: Bytes,
    records: Bytes,
}

impl RecordBatch {
    /// Decodes exactly one batch from `raw` (its length must match the
    /// batch length field), checking the CRC if `options` say so and
    /// decompressing the records.
    pub fn decode(raw: Bytes, options: &ReadOptions) -> Result<Self, RecordsError> {
        let header = BatchHeader::parse(&raw)?;
        if header.magic != 2 {
            return Err(RecordsError::UnsupportedMagic {
                offset: header.base_offset,
                magic: header.magic,
            });
        }
        let declared = i64::from(header.batch_length) + LOG_OVERHEAD as i64;
        if declared < BATCH_HEADER_LEN as i64 {
            return Err(RecordsError::InvalidLength {
                what: "record batch length",
                length: i64::from(header.batch_length),
            });
        }
        if declared != raw.len() as i64 {
            return Err(RecordsError::Truncated {
                what: "record batch",
                needed: declared as usize,
                available: raw.len(),
            });
        }
        if options.verify_crc {
            let computed = crate::crc32c(&raw[CRC_START..]);
            if computed != header.crc {
                return Err(RecordsError::CrcMismatch {
                    base_offset: header.base_offset,
                    stored: header.crc,
                    computed,
                });
            }
        }
        if header.record_count < 0 {
            return Err(RecordsError::InvalidLength {
                what: "record count",
                length: i64::from(header.record_count),
            });
        }
        let compression = header.attributes.compression()?;
        let records = match compression {
            Compression::None => raw.slice(BATCH_HEADER_LEN..),
            codec => Bytes::from(decompress_for_magic(
                codec,
                &raw[BATCH_HEADER_LEN..],
                options.max_decompressed_size,
                2,
            )?),
        };
        Ok(Self {
            header,
            raw,
            records,
        })
    }

    /// The batch header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The whole batch as it was read (header included, still compressed).
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The record section after decompression.
    pub fn records_bytes(&self) -> &Bytes {
        &self.records
    }

    /// The compression type (already validated by [`RecordBatch::decode`]).
    pub fn compression(&self) -> Compression {
        self.header
            .attributes
            .compression()
            .unwrap_or(Compression::None)
    }

    /// CRC-32C of the bytes the stored CRC covers.
    pub fn computed_crc(&self) -> u32 {
        crate::crc32c(&self.raw[CRC_START..])
    }

    /// Whether the stored CRC matches the bytes.
    pub fn crc_is_valid(&self) -> bool {
        self.computed_crc() == self.header.crc
    }

    /// Whether this is a control batch (a transaction marker).
    pub fn is_control(&self) -> bool {
        self.header.attributes.is_control()
    }

    /// The control record of a control batch (its first record).
    pub fn control_record(&self) -> Option<Result<ControlRecord, RecordsError>> {
        if !self.is_control() {
            return None;
        }
        let record = self.records().next()?;
        Some(record.and_then(|r| ControlRecord::parse(r.key.as_deref(), r.value.as_deref())))
    }

    /// The records, decoded one at a time. After `record_count` records
    /// the section must be exhausted; any mismatch is an error item, after
    /// which the iterator ends.
    pub fn records(&self) -> RecordIter<'_> {
        RecordIter {
            data: &self.records,
            cursor: self.cursor(),
        }
    }

    /// The records as [`RecordBatch::records`] decodes them, from an
    /// iterator that owns the batch's bytes: one that can be kept and
    /// resumed later (a consumer hands a batch out over several polls)
    /// without decoding every record up front.
    ///
    /// ```
    /// use ferrokafka_records::{Header, ReadOptions, RecordBatch, RecordBatchBuilder};
    /// let mut builder = RecordBatchBuilder::new(7);
    /// builder.append(1, None, Some(b"a"), &[] as &[Header]);
    /// builder.append(2, None, Some(b"b"), &[] as &[Header]);
    /// let batch = RecordBatch::decode(builder.build().unwrap(), &ReadOptions::default()).unwrap();
    /// let mut records = batch.into_records();
    /// assert_eq!(records.next().unwrap().unwrap().offset, 7);
    /// let kept = records; // resumed later, where it stopped
    /// let rest: Vec<i64> = kept.map(|r| r.unwrap().offset).collect();
    /// assert_eq!(rest, [8]);
    /// ```
    pub fn into_records(self) -> IntoRecordIter {
        IntoRecordIter {
            cursor: self.cursor(),
            data: self.records,
        }
    }

    fn cursor(&self) -> Cursor {
        let timestamp_type = self.header.attributes.timestamp_type();
        Cursor {
            pos: 0,
            remaining: self.header.record_count,
            found: 0,
            done: false,
            context: RecordContext {
                base_offset: self.header.base_offset,
                base_timestamp: self.header.base_timestamp,
                timestamp_type,
                log_append_time: (timestamp_type == TimestampType::LogAppendTime)
                    .then_some(self.header.max_timestamp),
            },
        }
    }
}

/// Where decoding a batch's records has got to.
#[derive(Debug, Clone)]
struct Cursor {
    pos: usize,
    remaining: i32,
    found: i32,
    done: bool,
    context: RecordContext,
}

impl Cursor {
    #[inline]
    fn next(&mut self, data: &Bytes) -> Option<Result<Record, RecordsError>> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            let left = data.len() - self.pos;
            return (left != 0).then_some(Err(RecordsError::TrailingBytes {
                what: "record batch",
                count: left,
            }));
        }
        if self.pos == data.len() {
            self.done = true;
            return Some(Err(RecordsError::RecordCountMismatch {
                base_offset: self.context.base_offset,
                expected: self.found + self.remaining,
                found: self.found,
            }));
        }
        match decode_record(data, &mut self.pos, &self.context) {
            Ok(record) => {
                self.remaining -= 1;
                self.found += 1;
                Some(Ok(record))
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }

    fn size_hint(&self, data: &Bytes) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            // Each record takes at least 7 bytes: never trust the count alone.
            let by_bytes = (data.len() - self.pos) / 7;
            let remaining = usize::try_from(self.remaining).unwrap_or(0);
            (0, Some(remaining.min(by_bytes) + 1))
        }
    }
}

/// Iterator over the records of a [`RecordBatch`].
#[derive(Debug)]
pub struct RecordIter<'a> {
    data: &'a Bytes,
    cursor: Cursor,
}

impl Iterator for RecordIter<'_> {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(self.data)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cursor.size_hint(self.data)
    }
}

/// Iterator over the records of a [`RecordBatch`] that owns its bytes
/// ([`RecordBatch::into_records`]).
#[derive(Debug, Clone)]
pub struct IntoRecordIter {
    data: Bytes,
    cursor: Cursor,
}

impl Iterator for IntoRecordIter {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(&self.data)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cursor.size_hint(&self.data)
    }
}
