//! Any bytes as a request header, v1 or v2.
#![no_main]

use bytes::Bytes;
use ferrokafka_protocol::Message;
use ferrokafka_protocol::messages::RequestHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let version = 1 + i16::from(first & 1);
    let _ = RequestHeader::decode(Bytes::copy_from_slice(rest), version);
});
