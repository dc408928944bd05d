//! The cluster client against real brokers: bootstrap past a dead server,
//! reconnect after a restart, leadership moving after a kill, coordinators,
//! separate lanes, idle connections and KIP-368 re-authentication.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::MetadataRequest;
use ferrokafka_tests::{
    bootstrap_servers, create_topic, start_cluster, start_cluster_with, unique_topic,
};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::{Client, CoordinatorKind, Lane, TransportError};
use xtask::broker::StartOptions;

fn config(pairs: &[(&str, &str)]) -> ClientConfig {
    ClientConfig::from_pairs(pairs.iter().copied()).unwrap()
}

/// A loopback port nothing listens on.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("127.0.0.1:{port}")
}

/// Polls `check` every 200 ms until it holds, for at most `limit`: the
/// cluster's own timers (session expiry, leader election) are the events,
/// and they cannot be subscribed to from outside.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_dead_first_bootstrap_server_is_skipped() {
    let servers = format!("{},{}", dead_address(), bootstrap_servers());
    let client = Client::connect(config(&[("bootstrap_servers", &servers)]))
        .await
        .unwrap();
    assert!(client.view(|v| v.brokers().count()) >= 1);
    assert!(client.view(|v| v.cluster_id().is_some()));
}

#[tokio::test]
async fn only_dead_bootstrap_servers_name_each_address() {
    let dead = dead_address();
    let error = Client::connect(config(&[
        ("bootstrap_servers", &dead),
        ("reconnect_backoff_max_ms", "100"),
    ]))
    .await
    .unwrap_err();
    match &error {
        TransportError::NoBrokerAvailable { tried } => assert!(tried.contains(&dead), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn leaders_coordinators_and_lanes() {
    let client = Client::connect(config(&[("bootstrap_servers", bootstrap_servers())]))
        .await
        .unwrap();
    let topic = unique_topic("client-leaders");
    create_topic(&client, &topic, 3, 1).await;
    let view = client.topic(&topic).await.unwrap();
    assert_eq!(view.partitions.len(), 3);
    for partition in 0..3 {
        let leader = client.leader(&topic, partition).await.unwrap();
        assert!(client.view(|v| v.broker(leader).is_some()));
    }

    // Three groups in one batched FindCoordinator (v4+ on this broker).
    let groups = [
        unique_topic("group-a"),
        unique_topic("group-b"),
        unique_topic("group-c"),
    ];
    let keys: Vec<&str> = groups.iter().map(String::as_str).collect();
    let found = client
        .coordinators(CoordinatorKind::Group, &keys)
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    let transaction = client
        .coordinator(CoordinatorKind::Transaction, &unique_topic("txn"))
        .await
        .unwrap();
    assert!(client.view(|v| v.broker(transaction).is_some()));

    let node = found[&groups[0]];
    let data = client.connection(node, Lane::Data).await.unwrap();
    let coordination = client.connection(node, Lane::Coordination).await.unwrap();
    assert!(!Arc::ptr_eq(&data, &coordination));
    assert!(Arc::ptr_eq(
        &data,
        &client.connection(node, Lane::Data).await.unwrap()
    ));

    // Many leaders at once, in the order asked: of partitions the metadata
    // knows, and of a topic it does not know yet (looked up as `leader`
    // looks it up).
    let second = unique_topic("client-leaders-b");
    create_topic(&client, &second, 2, 1).await;
    let asked = [
        (topic.as_str(), 2),
        (second.as_str(), 1),
        (topic.as_str(), 0),
    ];
    let leaders = client.leaders(&asked).await;
    assert_eq!(leaders.len(), asked.len());
    for ((name, partition), leader) in asked.iter().zip(leaders) {
        assert_eq!(
            leader.unwrap(),
            client.leader(name, *partition).await.unwrap(),
            "{name}-{partition}"
        );
    }

    let short = Client::connect(config(&[
        ("bootstrap_servers", bootstrap_servers()),
        ("default_api_timeout_ms", "1500"),
    ]))
    .await
    .unwrap();
    let no_such = unique_topic("no-such-topic");
    let missing = short.leader(&no_such, 0).await.unwrap_err();
    let gave_up_unknown = |error: &TransportError| {
        matches!(
            error,
            TransportError::GaveUp { last_error: Some(last), .. }
                if matches!(**last, TransportError::UnknownTopic { .. })
        )
    };
    assert!(gave_up_unknown(&missing), "{missing:?}");
    // Among many, a missing topic fails only its own partition, in its
    // place.
    let leaders = short
        .leaders(&[
            (topic.as_str(), 0),
            (no_such.as_str(), 0),
            (topic.as_str(), 1),
        ])
        .await;
    assert!(
        leaders[1].as_ref().is_err_and(gave_up_unknown),
        "{:?}",
        leaders[1]
    );
    for (at, partition) in [(0, 0), (2, 1)] {
        assert_eq!(
            *leaders[at].as_ref().unwrap(),
            client.leader(&topic, partition).await.unwrap()
        );
    }
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let client = Client::connect(config(&[
        ("bootstrap_servers", bootstrap_servers()),
        ("connections_max_idle_ms", "1000"),
    ]))
    .await
    .unwrap();
    let node = client.view(|v| v.brokers().next().unwrap().node_id);
    client
        .send(node, &MetadataRequest::default())
        .await
        .unwrap();
    assert!(client.open_connections() >= 1);
    let client_ref = &client;
    eventually(
        Duration::from_secs(10),
        "closing idle connections",
        || async move { client_ref.open_connections() == 0 },
    )
    .await;
    // And the next request opens one again.
    client
        .send(node, &MetadataRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_restarted_broker_is_reconnected_and_a_killed_leader_is_replaced() {
    let mut cluster = start_cluster(3);
    let client = Client::connect(config(&[
        ("bootstrap_servers", &cluster.info.bootstrap_servers),
        ("reconnect_backoff_max_ms", "200"),
    ]))
    .await
    .unwrap();
    let topic = unique_topic("client-failover");
    create_topic(&client, &topic, 1, 3).await;
    let leader = client.leader(&topic, 0).await.unwrap();

    // Restart the leader: the client's connection to it breaks, and the
    // next request after the restart succeeds on a new one.
    let before = client.connection(leader, Lane::Data).await.unwrap();
    cluster
        .restart_node(u32::try_from(leader).unwrap())
        .unwrap();
    let client_ref = &client;
    eventually(
        Duration::from_secs(60),
        "a request after the restart",
        || async move {
            match client_ref.send(leader, &MetadataRequest::default()).await {
                Ok(_) => true,
                Err(error) => {
                    assert!(error.is_retriable(), "{error}");
                    false
                }
            }
        },
    )
    .await;
    let after = client.connection(leader, Lane::Data).await.unwrap();
    assert!(!Arc::ptr_eq(&before, &after), "the old connection was kept");

    // Kill the leader now: the metadata moves to another node.
    let leader = client.leader(&topic, 0).await.unwrap();
    cluster.kill_node(u32::try_from(leader).unwrap()).unwrap();
    assert!(
        client
            .send(leader, &MetadataRequest::default())
            .await
            .is_err()
    );
    let topic_ref = &topic;
    eventually(Duration::from_secs(60), "a new leader", || async move {
        client_ref.refresh_metadata().await.is_ok()
            && client_ref
                .leader(topic_ref, 0)
                .await
                .is_ok_and(|new| new != leader)
    })
    .await;
    cluster.stop();
}

#[tokio::test]
async fn sasl_sessions_are_renewed_in_place_before_the_broker_ends_them() {
    // A SASL session of 4 s: a client that did not re-authenticate would
    // have its connection closed by the broker at the first request after.
    let cluster = start_cluster_with(&StartOptions {
        security: true,
        extra_properties: vec![("connections.max.reauth.ms".into(), "4000".into())],
        ..StartOptions::single_node()
    });
    let security = cluster.info.security.clone().unwrap();
    let user = &security.users[1];
    let client = Client::connect(config(&[
        ("bootstrap_servers", &security.sasl_plaintext),
        ("security_protocol", "SASL_PLAINTEXT"),
        ("sasl_mechanism", "SCRAM-SHA-512"),
        ("sasl_plain_username", &user.username),
        ("sasl_plain_password", &user.password),
    ]))
    .await
    .unwrap();
    let node = client.view(|v| v.brokers().next().unwrap().node_id);
    let first = client.connection(node, Lane::Data).await.unwrap();
    assert!(
        first.session_expires().is_some(),
        "the broker set no session lifetime"
    );
    let until = Instant::now() + Duration::from_secs(10);
    let mut requests = 0;
    while Instant::now() < until {
        client
            .send(node, &MetadataRequest::default())
            .await
            .unwrap_or_else(|e| panic!("request {requests} failed: {e}"));
        requests += 1;
        // Spacing the requests over several session lifetimes is the test.
        // The client renews at 85-95 % of a session (as Java's does), so a
        // request must come within the last 5 % (200 ms here) of each one:
        // a connection idle past its session is replaced, by design.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = client.connection(node, Lane::Data).await.unwrap();
    // KIP-368: the session is renewed on the same connection.
    assert!(
        Arc::ptr_eq(&first, &last),
        "the connection was replaced instead of re-authenticated"
    );
    assert!(
        last.reauthentications() >= 2,
        "re-authenticated {} times in 10 s of 4 s sessions",
        last.reauthentications()
    );
    cluster.stop();
}

#[tokio::test]
async fn canonical_bootstrap_names_connect() {
    let port = bootstrap_servers()
        .split(',')
        .next()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let client = Client::connect(config(&[
        ("bootstrap_servers", &format!("localhost:{port}")),
        (
            "client_dns_lookup",
            "resolve_canonical_bootstrap_servers_only",
        ),
    ]))
    .await
    .unwrap();
    assert!(client.view(|v| v.brokers().count()) >= 1);
}
