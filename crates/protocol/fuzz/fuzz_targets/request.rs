//! Any bytes as the body of any request: first two bytes pick the API key,
//! the next two the version. Decoding may fail; it must not panic or
//! allocate beyond the input.
#![no_main]

use bytes::Bytes;
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::decode_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let Some(key) = ApiKey::from_i16(i16::from_be_bytes([data[0], data[1]])) else { return };
    let (lo, hi) = key.versions();
    let span = i32::from(hi) - i32::from(lo) + 1;
    let version = lo + (i32::from(i16::from_be_bytes([data[2], data[3]])).rem_euclid(span)) as i16;
    let _ = decode_request(key, version, Bytes::copy_from_slice(&data[4..]));
});
