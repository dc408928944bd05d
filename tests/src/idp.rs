//! A small OAuth/OIDC identity provider for the OAUTHBEARER tests: a token
//! endpoint over HTTPS (the `client_credentials` and `jwt-bearer` grants)
//! and a JWKS endpoint over HTTP for the broker, on 127.0.0.1, signing
//! RS256 access tokens with a key made for the run. It runs on a thread of
//! its own for the life of the test process, so every test of a file can
//! use it whichever runtime each test has.
//!
//! What a client gets depends on its id (or, for jwt-bearer, its
//! assertion's subject), so tests sharing the provider do not interfere:
//! `expired...` gets a token that expired two minutes ago, `short-N...` one
//! that lives N seconds, any other one that lives five minutes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

/// The secret every `client_credentials` client must present.
pub const CLIENT_SECRET: &str = "idp-test-secret";
/// The audience every access token names (the broker expects it).
pub const AUDIENCE: &str = "kafka";
/// The issuer of every access token.
pub const ISSUER: &str = "ferrokafka-test-idp";
/// The `kid` of the signing key in the JWKS.
const KEY_ID: &str = "ferrokafka-test-key";

/// A running identity provider.
pub struct IdentityProvider {
    /// `https://127.0.0.1:P/token`.
    pub token_url: String,
    /// `http://127.0.0.1:Q/jwks`.
    pub jwks_url: String,
    /// The CA that signed the token endpoint's certificate.
    pub ca_file: PathBuf,
    /// A PKCS#8 RSA key whose assertions the jwt-bearer grant accepts.
    pub client_key_file: PathBuf,
    state: Arc<State>,
}

struct State {
    signing: RsaKeyPair,
    client_public: RsaPublicKeyComponents<Vec<u8>>,
    token_url: String,
    issued: Mutex<HashMap<String, usize>>,
}

impl IdentityProvider {
    /// Makes keys and certificates under `dir` and starts serving.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let certificates = xtask::broker::security::make_certificates(&dir.join("tls"))?;
        let signing_file = dir.join("signing-key.pem");
        let client_key_file = dir.join("client-key.pem");
        for file in [&signing_file, &client_key_file] {
            let output = Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                ])
                .arg(file)
                .output()
                .context("running openssl")?;
            if !output.status.success() {
                bail!(
                    "openssl genpkey: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        let signing = rsa_key(&signing_file)?;
        let client_public =
            RsaPublicKeyComponents::<Vec<u8>>::from(rsa_key(&client_key_file)?.public());

        // The token endpoint serves the harness's "broker" certificate (for
        // 127.0.0.1), signed by a CA of its own.
        let chain = CertificateDer::pem_file_iter(&certificates.broker_keystore_file)?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&certificates.broker_keystore_file)?;
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let token_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let jwks_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        token_listener.set_nonblocking(true)?;
        jwks_listener.set_nonblocking(true)?;
        let token_url = format!("https://{}/token", token_listener.local_addr()?);
        let jwks_url = format!("http://{}/jwks", jwks_listener.local_addr()?);
        let state = Arc::new(State {
            signing,
            client_public,
            token_url: token_url.clone(),
            issued: Mutex::new(HashMap::new()),
        });
        let served = Arc::clone(&state);
        std::thread::Builder::new()
            .name("test-idp".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the identity provider");
                runtime.block_on(serve(served, token_listener, jwks_listener, acceptor));
            })?;
        Ok(IdentityProvider {
            token_url,
            jwks_url,
            ca_file: certificates.ca_file,
            client_key_file,
            state,
        })
    }

    /// How many access tokens `client` has been given.
    pub fn tokens_issued(&self, client: &str) -> usize {
        self.state
            .issued
            .lock()
            .unwrap()
            .get(client)
            .copied()
            .unwrap_or(0)
    }

    /// An access token for `client` as the token endpoint would issue it,
    /// for tests that hand a token over themselves.
    pub fn token_for(&self, client: &str) -> String {
        self.state.access_token(client, None)
    }
}

impl std::fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProvider")
            .field("token_url", &self.token_url)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

