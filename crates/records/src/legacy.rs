//! Legacy message sets (magic 0 and 1), as old topics still hold them.
//!
//! Each entry is `offset, size, message`; a message is `crc, magic,
//! attributes, [timestamp], key, value`. A compressed message is a wrapper
//! whose value is a compressed message set of inner messages. In magic 1
//! inner offsets are relative and the wrapper carries the absolute offset
//! of the last inner message; in magic 0 inner offsets are absolute.
//!
//! Reading is what clients need; writing exists for tests and fixtures.

use bytes::{BufMut, Bytes};

use crate::compression::{compress, decompress_for_magic};
use crate::header::LOG_OVERHEAD;
use crate::parse::{PResult, array, fail, int32_bytes, records_error, take};
use crate::{Compression, ReadOptions, Record, RecordsError, TimestampType};

const COMPRESSION_MASK: i8 = 0x07;
const TIMESTAMP_TYPE_BIT: i8 = 0x08;
/// crc, magic, attributes, key length, value length.
const MIN_MESSAGE_V0: usize = 4 + 1 + 1 + 4 + 4;
/// As magic 0 plus the timestamp.
const MIN_MESSAGE_V1: usize = MIN_MESSAGE_V0 + 8;

/// One top-level entry of a legacy message set: a plain message (one
/// record) or a compressed wrapper (its inner messages as records).
///
/// ```
/// # #[cfg(feature = "gzip")] {
/// use ferrokafka_records::{Compression, LegacyBatch, LegacyMessage, ReadOptions, TimestampType};
/// use ferrokafka_records::legacy::write_message_set;
/// let messages = [
///     LegacyMessage { offset: 10, timestamp: 5, key: None, value: Some(b"a") },
///     LegacyMessage { offset: 11, timestamp: 6, key: None, value: Some(b"b") },
/// ];
/// let mut bytes = Vec::new();
/// write_message_set(&mut bytes, 1, Compression::Gzip, None, TimestampType::CreateTime, &messages).unwrap();
/// let wrapper = LegacyBatch::decode(bytes.into(), &ReadOptions::default()).unwrap();
/// assert_eq!(wrapper.offset(), 11);
/// let offsets: Vec<i64> = wrapper.records().iter().map(|r| r.offset).collect();
/// assert_eq!(offsets, [10, 11]);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LegacyBatch {
    offset: i64,
    magic: i8,
    attributes: i8,
    crc: u32,
    timestamp: i64,
    raw: Bytes,
    records: Vec<Record>,
}

/// A message to write with [`write_message_set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyMessage<'a> {
    /// Absolute offset.
    pub offset: i64,
    /// Timestamp (ignored for magic 0).
    pub timestamp: i64,
    /// Key, `None` for null.
    pub key: Option<&'a [u8]>,
    /// Value, `None` for null.
    pub value: Option<&'a [u8]>,
}

/// The fields of one message, before offsets and timestamps are resolved.
struct RawMessage {
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Splits one `offset, size, message` entry off the front of `data` at
/// `*pos`; returns the offset and the message bytes (shared with `data`).
fn split_entry(data: &Bytes, pos: &mut usize) -> Result<(i64, Bytes), RecordsError> {
    let input = data.get(*pos..).unwrap_or_default();
    let (rest, (offset, message)) = entry(input).map_err(records_error)?;
    *pos = data.len() - rest.len();
    Ok((offset, data.slice_ref(message)))
}

fn entry(input: &[u8]) -> PResult<'_, (i64, &[u8])> {
    let (rest, overhead) = array::<LOG_OVERHEAD>(input, "legacy message entry")?;
    let (offset, size) = overhead.split_at(8);
    let offset = i64::from_be_bytes(offset.try_into().unwrap_or_default());
    let size = i32::from_be_bytes(size.try_into().unwrap_or_default());
    if size < MIN_MESSAGE_V0 as i32 {
        return fail(RecordsError::InvalidLength {
            what: "legacy message size",
            length: i64::from(size),
        });
    }
    let (rest, message) = take(rest, size as usize, "legacy message")?;
    Ok((rest, (offset, message)))
}

/// Parses a message (the bytes after offset and size).
fn parse_message(
    offset: i64,
    message: &Bytes,
    verify_crc: bool,
) -> Result<RawMessage, RecordsError> {
    let (rest, raw) = message_fields(offset, message, verify_crc).map_err(records_error)?;
    if !rest.is_empty() {
        return Err(RecordsError::TrailingBytes {
            what: "legacy message",
            count: rest.len(),
        });
    }
    let share = |slice: Option<&[u8]>| slice.map(|s| message.slice_ref(s));
    Ok(RawMessage {
        crc: raw.crc,
        magic: raw.magic,
        attributes: raw.attributes,
        timestamp: raw.timestamp,
        key: share(raw.key),
        value: share(raw.value),
    })
}

