//! A broker whose SASL_PLAINTEXT listener checks OAUTHBEARER tokens with
//! Kafka's own `OAuthBearerValidatorCallbackHandler` against the JWKS of a
//! local identity provider ([`crate::idp`]), both started once per test
//! process. Shared by the library's OIDC tests and the command-line tool's,
//! which configure clients the same way (Java's dotted key names).

use std::sync::OnceLock;

use xtask::broker::{LocalCluster, StartOptions};

use crate::idp::{AUDIENCE, CLIENT_SECRET, ISSUER, IdentityProvider};
use crate::start_cluster_with;

/// The identity provider and the broker validating its tokens.
pub struct OidcCluster {
    /// The identity provider issuing the tokens.
    pub idp: IdentityProvider,
    /// The broker.
    pub cluster: LocalCluster,
}

impl OidcCluster {
    /// The SASL_PLAINTEXT listener, whose OAUTHBEARER checks JWTs.
    pub fn bootstrap(&self) -> String {
        self.cluster
            .info
            .security
            .as_ref()
            .expect("started with security")
            .sasl_plaintext
            .clone()
    }

    /// The first broker of [`OidcCluster::bootstrap`], `host:port`.
    pub fn first_broker(&self) -> String {
        self.bootstrap()
            .split(',')
            .next()
            .expect("a bootstrap server")
            .to_string()
    }

    /// The settings of a `client_credentials` client named `client_id`
    /// (with the right secret), in the Java client's key names.
    pub fn client_credentials_pairs(&self, client_id: &str) -> Vec<(String, String)> {
        [
            ("bootstrap.servers", self.bootstrap()),
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "OAUTHBEARER".into()),
            (
                "sasl.oauthbearer.token.endpoint.url",
                self.idp.token_url.clone(),
            ),
            (
                "sasl.oauthbearer.client.credentials.client.id",
                client_id.into(),
            ),
            (
                "sasl.oauthbearer.client.credentials.client.secret",
                CLIENT_SECRET.into(),
            ),
            ("sasl.oauthbearer.scope", "kafka".into()),
            // The identity provider's certificate is from a CA of the run.
            ("ssl_cafile", self.idp.ca_file.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The identity provider and a broker validating its tokens, started on
/// first use and kept for the life of the test process.
pub fn oidc_cluster() -> &'static OidcCluster {
    static OIDC: OnceLock<OidcCluster> = OnceLock::new();
    OIDC.get_or_init(|| {
        let dir = xtask::broker::harness_dir().join(format!("idp-{}", std::process::id()));
        let idp = IdentityProvider::start(&dir).expect("starting the identity provider");
        let cluster = start_cluster_with(&StartOptions {
            security: true,
            // Kafka 4 fetches only from URLs listed here.
            jvm_options: vec![format!(
                "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={}",
                idp.jwks_url
            )],
            extra_properties: [
                (
                    "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
                ),
                ("sasl.oauthbearer.jwks.endpoint.url", idp.jwks_url.as_str()),
                ("sasl.oauthbearer.expected.audience", AUDIENCE),
                ("sasl.oauthbearer.expected.issuer", ISSUER),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..StartOptions::single_node()
        });
        OidcCluster { idp, cluster }
    })
}
