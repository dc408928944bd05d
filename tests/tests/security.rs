//! `--security` listeners serve an independent client (kafka-python) over
//! every SASL mechanism, TLS with and without a client certificate, and
//! SASL over TLS.

use std::path::PathBuf;

use ferrokafka_tests::{security_cluster, unique_topic};
use ferrokafka_transport::{Connection, ConnectionConfig, TlsConfig, TransportError};
use xtask::broker::probe;

#[test]
fn kafka_python_authenticates_on_every_security_listener() {
    let security = security_cluster()
        .security
        .clone()
        .expect("started with security");
    let certs = &security.certificates;
    let ca = certs.ca_file.to_str().unwrap();
    let cert = certs.client_cert_file.to_str().unwrap();
    let key = certs.client_key_file.to_str().unwrap();
    let user = &security.users[1];

    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        cases.push((
            format!("SASL_PLAINTEXT {mechanism}"),
            vec![
                "--bootstrap",
                &security.sasl_plaintext,
                "--security-protocol",
                "SASL_PLAINTEXT",
                "--sasl-mechanism",
                mechanism,
                "--username",
                &user.username,
                "--password",
                &user.password,
            ],
        ));
    }
    cases.push((
        "SSL".to_string(),
        vec![
            "--bootstrap",
            &security.ssl,
            "--security-protocol",
            "SSL",
            "--cafile",
            ca,
        ],
    ));
    cases.push((
        "SSL with a client certificate".to_string(),
        vec![
            "--bootstrap",
            &security.ssl,
            "--security-protocol",
            "SSL",
            "--cafile",
            ca,
            "--certfile",
            cert,
            "--keyfile",
            key,
        ],
    ));
    cases.push((
        "SASL_SSL SCRAM-SHA-512".to_string(),
        vec![
            "--bootstrap",
            &security.sasl_ssl,
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--username",
            &user.username,
            "--password",
            &user.password,
            "--cafile",
            ca,
        ],
    ));

    for (name, mut args) in cases {
        let topic = unique_topic("secure");
        args.extend(["--topic", &topic, "--create"]);
        let report = xtask::python::run_interop_script("kafka_python_roundtrip.py", &args)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(report["consumed"], 1, "{name}: {report}");
        assert_eq!(report["matches"], true, "{name}: {report}");
    }
}

/// ApiVersions over `connection`, checked: proves the stream carries Kafka.
async fn api_versions(connection: &Connection) -> Result<probe::ApiVersionRanges, TransportError> {
    let mut frame = ferrokafka_transport::frame::start(32);
    frame.extend_from_slice(&probe::request_body(0).unwrap());
    let response = connection
        .round_trip(
            "ApiVersions",
            ferrokafka_transport::RequestFrame::new(frame),
        )
        .await?;
    let correlation_id = i32::from_be_bytes(response[..4].try_into().unwrap());
    Ok(probe::parse_response(&response, correlation_id).unwrap())
}

fn tls(ca_file: Option<PathBuf>, check_hostname: bool) -> tokio_rustls::TlsConnector {
    TlsConfig {
        ca_file,
        check_hostname,
        ..TlsConfig::default()
    }
    .connector()
    .unwrap()
}

#[tokio::test]
async fn tls_connects_with_the_run_ca_and_verifies_names() {
    let security = security_cluster().security.clone().unwrap();
    let ca = security.certificates.ca_file.clone();
    let port = security.ssl.split(':').nth(1).unwrap().to_string();

    for host in ["127.0.0.1", "localhost"] {
        let broker = format!("{host}:{port}");
        let connector = tls(Some(ca.clone()), true);
        let connection =
            Connection::connect(&broker, ConnectionConfig::default(), Some(&connector))
                .await
                .unwrap_or_else(|e| panic!("{broker}: {e}"));
        let ranges = api_versions(&connection).await.unwrap();
        assert!(
            ranges.iter().any(|(key, _, _)| *key == 17),
            "SaslHandshake listed over TLS"
        );
    }

    // A trust store without the run's CA: the handshake must fail.
    let wrong_anchor = tls(Some(security.certificates.client_cert_file.clone()), true);
    let untrusted = Connection::connect(
        &format!("127.0.0.1:{port}"),
        ConnectionConfig::default(),
        Some(&wrong_anchor),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(untrusted, TransportError::Tls { .. }),
        "{untrusted:?}"
    );
}

#[tokio::test]
async fn tls_with_a_client_certificate() {
    let security = security_cluster().security.clone().unwrap();
    let certs = &security.certificates;
    let connector = TlsConfig {
        ca_file: Some(certs.ca_file.clone()),
        cert_file: Some(certs.client_cert_file.clone()),
        key_file: Some(certs.client_key_file.clone()),
        check_hostname: true,
    }
    .connector()
    .unwrap();
    let broker = security.ssl.split(',').next().unwrap();
    let connection = Connection::connect(broker, ConnectionConfig::default(), Some(&connector))
        .await
        .unwrap();
    assert!(!api_versions(&connection).await.unwrap().is_empty());
}

#[test]
fn tls_settings_that_cannot_work_are_named() {
    let missing = TlsConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..TlsConfig::default()
    }
    .connector()
    .map(|_| ())
    .unwrap_err();
    assert!(missing.to_string().contains("ssl_cafile"), "{missing}");
    let half = TlsConfig {
        cert_file: Some("/x.pem".into()),
        ca_file: None,
        ..TlsConfig::default()
    };
    let error = half.connector().map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("ssl_certfile") || error.contains("CA"),
        "{error}"
    );
}
