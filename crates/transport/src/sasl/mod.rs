//! SASL authentication as sans-I/O exchanges: a mechanism produces the
//! client's first message, then answers each server message until done.
//! The connection carries the messages in SaslAuthenticate requests.

mod oauthbearer;
pub mod oidc;
mod plain;
mod scram;

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

pub use oauthbearer::{StaticToken, TokenProvider};
pub use scram::ScramHash;

/// A SASL mechanism Kafka brokers offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616: user name and password in the clear (use it over TLS).
    Plain,
    /// RFC 5802 / 7677 with SHA-256.
    ScramSha256,
    /// RFC 5802 with SHA-512.
    ScramSha512,
    /// RFC 7628 bearer tokens, from a [`TokenProvider`].
    OAuthBearer,
}

impl Mechanism {
    /// The mechanism's name as sent in SaslHandshake (`sasl_mechanism`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a `sasl_mechanism` value.
    ///
    /// ```
    /// use ferrokafka_transport::sasl::Mechanism;
    /// assert_eq!(Mechanism::parse("SCRAM-SHA-512").unwrap(), Mechanism::ScramSha512);
    /// assert!(Mechanism::parse("GSSAPI").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Self, SaslError> {
        [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| SaslError::Config {
                reason: format!(
                    "sasl_mechanism {name:?} is not supported; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
                ),
            })
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a client authenticates with.
#[derive(Clone)]
pub enum Credentials {
    /// `sasl_plain_username` / `sasl_plain_password`, for PLAIN and SCRAM.
    Password {
        /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
        mechanism: Mechanism,
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// OAUTHBEARER tokens (`sasl_oauth_token_provider`).
    OAuthBearer(Arc<dyn TokenProvider>),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password {
                mechanism,
                username,
                ..
            } => f
                .debug_struct("Password")
                .field("mechanism", mechanism)
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Credentials::OAuthBearer(_) => f.write_str("OAuthBearer(<token provider>)"),
        }
    }
}

impl Credentials {
    /// The mechanism these credentials use.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            Credentials::Password { mechanism, .. } => *mechanism,
            Credentials::OAuthBearer(_) => Mechanism::OAuthBearer,
        }
    }

    /// Starts an exchange: the client's first message and the state that
    /// answers the server. OAUTHBEARER asks its provider for a token first.
    pub async fn start(&self) -> Result<(Vec<u8>, Exchange), SaslError> {
        match self {
            Credentials::Password {
                mechanism: Mechanism::Plain,
                username,
                password,
            } => Ok((
                plain::initial_response(username, password.expose()),
                Exchange::OneShot(Mechanism::Plain),
            )),
            Credentials::Password {
                mechanism: mechanism @ (Mechanism::ScramSha256 | Mechanism::ScramSha512),
                username,
                password,
            } => {
                let hash = if *mechanism == Mechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                let (first, client) = scram::ScramClient::start(
                    hash,
                    username,
                    password.expose(),
                    &scram::random_nonce()?,
                );
                Ok((first, Exchange::Scram(Box::new(client))))
            }
            Credentials::Password {
                mechanism: Mechanism::OAuthBearer,
                ..
            } => Err(SaslError::Config {
                reason: "OAUTHBEARER takes a token provider, not a user name and password"
                    .to_string(),
            }),
            Credentials::OAuthBearer(provider) => {
                let token = provider.token().await?;
                let expires_at = oidc::jwt::expiry(token.expose());
                Ok((
                    oauthbearer::initial_response(token.expose()),
                    Exchange::OAuthBearer {
                        expires_at,
                        server_error: None,
                    },
                ))
            }
        }
    }
}

