//! The wire primitives every generated message is made of: a [`Sink`] to
//! write into (the frame buffer, or a [`SizeCounter`] that computes the
//! exact size first), and a [`Reader`] that checks every length against the
//! bytes present before it allocates anything.

use bytes::{Bytes, BytesMut};

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

/// Reads a message body, checking every length against the bytes present.
#[derive(Debug, Clone)]
pub struct Reader {
    data: Bytes,
    pos: usize,
    base: usize,
    /// The message being read (for errors).
    pub message: &'static str,
    /// The version being read (for errors).
    pub version: i16,
    /// The field being read (for errors).
    pub field: &'static str,
}

impl Reader {
    /// A reader of `data` as `version` of `message`.
    pub fn new(data: Bytes, message: &'static str, version: i16) -> Self {
        Reader {
            data,
            pos: 0,
            base: 0,
            message,
            version,
            field: "",
        }
    }

    /// An error at the current position.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            message: self.message,
            version: self.version,
            field: self.field,
            offset: self.base + self.pos,
            kind,
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn slice(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::Truncated {
                needed: n,
                available: self.remaining(),
            }));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..start + n])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.slice(N)?);
        Ok(out)
    }

    /// int8.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    /// int16.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    /// int32.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    /// int64.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// uint16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// uint32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// float64.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array()?))
    }
    /// boolean (any non-zero byte is true, as in Kafka).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.array::<1>()?[0] != 0)
    }
    /// uuid.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        Ok(Uuid(self.array()?))
    }
    /// unsigned varint.
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        match varint::decode_unsigned_varint(&self.data[self.pos..]) {
            Ok((value, read)) => {
                self.pos += read;
                Ok(value)
            }
            Err(varint::VarintError::Truncated) => Err(self.error(DecodeErrorKind::Truncated {
                needed: self.remaining() + 1,
                available: self.remaining(),
            })),
            Err(varint::VarintError::TooLong { .. }) => Err(self.error(DecodeErrorKind::BadVarint)),
        }
    }

    /// A length prefix, `None` for null; never more than the bytes left
    /// (every element, character or byte takes at least one).
    pub fn nullable_len(&mut self, compact: bool) -> Result<Option<usize>, DecodeError> {
        let raw: i64 = if compact {
            i64::from(self.uvarint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        self.checked_len(raw)
    }

    fn checked_len(&self, raw: i64) -> Result<Option<usize>, DecodeError> {
        match raw {
            -1 => Ok(None),
            n if n < -1 => Err(self.error(DecodeErrorKind::BadLength(n))),
            n => {
                let n =
                    usize::try_from(n).map_err(|_| self.error(DecodeErrorKind::BadLength(n)))?;
                if n > self.remaining() {
                    return Err(self.error(DecodeErrorKind::BadLength(raw)));
                }
                Ok(Some(n))
            }
        }
    }

    /// How many of `n` elements of `T` to reserve room for: never more
    /// memory than the bytes left to read, so a hostile count costs nothing
    /// up front; a legitimate one grows the vector as elements arrive.
    pub fn capacity_for<T>(&self, n: usize) -> usize {
        n.min(self.remaining() / std::mem::size_of::<T>().max(1))
    }

    /// A non-null length prefix.
    pub fn len(&mut self, compact: bool) -> Result<usize, DecodeError> {
        self.nullable_len(compact)?
            .ok_or_else(|| self.error(DecodeErrorKind::NullNotAllowed))
    }

    /// A nullable string.
    pub fn nullable_string(&mut self, compact: bool) -> Result<Option<String>, DecodeError> {
        let len = if compact {
            self.nullable_len(true)?
        } else {
            let raw = i64::from(self.i16()?);
            self.checked_len(raw)?
        };
        let Some(len) = len else { return Ok(None) };
        let bytes = self.slice(len)?.to_vec();
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.error(DecodeErrorKind::InvalidUtf8))
    }

    /// A string.
    pub fn string(&mut self, compact: bool) -> Result<String, DecodeError> {
        self.nullable_string(compact)?
            .ok_or_else(|| self.error(DecodeErrorKind::NullNotAllowed))
    }

    /// Nullable bytes, sharing the input buffer (no copy).
    pub fn nullable_bytes(&mut self, compact: bool) -> Result<Option<Bytes>, DecodeError> {
        let Some(len) = self.nullable_len(compact)? else {
            return Ok(None);
        };
        let start = self.pos;
        self.pos += len;
        Ok(Some(self.data.slice(start..start + len)))
    }

    /// Bytes, sharing the input buffer.
    pub fn bytes(&mut self, compact: bool) -> Result<Bytes, DecodeError> {
        self.nullable_bytes(compact)?
            .ok_or_else(|| self.error(DecodeErrorKind::NullNotAllowed))
    }

    /// A sub-reader over the next `n` bytes (a tagged field's value).
    pub fn take(&mut self, n: usize) -> Result<Reader, DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::Truncated {
                needed: n,
                available: self.remaining(),
            }));
        }
        let sub = Reader {
            data: self.data.slice(self.pos..self.pos + n),
            pos: 0,
            base: self.base + self.pos,
            message: self.message,
            version: self.version,
            field: self.field,
        };
        self.pos += n;
        Ok(sub)
    }

    /// What is left, as shared bytes.
    pub fn rest(&mut self) -> Bytes {
        let rest = self.data.slice(self.pos..);
        self.pos = self.data.len();
        rest
    }

    /// Fails if bytes are left.
    pub fn expect_end(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(DecodeErrorKind::TrailingBytes(n))),
        }
    }
}
