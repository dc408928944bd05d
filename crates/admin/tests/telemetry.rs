//! The admin client's KIP-714 pushes against the in-memory cluster: the
//! subscribed `org.apache.kafka.admin.client.` metrics arrive as OTLP with
//! the values `Admin::metrics` reports, and close ends with a terminating
//! push.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_protocol::messages::{
    GetTelemetrySubscriptionsResponse, PushTelemetryRequest, PushTelemetryResponse,
};
use ferrokafka_protocol::{ApiKey, Uuid};
use ferrokafka_telemetry::otlp_metrics::{MetricsData, metric::Data, number_data_point::Value};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply};
use prost::Message;

const INSTANCE: Uuid = Uuid([5; 16]);
const WAIT: Duration = Duration::from_secs(10);

fn cluster(pushes: Arc<Mutex<Vec<PushTelemetryRequest>>>) -> FakeCluster {
    FakeCluster::new(2, move |request| match request.key {
        ApiKey::GetTelemetrySubscriptions => Some(FakeReply::with(
            request,
            &GetTelemetrySubscriptionsResponse {
                client_instance_id: INSTANCE,
                subscription_id: 1,
                // Long enough that only the terminating push is seen.
                push_interval_ms: 600_000,
                telemetry_max_bytes: 1 << 20,
                delta_temporality: false,
                requested_metrics: vec!["org.apache.kafka.admin.client.".into()],
                ..Default::default()
            },
        )),
        ApiKey::PushTelemetry => {
            pushes.lock().unwrap().push(request.decode());
            Some(FakeReply::with(request, &PushTelemetryResponse::default()))
        }
        _ => None,
    })
}

async fn admin(cluster: &FakeCluster, push: &str) -> Admin {
    let config = ClientConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("client_id", "admin-telemetry"),
        ("enable_metrics_push", push),
    ])
    .unwrap();
    Admin::with_client(cluster.client(config).await.unwrap()).push_metrics()
}

/// The value of `name` among the pushed metrics with `tags` attributes.
fn metric(data: &MetricsData, name: &str, tags: usize) -> Value {
    let metric = data.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| {
            m.name == name
                && match &m.data {
                    Some(Data::Sum(s)) => s.data_points[0].attributes.len() == tags,
                    Some(Data::Gauge(g)) => g.data_points[0].attributes.len() == tags,
                    _ => false,
                }
        })
        .unwrap_or_else(|| panic!("{name} not pushed"));
    match &metric.data {
        Some(Data::Sum(s)) => s.data_points[0].value.unwrap(),
        Some(Data::Gauge(g)) => g.data_points[0].value.unwrap(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn close_pushes_the_metrics_the_admin_client_reports() {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let cluster = cluster(Arc::clone(&pushes));
    let admin = admin(&cluster, "true").await;
    assert_eq!(admin.client_instance_id(WAIT).await, Some(INSTANCE));
    admin
        .list_topics(false, &AdminOptions::new().timeout(WAIT))
        .await
        .unwrap();
    admin.close(WAIT).await;
    assert_eq!(
        admin.client_instance_id(Duration::from_secs(1)).await,
        None,
        "close ends the task"
    );
    let local = admin.metrics();
    assert!(local.request_total >= 3, "{local:?}");
    assert_eq!(local.response_total, local.request_total);

    let pushes = pushes.lock().unwrap();
    let last = pushes.last().expect("close sent a terminating push");
    assert!(last.terminating);
    assert_eq!(last.client_instance_id, INSTANCE);
    let data = MetricsData::decode(last.metrics.as_ref()).unwrap();
    // The push counts every request before itself.
    assert_eq!(
        metric(&data, "org.apache.kafka.admin.client.request.total", 1),
        Value::AsInt(local.request_total as i64 - 1)
    );
    assert_eq!(
        metric(
            &data,
            "org.apache.kafka.admin.client.connection.creation.total",
            1
        ),
        Value::AsInt(local.connection_creation_total as i64)
    );
    let answered: u64 = local.nodes.values().map(|n| n.response_total).sum();
    assert!(answered > 0, "{local:?}");
    metric(
        &data,
        "org.apache.kafka.admin.client.node.request.latency.avg",
        2,
    );
    assert!(
        data.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .all(|m| m.name.starts_with("org.apache.kafka.admin.client.")),
        "only the subscribed prefix"
    );
}

#[tokio::test]
async fn metrics_push_off_sends_no_telemetry() {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let cluster = cluster(Arc::clone(&pushes));
    let admin = admin(&cluster, "false").await;
    assert_eq!(
        admin.client_instance_id(Duration::from_millis(200)).await,
        None
    );
    admin
        .list_topics(false, &AdminOptions::new().timeout(WAIT))
        .await
        .unwrap();
    admin.close(WAIT).await;
    assert!(pushes.lock().unwrap().is_empty());
    assert!(
        cluster
            .received()
            .iter()
            .all(|(_, key)| *key != ApiKey::GetTelemetrySubscriptions),
        "nothing asked"
    );
}

#[tokio::test]
async fn an_admin_on_a_shared_client_pushes_nothing_by_itself() {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let cluster = cluster(Arc::clone(&pushes));
    let config =
        ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap().as_str())]).unwrap();
    let admin = Admin::with_client(cluster.client(config).await.unwrap());
    assert_eq!(
        admin.client_instance_id(Duration::from_millis(200)).await,
        None
    );
    admin.close(WAIT).await;
    assert!(pushes.lock().unwrap().is_empty());
}
