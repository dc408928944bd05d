//! The built-in OAUTHBEARER token provider (KIP-768, KIP-1139): tokens from
//! an OAuth/OIDC identity provider's token endpoint with the
//! `client_credentials` or `jwt-bearer` grant, or from a file, fetched
//! again before they expire as the Java client's login refresh does.
//!
//! A client configured with `sasl_mechanism=OAUTHBEARER` and
//! `sasl_oauthbearer_token_endpoint_url` uses it; a
//! [`TokenProvider`] set in code still wins.

mod http;
pub mod jwt;
mod refresh;
mod settings;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tracing::{debug, info, warn};

pub use refresh::{RefreshConfig, RetryConfig, refresh_at};
pub use settings::{Grant, Method, OAuthBearerSettings};

use self::http::{Endpoint, FetchError};
use self::jwt::{SigningKey, TokenClaims};
use super::{SaslError, Secret, TokenProvider};
use crate::config::ConfigError;

/// HTTP answers that trying again will not change (Java's list).
const UNRETRIABLE_STATUS: &[u16] = &[
    400, 401, 402, 403, 404, 405, 406, 407, 409, 410, 411, 412, 413, 414, 415, 501, 505,
];

/// The grant type of RFC 7523.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Tokens from an identity provider, kept fresh in the background.
///
/// The first [`TokenProvider::token`] call fetches a token (trying again
/// with `sasl_login_retry_backoff_*` on failures that may pass); from then
/// on a task fetches the next one at the time [`refresh_at`] picks, so a
/// re-authentication finds a fresh token waiting. The task ends with the
/// provider.
///
/// ```no_run
/// use ferrokafka_transport::sasl::TokenProvider;
/// use ferrokafka_transport::sasl::oidc::{OAuthBearerSettings, OidcTokenProvider};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut settings = OAuthBearerSettings::default();
/// for (key, value) in [
///     ("sasl_oauthbearer_token_endpoint_url", "https://idp.example/oauth2/token"),
///     ("sasl_oauthbearer_client_credentials_client_id", "billing"),
///     ("sasl_oauthbearer_client_credentials_client_secret", "s3cret"),
///     ("sasl_oauthbearer_scope", "kafka"),
/// ] {
///     settings.set(key, value)?;
/// }
/// let provider = OidcTokenProvider::new(settings)?;
/// let token = provider.token().await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
pub struct OidcTokenProvider {
    inner: Arc<Inner>,
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Inner {
    settings: OAuthBearerSettings,
    source: Source,
    sub_claim: String,
    current: tokio::sync::Mutex<Option<Token>>,
    fetches: AtomicU64,
}

enum Source {
    /// A token endpoint.
    Endpoint(Endpoint),
    /// `file://`: a token in a file.
    File(PathBuf),
}

#[derive(Clone)]
struct Token {
    value: Secret,
    claims: TokenClaims,
    refresh_at_ms: u64,
}

impl std::fmt::Debug for OidcTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcTokenProvider")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl OidcTokenProvider {
    /// A provider for `settings`; fails when they cannot work (no
    /// endpoint, a grant without its credentials, a bad URL or CA file).
    /// Nothing is fetched yet.
    pub fn new(mut settings: OAuthBearerSettings) -> Result<Self, SaslError> {
        // This copy must not hold the cache the provider itself sits in.
        settings.provider = Arc::default();
        // Each refusal names the key to change, as a config error does.
        let setting = |key: &str, value: &str, reason: &str| {
            SaslError::Setting(ConfigError::new(key, value, reason))
        };
        let url = settings.token_endpoint_url.clone().ok_or_else(|| {
            setting(
                "sasl_oauthbearer_token_endpoint_url",
                "",
                "OAUTHBEARER needs sasl_oauthbearer_token_endpoint_url (or a token provider set in code)",
            )
        })?;
        let source = if let Some(path) = url.strip_prefix("file://") {
            Source::File(PathBuf::from(path))
        } else {
            match settings.grant {
                Grant::ClientCredentials => {
                    let missing = if settings.client_id.is_none() {
                        Some("sasl_oauthbearer_client_credentials_client_id")
                    } else if settings.client_secret.is_none() {
                        Some("sasl_oauthbearer_client_credentials_client_secret")
                    } else {
                        None
                    };
                    if let Some(key) = missing {
                        return Err(setting(
                            key,
                            "",
                            "the client_credentials grant needs sasl_oauthbearer_client_credentials_client_id and sasl_oauthbearer_client_credentials_client_secret",
                        ));
                    }
                }
                Grant::JwtBearer => {
                    if settings.assertion_file.is_none() {
                        let Some(key_file) = &settings.assertion_private_key_file else {
                            return Err(setting(
                                "sasl_oauthbearer_assertion_private_key_file",
                                "",
                                "the jwt-bearer grant needs sasl_oauthbearer_assertion_file or sasl_oauthbearer_assertion_private_key_file",
                            ));
                        };
                        if settings.assertion_private_key_passphrase.is_some() {
                            // The passphrase itself is never shown.
                            return Err(setting(
                                "sasl_oauthbearer_assertion_private_key_passphrase",
                                "***",
                                "encrypted private keys are not supported; give the key decrypted (openssl pkcs8 -topk8 -nocrypt) and no passphrase",
                            ));
                        }
                        check_key_file(key_file)?;
                    }
                }
            }
            Source::Endpoint(
                Endpoint::new(
                    &url,
                    settings.ca_file.as_deref(),
                    settings.connect_timeout.unwrap_or(Duration::from_secs(10)),
                    settings.read_timeout.unwrap_or(Duration::from_secs(30)),
                )
                .map_err(|e| setting("sasl_oauthbearer_token_endpoint_url", &url, &e))?,
            )
        };
        let sub_claim = settings
            .sub_claim_name
            .clone()
            .unwrap_or_else(|| "sub".to_string());
        Ok(OidcTokenProvider {
            inner: Arc::new(Inner {
                settings,
                source,
                sub_claim,
                current: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
            refresher: Mutex::new(None),
        })
    }

    /// How many tokens this provider has fetched (first and refreshes).
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Starts the refresh task if it is not running (it needs a runtime,
    /// which `token` has).
    fn start_refresher(&self) {
        let mut refresher = self
            .refresher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if refresher
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
        {
            *refresher = Some(tokio::spawn(refresh_loop(Arc::downgrade(&self.inner))));
        }
    }
}

impl Drop for OidcTokenProvider {
    fn drop(&mut self) {
        if let Some(task) = self
            .refresher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

#[async_trait]
impl TokenProvider for OidcTokenProvider {
    async fn token(&self) -> Result<Secret, SaslError> {
        let mut current = self.inner.current.lock().await;
        let now = now_ms();
        let token = match &*current {
            Some(token) if now < token.claims.expires_at_ms => token.clone(),
            // None yet, or the refresh task has not managed to replace an
            // expired one: fetch here, for this connection to wait on.
            _ => {
                let token = self.inner.fetch().await?;
                *current = Some(token.clone());
                token
            }
        };
        drop(current);
        self.start_refresher();
        Ok(token.value)
    }
}

/// Replaces the token at its refresh time, for as long as the provider lives.
async fn refresh_loop(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let refresh_at_ms = strong
            .current
            .lock()
            .await
            .as_ref()
            .map_or(0, |token| token.refresh_at_ms);
        drop(strong);
        let wait = Duration::from_millis(refresh_at_ms.saturating_sub(now_ms()));
        tokio::time::sleep(wait).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match strong.fetch().await {
            Ok(token) => *strong.current.lock().await = Some(token),
            Err(error) => {
                let retry_at = now_ms() + millis(refresh::RETRY_AFTER_EXPIRY);
                warn!(%error, "OAUTHBEARER token refresh failed; trying again in 10 s");
                if let Some(token) = strong.current.lock().await.as_mut() {
                    token.refresh_at_ms = retry_at;
                }
            }
        }
    }
}

impl Inner {
    /// One token, tried again on failures that may pass, within
    /// `sasl_login_retry_backoff_max_ms` as the Java client does.
    async fn fetch(&self) -> Result<Token, SaslError> {
        let started = std::time::Instant::now();
        let mut attempt = 1;
        loop {
            let error = match self.fetch_once().await {
                Ok(token) => return Ok(token),
                Err(error) => error,
            };
            let delay = if error.retriable {
                self.settings.retry.delay(attempt, started.elapsed())
            } else {
                None
            };
            let Some(delay) = delay else {
                return Err(SaslError::Token {
                    reason: error.reason,
                });
            };
            debug!(
                attempt,
                ?delay,
                reason = error.reason,
                "token fetch failed; trying again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn fetch_once(&self) -> Result<Token, FetchError> {
        let value = match &self.source {
            Source::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| FetchError {
                    reason: format!("cannot read the token file {}: {e}", path.display()),
                    retriable: true,
                })?
                .trim()
                .to_string(),
            Source::Endpoint(endpoint) => self.ask_endpoint(endpoint).await?,
        };
        let claims = jwt::claims(&value, &self.sub_claim).map_err(|e| FetchError {
            reason: e.to_string(),
            retriable: false,
        })?;
        let now = now_ms();
        let refresh_at_ms = refresh_at(
            &self.settings.refresh,
            now,
            claims.issued_at_ms.unwrap_or(now),
            claims.expires_at_ms,
            crate::backoff::unit_random(),
        );
        let fetches = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        info!(
            subject = claims.subject,
            expires_in_s = claims.expires_at_ms.saturating_sub(now) / 1000,
            refresh_in_s = refresh_at_ms.saturating_sub(now) / 1000,
            fetches,
            "OAUTHBEARER token fetched"
        );
        Ok(Token {
            value: Secret::new(value),
            claims,
            refresh_at_ms,
        })
    }

    /// Asks the token endpoint with the configured grant; the access token
    /// of its answer.
    async fn ask_endpoint(&self, endpoint: &Endpoint) -> Result<String, FetchError> {
        let settings = &self.settings;
        let assertion = match settings.grant {
            Grant::JwtBearer => Some(self.assertion().await?),
            Grant::ClientCredentials => None,
        };
        // The serializer is not Send: it is done before the first await.
        let (form, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            let mut authorization = None;
            if let Some(assertion) = &assertion {
                form.append_pair("grant_type", JWT_BEARER);
                form.append_pair("assertion", assertion);
            } else {
                form.append_pair("grant_type", "client_credentials");
                let id = settings.client_id.as_deref().unwrap_or_default();
                let secret = settings
                    .client_secret
                    .as_ref()
                    .map(Secret::expose)
                    .unwrap_or_default();
                let credentials = if settings.header_urlencode {
                    let encode =
                        |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                    format!("{}:{}", encode(id), encode(secret))
                } else {
                    format!("{id}:{secret}")
                };
                authorization = Some(format!("Basic {}", STANDARD.encode(credentials)));
            }
            if let Some(scope) = &settings.scope {
                form.append_pair("scope", scope);
            }
            (form.finish(), authorization)
        };
        let (status, body) = endpoint.post_form(authorization.as_deref(), form).await?;
        let text = String::from_utf8_lossy(&body);
        if status != 200 && status != 201 {
            return Err(FetchError {
                reason: format!(
                    "the token endpoint answered HTTP {status}: {}",
                    snippet(&text)
                ),
                retriable: !UNRETRIABLE_STATUS.contains(&status),
            });
        }
        let json: Value = serde_json::from_str(&text).map_err(|_| FetchError {
            reason: format!(
                "the token endpoint's answer is not JSON: {}",
                snippet(&text)
            ),
            retriable: true,
        })?;
        match json.get("access_token") {
            Some(Value::String(token)) if !token.trim().is_empty() => Ok(token.trim().to_string()),
            _ => Err(FetchError {
                reason: "the token endpoint's answer has no access_token".to_string(),
                retriable: true,
            }),
        }
    }

    /// The jwt-bearer assertion: the file's, or one signed now.
    async fn assertion(&self) -> Result<String, FetchError> {
        let settings = &self.settings;
        let read = |path: PathBuf| async move {
            tokio::fs::read(&path).await.map_err(|e| FetchError {
                reason: format!("cannot read {}: {e}", path.display()),
                retriable: true,
            })
        };
        if let Some(path) = &settings.assertion_file {
            let bytes = read(path.clone()).await?;
            return Ok(String::from_utf8_lossy(&bytes).trim().to_string());
        }
        let path = settings
            .assertion_private_key_file
            .clone()
            .unwrap_or_default();
        let pem = read(path).await?;
        let not_usable = |e: SaslError| FetchError {
            reason: e.to_string(),
            retriable: false,
        };
        SigningKey::from_pem(&pem, settings.assertion_algorithm)
            .map_err(not_usable)?
            .assertion(&settings.assertion_claims, SystemTime::now())
            .map_err(not_usable)
    }
}

/// The start of an answer, for an error message.
fn snippet(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn now_ms() -> u64 {
    millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Refuses an encrypted PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`) when
/// the provider is made, so the mistake shows where the client is
/// configured rather than at the first connection. A file not readable
/// yet is left to the first token fetch, which says why it failed.
fn check_key_file(path: &std::path::Path) -> Result<(), SaslError> {
    let Ok(pem) = std::fs::read(path) else {
        return Ok(());
    };
    if jwt::is_encrypted_pem(&pem) {
        return Err(SaslError::Setting(ConfigError::new(
            "sasl_oauthbearer_assertion_private_key_file",
            &path.display().to_string(),
            "the key is encrypted (ENCRYPTED PRIVATE KEY), which this client cannot read; decrypt it first (openssl pkcs8 -topk8 -nocrypt -in key.pem)",
        )));
    }
    Ok(())
}
