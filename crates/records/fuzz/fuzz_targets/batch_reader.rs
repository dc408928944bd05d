//! Any bytes as a fetch response's records: the reader must never panic.
#![no_main]

use bytes::Bytes;
use ferrokafka_records::{BatchReader, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions {
        verify_crc: data.first().is_some_and(|b| b & 1 == 1),
        max_decompressed_size: 1 << 20,
    };
    let mut reader = BatchReader::with_options(Bytes::copy_from_slice(data), options);
    for batch in reader.by_ref().flatten() {
        let _ = batch.crc_is_valid();
        for record in batch.records() {
            let _ = record;
        }
    }
    assert!(reader.consumed() <= data.len());
});