/// A message's fields, its key and value still slices of the input.
struct MessageFields<'a> {
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

fn message_fields(offset: i64, input: &[u8], verify_crc: bool) -> PResult<'_, MessageFields<'_>> {
    // `entry` guarantees the smallest (magic 0) message's bytes are present.
    let (covered, crc) = array::<4>(input, "legacy message")?;
    let crc = u32::from_be_bytes(crc);
    let (rest, [magic, attributes]) = array(covered, "legacy message")?;
    let magic = magic as i8;
    let min = match magic {
        0 => MIN_MESSAGE_V0,
        1 => MIN_MESSAGE_V1,
        _ => return fail(RecordsError::UnsupportedMagic { offset, magic }),
    };
    if input.len() < min {
        return fail(RecordsError::Truncated {
            what: "legacy message",
            needed: min,
            available: input.len(),
        });
    }
    if verify_crc {
        let computed = crc32fast::hash(covered);
        if computed != crc {
            return fail(RecordsError::CrcMismatch {
                base_offset: offset,
                stored: crc,
                computed,
            });
        }
    }
    let (rest, timestamp) = if magic == 1 {
        let (rest, timestamp) = array(rest, "legacy message timestamp")?;
        (rest, i64::from_be_bytes(timestamp))
    } else {
        (rest, -1)
    };
    let (rest, key) = int32_bytes(rest, "legacy message key")?;
    let (rest, value) = int32_bytes(rest, "legacy message value")?;
    Ok((
        rest,
        MessageFields {
            crc,
            magic,
            attributes: attributes as i8,
            timestamp,
            key,
            value,
        },
    ))
}

fn compression_of(attributes: i8) -> Result<Compression, RecordsError> {
    match Compression::from_id((attributes & COMPRESSION_MASK) as u8)? {
        Compression::Zstd => Err(RecordsError::UnknownCompression(4)),
        other => Ok(other),
    }
}

fn timestamp_type_of(magic: i8, attributes: i8) -> TimestampType {
    match (magic, attributes & TIMESTAMP_TYPE_BIT != 0) {
        (0, _) => TimestampType::NoTimestamp,
        (_, false) => TimestampType::CreateTime,
        (_, true) => TimestampType::LogAppendTime,
    }
}

fn plain_record(offset: i64, message: RawMessage, timestamp_type: TimestampType) -> Record {
    Record {
        offset,
        timestamp: message.timestamp,
        timestamp_type,
        key: message.key,
        value: message.value,
        headers: Vec::new(),
        attributes: message.attributes,
        offset_delta: 0,
        timestamp_delta: 0,
    }
}

impl LegacyBatch {
    /// Decodes one entry (`offset, size, message`, nothing after it),
    /// decompressing a wrapper and resolving its inner offsets.
    pub fn decode(raw: Bytes, options: &ReadOptions) -> Result<Self, RecordsError> {
        let mut pos = 0;
        let (offset, message) = split_entry(&raw, &mut pos)?;
        if pos != raw.len() {
            return Err(RecordsError::TrailingBytes {
                what: "legacy message entry",
                count: raw.len() - pos,
            });
        }
        let wrapper = parse_message(offset, &message, options.verify_crc)?;
        let (magic, attributes, crc, timestamp) = (
            wrapper.magic,
            wrapper.attributes,
            wrapper.crc,
            wrapper.timestamp,
        );
        let timestamp_type = timestamp_type_of(magic, attributes);
        let compression = compression_of(attributes)?;
        let records = if compression == Compression::None {
            vec![plain_record(offset, wrapper, timestamp_type)]
        } else {
            let compressed = wrapper.value.unwrap_or_default();
            let inner = Bytes::from(decompress_for_magic(
                compression,
                &compressed,
                options.max_decompressed_size,
                magic,
            )?);
            decode_inner(offset, magic, timestamp, timestamp_type, &inner, options)?
        };
        Ok(Self {
            offset,
            magic,
            attributes,
            crc,
            timestamp,
            raw,
            records,
        })
    }

    /// The entry's offset (for a wrapper: its last inner offset).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Magic byte: 0 or 1.
    pub fn magic(&self) -> i8 {
        self.magic
    }

    /// The message attribute byte.
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// The message's compression.
    pub fn compression(&self) -> Compression {
        compression_of(self.attributes).unwrap_or(Compression::None)
    }

