//! Compression codecs for record batches and legacy wrapper messages.
//!
//! [`Compression`] names the codec stored in a batch's attributes; the
//! [`Codec`] trait is what each codec implements. Each codec sits behind a
//! cargo feature of the same name (all on by default), so a build that only
//! reads uncompressed data can leave the C and Rust compressors out.

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

#[cfg(feature = "gzip")]
pub use gzip::GzipCodec;
#[cfg(feature = "lz4")]
pub use lz4::Lz4Codec;
#[cfg(feature = "snappy")]
pub use snappy::SnappyCodec;
#[cfg(feature = "zstd")]
pub use zstd::ZstdCodec;

use std::fmt;

use crate::RecordsError;

/// The default cap on the size of one decompressed batch: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 * 1024 * 1024;

/// The compression type stored in the low three bits of the attributes.
///
/// ```
/// use ferrokafka_records::Compression;
/// assert_eq!(Compression::from_id(4).unwrap(), Compression::Zstd);
/// assert_eq!(Compression::Lz4.id(), 3);
/// assert_eq!(Compression::Snappy.to_string(), "snappy");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as they are.
    #[default]
    None,
    /// gzip (deflate with a gzip header).
    Gzip,
    /// snappy, in the xerial framing the Java client writes.
    Snappy,
    /// lz4 frame format.
    Lz4,
    /// zstd (record batches only, magic 2).
    Zstd,
}

impl Compression {
    /// Every compression type, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Reads the id stored in the attributes (0 to 4).
    pub fn from_id(id: u8) -> Result<Self, RecordsError> {
        match id {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(RecordsError::UnknownCompression(other)),
        }
    }

    /// The id stored in the attributes.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The name Kafka uses in `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Whether this build has the codec's cargo feature.
    pub fn is_enabled(self) -> bool {
        match self {
            Self::None => true,
            Self::Gzip => cfg!(feature = "gzip"),
            Self::Snappy => cfg!(feature = "snappy"),
            Self::Lz4 => cfg!(feature = "lz4"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compression codec: what the batch builder and reader call.
///
/// ```
/// # #[cfg(feature = "gzip")] {
/// use ferrokafka_records::compression::{Codec, GzipCodec};
/// let codec = GzipCodec::with_level(Some(9));
/// let mut packed = Vec::new();
/// codec.compress(b"hello hello hello", &mut packed).unwrap();
/// assert_eq!(codec.decompress(&packed, 1024).unwrap(), b"hello hello hello");
/// // The limit turns a decompression bomb into an error.
/// assert!(codec.decompress(&packed, 4).is_err());
/// # }
/// ```
pub trait Codec {
    /// Which compression type this codec writes.
    fn compression(&self) -> Compression;

    /// Appends the compressed form of `input` to `out`.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError>;

    /// Decompresses `input`, failing with
    /// [`RecordsError::DecompressedTooLarge`] rather than producing more than
    /// `max_size` bytes.
    fn decompress(&self, input: &[u8], max_size: usize) -> Result<Vec<u8>, RecordsError>;
}

/// Compresses `input` with `compression` at `level` (`None`: the codec's
/// default), appending to `out`. [`Compression::None`] copies.
///
/// ```
/// # #[cfg(feature = "zstd")] {
/// use ferrokafka_records::{compress, decompress, Compression};
/// let mut out = Vec::new();
/// compress(Compression::Zstd, Some(3), b"abcabcabc", &mut out).unwrap();
/// assert_eq!(decompress(Compression::Zstd, &out, 100).unwrap(), b"abcabcabc");
/// # }
/// ```
pub fn compress(
    compression: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RecordsError> {
    // Only the codec arms read the level; a build without codecs has none.
    let _ = level;
    match compression {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => GzipCodec::with_level(level).compress(input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => SnappyCodec.compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Lz4Codec::new().compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => ZstdCodec::with_level(level).compress(input, out),
        #[allow(unreachable_patterns)]
        disabled => Err(RecordsError::CodecDisabled(disabled)),
    }
}

/// Decompresses `input` (the records of a magic-2 batch) with at most
/// `max_size` bytes of output.
pub fn decompress(
    compression: Compression,
    input: &[u8],
    max_size: usize,
) -> Result<Vec<u8>, RecordsError> {
    decompress_for_magic(compression, input, max_size, 2)
}

/// Like [`decompress`], for data written with `magic`: lz4 in magic 0 and 1
/// carries a header checksum computed over the wrong bytes (KIP-57), so it is
/// not verified there.
pub(crate) fn decompress_for_magic(
    compression: Compression,
    input: &[u8],
    max_size: usize,
    magic: i8,
) -> Result<Vec<u8>, RecordsError> {
    // Only the lz4 arm reads the magic; a build without lz4 has none.
    let _ = magic;
    match compression {
        Compression::None => {
            if input.len() > max_size {
                return Err(RecordsError::DecompressedTooLarge {
                    codec: compression,
                    limit: max_size,
                });
            }
            Ok(input.to_vec())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => GzipCodec::default().decompress(input, max_size),
        #[cfg(feature = "snappy")]
        Compression::Snappy => SnappyCodec.decompress(input, max_size),
        #[cfg(feature = "lz4")]
        Compression::Lz4 if magic < 2 => Lz4Codec::legacy().decompress(input, max_size),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Lz4Codec::new().decompress(input, max_size),
        #[cfg(feature = "zstd")]
        Compression::Zstd => ZstdCodec::default().decompress(input, max_size),
        #[allow(unreachable_patterns)]
        disabled => Err(RecordsError::CodecDisabled(disabled)),
    }
}

/// Reads a whole decompressing stream, stopping one byte past `max_size` so
/// that a bomb costs at most the limit in memory.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn read_capped(
    reader: impl std::io::Read,
    codec: Compression,
    input_len: usize,
    max_size: usize,
) -> Result<Vec<u8>, RecordsError> {
    use std::io::Read as _;
    // Typical record data compresses 2-5x; start there rather than at the cap.
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(max_size));
    reader
        .take(max_size as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RecordsError::CorruptCompressed {
            codec,
            message: e.to_string(),
        })?;
    if out.len() > max_size {
        return Err(RecordsError::DecompressedTooLarge {
            codec,
            limit: max_size,
        });
    }
    Ok(out)
}
