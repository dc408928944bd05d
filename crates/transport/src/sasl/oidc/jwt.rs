//! The little of JWT (RFC 7519) a client needs: reading the claims of the
//! access token it was given (to know when it expires), and writing and
//! signing the assertion of the jwt-bearer grant (RFC 7523, KIP-1139).
//! Signatures use ring, the crypto provider rustls already runs on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Map, Value, json};

use crate::sasl::SaslError;

/// What the client reads from an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// `exp`, in milliseconds since the epoch.
    pub expires_at_ms: u64,
    /// `iat`, in milliseconds since the epoch, when the token has one.
    pub issued_at_ms: Option<u64>,
    /// The subject claim (`sub`, or `sasl_oauthbearer_sub_claim_name`).
    pub subject: String,
}

/// Reads an access token's claims as the Java client's login validator
/// does: a compact JWS of three parts whose payload is a JSON object with a
/// numeric, non-negative `exp` and a non-empty subject. The token itself
/// never goes into an error.
///
/// ```
/// use ferrokafka_transport::sasl::oidc::jwt::claims;
/// // {"alg":"none"} . {"sub":"alice","exp":2000000000,"iat":1999999000} .
/// let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxOTk5OTk5MDAwfQ.";
/// let read = claims(token, "sub").unwrap();
/// assert_eq!(read.subject, "alice");
/// assert_eq!(read.expires_at_ms, 2_000_000_000_000);
/// assert!(claims("not a token", "sub").is_err());
/// ```
pub fn claims(token: &str, subject_claim: &str) -> Result<TokenClaims, SaslError> {
    let payload = payload(token)?;
    let seconds = |name: &str| -> Result<Option<u64>, SaslError> {
        match payload.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|s| *s >= 0.0)
                .map(|s| Some((s * 1000.0) as u64))
                .ok_or_else(|| invalid(format!("its {name} claim is negative"))),
            Some(_) => Err(invalid(format!("its {name} claim is not a number"))),
        }
    };
    let expires_at_ms = seconds("exp")?.ok_or_else(|| invalid("it has no exp claim"))?;
    let issued_at_ms = seconds("iat")?;
    let subject = match payload.get(subject_claim) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(invalid(format!(
                "it has no {subject_claim} claim (sasl_oauthbearer_sub_claim_name)"
            )));
        }
    };
    Ok(TokenClaims {
        expires_at_ms,
        issued_at_ms,
        subject,
    })
}

/// The token's `exp` as a time, when the token is a JWT that has one.
pub fn expiry(token: &str) -> Option<SystemTime> {
    let payload = payload(token).ok()?;
    let seconds = payload.get("exp")?.as_f64().filter(|s| *s >= 0.0)?;
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(seconds))
}

fn payload(token: &str) -> Result<Map<String, Value>, SaslError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(invalid(format!(
            "it has {} dot-separated parts, a JWS has 3",
            parts.len()
        )));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(parts[1])
        .or_else(|_| URL_SAFE.decode(parts[1]))
        .map_err(|_| invalid("its payload is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid("its payload is not a JSON object")),
    }
}

fn invalid(reason: impl std::fmt::Display) -> SaslError {
    SaslError::Token {
        reason: format!("the access token cannot be used: {reason}"),
    }
}

/// `sasl_oauthbearer_assertion_algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Java's default).
    #[default]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// Parses `RS256` or `ES256`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "RS256" => Some(Algorithm::Rs256),
            "ES256" => Some(Algorithm::Es256),
            _ => None,
        }
    }

    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// The claims of a jwt-bearer assertion the client makes itself
/// (`sasl_oauthbearer_assertion_claim_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionClaims {
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud`.
    pub audience: Option<String>,
    /// `exp` is now plus this (default 300 s).
    pub expires_in: Duration,
    /// `nbf` is now minus this (default 60 s).
    pub not_before: Duration,
    /// Whether a random `jti` goes in.
    pub include_jti: bool,
}

impl Default for AssertionClaims {
    fn default() -> Self {
        AssertionClaims {
            issuer: None,
            subject: None,
            audience: None,
            expires_in: Duration::from_secs(300),
            not_before: Duration::from_secs(60),
            include_jti: false,
        }
    }
}

/// A private key that signs assertions.
pub struct SigningKey {
    algorithm: Algorithm,
    key: Key,
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.algorithm.name())
    }
}

/// Whether `pem` holds an encrypted private key (PKCS#8 `BEGIN ENCRYPTED
/// PRIVATE KEY`, or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` header).
pub(crate) fn is_encrypted_pem(pem: &[u8]) -> bool {
    pem.windows(b"ENCRYPTED".len()).any(|w| w == b"ENCRYPTED")
}

