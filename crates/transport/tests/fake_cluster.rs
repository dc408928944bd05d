//! The cluster client's failure paths against the in-memory cluster:
//! leaders that move, brokers that go down and come back, a broker that
//! never answers, and coordinator lookups batched into one request.

use std::time::Duration;

use ferrokafka_protocol::messages::MetadataRequest;
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply};
use ferrokafka_transport::{CoordinatorKind, TransportError};

fn config(cluster: &FakeCluster, extra: &[(&str, &str)]) -> ClientConfig {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![("bootstrap_servers", bootstrap.as_str())];
    pairs.extend_from_slice(extra);
    ClientConfig::from_pairs(pairs).unwrap()
}

#[tokio::test]
async fn a_leader_that_moved_is_found_after_a_stale_error() {
    let cluster = FakeCluster::new(3, |_| None);
    cluster.add_topic("t", &[1, 2]);
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    assert_eq!(client.leader("t", 1).await.unwrap(), 2);
    cluster.add_topic("t", &[1, 3]);
    // Until an error says otherwise, the cached leader is used.
    assert_eq!(client.leader("t", 1).await.unwrap(), 2);
    client.note_error(ErrorCode::NotLeaderOrFollower);
    assert_eq!(client.leader("t", 1).await.unwrap(), 3);
}

#[tokio::test]
async fn a_broker_that_goes_down_and_comes_back_is_reconnected() {
    let cluster = FakeCluster::new(2, |_| None);
    let client = cluster
        .client(config(&cluster, &[("reconnect_backoff_max_ms", "50")]))
        .await
        .unwrap();
    client.send(2, &MetadataRequest::default()).await.unwrap();
    cluster.set_down(2, true);
    let error = client
        .send(2, &MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(error.is_retriable(), "{error}");
    let error = client
        .send(2, &MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            TransportError::Io {
                kind: std::io::ErrorKind::ConnectionRefused,
                ..
            }
        ),
        "{error:?}"
    );
    cluster.set_down(2, false);
    client.send(2, &MetadataRequest::default()).await.unwrap();
    // Other brokers were never affected.
    client.send(1, &MetadataRequest::default()).await.unwrap();
}

#[tokio::test]
async fn a_broker_that_never_answers_times_out_naming_the_api() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::ListGroups).then_some(FakeReply::Hang)
    });
    let client = cluster
        .client(config(&cluster, &[("request_timeout_ms", "100")]))
        .await
        .unwrap();
    let error = client
        .send(
            1,
            &ferrokafka_protocol::messages::ListGroupsRequest::default(),
        )
        .await
        .unwrap_err();
    match error {
        TransportError::Timeout { api, after, .. } => {
            assert_eq!(api, "ListGroups");
            assert_eq!(after, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    // The next request opens a new connection and is answered.
    client.send(1, &MetadataRequest::default()).await.unwrap();
}

#[tokio::test]
async fn coordinators_of_many_groups_take_one_request_and_are_cached() {
    let cluster = FakeCluster::new(3, |_| None);
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    let found = client
        .coordinators(CoordinatorKind::Group, &["a", "b", "c"])
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    client
        .coordinator(CoordinatorKind::Group, "b")
        .await
        .unwrap();
    let lookups = cluster
        .received()
        .iter()
        .filter(|(_, key)| *key == ApiKey::FindCoordinator)
        .count();
    assert_eq!(lookups, 1);
    client.forget_coordinator(CoordinatorKind::Group, "b");
    client
        .coordinator(CoordinatorKind::Group, "b")
        .await
        .unwrap();
    let lookups = cluster
        .received()
        .iter()
        .filter(|(_, key)| *key == ApiKey::FindCoordinator)
        .count();
    assert_eq!(lookups, 2);
}

#[tokio::test]
async fn a_disconnect_fails_the_request_and_the_next_one_reconnects() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let once = std::sync::Arc::clone(&dropped);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::ListGroups).then(|| {
            if once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                FakeReply::with(
                    request,
                    &ferrokafka_protocol::messages::ListGroupsResponse::default(),
                )
            } else {
                FakeReply::Disconnect
            }
        })
    });
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    let request = ferrokafka_protocol::messages::ListGroupsRequest::default();
    let error = client.send(1, &request).await.unwrap_err();
    assert!(matches!(error, TransportError::Closed { .. }), "{error:?}");
    client.send(1, &request).await.unwrap();
}

#[tokio::test]
async fn a_broker_that_refuses_connections_marks_the_metadata_stale() {
    let cluster = FakeCluster::new(2, |_| None);
    cluster.add_topic("t", &[1, 2]);
    let client = cluster.client(config(&cluster, &[])).await.unwrap();
    assert_eq!(client.leader("t", 1).await.unwrap(), 2);
    // Broker 2 dies before this client ever connected to it, and its
    // partition moves to broker 1.
    cluster.set_down(2, true);
    cluster.add_topic("t", &[1, 1]);
    let error = client
        .send(2, &MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(error.is_retriable(), "{error}");
    // The refused connection alone is reason enough to look again.
    assert_eq!(client.leader("t", 1).await.unwrap(), 1);
}

/// A request given its own deadline (as a JoinGroup, which the broker may
/// hold up to the group's rebalance timeout): an answer later than
/// `request_timeout_ms` but within that deadline is taken; past it, the
/// request times out naming its own deadline. Others keep the client's.
#[tokio::test(start_paused = true)]
async fn a_request_with_its_own_deadline_waits_that_long() {
    use ferrokafka_protocol::messages::{
        DescribeGroupsRequest, ListGroupsRequest, ListGroupsResponse,
    };
    use ferrokafka_transport::Lane;
    let cluster = FakeCluster::new(1, |request| match request.key {
        ApiKey::ListGroups => Some(FakeReply::After(
            Duration::from_secs(3),
            Box::new(FakeReply::with(request, &ListGroupsResponse::default())),
        )),
        ApiKey::DescribeGroups => Some(FakeReply::Hang),
        _ => None,
    });
    let client = cluster
        .client(config(&cluster, &[("request_timeout_ms", "1000")]))
        .await
        .unwrap();
    let within = Some(Duration::from_secs(5));

    let started = tokio::time::Instant::now();
    let error = client
        .send_built(1, Lane::Coordination, |_| ListGroupsRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::Timeout { after, .. } if *after == Duration::from_secs(1)),
        "{error:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1));

    let started = tokio::time::Instant::now();
    client
        .send_built_within(1, Lane::Coordination, within, |_| {
            ListGroupsRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "taken when it came"
    );

    let started = tokio::time::Instant::now();
    let error = client
        .send_built_within(1, Lane::Coordination, within, |_| {
            DescribeGroupsRequest::default()
        })
        .await
        .unwrap_err();
    match &error {
        TransportError::Timeout { api, after, .. } => {
            assert_eq!(api, "DescribeGroups");
            assert_eq!(*after, Duration::from_secs(5));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    // The timed-out connection is replaced; the next request goes through.
    client
        .send_built_within(1, Lane::Coordination, within, |_| {
            ListGroupsRequest::default()
        })
        .await
        .unwrap();
}
