//! The OAUTHBEARER login settings under the Java client's names
//! (`sasl.oauthbearer.*`, `sasl.login.*`, KIP-768 and KIP-1139), with
//! librdkafka's few spellings of the same things as aliases.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::OidcTokenProvider;
use super::jwt::{Algorithm, AssertionClaims};
use super::refresh::{RefreshConfig, RetryConfig};
use crate::config::{ConfigError, boolean, millis};
use crate::sasl::{SaslError, Secret};

/// How the built-in provider gets tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grant {
    /// OAuth `client_credentials`: client id and secret in HTTP Basic
    /// authentication (Java's `ClientCredentialsJwtRetriever`, the default).
    #[default]
    ClientCredentials,
    /// RFC 7523 `jwt-bearer`: a JWT assertion, signed with the client's
    /// private key or read from a file, exchanged for a token
    /// (`JwtBearerJwtRetriever`, KIP-1139).
    JwtBearer,
}

/// `sasl_oauthbearer_method` (librdkafka's key): whose tokens OAUTHBEARER
/// sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A [`TokenProvider`](crate::sasl::TokenProvider) set in code.
    Default,
    /// The built-in provider, from `sasl_oauthbearer_token_endpoint_url`.
    Oidc,
}

/// The built-in token provider's settings. Start from `Default` and set
/// keys with [`OAuthBearerSettings::set`] (or the fields).
#[derive(Clone, Default)]
pub struct OAuthBearerSettings {
    /// `sasl_oauthbearer_method`; unset picks the provider set in code if
    /// there is one, else the built-in one when a token endpoint is set.
    pub method: Option<Method>,
    /// `sasl_oauthbearer_token_endpoint_url`: the identity provider's token
    /// endpoint (`https://...`), or `file:///path` of a file holding a
    /// token, read again at each refresh.
    pub token_endpoint_url: Option<String>,
    /// `sasl_oauthbearer_jwt_retriever_class` (Java's class names, or
    /// `sasl_oauthbearer_grant_type` as librdkafka names the grants).
    pub grant: Grant,
    /// `sasl_oauthbearer_client_credentials_client_id`.
    pub client_id: Option<String>,
    /// `sasl_oauthbearer_client_credentials_client_secret`.
    pub client_secret: Option<Secret>,
    /// `sasl_oauthbearer_scope`.
    pub scope: Option<String>,
    /// `sasl_oauthbearer_sub_claim_name` (default `sub`).
    pub sub_claim_name: Option<String>,
    /// `sasl_oauthbearer_scope_claim_name`: read by brokers; kept so a Java
    /// configuration carries over.
    pub scope_claim_name: Option<String>,
    /// `sasl_oauthbearer_header_urlencode`: URL-encode the client id and
    /// secret inside the Basic authentication header (KIP-1025).
    pub header_urlencode: bool,
    /// `sasl_oauthbearer_assertion_algorithm` (RS256 or ES256).
    pub assertion_algorithm: Algorithm,
    /// `sasl_oauthbearer_assertion_claim_*`.
    pub assertion_claims: AssertionClaims,
    /// `sasl_oauthbearer_assertion_file`: a ready assertion, read at each
    /// fetch; the other assertion settings are then ignored.
    pub assertion_file: Option<PathBuf>,
    /// `sasl_oauthbearer_assertion_private_key_file` (PEM), read at each
    /// fetch so a rotated key is picked up.
    pub assertion_private_key_file: Option<PathBuf>,
    /// `sasl_oauthbearer_assertion_private_key_passphrase`: encrypted keys
    /// are refused with an error saying how to decrypt them.
    pub assertion_private_key_passphrase: Option<Secret>,
    /// `sasl_login_refresh_*`.
    pub refresh: RefreshConfig,
    /// `sasl_login_retry_backoff_ms` and `sasl_login_retry_backoff_max_ms`.
    pub retry: RetryConfig,
    /// `sasl_login_connect_timeout_ms` (default 10 s).
    pub connect_timeout: Option<Duration>,
    /// `sasl_login_read_timeout_ms` (default 30 s).
    pub read_timeout: Option<Duration>,
    /// Not a key: the client's `ssl_cafile`, trusted for the token
    /// endpoint besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The provider made from these settings, shared by the clones of one
    /// client's configuration; a changed setting starts a new one.
    pub(super) provider: Arc<OnceLock<Result<Arc<OidcTokenProvider>, SaslError>>>,
}

