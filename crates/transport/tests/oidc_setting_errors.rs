//! Settings the built-in OAUTHBEARER token provider cannot work with are
//! refused when the client is configured, as config errors naming the key
//! to change: an encrypted assertion key (a passphrase given, or a PEM file
//! holding an ENCRYPTED PRIVATE KEY), a missing client id or secret.

use std::path::PathBuf;

use ferrokafka_transport::config::{ClientConfig, ConfigError};

const JWT_BEARER: &str = "org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever";

fn configure(extra: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
    let mut pairs = vec![
        ("bootstrap.servers", "127.0.0.1:9092"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.oauthbearer.token.endpoint.url",
            "https://idp.example/oauth2/token",
        ),
    ];
    pairs.extend_from_slice(extra);
    ClientConfig::from_pairs(pairs)
}

/// A file under the system's temporary folder holding `text`, named for
/// this test process so runs side by side do not collide.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ferrokafka-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_encrypted_pem_key_is_refused_naming_the_key_file() {
    let key = file(
        "encrypted.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let path = key.display().to_string();
    let error = configure(&[
        ("sasl.oauthbearer.jwt.retriever.class", JWT_BEARER),
        ("sasl.oauthbearer.assertion.private.key.file", &path),
    ])
    .unwrap_err();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(error.key, "sasl_oauthbearer_assertion_private_key_file");
    assert_eq!(error.value, path);
    assert!(error.reason.contains("encrypted"), "{error}");
    assert!(error.reason.contains("openssl pkcs8"), "{error}");
}

#[test]
fn a_passphrase_is_refused_naming_it_without_showing_it() {
    let key = file(
        "passphrase.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let path = key.display().to_string();
    let error = configure(&[
        ("sasl.oauthbearer.jwt.retriever.class", JWT_BEARER),
        ("sasl.oauthbearer.assertion.private.key.file", &path),
        (
            "sasl.oauthbearer.assertion.private.key.passphrase",
            "hunter2",
        ),
    ])
    .unwrap_err();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(
        error.key,
        "sasl_oauthbearer_assertion_private_key_passphrase"
    );
    assert!(error.reason.contains("not supported"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[test]
fn a_key_file_not_there_yet_is_left_to_the_first_fetch() {
    let missing = std::env::temp_dir().join(format!(
        "ferrokafka-{}-not-written-yet.pem",
        std::process::id()
    ));
    configure(&[
        ("sasl.oauthbearer.jwt.retriever.class", JWT_BEARER),
        (
            "sasl.oauthbearer.assertion.private.key.file",
            &missing.display().to_string(),
        ),
    ])
    .unwrap();
}

#[test]
fn missing_client_credentials_name_the_missing_key() {
    let error =
        configure(&[("sasl.oauthbearer.client.credentials.client.secret", "s")]).unwrap_err();
    assert_eq!(error.key, "sasl_oauthbearer_client_credentials_client_id");
    let error = configure(&[("sasl.oauthbearer.client.credentials.client.id", "app")]).unwrap_err();
    assert_eq!(
        error.key,
        "sasl_oauthbearer_client_credentials_client_secret"
    );
    configure(&[
        ("sasl.oauthbearer.client.credentials.client.id", "app"),
        ("sasl.oauthbearer.client.credentials.client.secret", "s"),
    ])
    .unwrap();
}
