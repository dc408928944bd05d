//! Any bytes as one legacy message entry (magic 0 or 1), CRC unchecked.
#![no_main]

use bytes::Bytes;
use ferrokafka_records::{LegacyBatch, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 26 {
        let size = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&size.to_be_bytes());
        bytes[16] &= 1;
    }
    let options = ReadOptions {
        verify_crc: false,
        max_decompressed_size: 1 << 20,
    };
    if let Ok(batch) = LegacyBatch::decode(Bytes::from(bytes), &options) {
        let _ = batch.crc_is_valid();
        let _ = batch.records().len();
    }
});
