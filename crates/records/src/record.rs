//! One record inside a batch: its decoded form and its wire encoding
//! (varint length, attributes, varlong timestamp delta, varint offset
//! delta, nullable key and value, headers with nullable values).

use bytes::{BufMut, Bytes};
use ferrokafka_protocol::varint::{encode_varint, encode_varlong, varint_len, varlong_len};

use crate::parse::{PResult, array, fail, records_error, take, varint, varint_bytes, varlong};
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

/// The record at the start of `input`, whose bytes are a slice of `data`:
/// key, value and header values become shared slices of `data`.
#[inline]
fn record<'a>(input: &'a [u8], data: &Bytes, context: &RecordContext) -> PResult<'a, Record> {
    let (rest, length) = varint(input, "record length")?;
    let Ok(length) = usize::try_from(length) else {
        return fail(RecordsError::InvalidLength {
            what: "record length",
            length: i64::from(length),
        });
    };
    let (rest, body) = take(rest, length, "record")?;
    let (body, [attributes]) = array(body, "record attributes")?;
    let (body, timestamp_delta) = varlong(body, "record timestamp delta")?;
    let (body, offset_delta) = varint(body, "record offset delta")?;
    let (body, key) = varint_bytes(body, "record key")?;
    let (body, value) = varint_bytes(body, "record value")?;
    let (body, headers) = headers(body, data)?;
    if !body.is_empty() {
        return fail(RecordsError::TrailingBytes {
            what: "record",
            count: body.len(),
        });
    }
    let share = |slice: Option<&[u8]>| slice.map(|s| data.slice_ref(s));
    Ok((
        rest,
        Record {
            offset: context.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp: context
                .log_append_time
                .unwrap_or_else(|| context.base_timestamp.wrapping_add(timestamp_delta)),
            timestamp_type: context.timestamp_type,
            key: share(key),
            value: share(value),
            headers,
            attributes: attributes as i8,
            offset_delta,
            timestamp_delta,
        },
    ))
}

/// A record's header count and headers.
#[inline]
fn headers<'a>(input: &'a [u8], data: &Bytes) -> PResult<'a, Vec<Header>> {
    let (mut input, count) = varint(input, "record header count")?;
    if count <= 0 {
        if count < 0 {
            return fail(RecordsError::InvalidLength {
                what: "record header count",
                length: i64::from(count),
            });
        }
        return Ok((input, Vec::new()));
    }
    // Each header takes at least two bytes, which bounds the allocation.
    let count = count as usize;
    if count > input.len() / 2 {
        return fail(RecordsError::Truncated {
            what: "record headers",
            needed: count * 2,
            available: input.len(),
        });
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let (rest, key) = varint_bytes(input, "record header key")?;
        let Some(key) = key else {
            return fail(RecordsError::InvalidLength {
                what: "record header key",
                length: -1,
            });
        };
        let (rest, value) = varint_bytes(rest, "record header value")?;
        headers.push(Header {
            key: data.slice_ref(key),
            value: value.map(|v| data.slice_ref(v)),
        });
        input = rest;
    }
    Ok((input, headers))
}

/// Decodes the record at `*pos` in `data`, advancing `*pos` past it.
#[inline]
pub(crate) fn decode_record(
    data: &Bytes,
    pos: &mut usize,
    context: &RecordContext,
) -> Result<Record, RecordsError> {
    let input = data.get(*pos..).unwrap_or_default();
    let (rest, record) = record(input, data, context).map_err(records_error)?;
    *pos = data.len() - rest.len();
    Ok(record)
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
    encode_record_head(out, body, attributes, timestamp_delta, offset_delta, key);
    put_nullable(out, value);
    encode_record_tail(out, headers);
}

/// Writes one record but for its value's bytes, which belong at the
/// position returned (the value's length is written): a caller keeping
/// the value elsewhere splices it in there.
pub(crate) fn encode_record_around_value<H: HeaderRef>(
    out: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: &[u8],
    headers: &[H],
) -> usize {
    let body = body_len(timestamp_delta, offset_delta, key, Some(value), headers);
    out.reserve(body - value.len() + 5);
    encode_record_head(out, body, attributes, timestamp_delta, offset_delta, key);
    encode_varint(value.len() as i32, out);
    let value_at = out.len();
    encode_record_tail(out, headers);
    value_at
}

/// A record's length, attributes, timestamp and offset deltas, and key.
#[inline]
fn encode_record_head(
    out: &mut Vec<u8>,
    body: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
) {
    encode_varint(body as i32, out);
    out.put_i8(attributes);
    encode_varlong(timestamp_delta, out);
    encode_varint(offset_delta, out);
    put_nullable(out, key);
}

/// A record's headers, after its value.
#[inline]
fn encode_record_tail<H: HeaderRef>(out: &mut Vec<u8>, headers: &[H]) {
    encode_varint(headers.len() as i32, out);
    for header in headers {
        put_nullable(out, Some(header.key()));
        put_nullable(out, header.value());
    }
}
