//! Random instances of generated messages for round-trip tests.

use bytes::Bytes;
use bytes::BytesMut;

use crate::Message;
use crate::codec::Uuid;

/// A generated message that can make a random instance valid for a version.
pub(crate) trait Sample {
    fn sample(rng: &mut Rng, version: i16, depth: u32) -> Self;
}

/// xorshift64: small, seedable, enough for test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn len(&mut self, depth: u32) -> usize {
        if depth > 2 { 0 } else { self.below(4) as usize }
    }
    pub(crate) fn float(&mut self) -> f64 {
        f64::from((self.next() >> 40) as u32) / 1024.0
    }
    pub(crate) fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next().to_be_bytes());
        Uuid(bytes)
    }
    pub(crate) fn string(&mut self) -> String {
        let len = self.below(12) as usize;
        let accent = self.below(8) == 0;
        let mut text: String = (0..len)
            .map(|_| char::from(b'a' + self.below(26) as u8))
            .collect();
        if accent {
            text.push('é');
        }
        text
    }
    pub(crate) fn bytes(&mut self) -> Bytes {
        let len = self.below(20) as usize;
        (0..len)
            .map(|_| self.next() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
}

/// decode(encode(m)) == m and the encoded length equals the computed size,
/// for every version of `M`: the default instance, then proptest-chosen
/// seeds of the generated sampler (one strategy per message and version).
pub(crate) fn round_trip<M: Message + Sample>() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let check = |message: &M, version: i16| -> Result<(), TestCaseError> {
        let size = message
            .encoded_len(version)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut buf = BytesMut::new();
        message
            .encode(&mut buf, version)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            buf.len(),
            size,
            "{} v{}: size pass disagrees with the bytes",
            M::NAME,
            version
        );
        let decoded =
            M::decode(buf.freeze(), version).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&decoded, message, "{} v{}", M::NAME, version);
        Ok(())
    };
    let (lo, hi) = M::VERSIONS;
    for version in lo..=hi {
        check(&M::default(), version)
            .unwrap_or_else(|e| panic!("{} v{version} default: {e}", M::NAME));
        let mut runner = TestRunner::new(Config {
            cases: 12,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&any::<u64>(), |seed| {
                check(
                    &M::sample(&mut crate::sample::Rng::new(seed), version, 0),
                    version,
                )
            })
            .unwrap_or_else(|e| panic!("{} v{version}: {e}", M::NAME));
    }
}
