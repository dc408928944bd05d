//! Any bytes through each decompressor, with a small limit: errors are
//! fine, panics and output beyond the limit are not.
#![no_main]

use ferrokafka_records::compression::{Codec, GzipCodec, Lz4Codec, SnappyCodec, ZstdCodec};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 256 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let codec: &dyn Codec = match selector % 5 {
        0 => &GzipCodec::with_level(None),
        1 => &SnappyCodec,
        2 => &Lz4Codec::new(),
        3 => &Lz4Codec::legacy(),
        _ => &ZstdCodec::with_level(None),
    };
    if let Ok(output) = codec.decompress(input, LIMIT) {
        assert!(output.len() <= LIMIT);
    }
});