/// The client side of an exchange in progress.
pub enum Exchange {
    /// PLAIN: the first message is the only one; the server's answer is
    /// empty on success.
    OneShot(Mechanism),
    /// OAUTHBEARER: the token is the first message. A server refusing it
    /// sends a JSON error first, which the client acknowledges with `\x01`
    /// (RFC 7628 3.2.3) before the failure arrives.
    OAuthBearer {
        /// The token's `exp`, when it is a JWT that has one.
        expires_at: Option<std::time::SystemTime>,
        /// The server's JSON error, once it sent one.
        server_error: Option<String>,
    },
    /// SCRAM: two round trips, the second proving the server knows the password too.
    Scram(Box<scram::ScramClient>),
}

impl Exchange {
    /// Answers a server message: `Some(reply)` to send, or `None` when
    /// authentication is complete.
    pub fn respond(&mut self, server_message: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match self {
            Exchange::OAuthBearer { server_error, .. } if !server_message.is_empty() => {
                if server_error.is_some() {
                    return Err(SaslError::Rejected {
                        mechanism: Mechanism::OAuthBearer,
                        reason: String::from_utf8_lossy(server_message).into_owned(),
                    });
                }
                *server_error = Some(String::from_utf8_lossy(server_message).into_owned());
                Ok(Some(vec![0x01]))
            }
            Exchange::OneShot(_) | Exchange::OAuthBearer { .. } => Ok(None),
            Exchange::Scram(client) => client.respond(server_message),
        }
    }

    /// The reason to report when the server failed the exchange with
    /// `message`: for OAUTHBEARER also the server's JSON error and, when
    /// the token had expired, when it did.
    pub fn failure(&self, message: String) -> String {
        let Exchange::OAuthBearer {
            expires_at,
            server_error,
        } = self
        else {
            return message;
        };
        // RFC 7628's error is JSON with a status (`invalid_token`); Kafka
        // brokers often repeat it as the failure's message.
        let status = server_error
            .as_deref()
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string));
        let mut reason = match &status {
            Some(status) => format!("the broker refused the token ({status})"),
            None => "the broker refused the token".to_string(),
        };
        if server_error.as_deref() != Some(message.as_str()) {
            let _ = write!(reason, ": {message}");
        }
        if let Some(expires_at) = expires_at
            && let Ok(ago) = std::time::SystemTime::now().duration_since(*expires_at)
        {
            let _ = write!(reason, "; the token expired {}s ago", ago.as_secs());
        }
        reason
    }
}

/// Why authentication failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SaslError {
    /// The credentials or settings cannot work.
    #[error("SASL configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// One setting of the built-in token provider cannot work: the error
    /// names its key (`sasl_oauthbearer_assertion_private_key_file`, ...).
    #[error(transparent)]
    Setting(#[from] crate::config::ConfigError),
    /// The server refused the credentials or broke the exchange.
    #[error("{mechanism} authentication failed: {reason}")]
    Rejected {
        /// The mechanism in use.
        mechanism: Mechanism,
        /// The server's message or what it did wrong.
        reason: String,
    },
    /// The token provider could not give a token.
    #[error("OAUTHBEARER token provider failed: {reason}")]
    Token {
        /// The provider's message.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::Exchange;

    #[test]
    fn a_refused_token_is_acknowledged_and_the_failure_says_why() {
        let mut exchange = Exchange::OAuthBearer {
            expires_at: Some(SystemTime::now() - Duration::from_secs(90)),
            server_error: None,
        };
        let json = br#"{"status":"invalid_token"}"#;
        // RFC 7628: the client answers the server's error with %x01.
        assert_eq!(exchange.respond(json).unwrap(), Some(vec![0x01]));
        let repeated = exchange.failure(r#"{"status":"invalid_token"}"#.to_string());
        assert!(
            repeated.starts_with("the broker refused the token (invalid_token); the token expired"),
            "{repeated}"
        );
        let other = exchange.failure("Authentication failed".to_string());
        assert!(
            other
                .starts_with("the broker refused the token (invalid_token): Authentication failed"),
            "{other}"
        );
        assert_eq!(
            Exchange::OneShot(super::Mechanism::Plain).failure("bad password".into()),
            "bad password"
        );
    }
}
