//! The attribute bits of a record batch and the timestamp types.

use crate::{Compression, RecordsError};

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Magic 0 messages carry no timestamp.
    NoTimestamp,
    /// Set by the producer.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch.
    LogAppendTime,
}

impl TimestampType {
    /// The name the Java client prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoTimestamp => "NO_TIMESTAMP_TYPE",
            Self::CreateTime => "CREATE_TIME",
            Self::LogAppendTime => "LOG_APPEND_TIME",
        }
    }
}

/// The 16-bit attributes of a magic-2 batch.
///
/// ```
/// use ferrokafka_records::{BatchAttributes, Compression, TimestampType};
/// let attributes = BatchAttributes::default()
///     .with_compression(Compression::Lz4)
///     .with_transactional(true);
/// assert_eq!(attributes.bits(), 0x13);
/// assert_eq!(attributes.compression().unwrap(), Compression::Lz4);
/// assert_eq!(attributes.timestamp_type(), TimestampType::CreateTime);
/// assert!(!attributes.is_control());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BatchAttributes(i16);

impl BatchAttributes {
    /// Attributes of a fresh batch with `compression`.
    pub const fn new(compression: Compression) -> Self {
        Self(compression_bits(compression))
    }

    /// Attributes from their wire value; unknown bits are kept.
    pub const fn from_bits(bits: i16) -> Self {
        Self(bits)
    }

    /// The wire value.
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// The raw compression id (bits 0 to 2).
    pub const fn compression_id(self) -> u8 {
        (self.0 & COMPRESSION_MASK) as u8
    }

    /// The compression type; ids 5 to 7 are an error.
    pub fn compression(self) -> Result<Compression, RecordsError> {
        Compression::from_id(self.compression_id())
    }

    /// Bit 3: create time or log-append time.
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & TIMESTAMP_TYPE_BIT == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }

    /// Bit 4: the batch belongs to a transaction.
    pub const fn is_transactional(self) -> bool {
        self.0 & TRANSACTIONAL_BIT != 0
    }

    /// Bit 5: the batch holds one control record (a transaction marker).
    pub const fn is_control(self) -> bool {
        self.0 & CONTROL_BIT != 0
    }

    /// Bit 6: the base timestamp is the delete horizon set by compaction.
    pub const fn has_delete_horizon(self) -> bool {
        self.0 & DELETE_HORIZON_BIT != 0
    }

    /// These attributes with another compression type.
    #[must_use]
    pub const fn with_compression(self, compression: Compression) -> Self {
        Self((self.0 & !COMPRESSION_MASK) | compression_bits(compression))
    }

    /// These attributes with another timestamp type (`NoTimestamp` counts
    /// as create time: magic 2 has no such type).
    #[must_use]
    pub const fn with_timestamp_type(self, timestamp_type: TimestampType) -> Self {
        let set = matches!(timestamp_type, TimestampType::LogAppendTime);
        Self::set(self, TIMESTAMP_TYPE_BIT, set)
    }

    /// These attributes with the transactional bit set or cleared.
    #[must_use]
    pub const fn with_transactional(self, transactional: bool) -> Self {
        Self::set(self, TRANSACTIONAL_BIT, transactional)
    }

    /// These attributes with the control bit set or cleared.
    #[must_use]
    pub const fn with_control(self, control: bool) -> Self {
        Self::set(self, CONTROL_BIT, control)
    }

    /// These attributes with the delete-horizon bit set or cleared.
    #[must_use]
    pub const fn with_delete_horizon(self, delete_horizon: bool) -> Self {
        Self::set(self, DELETE_HORIZON_BIT, delete_horizon)
    }

    const fn set(self, bit: i16, on: bool) -> Self {
        if on {
            Self(self.0 | bit)
        } else {
            Self(self.0 & !bit)
        }
    }
}

const fn compression_bits(compression: Compression) -> i16 {
    match compression {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}
