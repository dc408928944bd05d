//! zstd, allowed in record batches (magic 2) only.

use super::{Codec, Compression, read_capped};
use crate::RecordsError;

thread_local! {
    /// This thread's compression context and the level it was made for.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, ::zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

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
        let failed = |message: String| RecordsError::CompressionFailed {
            codec: Compression::Zstd,
            message,
        };
        // One frame with the input's size in its header, from a context
        // kept per thread: a fresh context per batch allocated and cleared
        // tables sized for an unknown input, more work than compressing a
        // 16 KiB batch.
        COMPRESSOR.with_borrow_mut(|cached| {
            let compressor = match cached {
                Some((at, compressor)) if *at == level => compressor,
                _ => {
                    let compressor =
                        ::zstd::bulk::Compressor::new(level).map_err(|e| failed(e.to_string()))?;
                    &mut cached.insert((level, compressor)).1
                }
            };
            let start = out.len();
            out.resize(start + ::zstd::zstd_safe::compress_bound(input.len()), 0);
            let written = compressor
                .compress_to_buffer(input, &mut out[start..])
                .map_err(|e| failed(e.to_string()));
            out.truncate(start + *written.as_ref().unwrap_or(&0));
            written.map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_switching_levels_writes_frames_that_read_back() {
        let input: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut sizes = Vec::new();
        for level in [1, 19, 3, 3, -5] {
            let mut out = b"header".to_vec();
            ZstdCodec::with_level(Some(level))
                .compress(&input, &mut out)
                .unwrap();
            assert_eq!(&out[..6], b"header", "appended after what was there");
            let frame = &out[6..];
            assert_eq!(
                ZstdCodec::default().decompress(frame, input.len()).unwrap(),
                input
            );
            sizes.push(frame.len());
        }
        assert_eq!(sizes[2], sizes[3], "the kept context gives the same frame");
        assert!(
            ZstdCodec::with_level(Some(1_000))
                .compress(&input, &mut Vec::new())
                .is_err()
        );
    }
}