fn rsa_key(file: &Path) -> anyhow::Result<RsaKeyPair> {
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_file(file)? else {
        bail!("{} is not a PKCS#8 key", file.display());
    };
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

async fn serve(
    state: Arc<State>,
    token_listener: std::net::TcpListener,
    jwks_listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    let token_listener = tokio::net::TcpListener::from_std(token_listener).expect("token listener");
    let jwks_listener = tokio::net::TcpListener::from_std(jwks_listener).expect("JWKS listener");
    loop {
        let state = Arc::clone(&state);
        tokio::select! {
            Ok((stream, _)) = token_listener.accept() => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(state, TokioIo::new(stream)).await;
                    }
                });
            }
            Ok((stream, _)) = jwks_listener.accept() => {
                tokio::spawn(serve_connection(state, TokioIo::new(stream)));
            }
        }
    }
}

async fn serve_connection<S>(state: Arc<State>, io: TokioIo<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(state.answer(request).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

fn respond(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a response")
}

fn refuse(status: u16, error: &str, description: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl State {
    async fn answer(&self, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        match (request.method().as_str(), request.uri().path()) {
            ("GET", "/jwks") => respond(200, &self.jwks()),
            ("POST", "/token") => {
                let authorization = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let Ok(body) = request.into_body().collect().await else {
                    return refuse(400, "invalid_request", "unreadable body");
                };
                let form: HashMap<String, String> = form_urlencoded::parse(&body.to_bytes())
                    .into_owned()
                    .collect();
                self.token(authorization.as_deref(), &form)
            }
            _ => refuse(404, "not_found", "no such endpoint"),
        }
    }

    fn jwks(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.signing.public());
        json!({ "keys": [{
            "kty": "RSA",
            "kid": KEY_ID,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        }]})
    }

    fn token(
        &self,
        authorization: Option<&str>,
        form: &HashMap<String, String>,
    ) -> Response<Full<Bytes>> {
        let client = match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {
                let Some((id, secret)) = authorization
                    .and_then(|a| a.strip_prefix("Basic "))
                    .and_then(|b| STANDARD.decode(b).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(i, s)| (i.to_string(), s.to_string()))
                    })
                else {
                    return refuse(401, "invalid_client", "no Basic authentication");
                };
                if secret != CLIENT_SECRET {
                    return refuse(401, "invalid_client", "wrong client secret");
                }
                id
            }
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                match self.check_assertion(form.get("assertion").map_or("", String::as_str)) {
                    Ok(subject) => subject,
                    Err(reason) => return refuse(400, "invalid_grant", &reason),
                }
            }
            _ => return refuse(400, "unsupported_grant_type", "unknown grant"),
        };
        let lifetime = lifetime(&client);
        let token = self.access_token(&client, form.get("scope").map(String::as_str));
        *self.issued.lock().unwrap().entry(client).or_default() += 1;
        respond(
            200,
            &json!({ "access_token": token, "token_type": "Bearer", "expires_in": lifetime }),
        )
    }

    /// The subject of a valid assertion: signed by the client's key, for
    /// this token endpoint, not expired.
    fn check_assertion(&self, assertion: &str) -> Result<String, String> {
        let (input, signature_part) = assertion.rsplit_once('.').ok_or("not a JWS")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_part)
            .map_err(|_| "bad signature encoding")?;
        self.client_public
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &signature,
            )
            .map_err(|_| "the assertion's signature does not verify")?;
        let payload = input.split('.').nth(1).ok_or("no payload")?;
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).map_err(|_| "bad payload")?)
                .map_err(|_| "payload is not JSON")?;
        if claims["aud"] != json!(self.token_url) {
            return Err(format!("aud must be {}", self.token_url));
        }
        if claims["exp"].as_u64().is_none_or(|exp| exp < now()) {
            return Err("the assertion expired".into());
        }
        claims["sub"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "no sub".into())
    }

    fn access_token(&self, client: &str, scope: Option<&str>) -> String {
        let now = now();
        let lifetime = lifetime(client);
        let (iat, exp) = if lifetime < 0 {
            (now - 600, now - 120)
        } else {
            (now, now + lifetime.unsigned_abs())
        };
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KEY_ID });
        let claims = json!({
            "iss": ISSUER,
            "sub": client,
            "aud": AUDIENCE,
            "scope": scope.unwrap_or("kafka"),
            "iat": iat,
            "exp": exp,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.signing.public().modulus_len()];
        self.signing
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// Seconds a client's tokens live; negative: already expired.
fn lifetime(client: &str) -> i64 {
    if client.starts_with("expired") {
        return -1;
    }
    client
        .strip_prefix("short-")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}
