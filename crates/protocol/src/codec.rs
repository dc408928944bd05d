//! The wire primitives every generated message is written with: a [`Sink`]
//! to write into (the frame buffer, or a [`SizeCounter`] that computes the
//! exact size first), and the errors of encoding and decoding. Decoding is
//! [`crate::parse`]'s nom parsers.

use bytes::{Bytes, BytesMut};

use crate::RecordSet;

use crate::varint;

/// A UUID as Kafka sends it: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "none".
    pub const ZERO: Uuid = Uuid([0; 16]);
}

/// A tagged field this crate does not know, kept to be re-encoded as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    /// The tag.
    pub tag: u32,
    /// The field's bytes.
    pub data: Bytes,
}

impl RawTaggedField {
    /// Writes tag, size and data.
    pub fn write<W: Sink>(&self, w: &mut W) {
        w.put_uvarint(self.tag);
        w.put_uvarint(u32::try_from(self.data.len()).unwrap_or(u32::MAX));
        w.put_slice(&self.data);
    }
}

/// Why a value cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeErrorKind {
    /// The field has a non-default value the version cannot carry.
    FieldNotInVersion,
    /// The field is null in a version where it may not be.
    NullNotAllowed,
    /// A string, bytes or array is longer than its length prefix allows.
    TooLong,
    /// The message does not exist in the requested version.
    UnsupportedVersion,
}

/// An encoding failure: which message, version and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {message} v{version}, field {field}: {kind:?}")]
pub struct EncodeError {
    /// The message.
    pub message: &'static str,
    /// The version.
    pub version: i16,
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub kind: EncodeErrorKind,
}

impl EncodeError {
    /// An error at `field`.
    pub fn new(
        message: &'static str,
        version: i16,
        field: &'static str,
        kind: EncodeErrorKind,
    ) -> Self {
        EncodeError {
            message,
            version,
            field,
            kind,
        }
    }
}

/// Where encoded bytes go.
pub trait Sink {
    /// Appends raw bytes.
    fn put_slice(&mut self, bytes: &[u8]);

    /// int8.
    fn put_i8(&mut self, v: i8) {
        self.put_slice(&v.to_be_bytes());
    }
    /// int16.
    fn put_i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes());
    }
    /// int32.
    fn put_i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes());
    }
    /// int64.
    fn put_i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes());
    }
    /// uint16.
    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }
    /// uint32.
    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }
    /// float64.
    fn put_f64(&mut self, v: f64) {
        self.put_slice(&v.to_be_bytes());
    }
    /// boolean.
    fn put_bool(&mut self, v: bool) {
        self.put_slice(&[u8::from(v)]);
    }
    /// uuid.
    fn put_uuid(&mut self, v: &Uuid) {
        self.put_slice(&v.0);
    }
    /// unsigned varint.
    fn put_uvarint(&mut self, v: u32) {
        let mut buf = [0u8; 5];
        let mut slice = &mut buf[..];
        varint::encode_unsigned_varint(v, &mut slice);
        let used = 5 - slice.len();
        self.put_slice(&buf[..used]);
    }
    /// A length: compact (unsigned varint of len + 1) or int32.
    fn put_len(&mut self, len: usize, compact: bool) -> Result<(), EncodeErrorKind> {
        if compact {
            let n = u32::try_from(len)
                .ok()
                .and_then(|n| n.checked_add(1))
                .ok_or(EncodeErrorKind::TooLong)?;
            self.put_uvarint(n);
        } else {
            self.put_i32(i32::try_from(len).map_err(|_| EncodeErrorKind::TooLong)?);
        }
        Ok(())
    }
    /// A null array.
    fn put_null_len(&mut self, compact: bool) {
        if compact {
            self.put_uvarint(0);
        } else {
            self.put_i32(-1);
        }
    }
    /// A string: compact (unsigned varint of len + 1) or int16 length.
    fn put_string(&mut self, s: &str, compact: bool) -> Result<(), EncodeErrorKind> {
        if compact {
            self.put_len(s.len(), true)?;
        } else {
            self.put_i16(i16::try_from(s.len()).map_err(|_| EncodeErrorKind::TooLong)?);
        }
        self.put_slice(s.as_bytes());
        Ok(())
    }
    /// A null string.
    fn put_null_string(&mut self, compact: bool) {
        if compact {
            self.put_uvarint(0);
        } else {
            self.put_i16(-1);
        }
    }
    /// Bytes: compact or int32 length.
    fn put_bytes(&mut self, b: &[u8], compact: bool) -> Result<(), EncodeErrorKind> {
        self.put_len(b.len(), compact)?;
        self.put_slice(b);
        Ok(())
    }
    /// Null bytes.
    fn put_null_bytes(&mut self, compact: bool) {
        self.put_null_len(compact);
    }
    /// A record set (the `records` type): its length as
    /// [`Sink::put_bytes`] writes one, then its segments in order. A sink
    /// building a frame may keep the segments by reference instead of
    /// copying them, as the record batches of a Produce request are
    /// already encoded in buffers of their own.
    fn put_records(&mut self, records: &RecordSet, compact: bool) -> Result<(), EncodeErrorKind> {
        self.put_len(records.len(), compact)?;
        for segment in records.segments() {
            self.put_slice(segment);
        }
        Ok(())
    }
}

impl Sink for BytesMut {
    fn put_slice(&mut self, bytes: &[u8]) {
        bytes::BufMut::put_slice(self, bytes);
    }
}

impl Sink for Vec<u8> {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A sink that only counts: the exact encoded size, computed before the
/// frame is allocated.
#[derive(Debug, Default, Clone, Copy)]
pub struct SizeCounter(pub usize);

impl SizeCounter {
    /// The count, as a tagged-field size.
    pub fn len_u32(&self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }
}

impl Sink for SizeCounter {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    fn put_uvarint(&mut self, v: u32) {
        self.0 += varint::unsigned_varint_len(v);
    }
}

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Fewer bytes than the field needs.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A length prefix below -1, or one claiming more than the bytes left.
    BadLength(i64),
    /// A varint longer than its type allows.
    BadVarint,
    /// A string that is not UTF-8.
    InvalidUtf8,
    /// Null where the version does not allow it.
    NullNotAllowed,
    /// Bytes left over after the message (or a tagged field).
    TrailingBytes(usize),
    /// The message does not exist in the requested version.
    UnsupportedVersion,
}

/// A decoding failure: which message, version and field, at which offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {message} v{version}: field {field} at byte {offset}: {kind:?}")]
pub struct DecodeError {
    /// The message.
    pub message: &'static str,
    /// The version.
    pub version: i16,
    /// The innermost field being read.
    pub field: &'static str,
    /// Offset in the message body.
    pub offset: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}