    /// Timestamp type of the (wrapper) message.
    pub fn timestamp_type(&self) -> TimestampType {
        timestamp_type_of(self.magic, self.attributes)
    }

    /// Wrapper timestamp (-1 for magic 0).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The stored CRC-32 of the (wrapper) message.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// CRC-32 of the bytes the stored CRC covers.
    pub fn computed_crc(&self) -> u32 {
        crc32fast::hash(&self.raw[LOG_OVERHEAD + 4..])
    }

    /// Whether the stored CRC matches the bytes.
    pub fn crc_is_valid(&self) -> bool {
        self.computed_crc() == self.crc
    }

    /// The entry as read.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The records: one for a plain message, the inner ones for a wrapper.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Takes the records out.
    pub fn into_records(self) -> Vec<Record> {
        self.records
    }
}

fn decode_inner(
    wrapper_offset: i64,
    wrapper_magic: i8,
    wrapper_timestamp: i64,
    timestamp_type: TimestampType,
    inner: &Bytes,
    options: &ReadOptions,
) -> Result<Vec<Record>, RecordsError> {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < inner.len() {
        let (offset, message) = split_entry(inner, &mut pos)?;
        let message = parse_message(offset, &message, options.verify_crc)?;
        if compression_of(message.attributes)? != Compression::None {
            return Err(RecordsError::NestedCompression {
                offset: wrapper_offset,
            });
        }
        let mut record = plain_record(offset, message, timestamp_type);
        if timestamp_type == TimestampType::LogAppendTime {
            record.timestamp = wrapper_timestamp;
        }
        records.push(record);
    }
    if wrapper_magic >= 1
        && let Some(last) = records.last()
    {
        let base = wrapper_offset.wrapping_sub(last.offset);
        for record in &mut records {
            record.offset = base.wrapping_add(record.offset);
        }
    }
    Ok(records)
}

fn put_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let size = if magic == 0 {
        MIN_MESSAGE_V0
    } else {
        MIN_MESSAGE_V1
    } + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len);
    out.put_i64(offset);
    out.put_i32(size as i32);
    let crc_at = out.len();
    out.put_u32(0);
    out.put_i8(magic);
    out.put_i8(attributes);
    if magic == 1 {
        out.put_i64(timestamp);
    }
    for field in [key, value] {
        match field {
            None => out.put_i32(-1),
            Some(bytes) => {
                out.put_i32(bytes.len() as i32);
                out.put_slice(bytes);
            }
        }
    }
    let crc = crc32fast::hash(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Appends a legacy message set to `out`: one message per record if
/// `compression` is none, else one wrapper holding them all, with inner
/// offsets relative for magic 1 and absolute for magic 0 (as the Java
/// client wrote them). A log-append-time wrapper carries the largest
/// timestamp.
pub fn write_message_set(
    out: &mut Vec<u8>,
    magic: i8,
    compression: Compression,
    level: Option<i32>,
    timestamp_type: TimestampType,
    messages: &[LegacyMessage<'_>],
) -> Result<(), RecordsError> {
    if !(0..=1).contains(&magic) {
        return Err(RecordsError::UnsupportedMagic {
            offset: messages.first().map_or(0, |m| m.offset),
            magic,
        });
    }
    if compression == Compression::Zstd {
        return Err(RecordsError::UnknownCompression(4));
    }
    let type_bit = if magic == 1 && timestamp_type == TimestampType::LogAppendTime {
        TIMESTAMP_TYPE_BIT
    } else {
        0
    };
    if compression == Compression::None {
        for m in messages {
            put_message(out, m.offset, magic, type_bit, m.timestamp, m.key, m.value);
        }
        return Ok(());
    }
    let Some(last) = messages.last() else {
        return Ok(());
    };
    let first_offset = messages[0].offset;
    let mut inner = Vec::new();
    for m in messages {
        let offset = if magic == 1 {
            m.offset.wrapping_sub(first_offset)
        } else {
            m.offset
        };
        put_message(
            &mut inner,
            offset,
            magic,
            type_bit,
            m.timestamp,
            m.key,
            m.value,
        );
    }
    let mut compressed = Vec::new();
    compress(compression, level, &inner, &mut compressed)?;
    let max_timestamp = messages.iter().map(|m| m.timestamp).max().unwrap_or(-1);
    put_message(
        out,
        last.offset,
        magic,
        type_bit | compression.id() as i8,
        max_timestamp,
        None,
        Some(&compressed),
    );
    Ok(())
}
