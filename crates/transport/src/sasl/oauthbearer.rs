//! OAUTHBEARER (RFC 7628) as Kafka uses it (KIP-255): the client sends
//! `n,,\x01auth=Bearer <token>\x01\x01`; the server answers empty on
//! success, or with a JSON error the client acknowledges with `\x01`.

use async_trait::async_trait;

use super::{SaslError, Secret};

/// Where OAUTHBEARER tokens come from: an identity provider, a file, a
/// fixed string in tests. Asked for a token at each (re-)authentication.
///
/// `#[async_trait]`: implement it with a plain `async fn token`.
///
/// ```
/// use ferrokafka_transport::sasl::{SaslError, Secret, TokenProvider};
///
/// struct FromEnv;
///
/// #[ferrokafka_transport::async_trait]
/// impl TokenProvider for FromEnv {
///     async fn token(&self) -> Result<Secret, SaslError> {
///         Ok(Secret::new(std::env::var("TOKEN").unwrap_or_default()))
///     }
/// }
/// ```
#[async_trait]
pub trait TokenProvider: Send + Sync + 'static {
    /// A current token (a compact JWS).
    async fn token(&self) -> Result<Secret, SaslError>;
}

/// A provider that always gives the same token.
///
/// ```
/// use ferrokafka_transport::sasl::{Secret, StaticToken};
/// let provider = StaticToken(Secret::new("eyJhbGciOiJub25lIn0.e30."));
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken(pub Secret);

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<Secret, SaslError> {
        Ok(self.0.clone())
    }
}

pub(super) fn initial_response(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        assert_eq!(
            super::initial_response("abc"),
            b"n,,\x01auth=Bearer abc\x01\x01"
        );
    }
}
