//! KIP-714 client telemetry against a real broker: a node with a
//! client-telemetry receiver plugin (`xtask/telemetry-java`, compiled by the
//! harness) that writes every push it accepts to a folder, and a client
//! metrics subscription made with the admin client. The producer's, the
//! consumer's and an admin client's pushes must decode as OTLP and carry
//! the subscribed metrics with the values `Producer::metrics`,
//! `Consumer::metrics` and `Admin::metrics` report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrokafka_admin::configs::{AlterConfigOp, ConfigResource, ResourceType};
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::Uuid;
use ferrokafka_records::Compression;
use ferrokafka_telemetry::otlp_metrics::{
    AggregationTemporality, MetricsData, metric::Data, number_data_point::Value,
};
use ferrokafka_tests::{create_topic, start_cluster_with};
use prost::Message;
use xtask::broker::StartOptions;
use xtask::broker::jars::DEFAULT_KAFKA_VERSION;

const LIMIT: Duration = Duration::from_secs(60);
const RECORDS: i64 = 7;

/// Every push the plugin wrote for client `instance`, in order: whether it
/// was terminating, and its metrics.
fn recorded(dir: &Path, instance: Uuid) -> Vec<(bool, MetricsData)> {
    let dir = dir.join(java_uuid(instance));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "bin"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|file| {
            let bytes = std::fs::read(file).unwrap();
            let terminating = file.to_string_lossy().contains("terminating");
            (terminating, decode(&bytes))
        })
        .collect()
}

/// The payload as the broker handed it over: decompressed already, or
/// still in the codec the client chose.
fn decode(bytes: &[u8]) -> MetricsData {
    if let Ok(data) = MetricsData::decode(bytes) {
        return data;
    }
    Compression::ALL
        .iter()
        .filter_map(|&c| ferrokafka_records::decompress(c, bytes, 1 << 24).ok())
        .find_map(|raw| MetricsData::decode(raw.as_slice()).ok())
        .expect("a push that is neither OTLP nor compressed OTLP")
}

/// How Java's `Uuid.toString()` writes an id: URL-safe base64, no padding.
fn java_uuid(id: Uuid) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.0)
}

