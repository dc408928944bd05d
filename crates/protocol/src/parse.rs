//! The nom parsers every generated decoder is made of.
//!
//! Each parser takes the unread bytes (`&[u8]`) and returns what is left
//! and the value, as nom parsers do. What nom leaves to its user this
//! module supplies:
//!
//! - [`ParseError`], the error every parser returns: what went wrong, the
//!   innermost field being read ([`field`] names it on the way out) and how
//!   many bytes were left when it failed, from which [`Message::decode`]
//!   computes the offset of a [`DecodeError`].
//! - Lengths checked against the bytes present before anything is
//!   allocated, and arrays that reserve no more than the bytes left can
//!   hold ([`array()`]), so a hostile length costs nothing up front.
//! - [`Source`], the `Bytes` the input was borrowed from, so `bytes` and
//!   `records` fields are shared slices of it, never copies.
//!
//! [`Message::decode`]: crate::Message::decode

use bytes::Bytes;
use nom::error::ErrorKind;

use crate::RecordSet;
use crate::codec::{DecodeError, DecodeErrorKind, RawTaggedField, Uuid};
use crate::varint;

/// What every parser here returns.
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, ParseError>;

/// A parse failure, before it knows the message, version and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: DecodeErrorKind,
    /// The innermost field being read; empty until [`field`] names it.
    pub field: &'static str,
    /// Bytes of the input left unread where it failed.
    pub remaining: usize,
}

impl ParseError {
    /// An error with `remaining` bytes left.
    pub fn new(kind: DecodeErrorKind, remaining: usize) -> Self {
        ParseError {
            kind,
            field: "",
            remaining,
        }
    }

    /// An error at `input` (the bytes left).
    pub fn at(input: &[u8], kind: DecodeErrorKind) -> nom::Err<Self> {
        nom::Err::Error(Self::new(kind, input.len()))
    }

    /// The error as a [`DecodeError`] of `message` v`version`, whose body
    /// was `total` bytes long.
    pub fn into_decode_error(
        self,
        message: &'static str,
        version: i16,
        total: usize,
    ) -> DecodeError {
        DecodeError {
            message,
            version,
            field: self.field,
            offset: total.saturating_sub(self.remaining),
            kind: self.kind,
        }
    }
}

impl nom::error::ParseError<&[u8]> for ParseError {
    // Only nom's own combinators call this; the parsers here build their
    // errors themselves, with the bytes they needed.
    fn from_error_kind(input: &[u8], _kind: ErrorKind) -> Self {
        Self::new(
            DecodeErrorKind::Truncated {
                needed: input.len() + 1,
                available: input.len(),
            },
            input.len(),
        )
    }

    fn append(_input: &[u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// The unwrapped error of a parse result (nom wraps it in `Error` or
/// `Failure`; these parsers never return `Incomplete`).
pub fn unwrap_err(error: nom::Err<ParseError>) -> ParseError {
    match error {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => ParseError::new(
            DecodeErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
            0,
        ),
    }
}

/// Names the field `result` came from in its error, unless a field inside
/// it already named itself (the innermost field is the one reported).
#[inline]
pub fn field<T>(
    name: &'static str,
    result: Result<T, nom::Err<ParseError>>,
) -> Result<T, nom::Err<ParseError>> {
    result.map_err(|e| {
        e.map(|mut e| {
            if e.field.is_empty() {
                e.field = name;
            }
            e
        })
    })
}

/// The buffer the input is borrowed from, for zero-copy `bytes` fields.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    data: &'a Bytes,
}

impl<'a> Source<'a> {
    /// A source over `data`; parsers must be given slices of it.
    pub fn new(data: &'a Bytes) -> Self {
        Source { data }
    }

    /// The input: all of the source's bytes.
    pub fn input(&self) -> &'a [u8] {
        self.data
    }

    /// `slice`, a part of the source's bytes, as shared `Bytes`.
    #[inline]
    pub fn share(&self, slice: &[u8]) -> Bytes {
        self.data.slice_ref(slice)
    }
}

#[inline]
fn truncated(input: &[u8], needed: usize) -> nom::Err<ParseError> {
    ParseError::at(
        input,
        DecodeErrorKind::Truncated {
            needed,
            available: input.len(),
        },
    )
}

/// The next `N` bytes.
#[inline]
pub fn array_of<const N: usize>(input: &[u8]) -> PResult<'_, [u8; N]> {
    match input.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((rest, *head)),
        None => Err(truncated(input, N)),
    }
}

