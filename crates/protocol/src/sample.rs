//! Random instances of generated messages, for round-trip tests and for
//! the golden fixtures Kafka's own classes serialise (feature `sample`).

use bytes::Bytes;
use bytes::BytesMut;

use crate::Message;
use crate::codec::Uuid;

/// A generated message that can make a random instance valid for a version.
pub trait Sample {
    /// A random instance for `version`; `depth` bounds nesting.
    fn sample(rng: &mut Rng, version: i16, depth: u32) -> Self;
}

/// xorshift64: small, seedable, enough for test data.
pub struct Rng {
    state: u64,
    /// Whether samples get unknown tagged fields (Kafka's JSON has no form for them).
    pub unknown_tags: bool,
}

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            unknown_tags: true,
        }
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// An array length (none past depth 2).
    pub fn len(&mut self, depth: u32) -> usize {
        if depth > 2 { 0 } else { self.below(4) as usize }
    }
    /// A float64 that round-trips exactly.
    pub fn float(&mut self) -> f64 {
        f64::from((self.next_u64() >> 40) as u32) / 1024.0
    }
    /// A UUID.
    pub fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        Uuid(bytes)
    }
    /// A short string, sometimes not ASCII.
    pub fn string(&mut self) -> String {
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
    /// A few bytes.
    pub fn bytes(&mut self) -> Bytes {
        let len = self.below(20) as usize;
        (0..len)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
}

/// The golden sample of `M`: the default value for seed 0, else a sample
/// with no unknown tagged fields (Kafka's JSON cannot carry them).
pub fn golden<M: Message + Sample>(version: i16, seed: u64) -> M {
    if seed == 0 {
        return M::default();
    }
    let mut rng = Rng::new(seed);
    rng.unknown_tags = false;
    M::sample(&mut rng, version, 0)
}

/// Kafka's bytes decode to the golden sample and it encodes to them.
pub fn golden_check<M: Message + Sample>(
    version: i16,
    seed: u64,
    bytes: &Bytes,
) -> Result<(), String> {
    let expected = golden::<M>(version, seed);
    let decoded = M::decode(bytes.clone(), version).map_err(|e| e.to_string())?;
    if decoded != expected {
        return Err(format!("decoded {decoded:?}\nexpected {expected:?}"));
    }
    let mut encoded = BytesMut::new();
    expected
        .encode(&mut encoded, version)
        .map_err(|e| e.to_string())?;
    if encoded[..] != bytes[..] {
        return Err(format!(
            "re-encoded {:02x?}\nKafka wrote {:02x?}",
            &encoded[..],
            &bytes[..]
        ));
    }
    Ok(())
}

/// Kafka's text form of a UUID: base64url without padding.
pub fn uuid_text(uuid: &Uuid) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid.0)
}

/// Standard base64 with padding, as Kafka's JSON writes bytes.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// decode(encode(m)) == m and the encoded length equals the computed size,
/// for every version of `M`: the default instance, then proptest-chosen
/// seeds of the generated sampler (one strategy per message and version).
#[cfg(test)]
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