/// The client-wide counter `name` in a push, with its temporality.
fn counter(data: &MetricsData, name: &str) -> Option<(i64, AggregationTemporality)> {
    data.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .find_map(|m| match &m.data {
            Some(Data::Sum(sum)) if sum.data_points[0].attributes.len() == 1 => {
                let Some(Value::AsInt(v)) = sum.data_points[0].value else {
                    return None;
                };
                Some((
                    v,
                    AggregationTemporality::try_from(sum.aggregation_temporality).ok()?,
                ))
            }
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_consumer_and_admin_push_subscribed_metrics_to_the_broker() {
    let plugin = xtask::golden::java::compile_folder(
        &xtask::workspace_root().join("xtask/telemetry-java"),
        "telemetry-java",
        DEFAULT_KAFKA_VERSION,
    )
    .expect("compiling the telemetry receiver plugin");
    let pushes = std::env::temp_dir().join(format!("ferrokafka-telemetry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pushes);
    let cluster = start_cluster_with(&StartOptions {
        extra_classpath: plugin.classpath().to_string(),
        extra_properties: vec![
            ("metric.reporters".into(), "TelemetryRecorder".into()),
            (
                "telemetry.recorder.dir".into(),
                pushes.display().to_string(),
            ),
        ],
        ..StartOptions::single_node()
    });
    let bootstrap = cluster.info.bootstrap_servers.clone();

    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap(),
    )
    .await
    .unwrap();
    let subscription = ConfigResource::new(ResourceType::ClientMetrics, "ferrokafka-producer");
    let made = admin
        .incremental_alter_configs(
            &BTreeMap::from([(
                subscription.clone(),
                vec![
                    AlterConfigOp::set(
                        "metrics",
                        "org.apache.kafka.producer.,org.apache.kafka.consumer.fetch.manager.,\
                         org.apache.kafka.admin.client.",
                    ),
                    AlterConfigOp::set("interval.ms", "1000"),
                ],
            )]),
            false,
            &AdminOptions::new().timeout(LIMIT),
        )
        .await;
    assert!(made[&subscription].is_ok(), "{made:?}");

    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("client_id", "telemetry-it"),
    ])
    .unwrap();
    let producer = Producer::new(config).await.unwrap();
    create_topic(producer.client(), "telemetry-events", 1, 1).await;
    let producer_id = producer
        .client_instance_id(LIMIT)
        .await
        .expect("the broker assigned the producer no client instance id");
    for i in 0..RECORDS {
        producer
            .send(ProducerRecord::new("telemetry-events").value(format!("v{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let local = producer.metrics();
    assert_eq!(local.record_send_total, RECORDS as u64);
    producer.close(LIMIT).await.unwrap();

    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("client_id", "telemetry-it-consumer"),
            ("auto_offset_reset", "earliest"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .assign(&[TopicPartition::new("telemetry-events".to_string(), 0)])
        .await
        .unwrap();
    let consumer_id = consumer
        .client_instance_id(LIMIT)
        .await
        .expect("the broker assigned the consumer no client instance id");
    assert_ne!(consumer_id, producer_id);
    let mut consumed = 0;
    for _ in 0..60 {
        consumed += consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .len();
        if consumed as i64 >= RECORDS {
            break;
        }
    }
    assert_eq!(consumed as i64, RECORDS);
    assert_eq!(consumer.metrics().records_consumed_total, RECORDS as u64);
    consumer.close(LIMIT).await.unwrap();

    // An admin client made after the subscription (the first one fetched
    // its subscription before there was any, and would wait minutes to
    // ask again).
    let watched = Admin::connect(
        AdminConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("client_id", "telemetry-it-admin"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let admin_id = watched
        .client_instance_id(LIMIT)
        .await
        .expect("the broker assigned the admin client no client instance id");
    assert!(admin_id != producer_id && admin_id != consumer_id);
    let topics = watched
        .list_topics(false, &AdminOptions::new().timeout(LIMIT))
        .await
        .unwrap();
    assert!(topics.iter().any(|t| t.name == "telemetry-events"));
    watched.close(LIMIT).await;
    let admin_local = watched.metrics();
    // The terminating push counts every request but itself.
    let admin_requests = admin_local.request_total as i64 - 1;
    assert!(admin_requests >= 2, "{admin_local:?}");

    let checks = [
        (
            producer_id,
            "org.apache.kafka.producer.",
            "org.apache.kafka.producer.record.send.total",
            RECORDS,
        ),
        (
            consumer_id,
            "org.apache.kafka.consumer.fetch.manager.",
            "org.apache.kafka.consumer.fetch.manager.records.consumed.total",
            RECORDS,
        ),
        (
            admin_id,
            "org.apache.kafka.admin.client.",
            "org.apache.kafka.admin.client.request.total",
            admin_requests,
        ),
    ];
    let seen: Vec<_> = checks
        .iter()
        .map(|(id, _, _, _)| recorded(&pushes, *id))
        .collect();
    let _ = std::fs::remove_dir_all(&pushes);
    for ((_, prefix, name, expected), pushes_seen) in checks.iter().zip(&seen) {
        let (terminating, last) = pushes_seen.last().expect("the broker recorded no push");
        assert!(terminating, "close ends with a terminating push ({name})");
        assert!(
            last.resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .all(|m| m.name.starts_with(prefix)),
            "only the subscribed prefix is pushed ({prefix})"
        );
        // Cumulative: the last push says it all. Delta: the pushes add up.
        let totals: Vec<_> = pushes_seen
            .iter()
            .filter_map(|(_, d)| counter(d, name))
            .collect();
        let (last_value, temporality) = *totals.last().expect("the counter was pushed");
        let reported = match temporality {
            AggregationTemporality::Delta => totals.iter().map(|(v, _)| v).sum(),
            _ => last_value,
        };
        assert_eq!(
            reported, *expected,
            "{name}: {temporality:?} over {totals:?}"
        );
    }
}
