//! The fixed 61-byte header of a record batch (magic 2).

use nom::Parser as _;
use nom::number::complete::{be_i8, be_i16, be_i32, be_i64, be_u32};

use crate::parse::{PResult, array, records_error};
use crate::{BatchAttributes, RecordsError};

/// Size of the batch header; records follow it.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the batch length counts from: base offset and the length.
pub const LOG_OVERHEAD: usize = 12;
/// Where the CRC-covered part of a batch starts (the attributes).
pub(crate) const CRC_START: usize = 21;
pub(crate) const MAGIC_OFFSET: usize = 16;

/// Every field of a magic-2 batch header, in wire order.
///
/// ```
/// use ferrokafka_records::{BatchHeader, BATCH_HEADER_LEN};
/// let header = BatchHeader {
///     base_offset: 42,
///     record_count: 3,
///     last_offset_delta: 2,
///     ..BatchHeader::default()
/// };
/// let mut bytes = [0u8; BATCH_HEADER_LEN];
/// header.write(&mut bytes);
/// assert_eq!(BatchHeader::parse(&bytes).unwrap(), header);
/// assert_eq!(header.last_offset(), 44);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after this field (whole batch minus 12).
    pub batch_length: i32,
    /// Leader epoch of the partition when the batch was appended.
    pub partition_leader_epoch: i32,
    /// Always 2 for this format.
    pub magic: i8,
    /// CRC-32C of the bytes from the attributes to the end.
    pub crc: u32,
    /// Compression, timestamp type, transactional, control, delete horizon.
    pub attributes: BatchAttributes,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp the record deltas count from (or the delete horizon).
    pub base_timestamp: i64,
    /// The largest record timestamp, or the log-append time.
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Idempotent producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl Default for BatchHeader {
    fn default() -> Self {
        Self {
            base_offset: 0,
            batch_length: (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: BatchAttributes::default(),
            last_offset_delta: -1,
            base_timestamp: -1,
            max_timestamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: 0,
        }
    }
}

impl BatchHeader {
    /// Reads the header from the first 61 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordsError> {
        let (_, header) = header(bytes).map_err(records_error)?;
        Ok(header)
    }

    /// Writes the header, as it is, into `out`.
    pub fn write(&self, out: &mut [u8; BATCH_HEADER_LEN]) {
        out[0..8].copy_from_slice(&self.base_offset.to_be_bytes());
        out[8..12].copy_from_slice(&self.batch_length.to_be_bytes());
        out[12..16].copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out[16] = self.magic as u8;
        out[17..21].copy_from_slice(&self.crc.to_be_bytes());
        out[21..23].copy_from_slice(&self.attributes.bits().to_be_bytes());
        out[23..27].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        out[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        out[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        out[43..51].copy_from_slice(&self.producer_id.to_be_bytes());
        out[51..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        out[53..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        out[57..61].copy_from_slice(&self.record_count.to_be_bytes());
    }

    /// Offset of the last record (base offset plus last offset delta).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The delete horizon compaction set, if the attributes say so.
    pub fn delete_horizon(&self) -> Option<i64> {
        self.attributes
            .has_delete_horizon()
            .then_some(self.base_timestamp)
    }
}

/// The header's fields in wire order, once the whole header is known to be
/// present (so nom's number parsers cannot run short).
fn header(input: &[u8]) -> PResult<'_, BatchHeader> {
    array::<BATCH_HEADER_LEN>(input, "record batch header")?;
    let (
        rest,
        (
            (base_offset, batch_length, partition_leader_epoch, magic, crc, attributes),
            (last_offset_delta, base_timestamp, max_timestamp),
            (producer_id, producer_epoch, base_sequence, record_count),
        ),
    ) = (
        (be_i64, be_i32, be_i32, be_i8, be_u32, be_i16),
        (be_i32, be_i64, be_i64),
        (be_i64, be_i16, be_i32, be_i32),
    )
        .parse(input)?;
    Ok((
        rest,
        BatchHeader {
            base_offset,
            batch_length,
            partition_leader_epoch,
            magic,
            crc,
            attributes: BatchAttributes::from_bits(attributes),
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count,
        },
    ))
}