impl std::fmt::Debug for OAuthBearerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerSettings")
            .field("method", &self.method)
            .field("token_endpoint_url", &self.token_endpoint_url)
            .field("grant", &self.grant)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

impl OAuthBearerSettings {
    /// Applies one setting (`key` normalized: `sasl_oauthbearer_scope`).
    /// `Ok(false)`: not an OAUTHBEARER key.
    ///
    /// ```
    /// use ferrokafka_transport::sasl::oidc::{Grant, OAuthBearerSettings};
    /// let mut settings = OAuthBearerSettings::default();
    /// settings.set("sasl_oauthbearer_token_endpoint_url", "https://idp.example/token").unwrap();
    /// settings
    ///     .set(
    ///         "sasl_oauthbearer_jwt_retriever_class",
    ///         "org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever",
    ///     )
    ///     .unwrap();
    /// assert_eq!(settings.grant, Grant::JwtBearer);
    /// assert!(settings.set("sasl_login_refresh_window_factor", "0.2").is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let text = || {
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_string())
        };
        match key {
            "sasl_oauthbearer_method" => {
                self.method = Some(match value.trim().to_ascii_lowercase().as_str() {
                    "default" => Method::Default,
                    "oidc" => Method::Oidc,
                    _ => return Err(ConfigError::new(key, value, "expected default or oidc")),
                });
            }
            "sasl_oauthbearer_token_endpoint_url" => self.token_endpoint_url = text(),
            "sasl_oauthbearer_jwt_retriever_class" => {
                let class = value.trim().rsplit('.').next().unwrap_or_default();
                self.grant = match class {
                    "ClientCredentialsJwtRetriever"
                    | "DefaultJwtRetriever"
                    | "FileJwtRetriever" => Grant::ClientCredentials,
                    "JwtBearerJwtRetriever" => Grant::JwtBearer,
                    _ => {
                        return Err(ConfigError::new(
                            key,
                            value,
                            "expected one of Kafka's retrievers: DefaultJwtRetriever, ClientCredentialsJwtRetriever, JwtBearerJwtRetriever or FileJwtRetriever (a provider of your own goes in code, as a TokenProvider)",
                        ));
                    }
                };
            }
            "sasl_oauthbearer_grant_type" => {
                self.grant = match value.trim() {
                    "client_credentials" => Grant::ClientCredentials,
                    JWT_BEARER_GRANT => Grant::JwtBearer,
                    _ => {
                        return Err(ConfigError::new(
                            key,
                            value,
                            format!("expected client_credentials or {JWT_BEARER_GRANT}"),
                        ));
                    }
                };
            }
            "sasl_oauthbearer_client_credentials_client_id" | "sasl_oauthbearer_client_id" => {
                self.client_id = text();
            }
            "sasl_oauthbearer_client_credentials_client_secret"
            | "sasl_oauthbearer_client_secret" => {
                self.client_secret = (!value.is_empty()).then(|| Secret::new(value));
            }
            "sasl_oauthbearer_scope" => self.scope = text(),
            "sasl_oauthbearer_sub_claim_name" => self.sub_claim_name = text(),
            "sasl_oauthbearer_scope_claim_name" => self.scope_claim_name = text(),
            "sasl_oauthbearer_header_urlencode" => self.header_urlencode = boolean(key, value)?,
            "sasl_oauthbearer_assertion_algorithm" => {
                self.assertion_algorithm = Algorithm::parse(value)
                    .ok_or_else(|| ConfigError::new(key, value, "expected RS256 or ES256"))?;
            }
            "sasl_oauthbearer_assertion_claim_aud" => self.assertion_claims.audience = text(),
            "sasl_oauthbearer_assertion_claim_iss" => self.assertion_claims.issuer = text(),
            "sasl_oauthbearer_assertion_claim_sub" => self.assertion_claims.subject = text(),
            "sasl_oauthbearer_assertion_claim_exp_seconds" => {
                self.assertion_claims.expires_in = seconds(key, value, 0, 86_400)?;
            }
            "sasl_oauthbearer_assertion_claim_nbf_seconds" => {
                self.assertion_claims.not_before = seconds(key, value, 0, 3_600)?;
            }
            "sasl_oauthbearer_assertion_claim_jti_include" => {
                self.assertion_claims.include_jti = boolean(key, value)?;
            }
            "sasl_oauthbearer_assertion_file" => self.assertion_file = text().map(PathBuf::from),
            "sasl_oauthbearer_assertion_private_key_file" => {
                self.assertion_private_key_file = text().map(PathBuf::from);
            }
            "sasl_oauthbearer_assertion_private_key_passphrase" => {
                self.assertion_private_key_passphrase =
                    (!value.is_empty()).then(|| Secret::new(value));
            }
            "sasl_login_refresh_window_factor" => {
                self.refresh.window_factor = share(key, value, 0.5, 1.0)?;
            }
            "sasl_login_refresh_window_jitter" => {
                self.refresh.window_jitter = share(key, value, 0.0, 0.25)?;
            }
            "sasl_login_refresh_min_period_seconds" => {
                self.refresh.min_period = seconds(key, value, 0, 900)?;
            }
            "sasl_login_refresh_buffer_seconds" => {
                self.refresh.buffer = seconds(key, value, 0, 3_600)?;
            }
            "sasl_login_connect_timeout_ms" => self.connect_timeout = Some(millis(key, value)?),
            "sasl_login_read_timeout_ms" => self.read_timeout = Some(millis(key, value)?),
            "sasl_login_retry_backoff_ms" => self.retry.initial = millis(key, value)?,
            "sasl_login_retry_backoff_max_ms" => self.retry.max = millis(key, value)?,
            "sasl_oauthbearer_expected_audience"
            | "sasl_oauthbearer_expected_issuer"
            | "sasl_oauthbearer_jwks_endpoint_url" => {}
            "sasl_oauthbearer_clock_skew_seconds"
            | "sasl_oauthbearer_jwks_endpoint_refresh_ms"
            | "sasl_oauthbearer_jwks_endpoint_retry_backoff_ms"
            | "sasl_oauthbearer_jwks_endpoint_retry_backoff_max_ms" => {
                if !value.trim().is_empty() {
                    millis(key, value)?;
                }
            }
            _ => return Ok(false),
        }
        self.provider = Arc::default();
        Ok(true)
    }

    /// The built-in provider for these settings, made once and shared by
    /// every connection of the client whose configuration this is.
    pub fn provider(&self) -> Result<Arc<OidcTokenProvider>, SaslError> {
        self.provider
            .get_or_init(|| OidcTokenProvider::new(self.clone()).map(Arc::new))
            .clone()
    }

    /// Sets [`OAuthBearerSettings::ca_file`], starting a new provider
    /// when it changes.
    pub fn set_ca_file(&mut self, ca_file: Option<PathBuf>) {
        if self.ca_file != ca_file {
            self.ca_file = ca_file;
            self.provider = Arc::default();
        }
    }
}

fn seconds(key: &str, value: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(ConfigError::new(
            key,
            value,
            format!("expected whole seconds from {min} to {max}"),
        )),
    }
}

fn share(key: &str, value: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            key,
            value,
            format!("expected a number from {min} to {max}"),
        )),
    }
}
