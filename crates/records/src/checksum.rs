//! CRC-32C (Castagnoli), the checksum of a record batch (magic 2).

/// The CRC-32C of `bytes`, as a batch's `crc` field holds it.
///
/// ```
/// assert_eq!(ferrokafka_records::crc32c(b"123456789"), 0xe306_9283);
/// ```
#[must_use]
pub fn crc32c(bytes: &[u8]) -> u32 {
    // The 32-bit algorithm's value is in the low half.
    #[allow(clippy::cast_possible_truncation)]
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32;
    crc
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Every length and alignment, the vector paths' tails included,
        /// agrees with the table-and-instruction reference.
        #[test]
        fn agrees_with_the_reference(
            bytes in proptest::collection::vec(any::<u8>(), 0..70_000),
            skip in 0usize..64,
        ) {
            let slice = &bytes[skip.min(bytes.len())..];
            prop_assert_eq!(super::crc32c(slice), crc32c::crc32c(slice));
        }
    }
}
