//! The nom parsers the record formats are read with, and the error they
//! carry: a [`RecordsError`] naming the field, built where the bytes ran
//! out or went wrong (never from a bare nom error kind).
//!
//! Inputs are `&[u8]` slices of the `Bytes` a batch was read from; a
//! caller turns the key, value and header slices these parsers return
//! back into shared `Bytes` with [`Bytes::slice_ref`], so nothing is
//! copied.

use ferrokafka_protocol::varint::{decode_varint, decode_varlong};
use nom::error::ErrorKind;

use crate::RecordsError;

/// What every parser here returns.
pub(crate) type PResult<'a, T> = nom::IResult<&'a [u8], T, Failure>;

/// A [`RecordsError`] as a nom error.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) RecordsError);

impl nom::error::ParseError<&[u8]> for Failure {
    // Only nom's own number parsers get here: the input was too short.
    fn from_error_kind(input: &[u8], _kind: ErrorKind) -> Self {
        Failure(RecordsError::Truncated {
            what: "",
            needed: input.len() + 1,
            available: input.len(),
        })
    }

    fn append(_input: &[u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// `error` as a parse failure.
#[inline]
pub(crate) fn fail<T>(error: RecordsError) -> Result<T, nom::Err<Failure>> {
    Err(nom::Err::Error(Failure(error)))
}

/// The error inside a parse failure.
pub(crate) fn records_error(error: nom::Err<Failure>) -> RecordsError {
    match error {
        nom::Err::Error(Failure(e)) | nom::Err::Failure(Failure(e)) => e,
        nom::Err::Incomplete(_) => RecordsError::Truncated {
            what: "",
            needed: 1,
            available: 0,
        },
    }
}

/// The next `N` bytes, or `Truncated` naming `what`.
#[inline]
pub(crate) fn array<'a, const N: usize>(
    input: &'a [u8],
    what: &'static str,
) -> PResult<'a, [u8; N]> {
    match input.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((rest, *head)),
        None => fail(RecordsError::Truncated {
            what,
            needed: N,
            available: input.len(),
        }),
    }
}

/// The next `n` bytes, or `Truncated` naming `what`.
#[inline]
pub(crate) fn take<'a>(input: &'a [u8], n: usize, what: &'static str) -> PResult<'a, &'a [u8]> {
    if n > input.len() {
        return fail(RecordsError::Truncated {
            what,
            needed: n,
            available: input.len(),
        });
    }
    let (head, rest) = input.split_at(n);
    Ok((rest, head))
}

// Record fields are almost always one- or two-byte varints (a record
// under 8 KiB has a two-byte length). Decoding those inline saves a
// cross-crate call per field on a consumer's hottest loop; anything longer
// goes to the protocol crate's decoder, which also owns every error case.
#[inline]
fn short_zigzag(input: &[u8]) -> Option<(&[u8], i64)> {
    let (rest, raw) = match input {
        [b0, rest @ ..] if *b0 < 0x80 => (rest, u64::from(*b0)),
        [b0, b1, rest @ ..] if *b1 < 0x80 => (rest, u64::from(b0 & 0x7f) | (u64::from(*b1) << 7)),
        _ => return None,
    };
    Some((rest, ((raw >> 1) as i64) ^ -((raw & 1) as i64)))
}

/// A zigzag varint.
#[inline]
pub(crate) fn varint<'a>(input: &'a [u8], what: &'static str) -> PResult<'a, i32> {
    match short_zigzag(input) {
        Some((rest, value)) => Ok((rest, value as i32)),
        None => match decode_varint(input) {
            Ok((value, read)) => Ok((&input[read..], value)),
            Err(source) => fail(RecordsError::Varint { what, source }),
        },
    }
}

/// A zigzag varlong.
#[inline]
pub(crate) fn varlong<'a>(input: &'a [u8], what: &'static str) -> PResult<'a, i64> {
    match short_zigzag(input) {
        Some(short) => Ok(short),
        None => match decode_varlong(input) {
            Ok((value, read)) => Ok((&input[read..], value)),
            Err(source) => fail(RecordsError::Varint { what, source }),
        },
    }
}

/// `length` bytes after a length prefix already read: `None` for -1.
#[inline]
fn sized<'a>(input: &'a [u8], length: i64, what: &'static str) -> PResult<'a, Option<&'a [u8]>> {
    if length < 0 {
        if length == -1 {
            return Ok((input, None));
        }
        return fail(RecordsError::InvalidLength { what, length });
    }
    let (rest, bytes) = take(input, length as usize, what)?;
    Ok((rest, Some(bytes)))
}

/// Nullable bytes with a zigzag varint length (record key, value, header).
#[inline]
pub(crate) fn varint_bytes<'a>(
    input: &'a [u8],
    what: &'static str,
) -> PResult<'a, Option<&'a [u8]>> {
    let (rest, length) = varint(input, what)?;
    sized(rest, i64::from(length), what)
}

/// Nullable bytes with an int32 length (legacy message key and value).
#[inline]
pub(crate) fn int32_bytes<'a>(
    input: &'a [u8],
    what: &'static str,
) -> PResult<'a, Option<&'a [u8]>> {
    let (rest, length) = array(input, what)?;
    sized(rest, i64::from(i32::from_be_bytes(length)), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_varints_and_long_ones_agree() {
        assert_eq!(varint(&[0x01, 9], "x").unwrap(), (&[9][..], -1));
        assert_eq!(varint(&[0x80, 0x01], "x").unwrap().1, 64);
        assert_eq!(varlong(&[0x80, 0x80, 0x01], "x").unwrap().1, 8192);
        assert!(matches!(
            varint(&[0xff; 6], "x").map_err(records_error),
            Err(RecordsError::Varint { what: "x", .. })
        ));
    }

    #[test]
    fn lengths_are_checked_against_the_bytes_present() {
        assert_eq!(varint_bytes(&[0x01], "k").unwrap().1, None);
        assert!(matches!(
            varint_bytes(&[0x06, 1], "k").map_err(records_error),
            Err(RecordsError::Truncated {
                what: "k",
                needed: 3,
                available: 1
            })
        ));
        assert!(matches!(
            int32_bytes(&[0xff, 0xff, 0xff, 0xfd], "v").map_err(records_error),
            Err(RecordsError::InvalidLength {
                what: "v",
                length: -3
            })
        ));
        assert!(matches!(
            int32_bytes(&[0, 0], "v").map_err(records_error),
            Err(RecordsError::Truncated {
                what: "v",
                needed: 4,
                available: 2
            })
        ));
    }
}
