//! gzip, as the Java client writes it (one gzip member, deflate inside).

use std::io::Write as _;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::{Codec, Compression, read_capped};
use crate::RecordsError;

/// The gzip codec; the level is 0 (store) to 9 (smallest), default 6.
///
/// ```
/// use ferrokafka_records::compression::{Codec, GzipCodec};
/// let mut out = Vec::new();
/// GzipCodec::with_level(Some(1)).compress(b"data", &mut out).unwrap();
/// assert_eq!(&out[..2], [0x1f, 0x8b]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GzipCodec {
    level: Option<i32>,
}

impl GzipCodec {
    /// A codec writing at `level` (`None`: 6, the zlib default).
    pub fn with_level(level: Option<i32>) -> Self {
        Self { level }
    }
}

impl Codec for GzipCodec {
    fn compression(&self) -> Compression {
        Compression::Gzip
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
        let level = match self.level {
            None => 6,
            Some(level @ 0..=9) => level as u32,
            Some(level) => {
                return Err(RecordsError::CompressionFailed {
                    codec: Compression::Gzip,
                    message: format!("level {level} is outside 0..=9"),
                });
            }
        };
        let failed = |e: std::io::Error| RecordsError::CompressionFailed {
            codec: Compression::Gzip,
            message: e.to_string(),
        };
        let mut encoder = GzEncoder::new(out, flate2::Compression::new(level));
        encoder.write_all(input).map_err(failed)?;
        encoder.finish().map_err(failed)?;
        Ok(())
    }

    fn decompress(&self, input: &[u8], max_size: usize) -> Result<Vec<u8>, RecordsError> {
        read_capped(
            GzDecoder::new(input),
            Compression::Gzip,
            input.len(),
            max_size,
        )
    }
}