/// The next `n` bytes.
#[inline]
pub fn take(input: &[u8], n: usize) -> PResult<'_, &[u8]> {
    if n > input.len() {
        return Err(truncated(input, n));
    }
    let (head, rest) = input.split_at(n);
    Ok((rest, head))
}

macro_rules! big_endian {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(input: &[u8]) -> PResult<'_, $ty> {
            let (rest, bytes) = array_of(input)?;
            Ok((rest, <$ty>::from_be_bytes(bytes)))
        }
    )*};
}

big_endian! {
    /// int8.
    int8: i8;
    /// int16.
    int16: i16;
    /// int32.
    int32: i32;
    /// int64.
    int64: i64;
    /// uint16.
    uint16: u16;
    /// uint32.
    uint32: u32;
    /// float64.
    float64: f64;
}

/// boolean (any non-zero byte is true, as in Kafka).
#[inline]
pub fn boolean(input: &[u8]) -> PResult<'_, bool> {
    let (rest, [byte]) = array_of(input)?;
    Ok((rest, byte != 0))
}

/// uuid.
#[inline]
pub fn uuid(input: &[u8]) -> PResult<'_, Uuid> {
    let (rest, bytes) = array_of(input)?;
    Ok((rest, Uuid(bytes)))
}

/// unsigned varint; one-byte values (almost every compact length and tag
/// count) never leave this function.
#[inline]
pub fn uvarint(input: &[u8]) -> PResult<'_, u32> {
    match input {
        [b0, rest @ ..] if *b0 < 0x80 => Ok((rest, u32::from(*b0))),
        _ => long_uvarint(input),
    }
}

#[inline(never)]
fn long_uvarint(input: &[u8]) -> PResult<'_, u32> {
    match varint::decode_unsigned_varint(input) {
        Ok((value, read)) => Ok((&input[read..], value)),
        Err(varint::VarintError::Truncated) => Err(truncated(input, input.len() + 1)),
        Err(varint::VarintError::TooLong { .. }) => {
            Err(ParseError::at(input, DecodeErrorKind::BadVarint))
        }
    }
}

/// `raw` as a length: `None` for -1, an error below -1 or above what is left.
#[inline]
fn checked_len(rest: &[u8], raw: i64) -> Result<Option<usize>, nom::Err<ParseError>> {
    match raw {
        -1 => Ok(None),
        // Every element, character or byte takes at least one byte.
        n if n >= 0 && (n as u64) <= rest.len() as u64 => Ok(Some(n as usize)),
        n => Err(ParseError::at(rest, DecodeErrorKind::BadLength(n))),
    }
}

/// A length prefix, `None` for null: compact (unsigned varint of length
/// + 1) or int32; never more than the bytes left.
#[inline]
pub fn nullable_len(input: &[u8], compact: bool) -> PResult<'_, Option<usize>> {
    let (rest, raw) = if compact {
        let (rest, n) = uvarint(input)?;
        (rest, i64::from(n) - 1)
    } else {
        let (rest, n) = int32(input)?;
        (rest, i64::from(n))
    };
    Ok((rest, checked_len(rest, raw)?))
}

/// A non-null length prefix.
#[inline]
pub fn len(input: &[u8], compact: bool) -> PResult<'_, usize> {
    let (rest, n) = nullable_len(input, compact)?;
    match n {
        Some(n) => Ok((rest, n)),
        None => Err(ParseError::at(rest, DecodeErrorKind::NullNotAllowed)),
    }
}

