//! Decoders facing hostile bytes: random input, truncated frames and length
//! prefixes of 2^31-1 give a typed error, never a panic, and cost memory in
//! proportion to the bytes given, never to the lengths claimed.

use std::alloc::System;

use bytes::{BufMut as _, Bytes, BytesMut};
use ferrokafka_protocol::messages::api_versions_response::ApiVersion;
use ferrokafka_protocol::messages::{
    ApiVersionsResponse, MetadataResponse, decode_request, decode_response,
};
use ferrokafka_protocol::{ApiKey, DecodeErrorKind, Message};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The allocation counter is process-wide: the tests here take turns so
/// one test's allocations never land in another's measurement.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What `f` returns, and the bytes it allocates: the least counted over
/// three runs, since the counter also sees the test harness's own threads
/// (reporting the test that finished just before) now and then. What `f`
/// allocates itself is counted in every run.
fn allocated_by<T>(f: impl Fn() -> T) -> (T, usize) {
    let mut least = usize::MAX;
    let mut result = None;
    for _ in 0..3 {
        let region = Region::new(GLOBAL);
        let run = f();
        least = least.min(region.change().bytes_allocated);
        result = Some(run);
    }
    (result.expect("three runs"), least)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn a_length_prefix_of_2_pow_31_minus_1_costs_nothing() {
    let _turn = exclusive();
    // Metadata responses whose first array claims 2^31-1 elements: v12
    // (flexible, compact length) and v8 (int32 length).
    let mut flexible = BytesMut::new();
    flexible.put_i32(0); // throttle
    flexible.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
    let mut classic = BytesMut::new();
    classic.put_i32(0);
    classic.put_i32(i32::MAX);
    for (version, body) in [(12, flexible.freeze()), (8, classic.freeze())] {
        let (result, allocated) = allocated_by(|| MetadataResponse::decode(body.clone(), version));
        let error = result.unwrap_err();
        assert!(
            matches!(error.kind, DecodeErrorKind::BadLength(_)),
            "{error}"
        );
        assert_eq!(error.field, "Brokers", "{error}");
        assert!(
            allocated < 1024,
            "v{version}: {allocated} bytes allocated for a hostile length"
        );
    }
}

#[test]
fn truncated_frames_are_errors_at_every_cut() {
    let _turn = exclusive();
    let response = ApiVersionsResponse {
        api_keys: (0..40)
            .map(|k| ApiVersion {
                api_key: k,
                max_version: 9,
                ..ApiVersion::default()
            })
            .collect(),
        ..ApiVersionsResponse::default()
    };
    let mut body = BytesMut::new();
    response.encode(&mut body, 3).unwrap();
    let body = body.freeze();
    for cut in 0..body.len() {
        let error = ApiVersionsResponse::decode(body.slice(..cut), 3).unwrap_err();
        assert!(
            error.to_string().contains("ApiVersionsResponse v3"),
            "{error}"
        );
    }
    assert_eq!(ApiVersionsResponse::decode(body, 3).unwrap(), response);
}

#[test]
fn random_bytes_never_panic_and_allocate_in_proportion_to_the_input() {
    let _turn = exclusive();
    let mut rng = Rng(0x5eed);
    let mut attempts = 0usize;
    let mut decoded = 0usize;
    for &key in ApiKey::ALL {
        let (lo, hi) = key.versions();
        for version in lo..=hi {
            for _ in 0..20 {
                let len = (rng.next() % 200) as usize;
                let input: Bytes = (0..len)
                    .map(|_| rng.next() as u8)
                    .collect::<Vec<u8>>()
                    .into();
                for decode in [decode_request, decode_response] {
                    let (result, allocated) =
                        allocated_by(|| decode(key, version, input.clone()).map(|_| ()));
                    attempts += 1;
                    decoded += usize::from(result.is_ok());
                    // Decoded values are larger than their wire form (a
                    // two-byte empty string is a 24-byte String), but only by
                    // a constant factor.
                    assert!(
                        allocated <= 64 * len + 4096,
                        "{} v{version}: {allocated} bytes allocated for {len} input bytes",
                        key.name()
                    );
                }
            }
        }
    }
    assert!(
        decoded < attempts / 2,
        "{decoded} of {attempts} random inputs decoded"
    );
}
