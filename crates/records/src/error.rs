//! The one error type of this crate: every way bytes can fail to be a batch.

use ferrokafka_protocol::varint::VarintError;

use crate::Compression;

/// Why bytes could not be decoded (or encoded) as records.
///
/// Decoders return these instead of panicking; each variant says what was
/// being read so that a person can find the bad bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The input ended before a field it announced.
    #[error("{what}: needs {needed} bytes, only {available} present")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length or count is negative or otherwise impossible.
    #[error("{what}: invalid length {length}")]
    InvalidLength {
        /// The field whose length is wrong.
        what: &'static str,
        /// The length as read.
        length: i64,
    },
    /// A varint or varlong field is malformed.
    #[error("{what}: {source}")]
    Varint {
        /// The field being read.
        what: &'static str,
        /// What was wrong with it.
        #[source]
        source: VarintError,
    },
    /// The stored CRC does not match the bytes.
    #[error(
        "batch at offset {base_offset}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        /// Base offset of the batch (or offset of the legacy message).
        base_offset: i64,
        /// CRC written in the batch.
        stored: u32,
        /// CRC of the bytes as received.
        computed: u32,
    },
    /// The magic byte is not 0, 1 or 2.
    #[error("entry at offset {offset}: unsupported magic byte {magic}")]
    UnsupportedMagic {
        /// Offset of the entry.
        offset: i64,
        /// The magic byte found.
        magic: i8,
    },
    /// The attributes name a compression type Kafka does not define.
    #[error("unknown compression type {0}")]
    UnknownCompression(u8),
    /// The compression type exists but its cargo feature is off.
    #[error("compression {0} is not enabled in this build (cargo feature `{0}`)")]
    CodecDisabled(Compression),
    /// Decompressed data would exceed the configured limit.
    #[error("{codec} data decompresses to more than the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The codec in use.
        codec: Compression,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// Compressed data is corrupt.
    #[error("{codec} data is corrupt: {message}")]
    CorruptCompressed {
        /// The codec in use.
        codec: Compression,
        /// The codec's own description.
        message: String,
    },
    /// Compression failed or its level is out of range.
    #[error("{codec} compression failed: {message}")]
    CompressionFailed {
        /// The codec in use.
        codec: Compression,
        /// The codec's own description.
        message: String,
    },
    /// A batch holds a different number of records than its header says.
    #[error(
        "batch at offset {base_offset}: header says {expected} records, the data ends after {found}"
    )]
    RecordCountMismatch {
        /// Base offset of the batch.
        base_offset: i64,
        /// Count from the batch header.
        expected: i32,
        /// Records that were present.
        found: i32,
    },
    /// Bytes remain after a structure that should fill its space exactly.
    #[error("{what}: {count} unexpected bytes after the end")]
    TrailingBytes {
        /// The structure.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// A legacy compressed message contains another compressed message.
    #[error("legacy message at offset {offset}: compressed message nested in a compressed message")]
    NestedCompression {
        /// Offset of the wrapper message.
        offset: i64,
    },
    /// A control record's key or value is malformed.
    #[error("control record: {0}")]
    InvalidControlRecord(&'static str),
    /// An encoded batch would not fit the 32-bit length field.
    #[error("batch of {0} bytes is too large to encode")]
    BatchTooLarge(usize),
}