/// A nullable string: compact, or with an int16 length.
#[inline]
pub fn nullable_string(input: &[u8], compact: bool) -> PResult<'_, Option<String>> {
    let (rest, len) = if compact {
        nullable_len(input, true)?
    } else {
        let (rest, raw) = int16(input)?;
        (rest, checked_len(rest, i64::from(raw))?)
    };
    let Some(len) = len else {
        return Ok((rest, None));
    };
    let (rest, bytes) = take(rest, len)?;
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((rest, Some(text.to_owned()))),
        Err(_) => Err(ParseError::at(rest, DecodeErrorKind::InvalidUtf8)),
    }
}

/// A string.
#[inline]
pub fn string(input: &[u8], compact: bool) -> PResult<'_, String> {
    let (rest, value) = nullable_string(input, compact)?;
    match value {
        Some(value) => Ok((rest, value)),
        None => Err(ParseError::at(rest, DecodeErrorKind::NullNotAllowed)),
    }
}

/// A nullable record set (the `records` type), shared with the source.
#[inline]
pub fn nullable_records<'a>(
    input: &'a [u8],
    source: Source<'a>,
    compact: bool,
) -> PResult<'a, Option<RecordSet>> {
    let (rest, bytes) = nullable_bytes(input, source, compact)?;
    Ok((rest, bytes.map(RecordSet::from)))
}

/// A record set (the `records` type), shared with the source.
#[inline]
pub fn records<'a>(input: &'a [u8], source: Source<'a>, compact: bool) -> PResult<'a, RecordSet> {
    let (rest, bytes) = bytes(input, source, compact)?;
    Ok((rest, RecordSet::from(bytes)))
}

/// Nullable bytes, shared with the source (no copy).
#[inline]
pub fn nullable_bytes<'a>(
    input: &'a [u8],
    source: Source<'a>,
    compact: bool,
) -> PResult<'a, Option<Bytes>> {
    let (rest, len) = nullable_len(input, compact)?;
    let Some(len) = len else {
        return Ok((rest, None));
    };
    let (rest, bytes) = take(rest, len)?;
    Ok((rest, Some(source.share(bytes))))
}

/// Bytes, shared with the source.
#[inline]
pub fn bytes<'a>(input: &'a [u8], source: Source<'a>, compact: bool) -> PResult<'a, Bytes> {
    let (rest, value) = nullable_bytes(input, source, compact)?;
    match value {
        Some(value) => Ok((rest, value)),
        None => Err(ParseError::at(rest, DecodeErrorKind::NullNotAllowed)),
    }
}

/// `n` elements read by `element`, reserving room for no more of them
/// than the bytes left could hold: a hostile count costs nothing up front,
/// a legitimate one grows the vector as elements arrive.
#[inline]
pub fn array<'a, T>(
    mut input: &'a [u8],
    n: usize,
    mut element: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let room = input.len() / std::mem::size_of::<T>().max(1);
    let mut items = Vec::with_capacity(n.min(room));
    for _ in 0..n {
        let (rest, item) = element(input)?;
        items.push(item);
        input = rest;
    }
    Ok((input, items))
}

/// An array: its length (never more than the bytes left), then its elements.
#[inline]
pub fn vec<'a, T>(
    input: &'a [u8],
    compact: bool,
    element: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (input, n) = len(input, compact)?;
    array(input, n, element)
}

/// A nullable array.
#[inline]
pub fn nullable_vec<'a, T>(
    input: &'a [u8],
    compact: bool,
    element: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Option<Vec<T>>> {
    match nullable_len(input, compact)? {
        (input, None) => Ok((input, None)),
        (input, Some(n)) => {
            let (input, items) = array(input, n, element)?;
            Ok((input, Some(items)))
        }
    }
}

