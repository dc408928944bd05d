//! The transport against real brokers: version negotiation with 4.x and
//! 3.9, typed Metadata, pipelining, and SASL and TLS on the harness's
//! security listeners.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::MetadataRequest;
use ferrokafka_protocol::messages::metadata_request::MetadataRequestTopic;
use ferrokafka_tests::{bootstrap_servers, security_cluster, start_cluster_with};
use ferrokafka_transport::config::{ClientConfig, SecurityProtocol};
use ferrokafka_transport::sasl::{Secret, StaticToken};
use ferrokafka_transport::{BrokerConnection, TransportError};
use xtask::broker::StartOptions;

fn config(pairs: &[(&str, &str)]) -> ClientConfig {
    ClientConfig::from_pairs(pairs.iter().copied()).unwrap()
}

/// Every API both sides know is negotiated to the highest common version.
fn assert_highest_common(connection: &BrokerConnection) {
    let mut checked = 0;
    for (&key, &(broker_lo, broker_hi)) in connection.broker_versions() {
        let (ours_lo, ours_hi) = key.versions();
        let expected = ours_hi.min(broker_hi);
        if expected >= ours_lo.max(broker_lo) {
            assert_eq!(connection.version(key).unwrap(), expected, "{}", key.name());
            checked += 1;
        } else {
            assert!(matches!(
                connection.version(key),
                Err(TransportError::UnsupportedApi { .. })
            ));
        }
    }
    assert!(checked > 40, "only {checked} APIs in common");
}

#[tokio::test]
async fn negotiates_the_highest_common_versions_with_kafka_4() {
    let broker = bootstrap_servers().split(',').next().unwrap();
    let connection = BrokerConnection::connect(broker, &config(&[("bootstrap_servers", broker)]))
        .await
        .unwrap();
    assert_highest_common(&connection);
    // The 4.x schemas this crate is generated from match a 4.4 broker.
    assert_eq!(
        connection.version(ApiKey::ApiVersions).unwrap(),
        ApiKey::ApiVersions.versions().1
    );
    assert_eq!(
        connection.version(ApiKey::Metadata).unwrap(),
        ApiKey::Metadata.versions().1
    );
    let metadata = connection
        .send(&MetadataRequest {
            topics: None,
            ..MetadataRequest::default()
        })
        .await
        .unwrap();
    assert!(!metadata.brokers.is_empty());
    assert!(metadata.cluster_id.is_some());
}

#[tokio::test]
async fn negotiates_with_kafka_3_9_and_names_what_is_missing() {
    let cluster = start_cluster_with(&StartOptions {
        version: "3.9.2".into(),
        ..StartOptions::single_node()
    });
    let broker = cluster.info.bootstrap_servers.clone();
    let connection = BrokerConnection::connect(&broker, &config(&[("bootstrap_servers", &broker)]))
        .await
        .unwrap();
    assert_highest_common(&connection);
    let metadata = connection.version(ApiKey::Metadata).unwrap();
    assert_eq!(metadata, 12, "3.9 serves Metadata up to v12");
    let response = connection
        .send(&MetadataRequest {
            topics: None,
            ..MetadataRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.brokers.len(), 1);
    // An API this crate knows and 3.9 does not offer is an error naming it.
    let missing = ApiKey::ALL
        .iter()
        .copied()
        .find(|key| !connection.broker_versions().contains_key(key))
        .expect("4.x added APIs 3.9 lacks");
    match connection.version(missing) {
        Err(TransportError::UnsupportedApi { api, .. }) => assert_eq!(api, missing.name()),
        other => panic!(
            "expected UnsupportedApi for {}, got {other:?}",
            missing.name()
        ),
    }
    cluster.stop();
}

#[tokio::test]
async fn ten_thousand_pipelined_metadata_requests_are_routed_to_their_callers() {
    let broker = bootstrap_servers().split(',').next().unwrap();
    let connection = Arc::new(
        BrokerConnection::connect(
            broker,
            &config(&[
                ("bootstrap_servers", broker),
                ("max_in_flight_requests_per_connection", "10000"),
                // The broker answers one request per connection at a time,
                // so the last of 10,000 waits for all the others; on a
                // loaded 2-core machine (clusters starting in parallel
                // tests) that can pass the 30 s default. Routing is the
                // subject here, not latency.
                ("request_timeout_ms", "300000"),
            ]),
        )
        .await
        .unwrap(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000 {
        let connection = Arc::clone(&connection);
        tasks.spawn(async move {
            // Each asks for a different (missing) topic: a mis-routed
            // response names someone else's.
            let name = format!("no-such-topic-{i}");
            let request = MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some(name.clone()),
                    ..MetadataRequestTopic::default()
                }]),
                ..MetadataRequest::default()
            };
            let response = connection.send(&request).await.unwrap();
            assert_eq!(response.topics.len(), 1);
            assert_eq!(response.topics[0].name.as_deref(), Some(name.as_str()));
            assert_eq!(
                response.topics[0].error_code, 3,
                "UNKNOWN_TOPIC_OR_PARTITION"
            );
        });
    }
    let mut answered = 0;
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
        answered += 1;
    }
    assert_eq!(answered, 10_000);
}

