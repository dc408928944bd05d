//! One record inside a batch: its decoded form and its wire encoding
//! (varint length, attributes, varlong timestamp delta, varint offset
//! delta, nullable key and value, headers with nullable values).

use bytes::{BufMut, Bytes};
use ferrokafka_protocol::varint::{
    VarintError, decode_varint, decode_varlong, encode_varint, encode_varlong, varint_len,
    varlong_len,
};

use crate::{RecordsError, TimestampType};

/// One record header: a key (UTF-8 by convention) and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// The header key as bytes.
    pub key: Bytes,
    /// The header value, `None` for null.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header from anything byte-like (copies).
    ///
    /// ```
    /// use ferrokafka_records::Header;
    /// let header = Header::new("trace-id", Some(b"abc".as_slice()));
    /// assert_eq!(header.key_str(), Some("trace-id"));
    /// ```
    pub fn new(key: impl AsRef<[u8]>, value: Option<impl AsRef<[u8]>>) -> Self {
        Self {
            key: Bytes::copy_from_slice(key.as_ref()),
            value: value.map(|v| Bytes::copy_from_slice(v.as_ref())),
        }
    }

    /// The key as a string, if it is valid UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// Anything the batch builder can write as a header without copying it
/// first: [`Header`] and `(key, value)` pairs of byte slices.
pub trait HeaderRef {
    /// The header key.
    fn key(&self) -> &[u8];
    /// The header value, `None` for null.
    fn value(&self) -> Option<&[u8]>;
}

impl HeaderRef for Header {
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

impl HeaderRef for (&[u8], Option<&[u8]>) {
    fn key(&self) -> &[u8] {
        self.0
    }
    fn value(&self) -> Option<&[u8]> {
        self.1
    }
}

impl HeaderRef for (&str, Option<&[u8]>) {
    fn key(&self) -> &[u8] {
        self.0.as_bytes()
    }
    fn value(&self) -> Option<&[u8]> {
        self.1
    }
}

/// A decoded record with its absolute offset and timestamp.
///
/// Keys, values and header values are slices of the fetched (or, for a
/// compressed batch, the decompressed) buffer: no copies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Absolute offset in the partition.
    pub offset: i64,
    /// The record's timestamp: the log-append time for log-append-time
    /// batches, else base timestamp plus delta (-1 for magic 0).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// The record key, `None` for null.
    pub key: Option<Bytes>,
    /// The record value, `None` for null (a tombstone).
    pub value: Option<Bytes>,
    /// Record headers (always empty before magic 2).
    pub headers: Vec<Header>,
    /// The record's own attribute byte (unused by Kafka so far).
    pub attributes: i8,
    /// Offset delta as written (magic 2; zero for legacy messages).
    pub offset_delta: i32,
    /// Timestamp delta as written (magic 2; zero for legacy messages).
    pub timestamp_delta: i64,
}

/// What records of one batch share: where their deltas count from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext {
    pub(crate) base_offset: i64,
    pub(crate) base_timestamp: i64,
    pub(crate) timestamp_type: TimestampType,
    /// Set for log-append-time batches: every record gets this timestamp.
    pub(crate) log_append_time: Option<i64>,
}

// Record fields are almost always one- or two-byte varints (a record
// under 8 KiB has a two-byte length). Decoding those inline saves a
// cross-crate call per field on a consumer's hottest loop; anything longer
// goes to the protocol crate's decoder, which also owns every error case.
#[inline]
fn short_zigzag(buf: &[u8]) -> Option<(i64, usize)> {
    let raw = match *buf {
        [b0, ..] if b0 < 0x80 => (u64::from(b0), 1),
        [b0, b1, ..] if b1 < 0x80 => (u64::from(b0 & 0x7f) | (u64::from(b1) << 7), 2),
        _ => return None,
    };
    Some((((raw.0 >> 1) as i64) ^ -((raw.0 & 1) as i64), raw.1))
}

#[inline]
fn fast_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    match short_zigzag(buf) {
        Some((value, read)) => Ok((value as i32, read)),
        None => decode_varint(buf),
    }
}

#[inline]
fn fast_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    match short_zigzag(buf) {
        Some(short) => Ok(short),
        None => decode_varlong(buf),
    }
}

/// A cursor over a record section: bounds-checked reads that name the
/// field being read when they fail.
struct Cursor<'a> {
    data: &'a Bytes,
    pos: usize,
    end: usize,
}

