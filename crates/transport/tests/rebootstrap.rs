//! Rebootstrap (KIP-899, KIP-1102) against the in-memory cluster: a
//! cluster replaced behind its bootstrap address, a broker answering
//! REBOOTSTRAP_REQUIRED, metadata failing past the trigger time, and
//! `metadata_recovery_strategy=none`, which never goes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrokafka_protocol::messages::MetadataResponse;
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};
use ferrokafka_transport::{CoordinatorKind, Lane, TransportError};

fn config(cluster: &FakeCluster, extra: &[(&str, &str)]) -> ClientConfig {
    let bootstrap = cluster.bootstrap_alias();
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap.as_str()),
        ("reconnect_backoff_ms", "1"),
        ("reconnect_backoff_max_ms", "5"),
    ];
    pairs.extend_from_slice(extra);
    ClientConfig::from_pairs(pairs).unwrap()
}

#[tokio::test]
async fn a_cluster_replaced_behind_its_bootstrap_address_is_found_again() {
    let cluster = FakeCluster::new(3, |_| None);
    cluster.add_topic("t", &[1, 2]);
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    assert_eq!(client.leader("t", 1).await.unwrap(), 2);
    assert_eq!(
        client
            .coordinator(CoordinatorKind::Group, "g")
            .await
            .unwrap(),
        1
    );

    cluster.replace_nodes([11, 12, 13]);
    client.note_error(ErrorCode::NotLeaderOrFollower);
    client.forget_coordinator(CoordinatorKind::Group, "g");

    assert_eq!(client.leader("t", 1).await.unwrap(), 12);
    assert_eq!(
        client
            .coordinator(CoordinatorKind::Group, "g")
            .await
            .unwrap(),
        11
    );
    assert_eq!(client.rebootstraps(), 1);
    let brokers: Vec<i32> = client.view(|v| v.brokers().map(|b| b.node_id).collect());
    assert_eq!(brokers, [11, 12, 13]);
}

#[tokio::test]
async fn strategy_none_keeps_to_the_brokers_it_knows() {
    let cluster = FakeCluster::new(2, |_| None);
    let client = cluster
        .client(config(&cluster, &[("metadata_recovery_strategy", "none")]))
        .await
        .unwrap();
    cluster.replace_nodes([21, 22]);
    let error = client.refresh_metadata().await.unwrap_err();
    assert!(
        matches!(error, TransportError::NoBrokerAvailable { .. }),
        "{error:?}"
    );
    assert_eq!(client.rebootstraps(), 0);
    let brokers: Vec<i32> = client.view(|v| v.brokers().map(|b| b.node_id).collect());
    assert_eq!(brokers, [1, 2], "the old brokers are still all it knows");
}

#[tokio::test]
async fn rebootstrap_required_sends_the_client_back_to_its_bootstrap_servers() {
    let required = |request: &FakeRequest| {
        FakeReply::with(
            request,
            &MetadataResponse {
                error_code: ErrorCode::RebootstrapRequired.code(),
                ..MetadataResponse::default()
            },
        )
    };
    // The first Metadata request (the client's connect) is answered; the
    // second asks for a rebootstrap, the third (from the bootstrap server)
    // is answered again.
    let answered_first = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&answered_first);
    let cluster = FakeCluster::new(2, move |request| {
        if request.key != ApiKey::Metadata {
            return None;
        }
        (seen.fetch_add(1, Ordering::AcqRel) == 1).then(|| required(request))
    });
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    client.refresh_metadata().await.unwrap();
    assert_eq!(client.rebootstraps(), 1);
    assert_eq!(answered_first.load(Ordering::Acquire), 3);
    let brokers: Vec<i32> = client.view(|v| v.brokers().map(|b| b.node_id).collect());
    assert_eq!(brokers, [1, 2]);
}

/// Two nodes; the second Metadata request (the first after the client's
/// connect) has its connection dropped.
fn second_metadata_dropped() -> FakeCluster {
    let answered = AtomicUsize::new(0);
    FakeCluster::new(2, move |request| {
        (request.key == ApiKey::Metadata && answered.fetch_add(1, Ordering::AcqRel) == 1)
            .then_some(FakeReply::Disconnect)
    })
}

#[tokio::test]
async fn metadata_failing_past_the_trigger_time_rebootstraps() {
    // The first Metadata after connecting is dropped; with a trigger of
    // zero that one failure is enough.
    let cluster = second_metadata_dropped();
    let client = cluster
        .client(config(
            &cluster,
            &[("metadata_recovery_rebootstrap_trigger_ms", "0")],
        ))
        .await
        .unwrap();
    client.refresh_metadata().await.unwrap();
    assert_eq!(client.rebootstraps(), 1);
}

#[tokio::test]
async fn metadata_failing_within_the_trigger_time_does_not_rebootstrap() {
    let cluster = second_metadata_dropped();
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    let error = client.refresh_metadata().await.unwrap_err();
    assert!(error.is_retriable(), "{error}");
    assert_eq!(client.rebootstraps(), 0);
    client.refresh_metadata().await.unwrap();
    assert_eq!(client.rebootstraps(), 0);
}

#[tokio::test]
async fn a_node_of_another_cluster_is_refused_naming_both_clusters() {
    let cluster = FakeCluster::new(2, |_| None);
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    cluster.set_cluster_id("other");
    let error = client.connection(2, Lane::Data).await.unwrap_err();
    match &error {
        TransportError::MisroutedConnection {
            expected_cluster,
            node,
            found_cluster,
            ..
        } => {
            assert_eq!(expected_cluster, "fake");
            assert_eq!(*node, 2);
            assert_eq!(found_cluster.as_deref(), Some("other"));
        }
        other => panic!("expected a misrouted connection, got {other:?}"),
    }
    let shown = error.to_string();
    assert!(shown.contains("fake") && shown.contains("other"), "{shown}");
    assert_eq!(client.rebootstraps(), 1);
    client.refresh_metadata().await.unwrap();
    assert_eq!(
        client.view(|v| v.cluster_id().map(str::to_string)),
        Some("other".to_string())
    );
    client.connection(2, Lane::Data).await.unwrap();
}

#[tokio::test]
async fn the_cluster_check_can_be_turned_off() {
    let cluster = FakeCluster::new(2, |_| None);
    let client = cluster
        .client(config(
            &cluster,
            &[("metadata_cluster_check_enable", "false")],
        ))
        .await
        .unwrap();
    cluster.set_cluster_id("other");
    client.connection(2, Lane::Data).await.unwrap();
    assert_eq!(client.rebootstraps(), 0);
}
