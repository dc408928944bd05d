//! OAUTHBEARER with an OAuth/OIDC identity provider (KIP-768, KIP-1139):
//! the built-in token provider against a local identity provider
//! (`ferrokafka_tests::idp`), and a broker whose SASL_PLAINTEXT listener
//! checks tokens with Kafka's own `OAuthBearerValidatorCallbackHandler`
//! against that provider's JWKS. Clients are configured with the Java
//! client's dotted key names, as a Java configuration carries over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::MetadataRequest;
use ferrokafka_tests::idp::{AUDIENCE, ISSUER};
use ferrokafka_tests::oidc::oidc_cluster as oidc;
use ferrokafka_tests::{create_topic, unique_topic};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::sasl::{Secret, StaticToken};
use ferrokafka_transport::{BrokerConnection, Client, Lane, TransportError};

/// Every wait on the broker here ends by then, so a failure cannot hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// A client_credentials client named `client_id`, in Java's key names.
fn pairs(client_id: &str) -> Vec<(String, String)> {
    oidc().client_credentials_pairs(client_id)
}

fn client_config(client_id: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut pairs = pairs(client_id);
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    ClientConfig::from_pairs(pairs).unwrap()
}

fn first_broker() -> String {
    oidc().first_broker()
}

#[tokio::test]
async fn a_client_credentials_token_connects_produces_and_consumes() {
    let client_id = "billing-service";
    let topic = unique_topic("oidc-records");
    let client = Client::connect(client_config(client_id, &[]))
        .await
        .unwrap();
    create_topic(&client, &topic, 1, 1).await;

    let producer = Producer::new(ProducerConfig::from_pairs(pairs(client_id)).unwrap())
        .await
        .unwrap();
    for i in 0..10 {
        producer
            .send(ProducerRecord::new(&topic).value(format!("record-{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let mut consumer_pairs = pairs(client_id);
    consumer_pairs.push(("group.id".into(), unique_topic("oidc-readers")));
    consumer_pairs.push(("auto.offset.reset".into(), "earliest".into()));
    let consumer = Consumer::new(ConsumerConfig::from_pairs(consumer_pairs).unwrap())
        .await
        .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut read: Vec<ConsumerRecord> = Vec::new();
    while read.len() < 10 {
        assert!(
            Instant::now() < deadline,
            "read {} of 10 records",
            read.len()
        );
        read.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    let values: Vec<String> = read
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("record-{i}")).collect();
    assert_eq!(values, expected);
    consumer.close(Duration::from_secs(10)).await.unwrap();
    // Each client asked once: the provider's token is shared by its
    // connections, not fetched per connection.
    let issued = oidc().idp.tokens_issued(client_id);
    assert!(
        (1..=3).contains(&issued),
        "{issued} tokens issued for three clients"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_with_an_error_that_says_so() {
    let broker = first_broker();
    let error = BrokerConnection::connect(&broker, &client_config("expired-app", &[]))
        .await
        .expect_err("the broker accepted an expired token");
    eprintln!("{error}");
    let TransportError::Auth {
        mechanism, reason, ..
    } = &error
    else {
        panic!("expected an authentication error, got {error:?}");
    };
    assert_eq!(mechanism, "OAUTHBEARER");
    assert!(reason.contains("refused the token"), "{error}");
    assert!(reason.contains("invalid_token"), "{error}");
    assert!(reason.contains("expired"), "{error}");
    assert_eq!(oidc().idp.tokens_issued("expired-app"), 1);
}

#[tokio::test]
async fn a_token_of_another_issuer_key_is_refused() {
    // An unsigned token the default (unsecured) validator would take: this
    // listener checks signatures against the identity provider's JWKS.
    let broker = first_broker();
    let mut config = client_config("unused", &[]);
    let unsigned = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        base64_url(&format!(
            r#"{{"sub":"mallory","iss":"{ISSUER}","aud":"{AUDIENCE}","iat":1,"exp":4000000000}}"#
        ))
    );
    config.sasl_token_provider = Some(Arc::new(StaticToken(Secret::new(unsigned))));
    let error = BrokerConnection::connect(&broker, &config)
        .await
        .expect_err("the broker accepted an unsigned token");
    assert!(matches!(error, TransportError::Auth { .. }), "{error:?}");
    // A token the identity provider signed, handed over the same way, works.
    config.sasl_token_provider = Some(Arc::new(StaticToken(Secret::new(
        oidc().idp.token_for("handed-over"),
    ))));
    let connection = BrokerConnection::connect(&broker, &config).await.unwrap();
    connection.send(&MetadataRequest::default()).await.unwrap();
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_wrong_client_secret_fails_at_once_naming_the_endpoint_s_answer() {
    let broker = first_broker();
    let mut pairs = pairs("billing-service");
    pairs.retain(|(k, _)| !k.ends_with("client.secret"));
    pairs.push((
        "sasl.oauthbearer.client.credentials.client.secret".into(),
        "wrong".into(),
    ));
    let config = ClientConfig::from_pairs(pairs).unwrap();
    let started = Instant::now();
    let error = BrokerConnection::connect(&broker, &config)
        .await
        .expect_err("a wrong secret got a token");
    // 401 is not worth retrying (as in the Java client): no 10 s of backoff.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let text = error.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("wrong client secret"), "{text}");
    assert!(!text.contains("wrong\""), "the secret leaked: {text}");
}

/// Tokens living 6 s: the provider fetches new ones before each expires,
/// and the connection re-authenticates in place with them (KIP-368)
/// instead of being closed by the broker when the token expires.
#[tokio::test]
async fn a_token_refresh_re_authenticates_without_dropping_the_connection() {
    let client_id = "short-6-refresh";
    let client = Client::connect(client_config(client_id, &[]))
        .await
        .unwrap();
    let node = client.view(|v| v.brokers().next().unwrap().node_id);
    let first = client.connection(node, Lane::Data).await.unwrap();
    let first_expiry = first
        .session_expires()
        .expect("the broker gave the session the token's lifetime");
    assert!(
        first_expiry <= Instant::now() + Duration::from_secs(7),
        "session lifetime longer than the token's"
    );
    // Requests spread over three token lifetimes.
    let until = Instant::now() + Duration::from_secs(16);
    let mut requests = 0;
    while Instant::now() < until {
        client
            .send(node, &MetadataRequest::default())
            .await
            .unwrap_or_else(|e| panic!("request {requests} failed: {e}"));
        requests += 1;
        // The spacing over several lifetimes is what is tested, not a wait
        // for an event. The client renews at 85-95 % of a session, so a
        // request must come within its last 5 % (300 ms of a whole token's
        // life, less when the token was fetched a while before): a
        // connection idle past its session is replaced, by design.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = client.connection(node, Lane::Data).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &last),
        "the connection was replaced instead of re-authenticated"
    );
    assert!(!last.is_closed());
    assert!(
        last.reauthentications() >= 2,
        "{} re-authentications in 16 s of 6 s tokens",
        last.reauthentications()
    );
    assert!(last.session_expires().unwrap() > first_expiry + Duration::from_secs(5));
    let issued = oidc().idp.tokens_issued(client_id);
    assert!(
        issued >= 3,
        "only {issued} tokens fetched in 16 s of 6 s tokens"
    );
}

#[tokio::test]
async fn the_jwt_bearer_grant_signs_an_assertion_and_connects() {
    let oidc = oidc();
    let subject = "jwt-bearer-app";
    let key_file = oidc.idp.client_key_file.display().to_string();
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", oidc.bootstrap().as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.oauthbearer.token.endpoint.url",
            oidc.idp.token_url.as_str(),
        ),
        (
            "sasl.oauthbearer.jwt.retriever.class",
            "org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever",
        ),
        (
            "sasl.oauthbearer.assertion.private.key.file",
            key_file.as_str(),
        ),
        ("sasl.oauthbearer.assertion.algorithm", "RS256"),
        ("sasl.oauthbearer.assertion.claim.iss", subject),
        ("sasl.oauthbearer.assertion.claim.sub", subject),
        (
            "sasl.oauthbearer.assertion.claim.aud",
            oidc.idp.token_url.as_str(),
        ),
        ("sasl.oauthbearer.assertion.claim.jti.include", "true"),
        ("ssl_cafile", &oidc.idp.ca_file.display().to_string()),
    ])
    .unwrap();
    let connection = BrokerConnection::connect(&first_broker(), &config)
        .await
        .unwrap();
    connection.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(oidc.idp.tokens_issued(subject), 1);
}
