//! The telemetry task against the in-memory cluster: what it sends, when,
//! and what it does with the answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrokafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest,
    PushTelemetryResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode, Uuid};
use ferrokafka_records::Compression;
use ferrokafka_telemetry::otlp_metrics::{MetricsData, metric::Data, number_data_point::Value};
use ferrokafka_telemetry::{MetricPoint, MetricValue, TelemetryHandle, telemetry_name};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};
use prost::Message;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const ID: Uuid = Uuid([5; 16]);

/// What the fake brokers saw, in order.
#[derive(Debug)]
enum Seen {
    Subscribe(GetTelemetrySubscriptionsRequest),
    Push(PushTelemetryRequest),
}

fn subscription(subscription_id: i32) -> GetTelemetrySubscriptionsResponse {
    GetTelemetrySubscriptionsResponse {
        client_instance_id: ID,
        subscription_id,
        accepted_compression_types: vec![Compression::Zstd.id() as i8],
        push_interval_ms: 50,
        telemetry_max_bytes: 1 << 20,
        delta_temporality: false,
        requested_metrics: vec!["org.apache.kafka.producer.".into()],
        ..Default::default()
    }
}

/// A cluster answering telemetry with `push_error(n)` for the n-th push
/// (from 0) and subscription id `1 + subscriptions so far`.
fn cluster(
    push_error: impl Fn(u64) -> ErrorCode + Send + Sync + 'static,
) -> (FakeCluster, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pushes = AtomicU64::new(0);
    let subscriptions = AtomicU64::new(0);
    let cluster = FakeCluster::new(1, move |request: &FakeRequest| match request.key {
        ApiKey::GetTelemetrySubscriptions => {
            let _ = tx.send(Seen::Subscribe(request.decode()));
            let n = subscriptions.fetch_add(1, Ordering::SeqCst) as i32;
            Some(FakeReply::with(request, &subscription(n + 1)))
        }
        ApiKey::PushTelemetry => {
            let _ = tx.send(Seen::Push(request.decode()));
            let code = push_error(pushes.fetch_add(1, Ordering::SeqCst));
            Some(FakeReply::with(
                request,
                &PushTelemetryResponse {
                    error_code: code.code(),
                    ..Default::default()
                },
            ))
        }
        _ => None,
    });
    (cluster, rx)
}

async fn client(cluster: &FakeCluster) -> ferrokafka_transport::Client {
    let config = ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap())]).unwrap();
    cluster.client(config).await.unwrap()
}

/// A source whose send counter grows by 10 each time it is read.
fn source() -> Arc<dyn ferrokafka_telemetry::MetricsSource> {
    let reads = Arc::new(AtomicU64::new(0));
    Arc::new(move || {
        let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
        vec![
            MetricPoint::new(
                telemetry_name("producer-metrics", "record-send-total"),
                MetricValue::Counter(10 * n),
            ),
            MetricPoint::new(
                telemetry_name("consumer-fetch-manager-metrics", "fetch-total"),
                MetricValue::Counter(1),
            ),
        ]
    })
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("the client sent nothing in time")
        .expect("the cluster is gone")
}

fn decode(push: &PushTelemetryRequest) -> MetricsData {
    let compression = Compression::from_id(push.compression_type as u8).unwrap();
    let raw = ferrokafka_records::decompress(compression, &push.metrics, 1 << 20).unwrap();
    MetricsData::decode(raw.as_slice()).unwrap()
}

fn send_total(data: &MetricsData) -> i64 {
    let metrics = &data.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 1, "only the producer prefix is subscribed");
    assert_eq!(
        metrics[0].name,
        "org.apache.kafka.producer.record.send.total"
    );
    let Some(Data::Sum(sum)) = &metrics[0].data else {
        panic!("a counter is a sum")
    };
    match sum.data_points[0].value {
        Some(Value::AsInt(v)) => v,
        other => panic!("unexpected value {other:?}"),
    }
}

#[tokio::test]
async fn subscribes_pushes_and_terminates_on_close() {
    let (cluster, mut rx) = cluster(|_| ErrorCode::None);
    let handle = TelemetryHandle::spawn(client(&cluster).await, true, source());
    let Seen::Subscribe(first) = next(&mut rx).await else {
        panic!("the first request is a subscription")
    };
    assert_eq!(first.client_instance_id, Uuid::ZERO);
    for expected in [10, 20] {
        let Seen::Push(push) = next(&mut rx).await else {
            panic!("expected a push")
        };
        assert_eq!(push.client_instance_id, ID);
        assert_eq!(push.subscription_id, 1);
        assert_eq!(push.compression_type, Compression::Zstd.id() as i8);
        assert!(!push.terminating);
        assert_eq!(send_total(&decode(&push)), expected);
    }
    assert_eq!(handle.client_instance_id(), Some(ID));
    handle.close(WAIT).await;
    // Regular pushes may have raced the close; the last one terminates.
    let mut last = None;
    while let Ok(seen) = rx.try_recv() {
        last = Some(seen);
    }
    let Some(Seen::Push(push)) = last else {
        panic!("close sent no push")
    };
    assert!(push.terminating);
}

#[tokio::test]
async fn unknown_subscription_fetches_the_subscription_again() {
    let (cluster, mut rx) = cluster(|n| {
        if n == 0 {
            ErrorCode::UnknownSubscriptionId
        } else {
            ErrorCode::None
        }
    });
    let handle = TelemetryHandle::spawn(client(&cluster).await, true, source());
    assert!(matches!(next(&mut rx).await, Seen::Subscribe(_)));
    assert!(matches!(next(&mut rx).await, Seen::Push(_)));
    let Seen::Subscribe(again) = next(&mut rx).await else {
        panic!("UNKNOWN_SUBSCRIPTION_ID must refetch")
    };
    assert_eq!(again.client_instance_id, ID, "the assigned id is kept");
    let Seen::Push(push) = next(&mut rx).await else {
        panic!("expected a push")
    };
    assert_eq!(push.subscription_id, 2);
    handle.close(WAIT).await;
}

#[tokio::test]
async fn invalid_record_stops_telemetry() {
    let (cluster, mut rx) = cluster(|_| ErrorCode::InvalidRecord);
    let handle = TelemetryHandle::spawn(client(&cluster).await, true, source());
    assert!(matches!(next(&mut rx).await, Seen::Subscribe(_)));
    assert!(matches!(next(&mut rx).await, Seen::Push(_)));
    // The task ends on its own; close then sends no terminating push.
    handle.close(WAIT).await;
    assert!(rx.try_recv().is_err(), "nothing after INVALID_RECORD");
}

#[tokio::test]
async fn disabled_push_sends_nothing() {
    let (cluster, mut rx) = cluster(|_| ErrorCode::None);
    let handle = TelemetryHandle::spawn(client(&cluster).await, false, source());
    handle.close(WAIT).await;
    assert!(rx.try_recv().is_err());
    assert!(
        !cluster
            .received()
            .iter()
            .any(|(_, key)| *key == ApiKey::GetTelemetrySubscriptions)
    );
}
