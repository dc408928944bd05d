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

/// The CRC-32C of bytes given in pieces, in order (a batch whose values
/// are shared).
///
/// ```
/// let mut crc = ferrokafka_records::Crc32c::default();
/// crc.update(b"1234");
/// crc.update(b"56789");
/// assert_eq!(crc.value(), ferrokafka_records::crc32c(b"123456789"));
/// ```
pub struct Crc32c(crc_fast::Digest);

impl Default for Crc32c {
    fn default() -> Self {
        Crc32c(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi))
    }
}

impl Crc32c {
    /// Adds the next piece.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC-32C of the pieces so far, as one.
    #[must_use]
    pub fn value(&self) -> u32 {
        // The 32-bit algorithm's value is in the low half.
        #[allow(clippy::cast_possible_truncation)]
        let crc = self.0.finalize() as u32;
        crc
    }
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

        /// Pieces give the CRC of the whole, wherever they are cut.
        #[test]
        fn pieces_give_the_crc_of_the_whole(
            bytes in proptest::collection::vec(any::<u8>(), 0..20_000),
            cuts in proptest::collection::vec(any::<usize>(), 0..5),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut crc = super::Crc32c::default();
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                crc.update(&bytes[from..cut]);
                from = cut;
            }
            prop_assert_eq!(crc.value(), crc32c::crc32c(&bytes));
        }
    }
}
