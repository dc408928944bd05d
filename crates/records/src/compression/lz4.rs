//! lz4 in the frame format. Magic 2 frames are verified in full; magic 0
//! and 1 frames are read by a small frame parser that skips the header
//! checksum, which old Kafka clients computed over the wrong bytes (KIP-57).

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::{Codec, Compression, read_capped};
use crate::RecordsError;

const FRAME_MAGIC: u32 = 0x184D_2204;
/// Back-references reach at most this far into earlier blocks.
const WINDOW: usize = 64 * 1024;

/// The lz4 codec (lz4 has no level here: `lz4_flex` has one speed).
///
/// ```
/// use ferrokafka_records::compression::{Codec, Lz4Codec};
/// let mut out = Vec::new();
/// Lz4Codec::new().compress(b"data data data", &mut out).unwrap();
/// assert_eq!(&out[..4], [0x04, 0x22, 0x4d, 0x18]);
/// // Legacy mode ignores the header checksum byte.
/// out[6] ^= 0xff;
/// assert!(Lz4Codec::new().decompress(&out, 100).is_err());
/// assert_eq!(Lz4Codec::legacy().decompress(&out, 100).unwrap(), b"data data data");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Lz4Codec {
    legacy: bool,
}

impl Lz4Codec {
    /// The codec for record batches (magic 2): every checksum verified.
    pub fn new() -> Self {
        Self { legacy: false }
    }

    /// The codec for legacy message sets (magic 0 and 1): the header
    /// checksum is not verified.
    pub fn legacy() -> Self {
        Self { legacy: true }
    }
}

fn corrupt(message: impl std::fmt::Display) -> RecordsError {
    RecordsError::CorruptCompressed {
        codec: Compression::Lz4,
        message: message.to_string(),
    }
}

impl Codec for Lz4Codec {
    fn compression(&self) -> Compression {
        Compression::Lz4
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
        let failed = |e: lz4_flex::frame::Error| RecordsError::CompressionFailed {
            codec: Compression::Lz4,
            message: e.to_string(),
        };
        // What the Java client writes: independent 64 KiB blocks, no
        // checksums beyond the header's.
        let frame = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent);
        let mut encoder = FrameEncoder::with_frame_info(frame, out);
        std::io::Write::write_all(&mut encoder, input).map_err(|e| {
            RecordsError::CompressionFailed {
                codec: Compression::Lz4,
                message: e.to_string(),
            }
        })?;
        encoder.finish().map_err(failed)?;
        Ok(())
    }

    fn decompress(&self, input: &[u8], max_size: usize) -> Result<Vec<u8>, RecordsError> {
        if self.legacy {
            decompress_unverified_header(input, max_size)
        } else {
            read_capped(
                FrameDecoder::new(input),
                Compression::Lz4,
                input.len(),
                max_size,
            )
        }
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], RecordsError> {
    if input.len() < n {
        return Err(corrupt(format!("lz4 frame truncated in {what}")));
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn read_u32(input: &mut &[u8], what: &str) -> Result<u32, RecordsError> {
    let bytes = take(input, 4, what)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Reads one lz4 frame, checking everything except the header checksum
/// byte; block and content checksums, when present, are skipped too (the
/// legacy message CRC already covers the compressed bytes).
fn decompress_unverified_header(
    mut input: &[u8],
    max_size: usize,
) -> Result<Vec<u8>, RecordsError> {
    let input = &mut input;
    if read_u32(input, "magic")? != FRAME_MAGIC {
        return Err(corrupt("not an lz4 frame (bad magic)"));
    }
    let descriptor = take(input, 2, "frame descriptor")?;
    let (flags, block_descriptor) = (descriptor[0], descriptor[1]);
    if flags >> 6 != 1 {
        return Err(corrupt(format!(
            "unsupported lz4 frame version {}",
            flags >> 6
        )));
    }
    let independent_blocks = flags & 0x20 != 0;
    let block_checksums = flags & 0x10 != 0;
    let content_size = flags & 0x08 != 0;
    let content_checksum = flags & 0x04 != 0;
    let dictionary_id = flags & 0x01 != 0;
    let max_block = match (block_descriptor >> 4) & 0x7 {
        4 => 64 * 1024,
        5 => 256 * 1024,
        6 => 1024 * 1024,
        7 => 4 * 1024 * 1024,
        other => return Err(corrupt(format!("invalid lz4 block size code {other}"))),
    };
    if content_size {
        take(input, 8, "content size")?;
    }
    if dictionary_id {
        take(input, 4, "dictionary id")?;
    }
    take(input, 1, "header checksum")?;

    let mut out = Vec::new();
    loop {
        let block_header = read_u32(input, "block size")?;
        if block_header == 0 {
            break;
        }
        let stored_raw = block_header & 0x8000_0000 != 0;
        let size = (block_header & 0x7FFF_FFFF) as usize;
        if size > max_block {
            return Err(corrupt(format!(
                "lz4 block of {size} bytes exceeds {max_block}"
            )));
        }
        let block = take(input, size, "block")?;
        if block_checksums {
            take(input, 4, "block checksum")?;
        }
        let start = out.len();
        if stored_raw {
            if size > max_size - start {
                return Err(RecordsError::DecompressedTooLarge {
                    codec: Compression::Lz4,
                    limit: max_size,
                });
            }
            out.extend_from_slice(block);
            continue;
        }
        out.resize(start + max_block, 0);
        let (before, after) = out.split_at_mut(start);
        let dictionary = if independent_blocks {
            &[][..]
        } else {
            &before[start.saturating_sub(WINDOW)..]
        };
        let written = lz4_flex::block::decompress_into_with_dict(block, after, dictionary)
            .map_err(corrupt)?;
        out.truncate(start + written);
        if out.len() > max_size {
            return Err(RecordsError::DecompressedTooLarge {
                codec: Compression::Lz4,
                limit: max_size,
            });
        }
    }
    if content_checksum {
        take(input, 4, "content checksum")?;
    }
    Ok(out)
}