/// A nullable struct: an int8 marker (negative for null), then the struct.
#[inline]
pub fn nullable_struct<'a, T>(
    input: &'a [u8],
    parser: impl FnOnce(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Option<T>> {
    let (input, marker) = int8(input)?;
    if marker < 0 {
        return Ok((input, None));
    }
    let (input, value) = parser(input)?;
    Ok((input, Some(value)))
}

/// `result`, unless it is null where `null_allowed` is false.
#[inline]
pub fn null_check<T>(null_allowed: bool, result: PResult<'_, Option<T>>) -> PResult<'_, Option<T>> {
    match result? {
        (rest, None) if !null_allowed => Err(ParseError::at(rest, DecodeErrorKind::NullNotAllowed)),
        parsed => Ok(parsed),
    }
}

/// A tagged-field section: the count, then each field's tag, size and
/// value; `known` parses the value of a tag it knows (given exactly the
/// value's bytes) and returns `Ok(None)` after storing it, or returns the
/// tag's bytes back to be kept as unknown.
#[inline]
pub fn tagged_fields<'a>(
    input: &'a [u8],
    source: Source<'a>,
    unknown: &mut Vec<RawTaggedField>,
    mut known: impl FnMut(u32, &'a [u8]) -> Result<bool, nom::Err<ParseError>>,
) -> PResult<'a, ()> {
    let (mut input, count) = uvarint(input)?;
    for _ in 0..count {
        let (rest, tag) = uvarint(input)?;
        let (rest, size) = uvarint(rest)?;
        let (rest, value) = take(rest, size as usize)?;
        // A known tag's errors count their offset from the whole input.
        let behind = rest.len();
        let taken = known(tag, value).map_err(|e| {
            e.map(|mut e| {
                e.remaining += behind;
                e
            })
        })?;
        if !taken {
            unknown.push(RawTaggedField {
                tag,
                data: source.share(value),
            });
        }
        input = rest;
    }
    Ok((input, ()))
}

/// Fails unless `input` is empty.
#[inline]
pub fn end(input: &[u8]) -> Result<(), nom::Err<ParseError>> {
    if input.is_empty() {
        Ok(())
    } else {
        Err(ParseError::at(
            input,
            DecodeErrorKind::TrailingBytes(input.len()),
        ))
    }
}

/// `parser` over all of `data`, which must hold exactly one value, with
/// errors carrying `message`, `version` and their offset in `data`.
pub fn parse_all<T>(
    data: &Bytes,
    message: &'static str,
    version: i16,
    parser: impl for<'a> FnOnce(&'a [u8], Source<'a>) -> PResult<'a, T>,
) -> Result<T, DecodeError> {
    let source = Source::new(data);
    let result = parser(source.input(), source).and_then(|(rest, value)| {
        end(rest)?;
        Ok(value)
    });
    result.map_err(|e| unwrap_err(e).into_decode_error(message, version, data.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_beyond_the_input_are_bad_lengths_where_they_were_read() {
        let input = [0, 0, 0, 9, 1, 2];
        let error = unwrap_err(nullable_len(&input, false).unwrap_err());
        assert_eq!(error.kind, DecodeErrorKind::BadLength(9));
        assert_eq!(error.remaining, 2);
        assert_eq!(nullable_len(&[0], true).unwrap().1, None);
        let error = unwrap_err(len(&[0], true).unwrap_err());
        assert_eq!(error.kind, DecodeErrorKind::NullNotAllowed);
    }

    #[test]
    fn strings_and_bytes_share_or_check_their_input() {
        let data = Bytes::from_static(&[3, b'a', b'b', 0xff, 0]);
        let source = Source::new(&data);
        let (rest, value) = bytes(source.input(), source, true).unwrap();
        assert_eq!(&value[..], [b'a', b'b']);
        assert_eq!(rest, [0xff, 0]);
        let error = unwrap_err(string(&[3, 0xff, 0xfe], true).unwrap_err());
        assert_eq!(error.kind, DecodeErrorKind::InvalidUtf8);
        assert_eq!(error.remaining, 0);
    }

    #[test]
    fn the_innermost_field_names_the_error() {
        let inner = field("Inner", int32(&[1, 2]));
        let outer = field("Outer", inner);
        let error = unwrap_err(outer.unwrap_err());
        assert_eq!(error.field, "Inner");
        assert_eq!(
            error.kind,
            DecodeErrorKind::Truncated {
                needed: 4,
                available: 2
            }
        );
    }

    #[test]
    fn varints_beyond_five_bytes_are_bad() {
        let error = unwrap_err(uvarint(&[0xff; 6]).unwrap_err());
        assert_eq!(error.kind, DecodeErrorKind::BadVarint);
        assert_eq!(uvarint(&[0x96, 0x01, 7]).unwrap(), (&[7][..], 150));
    }
}
