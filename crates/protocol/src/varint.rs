//! Variable-length integers as Kafka writes them: unsigned LEB128 varints
//! (compact lengths, tagged-field tags) and zigzag varints and varlongs
//! (record fields).
//!
//! These are plain slice functions so that both the generated message
//! decoders and the record-batch reader can use them on hot paths.

use bytes::BufMut;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended before the varint's last byte.
    #[error("input ended inside a varint")]
    Truncated,
    /// The varint has more bytes than its type can hold.
    #[error("varint longer than {max_bytes} bytes")]
    TooLong {
        /// The most bytes the type allows.
        max_bytes: usize,
    },
}

fn decode_leb128(buf: &[u8], max_bytes: usize) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if i == max_bytes {
            return Err(VarintError::TooLong { max_bytes });
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= max_bytes {
        Err(VarintError::TooLong { max_bytes })
    } else {
        Err(VarintError::Truncated)
    }
}

fn encode_leb128(mut value: u64, out: &mut impl BufMut) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn leb128_len(value: u64) -> usize {
    // One byte per started group of seven bits, at least one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads an unsigned varint (at most five bytes); returns it and the bytes read.
///
/// ```
/// use ferrokafka_protocol::varint::decode_unsigned_varint;
/// assert_eq!(decode_unsigned_varint(&[0x96, 0x01]), Ok((150, 2)));
/// ```
pub fn decode_unsigned_varint(buf: &[u8]) -> Result<(u32, usize), VarintError> {
    let (value, read) = decode_leb128(buf, 5)?;
    u32::try_from(value)
        .map(|v| (v, read))
        .map_err(|_| VarintError::TooLong { max_bytes: 5 })
}

/// Reads a zigzag-encoded signed varint (at most five bytes).
///
/// ```
/// use ferrokafka_protocol::varint::decode_varint;
/// assert_eq!(decode_varint(&[0x01]), Ok((-1, 1)));
/// ```
pub fn decode_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    let (raw, read) = decode_unsigned_varint(buf)?;
    Ok((((raw >> 1) as i32) ^ -((raw & 1) as i32), read))
}

/// Reads a zigzag-encoded signed varlong (at most ten bytes).
///
/// ```
/// use ferrokafka_protocol::varint::decode_varlong;
/// assert_eq!(decode_varlong(&[0x02]), Ok((1, 1)));
/// ```
pub fn decode_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    let (raw, read) = decode_leb128(buf, 10)?;
    Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), read))
}

/// Writes an unsigned varint.
pub fn encode_unsigned_varint(value: u32, out: &mut impl BufMut) {
    encode_leb128(u64::from(value), out);
}

/// Writes a zigzag-encoded signed varint.
pub fn encode_varint(value: i32, out: &mut impl BufMut) {
    encode_leb128(u64::from(((value << 1) ^ (value >> 31)) as u32), out);
}

/// Writes a zigzag-encoded signed varlong.
pub fn encode_varlong(value: i64, out: &mut impl BufMut) {
    encode_leb128(((value << 1) ^ (value >> 63)) as u64, out);
}

/// The encoded size of an unsigned varint.
pub fn unsigned_varint_len(value: u32) -> usize {
    leb128_len(u64::from(value))
}

/// The encoded size of a zigzag-encoded signed varint.
pub fn varint_len(value: i32) -> usize {
    leb128_len(u64::from(((value << 1) ^ (value >> 31)) as u32))
}

/// The encoded size of a zigzag-encoded signed varlong.
pub fn varlong_len(value: i64) -> usize {
    leb128_len(((value << 1) ^ (value >> 63)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        encode_varint(-64, &mut out);
        assert_eq!(out, [0x7f]);
        out.clear();
        encode_varint(64, &mut out);
        assert_eq!(out, [0x80, 0x01]);
        out.clear();
        encode_varlong(i64::MIN, &mut out);
        assert_eq!(out.len(), 10);
        assert_eq!(decode_varlong(&out), Ok((i64::MIN, 10)));
    }

    #[test]
    fn round_trips_at_the_edges() {
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            encode_varint(v, &mut out);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(decode_varint(&out), Ok((v, out.len())));
        }
        for v in [0, u32::MAX, 127, 128, 16_383, 16_384] {
            let mut out = Vec::new();
            encode_unsigned_varint(v, &mut out);
            assert_eq!(out.len(), unsigned_varint_len(v));
            assert_eq!(decode_unsigned_varint(&out), Ok((v, out.len())));
        }
    }

    #[test]
    fn rejects_truncated_and_overlong_input() {
        assert_eq!(decode_varint(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(
            decode_varint(&[0xff; 6]),
            Err(VarintError::TooLong { max_bytes: 5 })
        );
        assert_eq!(
            decode_unsigned_varint(&[0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(VarintError::TooLong { max_bytes: 5 })
        );
        assert_eq!(
            decode_varlong(&[0xff; 11]),
            Err(VarintError::TooLong { max_bytes: 10 })
        );
    }
}
