//! The producer's KIP-714 pushes against the in-memory cluster: the
//! subscribed producer metrics arrive as OTLP with the values
//! `Producer::metrics` reports, and close ends with a terminating push.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::{
    GetTelemetrySubscriptionsResponse, PushTelemetryRequest, PushTelemetryResponse,
};
use ferrokafka_protocol::{ApiKey, Uuid};
use ferrokafka_records::Compression;
use ferrokafka_telemetry::otlp_metrics::{MetricsData, metric::Data, number_data_point::Value};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};
use prost::Message;

const INSTANCE: Uuid = Uuid([8; 16]);

fn cluster(pushes: Arc<Mutex<Vec<PushTelemetryRequest>>>) -> FakeCluster {
    let cluster = FakeCluster::new(1, move |request| match request.key {
        ApiKey::GetTelemetrySubscriptions => Some(FakeReply::with(
            request,
            &GetTelemetrySubscriptionsResponse {
                client_instance_id: INSTANCE,
                subscription_id: 1,
                accepted_compression_types: vec![Compression::Lz4.id() as i8],
                // Long enough that only the terminating push is seen
                // after the records are sent.
                push_interval_ms: 600_000,
                telemetry_max_bytes: 1 << 20,
                delta_temporality: false,
                requested_metrics: vec!["org.apache.kafka.producer.".into()],
                ..Default::default()
            },
        )),
        ApiKey::PushTelemetry => {
            pushes.lock().unwrap().push(request.decode());
            Some(FakeReply::with(request, &PushTelemetryResponse::default()))
        }
        _ => None,
    });
    cluster.add_topic("events", &[1]);
    cluster
}

async fn producer(cluster: &FakeCluster, setting: (&str, &str)) -> Producer {
    let bootstrap = cluster.bootstrap();
    let config =
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap.as_str()), setting]).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

fn metric(data: &MetricsData, name: &str, topic: bool) -> Value {
    let metric = data.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| {
            m.name == name
                && match &m.data {
                    Some(Data::Sum(s)) => {
                        s.data_points[0].attributes.len() == 1 + usize::from(topic)
                    }
                    Some(Data::Gauge(g)) => {
                        g.data_points[0].attributes.len() == 1 + usize::from(topic)
                    }
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
async fn close_pushes_the_metrics_the_producer_reports() {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let cluster = cluster(Arc::clone(&pushes));
    let producer = producer(&cluster, ("client_id", "telemetry-test")).await;
    // A terminating push needs a subscription fetched before close.
    assert_eq!(
        producer.client_instance_id(Duration::from_secs(10)).await,
        Some(INSTANCE)
    );
    for _ in 0..5 {
        producer
            .send(ProducerRecord::new("events").value("v"))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let local = producer.metrics();
    assert_eq!(local.record_send_total, 5);
    producer.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        producer.client_instance_id(Duration::from_secs(1)).await,
        None,
        "close ends the task"
    );

    let pushes = pushes.lock().unwrap();
    let last = pushes.last().expect("close sent a terminating push");
    assert!(last.terminating);
    assert_eq!(last.client_instance_id, INSTANCE);
    assert_eq!(last.compression_type, Compression::Lz4.id() as i8);
    let raw = ferrokafka_records::decompress(Compression::Lz4, &last.metrics, 1 << 20).unwrap();
    let data = MetricsData::decode(raw.as_slice()).unwrap();
    assert_eq!(
        metric(&data, "org.apache.kafka.producer.record.send.total", false),
        Value::AsInt(5)
    );
    assert_eq!(
        metric(
            &data,
            "org.apache.kafka.producer.topic.record.send.total",
            true
        ),
        Value::AsInt(5)
    );
    assert_eq!(
        metric(&data, "org.apache.kafka.producer.request.total", false),
        Value::AsInt(local.request_total as i64)
    );
    assert!(
        data.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .all(|m| m.name.starts_with("org.apache.kafka.producer.")),
        "only the subscribed prefix"
    );
}

#[tokio::test]
async fn metrics_push_off_sends_no_telemetry() {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let cluster = cluster(Arc::clone(&pushes));
    let producer = producer(&cluster, ("enable_metrics_push", "false")).await;
    producer
        .send(ProducerRecord::new("events").value("v"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        producer.client_instance_id(Duration::from_secs(10)).await,
        None
    );
    producer.close(Duration::from_secs(10)).await.unwrap();
    assert!(pushes.lock().unwrap().is_empty());
    assert!(
        !cluster
            .received()
            .iter()
            .any(|(_, key)| *key == ApiKey::GetTelemetrySubscriptions)
    );
}
