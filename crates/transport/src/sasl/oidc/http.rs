//! One HTTP/1.1 POST to a token endpoint: hyper over a TCP stream, inside
//! rustls for `https` (the ring provider, as broker connections use). A
//! token is fetched every few minutes at most, so each fetch opens its own
//! connection and nothing is pooled.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite};

/// The most of a token endpoint's answer that is read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a fetch failed, and whether trying again may help.
#[derive(Debug, Clone)]
pub(crate) struct FetchError {
    pub(crate) reason: String,
    pub(crate) retriable: bool,
}

impl FetchError {
    fn retriable(reason: String) -> Self {
        FetchError {
            reason,
            retriable: true,
        }
    }
}

/// A token endpoint: where it is and how to reach it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Endpoint {
    /// An endpoint for an `http` or `https` URL. `ca_file` (the client's
    /// `ssl_cafile`) is trusted besides the system's roots, so an identity
    /// provider with an in-house certificate works as the brokers do.
    pub(crate) fn new(
        url: &str,
        ca_file: Option<&Path>,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url:?} is not an http, https or file URL")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("{url:?} names no host"))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            Some(connector(ca_file)?)
        } else {
            None
        };
        Ok(Endpoint {
            uri,
            host,
            port,
            tls,
            connect_timeout,
            read_timeout,
        })
    }

    /// POSTs a form and returns the status and body of the answer.
    pub(crate) async fn post_form(
        &self,
        authorization: Option<&str>,
        form: String,
    ) -> Result<(u16, Bytes), FetchError> {
        let address = format!("{}:{}", self.host.trim_matches(['[', ']']), self.port);
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(&address)
                .await
                .map_err(|e| FetchError::retriable(format!("cannot connect to {address}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            Ok::<_, FetchError>(tcp)
        };
        let tcp = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| {
                FetchError::retriable(format!(
                    "no connection to {address} within {:?} (sasl_login_connect_timeout_ms)",
                    self.connect_timeout
                ))
            })??;
        let exchange = async {
            match &self.tls {
                None => self.exchange(tcp, authorization, form).await,
                Some(tls) => {
                    let name = crate::tls::server_name(&self.host)
                        .map_err(|e| FetchError::retriable(e.to_string()))?;
                    let stream = tls.connect(name, tcp).await.map_err(|e| FetchError {
                        reason: format!("TLS with {address} failed: {e}"),
                        retriable: false,
                    })?;
                    self.exchange(stream, authorization, form).await
                }
            }
        };
        tokio::time::timeout(self.read_timeout, exchange)
            .await
            .map_err(|_| {
                FetchError::retriable(format!(
                    "no answer from {} within {:?} (sasl_login_read_timeout_ms)",
                    self.uri, self.read_timeout
                ))
            })?
    }

    async fn exchange<S>(
        &self,
        stream: S,
        authorization: Option<&str>,
        form: String,
    ) -> Result<(u16, Bytes), FetchError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let broken = |e: &dyn std::fmt::Display| {
            FetchError::retriable(format!("HTTP with {} failed: {e}", self.uri))
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| broken(&e))?;
        // The connection's own task; it ends with this exchange.
        let driver = AbortOnDrop(tokio::spawn(connection));
        let path = self
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let authority = self
            .uri
            .authority()
            .map_or_else(|| self.host.clone(), ToString::to_string);
        let mut request = http::Request::post(path)
            .header(HOST, authority)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| broken(&e))?;
        let response = sender.send_request(request).await.map_err(|e| broken(&e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| broken(&*e))?
            .to_bytes();
        drop(driver);
        Ok((status, body))
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// rustls for token endpoints: the system's roots and `ca_file`'s.
fn connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca_file) = ca_file {
        let certs = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("ssl_cafile {}: {e}", ca_file.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("ssl_cafile {}: {e}", ca_file.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ssl_cafile {}: {e}", ca_file.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("no CA certificates to check the token endpoint with: the system has none and no ssl_cafile is set".into());
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
