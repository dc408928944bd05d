//! SCRAM (RFC 5802, RFC 7677) client: client-first, server-first,
//! client-final with the proof, and the check of the server's signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256, Sha512};

use super::{Mechanism, SaslError};

/// Kafka refuses SCRAM credentials with fewer iterations; so does the client,
/// so a downgraded server cannot make the proof cheap to attack.
const MIN_ITERATIONS: u32 = 4096;
/// An upper bound that keeps a hostile server from making the client spin.
const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    fn mechanism(self) -> Mechanism {
        match self {
            ScramHash::Sha256 => Mechanism::ScramSha256,
            ScramHash::Sha512 => Mechanism::ScramSha512,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut mac =
                    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut mac =
                    Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes keys of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802 `Hi(password, salt, iterations)` (PBKDF2 with this HMAC):
    /// the salted password a SCRAM credential stores, as the admin
    /// client's AlterUserScramCredentials sends it.
    ///
    /// ```
    /// use ferrokafka_transport::sasl::ScramHash;
    /// assert_eq!(ScramHash::Sha256.salted_password("pencil", b"salt", 4096).len(), 32);
    /// assert_eq!(ScramHash::Sha512.salted_password("pencil", b"salt", 4096).len(), 64);
    /// ```
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
                out
            }
            ScramHash::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
                out
            }
        }
    }
}

enum Stage {
    AwaitingServerFirst,
    AwaitingServerFinal { server_signature: Vec<u8> },
    Done,
}

/// A SCRAM exchange in progress.
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    stage: Stage,
}

/// 24 random bytes, base64: the client nonce.
pub(super) fn random_nonce() -> Result<String, SaslError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| SaslError::Config {
        reason: format!("no randomness for a SCRAM nonce: {e}"),
    })?;
    Ok(BASE64.encode(bytes))
}

/// RFC 5802 saslname: `=` and `,` escaped.
fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

impl ScramClient {
    /// Begins an exchange; returns the client-first message.
    pub(super) fn start(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: &str,
    ) -> (Vec<u8>, Self) {
        let client_first_bare = format!("n={},r={nonce}", escape_username(username));
        let message = format!("n,,{client_first_bare}").into_bytes();
        let client = ScramClient {
            hash,
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare,
            stage: Stage::AwaitingServerFirst,
        };
        (message, client)
    }

    fn rejected(&self, reason: impl Into<String>) -> SaslError {
        SaslError::Rejected {
            mechanism: self.hash.mechanism(),
            reason: reason.into(),
        }
    }

    pub(super) fn respond(&mut self, server_message: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        let message = std::str::from_utf8(server_message)
            .map_err(|_| self.rejected("the server's message is not UTF-8"))?;
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::AwaitingServerFirst => self.client_final(message).map(Some),
            Stage::AwaitingServerFinal { server_signature } => {
                self.verify_server_final(message, &server_signature)?;
                Ok(None)
            }
            Stage::Done => Err(self.rejected("the server sent a message after the exchange ended")),
        }
    }

    fn client_final(&mut self, server_first: &str) -> Result<Vec<u8>, SaslError> {
        if let Some(error) = attribute(server_first, 'e') {
            return Err(self.rejected(format!("server error: {error}")));
        }
        if server_first.starts_with("m=") {
            return Err(
                self.rejected("the server requires a SCRAM extension this client does not know")
            );
        }
        let nonce = attribute(server_first, 'r')
            .ok_or_else(|| self.rejected("server-first message has no nonce"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(self.rejected("the server's nonce does not extend the client's"));
        }
        let salt = attribute(server_first, 's')
            .and_then(|s| BASE64.decode(s).ok())
            .ok_or_else(|| self.rejected("server-first message has no valid salt"))?;
        let iterations: u32 = attribute(server_first, 'i')
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| self.rejected("server-first message has no valid iteration count"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(self.rejected(format!(
                "iteration count {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            )));
        }

        let hash = self.hash;
        let salted = hash.salted_password(&self.password, &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        let server_signature = hash.hmac(&server_key, auth_message.as_bytes());
        self.stage = Stage::AwaitingServerFinal { server_signature };
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    fn verify_server_final(&self, server_final: &str, expected: &[u8]) -> Result<(), SaslError> {
        if let Some(error) = attribute(server_final, 'e') {
            return Err(self.rejected(format!("server error: {error}")));
        }
        let signature = attribute(server_final, 'v')
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or_else(|| self.rejected("server-final message has no verifier"))?;
        if signature != expected {
            return Err(
                self.rejected("the server's signature is wrong: it does not know the password")
            );
        }
        Ok(())
    }
}

/// The value of `key=` in a comma-separated SCRAM message.
fn attribute(message: &str, key: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(key) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3.
    #[test]
    fn rfc7677_sha256_exchange() {
        let (first, mut client) =
            ScramClient::start(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let final_message = client.respond(server_first).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(final_message).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(
            client
                .respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_wrong_server_signature_is_rejected() {
        let (_, mut client) =
            ScramClient::start(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        client
            .respond(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        let error = client
            .respond(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .unwrap_err();
        assert!(error.to_string().contains("SCRAM-SHA-256"), "{error}");
    }

    #[test]
    fn hostile_server_first_messages_are_rejected() {
        for server_first in [
            &b"e=invalid-proof"[..],
            b"r=someone-else,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=abcdef,s=not base64!,i=4096",
            b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
            b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000",
            b"m=ext,r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"\xff\xfe",
        ] {
            let (_, mut client) = ScramClient::start(ScramHash::Sha512, "u", "p", "abc");
            assert!(
                client.respond(server_first).is_err(),
                "{:?}",
                String::from_utf8_lossy(server_first)
            );
        }
    }

    #[test]
    fn user_names_are_escaped() {
        let (first, _) = ScramClient::start(ScramHash::Sha256, "a=b,c", "p", "n");
        assert_eq!(first, b"n,,n=a=3Db=2Cc,r=n");
    }
}