fn unsecured_jws(subject: &str) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "{}.{}.",
        b64(serde_json::json!({"alg": "none"})),
        b64(serde_json::json!({"sub": subject, "iat": now, "exp": now + 3600}))
    )
}

#[tokio::test]
async fn sasl_mechanisms_authenticate_and_a_wrong_password_is_named() {
    let security = security_cluster().security.clone().unwrap();
    let broker = security
        .sasl_plaintext
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let user = &security.users[1];
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let config = config(&[
            ("bootstrap_servers", &broker),
            ("security_protocol", "SASL_PLAINTEXT"),
            ("sasl_mechanism", mechanism),
            ("sasl_plain_username", &user.username),
            ("sasl_plain_password", &user.password),
        ]);
        let connection = BrokerConnection::connect(&broker, &config)
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        let metadata = connection
            .send(&MetadataRequest {
                topics: None,
                ..MetadataRequest::default()
            })
            .await
            .unwrap();
        assert!(!metadata.brokers.is_empty(), "{mechanism}");

        let wrong = config_with_password(&config, "not-the-password");
        match BrokerConnection::connect(&broker, &wrong).await {
            Err(TransportError::Auth {
                mechanism: named, ..
            }) => assert_eq!(named, mechanism),
            other => panic!("{mechanism} with a wrong password: {other:?}"),
        }
    }

    let mut oauth = ClientConfig {
        bootstrap_servers: vec![broker.clone()],
        security_protocol: SecurityProtocol::SaslPlaintext,
        ..ClientConfig::default()
    };
    oauth.sasl_mechanism = Some(ferrokafka_transport::sasl::Mechanism::OAuthBearer);
    oauth.sasl_token_provider = Some(Arc::new(StaticToken(Secret::new(unsecured_jws("alice")))));
    let connection = BrokerConnection::connect(&broker, &oauth).await.unwrap();
    assert!(connection.send(&MetadataRequest::default()).await.is_ok());
}

fn config_with_password(config: &ClientConfig, password: &str) -> ClientConfig {
    let mut wrong = config.clone();
    wrong.sasl_password = Some(Secret::new(password));
    wrong
}

#[tokio::test]
async fn ssl_and_sasl_ssl_connect_and_fetch_metadata() {
    let security = security_cluster().security.clone().unwrap();
    let ca = security.certificates.ca_file.to_str().unwrap().to_string();
    let ssl = security.ssl.split(',').next().unwrap().to_string();
    let connection = BrokerConnection::connect(
        &ssl,
        &config(&[
            ("bootstrap_servers", &ssl),
            ("security_protocol", "SSL"),
            ("ssl_cafile", &ca),
        ]),
    )
    .await
    .unwrap();
    assert!(
        !connection
            .send(&MetadataRequest::default())
            .await
            .unwrap()
            .brokers
            .is_empty()
    );

    let sasl_ssl = security.sasl_ssl.split(',').next().unwrap().to_string();
    let user = &security.users[0];
    let connection = BrokerConnection::connect(
        &sasl_ssl,
        &config(&[
            ("bootstrap_servers", &sasl_ssl),
            ("security_protocol", "SASL_SSL"),
            ("ssl_cafile", &ca),
            ("sasl_mechanism", "SCRAM-SHA-512"),
            ("sasl_plain_username", &user.username),
            ("sasl_plain_password", &user.password),
        ]),
    )
    .await
    .unwrap();
    assert!(
        !connection
            .send(&MetadataRequest::default())
            .await
            .unwrap()
            .brokers
            .is_empty()
    );
}