impl Cursor<'_> {
    #[inline]
    fn varint(&mut self, what: &'static str) -> Result<i32, RecordsError> {
        let (value, read) =
            fast_varint(&self.data[self.pos..self.end]).map_err(RecordsError::varint(what))?;
        self.pos += read;
        Ok(value)
    }

    #[inline]
    fn varlong(&mut self, what: &'static str) -> Result<i64, RecordsError> {
        let (value, read) =
            fast_varlong(&self.data[self.pos..self.end]).map_err(RecordsError::varint(what))?;
        self.pos += read;
        Ok(value)
    }

    #[inline]
    fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, RecordsError> {
        let length = self.varint(what)?;
        if length < 0 {
            if length == -1 {
                return Ok(None);
            }
            return Err(RecordsError::InvalidLength {
                what,
                length: i64::from(length),
            });
        }
        let length = length as usize;
        let available = self.end - self.pos;
        if length > available {
            return Err(RecordsError::Truncated {
                what,
                needed: length,
                available,
            });
        }
        let start = self.pos;
        self.pos += length;
        Ok(Some(self.data.slice(start..self.pos)))
    }
}

/// Decodes the record at `*pos` in `data`, advancing `*pos` past it.
#[inline]
pub(crate) fn decode_record(
    data: &Bytes,
    pos: &mut usize,
    context: &RecordContext,
) -> Result<Record, RecordsError> {
    let mut outer = Cursor {
        data,
        pos: *pos,
        end: data.len(),
    };
    let length = outer.varint("record length")?;
    let length = usize::try_from(length).map_err(|_| RecordsError::InvalidLength {
        what: "record length",
        length: i64::from(length),
    })?;
    let available = data.len() - outer.pos;
    if length > available {
        return Err(RecordsError::Truncated {
            what: "record",
            needed: length,
            available,
        });
    }
    let mut cursor = Cursor {
        data,
        pos: outer.pos,
        end: outer.pos + length,
    };
    let attributes =
        *data
            .get(cursor.pos)
            .filter(|_| length > 0)
            .ok_or(RecordsError::Truncated {
                what: "record attributes",
                needed: 1,
                available: 0,
            })? as i8;
    cursor.pos += 1;
    let timestamp_delta = cursor.varlong("record timestamp delta")?;
    let offset_delta = cursor.varint("record offset delta")?;
    let key = cursor.nullable_bytes("record key")?;
    let value = cursor.nullable_bytes("record value")?;
    let header_count = cursor.varint("record header count")?;
    if header_count < 0 {
        return Err(RecordsError::InvalidLength {
            what: "record header count",
            length: i64::from(header_count),
        });
    }
    let mut headers = Vec::new();
    if header_count > 0 {
        // Each header takes at least two bytes, which bounds the allocation.
        let header_count = header_count as usize;
        let room = (cursor.end - cursor.pos) / 2;
        if header_count > room {
            return Err(RecordsError::Truncated {
                what: "record headers",
                needed: header_count * 2,
                available: cursor.end - cursor.pos,
            });
        }
        headers.reserve_exact(header_count);
        for _ in 0..header_count {
            let key =
                cursor
                    .nullable_bytes("record header key")?
                    .ok_or(RecordsError::InvalidLength {
                        what: "record header key",
                        length: -1,
                    })?;
            let value = cursor.nullable_bytes("record header value")?;
            headers.push(Header { key, value });
        }
    }
    if cursor.pos != cursor.end {
        return Err(RecordsError::TrailingBytes {
            what: "record",
            count: cursor.end - cursor.pos,
        });
    }
    *pos = cursor.end;
    Ok(Record {
        offset: context.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp: context
            .log_append_time
            .unwrap_or_else(|| context.base_timestamp.wrapping_add(timestamp_delta)),
        timestamp_type: context.timestamp_type,
        key,
        value,
        headers,
        attributes,
        offset_delta,
        timestamp_delta,
    })
}

fn nullable_len(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(bytes) => varint_len(bytes.len() as i32) + bytes.len(),
    }
}

fn put_nullable(out: &mut impl BufMut, bytes: Option<&[u8]>) {
    match bytes {
        None => encode_varint(-1, out),
        Some(bytes) => {
            encode_varint(bytes.len() as i32, out);
            out.put_slice(bytes);
        }
    }
}

/// The encoded size of a record's body (everything after its length).
#[inline]
pub(crate) fn body_len<H: HeaderRef>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[H],
) -> usize {
    let mut len = 1
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_len(key)
        + nullable_len(value)
        + varint_len(headers.len() as i32);
    for header in headers {
        len += nullable_len(Some(header.key())) + nullable_len(header.value());
    }
    len
}

/// Writes one record: length, then body.
#[inline]
pub(crate) fn encode_record<H: HeaderRef>(
    out: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[H],
) {
    let body = body_len(timestamp_delta, offset_delta, key, value, headers);
    out.reserve(body + 5);
    encode_varint(body as i32, out);
    out.put_i8(attributes);
    encode_varlong(timestamp_delta, out);
    encode_varint(offset_delta, out);
    put_nullable(out, key);
    put_nullable(out, value);
    encode_varint(headers.len() as i32, out);
    for header in headers {
        put_nullable(out, Some(header.key()));
        put_nullable(out, header.value());
    }
}
