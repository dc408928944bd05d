//! zstd, allowed in record batches (magic 2) only.

use super::{Codec, Compression, read_capped};
use crate::RecordsError;

/// The zstd codec; the level is zstd's own (default 3).
///
/// ```
/// use ferrokafka_records::compression::{Codec, ZstdCodec};
/// let mut out = Vec::new();
/// ZstdCodec::with_level(Some(19)).compress(b"data", &mut out).unwrap();
/// assert_eq!(&out[..4], [0x28, 0xb5, 0x2f, 0xfd]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ZstdCodec {
    level: Option<i32>,
}

impl ZstdCodec {
    /// A codec writing at `level` (`None`: 3, zstd's default).
    pub fn with_level(level: Option<i32>) -> Self {
        Self { level }
    }
}

impl Codec for ZstdCodec {
    fn compression(&self) -> Compression {
        Compression::Zstd
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
        let level = self.level.unwrap_or(3);
        if !::zstd::compression_level_range().contains(&level) {
            return Err(RecordsError::CompressionFailed {
                codec: Compression::Zstd,
                message: format!("level {level} is outside zstd's range"),
            });
        }
        ::zstd::stream::copy_encode(input, out, level).map_err(|e| {
            RecordsError::CompressionFailed {
                codec: Compression::Zstd,
                message: e.to_string(),
            }
        })
    }

    fn decompress(&self, input: &[u8], max_size: usize) -> Result<Vec<u8>, RecordsError> {
        let decoder = ::zstd::stream::read::Decoder::with_buffer(input).map_err(|e| {
            RecordsError::CorruptCompressed {
                codec: Compression::Zstd,
                message: e.to_string(),
            }
        })?;
        read_capped(decoder, Compression::Zstd, input.len(), max_size)
    }
}
