//! snappy: raw snappy blocks, and the xerial framing the Java client writes
//! (magic, version, compatible version, then length-prefixed raw blocks).

use super::{Codec, Compression};
use crate::RecordsError;

/// The first bytes of a xerial snappy stream.
pub(crate) const XERIAL_MAGIC: [u8; 8] = *b"\x82SNAPPY\0";
/// Magic, version (int32) and compatible version (int32).
const XERIAL_HEADER_LEN: usize = 16;
/// The Java client's block size: each block holds this much input.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

/// The snappy codec. Writes the xerial framing; reads both that and a bare
/// raw-snappy block (what librdkafka writes for some versions).
///
/// ```
/// use ferrokafka_records::compression::{Codec, SnappyCodec};
/// let mut out = Vec::new();
/// SnappyCodec.compress(b"data", &mut out).unwrap();
/// assert_eq!(&out[..8], b"\x82SNAPPY\0");
/// let raw = snap::raw::Encoder::new().compress_vec(b"raw block").unwrap();
/// assert_eq!(SnappyCodec.decompress(&raw, 100).unwrap(), b"raw block");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SnappyCodec;

fn corrupt(message: impl std::fmt::Display) -> RecordsError {
    RecordsError::CorruptCompressed {
        codec: Compression::Snappy,
        message: message.to_string(),
    }
}

/// Decompresses one raw block, appending to `out`, checking its declared
/// size against what the limit still allows before allocating.
fn decompress_block(block: &[u8], out: &mut Vec<u8>, max_size: usize) -> Result<(), RecordsError> {
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if len > max_size - out.len() {
        return Err(RecordsError::DecompressedTooLarge {
            codec: Compression::Snappy,
            limit: max_size,
        });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(corrupt)?;
    out.truncate(start + written);
    Ok(())
}

impl Codec for SnappyCodec {
    fn compression(&self) -> Compression {
        Compression::Snappy
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
        out.extend_from_slice(&XERIAL_MAGIC);
        out.extend_from_slice(&1_i32.to_be_bytes());
        out.extend_from_slice(&1_i32.to_be_bytes());
        let mut encoder = snap::raw::Encoder::new();
        for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
            let length_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
            let written = encoder.compress(chunk, &mut out[start..]).map_err(|e| {
                RecordsError::CompressionFailed {
                    codec: Compression::Snappy,
                    message: e.to_string(),
                }
            })?;
            out.truncate(start + written);
            out[length_at..start].copy_from_slice(&(written as i32).to_be_bytes());
        }
        Ok(())
    }

    fn decompress(&self, input: &[u8], max_size: usize) -> Result<Vec<u8>, RecordsError> {
        let mut out = Vec::new();
        if !input.starts_with(&XERIAL_MAGIC) {
            decompress_block(input, &mut out, max_size)?;
            return Ok(out);
        }
        if input.len() < XERIAL_HEADER_LEN {
            return Err(corrupt("xerial header is truncated"));
        }
        let mut rest = &input[XERIAL_HEADER_LEN..];
        while !rest.is_empty() {
            let Some((length, tail)) = rest.split_first_chunk::<4>() else {
                return Err(corrupt("xerial block length is truncated"));
            };
            let length = i32::from_be_bytes(*length);
            let length = usize::try_from(length)
                .map_err(|_| corrupt(format!("negative xerial block length {length}")))?;
            if length > tail.len() {
                return Err(corrupt(format!(
                    "xerial block of {length} bytes, {} present",
                    tail.len()
                )));
            }
            let (block, tail) = tail.split_at(length);
            decompress_block(block, &mut out, max_size)?;
            rest = tail;
        }
        Ok(out)
    }
}