impl SigningKey {
    /// Reads a PEM private key for `algorithm`: PKCS#8 for both, or
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`) for RS256. Encrypted keys are not
    /// read (ring cannot decrypt them): the error says so.
    pub fn from_pem(pem: &[u8], algorithm: Algorithm) -> Result<Self, SaslError> {
        let config = |reason: String| SaslError::Config {
            reason: format!("sasl_oauthbearer_assertion_private_key_file: {reason}"),
        };
        if is_encrypted_pem(pem) {
            return Err(config(
                "the key is encrypted; decrypt it first (openssl pkcs8 -in key -nocrypt -topk8)"
                    .into(),
            ));
        }
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| config(format!("no PEM private key in it ({e})")))?;
        let key = match (algorithm, &der) {
            (Algorithm::Rs256, PrivateKeyDer::Pkcs8(der)) => {
                RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map(Key::Rsa)
            }
            (Algorithm::Rs256, PrivateKeyDer::Pkcs1(der)) => {
                RsaKeyPair::from_der(der.secret_pkcs1_der()).map(Key::Rsa)
            }
            (Algorithm::Es256, PrivateKeyDer::Pkcs8(der)) => EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der.secret_pkcs8_der(),
                &SystemRandom::new(),
            )
            .map(Key::Ec),
            _ => {
                return Err(config(format!(
                    "{} needs a PKCS#8 key (BEGIN PRIVATE KEY)",
                    algorithm.name()
                )));
            }
        }
        .map_err(|e| config(format!("not a {} key: {e}", algorithm.name())))?;
        Ok(SigningKey { algorithm, key })
    }

    /// A signed assertion with `claims`, issued at `now`.
    pub fn assertion(
        &self,
        claims: &AssertionClaims,
        now: SystemTime,
    ) -> Result<String, SaslError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut payload = Map::new();
        let mut put = |name: &str, value: Option<&String>| {
            if let Some(value) = value {
                payload.insert(name.to_string(), Value::String(value.clone()));
            }
        };
        put("iss", claims.issuer.as_ref());
        put("sub", claims.subject.as_ref());
        put("aud", claims.audience.as_ref());
        payload.insert("iat".into(), json!(now));
        payload.insert("exp".into(), json!(now + claims.expires_in.as_secs()));
        payload.insert(
            "nbf".into(),
            json!(now.saturating_sub(claims.not_before.as_secs())),
        );
        if claims.include_jti {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).map_err(|e| SaslError::Token {
                reason: format!("no randomness for the assertion's jti: {e}"),
            })?;
            payload.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(id)));
        }
        let header = json!({ "alg": self.algorithm.name(), "typ": "JWT" });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string())
        );
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Key::Rsa(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    signing_input.as_bytes(),
                    &mut out,
                )
                .map(|()| out)
                .map_err(|_| "RSA signing failed".to_string())
            }
            Key::Ec(key) => key
                .sign(&rng, signing_input.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
        }
        .map_err(|reason| SaslError::Token { reason })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn claims_need_exp_and_a_subject() {
        let good = claims(&token(r#"{"sub":"svc","exp":100.5,"iat":40}"#), "sub").unwrap();
        assert_eq!(
            good,
            TokenClaims {
                expires_at_ms: 100_500,
                issued_at_ms: Some(40_000),
                subject: "svc".into()
            }
        );
        let other_claim = claims(&token(r#"{"client":"svc","exp":1}"#), "client").unwrap();
        assert_eq!(other_claim.subject, "svc");
        for (payload, complaint) in [
            (r#"{"sub":"svc"}"#, "no exp"),
            (r#"{"sub":"svc","exp":-1}"#, "negative"),
            (r#"{"sub":"svc","exp":"soon"}"#, "not a number"),
            (r#"{"exp":1}"#, "no sub"),
            ("[1]", "JSON object"),
        ] {
            let error = claims(&token(payload), "sub").unwrap_err().to_string();
            assert!(error.contains(complaint), "{payload}: {error}");
        }
        let error = claims("secret-opaque-token", "sub")
            .unwrap_err()
            .to_string();
        assert!(error.contains("1 dot-separated parts"), "{error}");
        assert!(!error.contains("secret-opaque-token"), "{error}");
    }

    #[test]
    fn an_ec_assertion_verifies_with_its_public_key() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let key = SigningKey::from_pem(pem.as_bytes(), Algorithm::Es256).unwrap();
        let claims = AssertionClaims {
            issuer: Some("svc".into()),
            subject: Some("svc".into()),
            audience: Some("https://idp.example/token".into()),
            include_jti: true,
            ..AssertionClaims::default()
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let assertion = key.assertion(&claims, now).unwrap();
        let (input, signature) = assertion.rsplit_once('.').unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            ring::signature::KeyPair::public_key(&pair)
                .as_ref()
                .to_vec(),
        );
        public
            .verify(
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .expect("the signature verifies");
        let payload = payload(&assertion).unwrap();
        assert_eq!(payload["exp"], json!(1_000_300));
        assert_eq!(payload["nbf"], json!(999_940));
        assert_eq!(payload["aud"], json!("https://idp.example/token"));
        assert!(payload["jti"].is_string());
    }

    #[test]
    fn keys_that_cannot_sign_are_config_errors() {
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let error = SigningKey::from_pem(encrypted, Algorithm::Rs256).unwrap_err();
        assert!(error.to_string().contains("encrypted"), "{error}");
        let error = SigningKey::from_pem(b"nothing", Algorithm::Rs256).unwrap_err();
        assert!(error.to_string().contains("no PEM private key"), "{error}");
    }
}
