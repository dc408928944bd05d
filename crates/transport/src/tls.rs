//! TLS with rustls (ring provider, no system OpenSSL): a CA file or the
//! system's roots, an optional client certificate, hostname verification on
//! by default.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// TLS settings, named after kafka-python's `ssl_*` keys.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// `ssl_cafile`: PEM file of the CAs to trust; `None` trusts the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `ssl_certfile`: PEM client certificate chain, for brokers that ask for one.
    pub cert_file: Option<PathBuf>,
    /// `ssl_keyfile`: PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// `ssl_check_hostname`: whether the broker's certificate must name the
    /// host connected to. Turning it off still checks the chain.
    pub check_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_file: None,
            cert_file: None,
            key_file: None,
            check_hostname: true,
        }
    }
}

/// Why a TLS setting cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsConfigError(String);

impl TlsConfig {
    /// A connector for these settings; load files once and share it.
    pub fn connector(&self) -> Result<tokio_rustls::TlsConnector, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if let Some(ca_file) = &self.ca_file {
            let certs = CertificateDer::pem_file_iter(ca_file)
                .map_err(|e| TlsConfigError(format!("ssl_cafile {}: {e}", ca_file.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    TlsConfigError(format!("ssl_cafile {}: {e}", ca_file.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    TlsConfigError(format!("ssl_cafile {}: {e}", ca_file.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(TlsConfigError(format!(
                    "ssl_cafile {} holds no certificate",
                    ca_file.display()
                )));
            }
        } else {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(TlsConfigError(
                    "no ssl_cafile given and the system has no CA certificates".to_string(),
                ));
            }
        }
        let roots = Arc::new(roots);
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .map_err(|e| TlsConfigError(e.to_string()))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError(e.to_string()))?;
        let builder = if self.check_hostname {
            builder.with_webpki_verifier(webpki)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
        };
        let config = match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => {
                let chain = CertificateDer::pem_file_iter(cert_file)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| {
                        TlsConfigError(format!("ssl_certfile {}: {e}", cert_file.display()))
                    })?;
                let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                    TlsConfigError(format!("ssl_keyfile {}: {e}", key_file.display()))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsConfigError(format!("client certificate: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TlsConfigError(
                    "ssl_certfile and ssl_keyfile go together".to_string(),
                ));
            }
        };
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

/// The server name to verify for `host` (a DNS name or an IP address).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, TlsConfigError> {
    ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| TlsConfigError(format!("{host:?} is not a valid TLS server name: {e}")))
}

/// Checks the certificate chain and signatures but not the name: what
/// `ssl_check_hostname=False` means.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
