//! `Admin::close` on the in-memory cluster: as the Java admin client, a
//! closed admin client refuses every later operation with a typed error
//! (and its clones with it) instead of quietly reconnecting, sends nothing
//! more to the brokers than its terminating telemetry push, and closing
//! again does nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_admin::records::OffsetSpec;
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminError, AdminOptions};
use ferrokafka_protocol::messages::{
    GetTelemetrySubscriptionsResponse, PushTelemetryRequest, PushTelemetryResponse,
};
use ferrokafka_protocol::{ApiKey, TopicPartition, Uuid};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

const WAIT: Duration = Duration::from_secs(10);

/// A cluster subscribing the admin client to its metrics, keeping pushes.
fn cluster(pushes: Arc<Mutex<Vec<PushTelemetryRequest>>>) -> FakeCluster {
    let cluster = FakeCluster::new(2, move |request| match request.key {
        ApiKey::GetTelemetrySubscriptions => Some(FakeReply::with(
            request,
            &GetTelemetrySubscriptionsResponse {
                client_instance_id: Uuid([9; 16]),
                subscription_id: 1,
                // Long enough that only the terminating push is seen.
                push_interval_ms: 600_000,
                telemetry_max_bytes: 1 << 20,
                requested_metrics: vec!["org.apache.kafka.admin.client.".into()],
                ..Default::default()
            },
        )),
        ApiKey::PushTelemetry => {
            pushes.lock().unwrap().push(request.decode());
            Some(FakeReply::with(request, &PushTelemetryResponse::default()))
        }
        _ => None,
    });
    cluster.add_topic("existing", &[1, 2]);
    cluster
}

async fn admin(cluster: &FakeCluster) -> Admin {
    let config =
        ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap().as_str())]).unwrap();
    Admin::with_client(cluster.client(config).await.unwrap()).push_metrics()
}

fn closed<T: std::fmt::Debug>(result: &Result<T, AdminError>) -> bool {
    matches!(result, Err(AdminError::Closed))
}

#[tokio::test]
async fn operations_after_close_fail_with_closed_and_send_nothing() {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let cluster = cluster(Arc::clone(&pushes));
    let admin = admin(&cluster).await;
    let clone = admin.clone();
    let options = AdminOptions::new().timeout(WAIT);
    let topics = admin.list_topics(false, &options).await.unwrap();
    assert!(topics.iter().any(|t| t.name == "existing"));
    assert!(admin.client_instance_id(WAIT).await.is_some());
    assert!(!admin.is_closed());

    admin.close(WAIT).await;
    assert!(admin.is_closed());
    assert!(clone.is_closed(), "a clone shares being closed");
    let sent = cluster.received().len();

    let listed = clone.list_topics(false, &options).await;
    assert!(closed(&listed), "{listed:?}");
    assert_eq!(
        listed.unwrap_err().to_string(),
        "the admin client is closed: operations after close() are refused"
    );
    assert!(!AdminError::Closed.is_retriable());
    // Per-item operations: every item fails with Closed, at once rather
    // than after retrying to the timeout.
    let started = std::time::Instant::now();
    let described = admin.describe_topics(&["existing"], &options).await;
    assert!(closed(&described["existing"]), "{described:?}");
    let created = admin
        .create_topics(&[NewTopic::new("new", 1, 1)], false, &options)
        .await;
    assert!(closed(&created["new"]), "{created:?}");
    let partition = TopicPartition::new("existing", 0);
    let offsets = admin
        .list_offsets(
            &BTreeMap::from([(partition.clone(), OffsetSpec::Latest)]),
            false,
            &options,
        )
        .await;
    assert!(closed(&offsets[&partition]), "{offsets:?}");
    assert!(closed(&admin.describe_cluster(&options).await));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        cluster.received().len(),
        sent,
        "a closed admin client sent requests"
    );
    // Its own counters still answer; telemetry has ended.
    assert!(admin.metrics().request_total > 0);
    assert_eq!(admin.client_instance_id(Duration::ZERO).await, None);

    // A second close (and one from a clone) does nothing: no second
    // terminating push.
    admin.close(WAIT).await;
    clone.close(WAIT).await;
    let pushes = pushes.lock().unwrap();
    assert_eq!(pushes.len(), 1, "{} pushes", pushes.len());
    assert!(pushes[0].terminating);
}
