//! `cargo xtask demo`: the main job on an embedded default. Starts a local
//! Apache Kafka, connects, creates a two-partition topic, produces the
//! seeds' workload (a million JSON-serialised integers) with a progress bar
//! and its rate, consumes them back in a consumer group checking each
//! arrived once, and stops the broker.

use std::time::Instant;

use anyhow::Context;
use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::CreateTopicsRequest;
use ferrokafka_protocol::messages::create_topics_request::CreatableTopic;
use ferrokafka_serde::{Deserializer as _, Json, Serializer as _};
use ferrokafka_transport::Lane;

use crate::broker;

/// Options of `cargo xtask demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Use this cluster instead of starting one.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
}

/// Runs the demo.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (cluster, bootstrap) = broker::given_or_started(args.bootstrap_servers.as_deref(), "demo")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(show(&bootstrap));
    if let Some(cluster) = cluster {
        eprintln!("stopping the broker");
        cluster.stop();
    }
    result?;
    eprintln!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Records the demo produces: the seeds' workload.
const RECORDS: u64 = 1_000_000;
const TOPIC: &str = "ferrokafka-demo";

async fn show(bootstrap: &str) -> anyhow::Result<()> {
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap),
        ("client_id", "ferrokafka-demo"),
        ("linger_ms", "5"),
    ])?;
    let producer = Producer::new(config).await?;
    let client = producer.client();
    let node = client.view(|v| v.brokers().next().map(|b| b.node_id));
    let node = node.context("the cluster lists no broker")?;
    let connection = client.connection(node, Lane::Data).await?;
    let negotiated = connection
        .broker_versions()
        .keys()
        .filter(|key| connection.version(**key).is_ok())
        .count();
    println!(
        "connected to cluster {} ({} broker(s)); {negotiated} APIs negotiated at the highest common version",
        client.view(|v| v.cluster_id().unwrap_or("?").to_string()),
        client.view(|v| v.brokers().count()),
    );

    let created = client
        .send_any(&CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: TOPIC.to_string(),
                num_partitions: 2,
                replication_factor: 1,
                ..CreatableTopic::default()
            }],
            timeout_ms: 10_000,
            ..CreateTopicsRequest::default()
        })
        .await?;
    for result in &created.topics {
        let outcome = match ErrorCode::from_code(result.error_code) {
            ErrorCode::None => "created".to_string(),
            ErrorCode::TopicAlreadyExists => "already exists".to_string(),
            error => format!(
                "{error:?}: {}",
                result.error_message.clone().unwrap_or_default()
            ),
        };
        println!("topic {TOPIC:?} (2 partitions): {outcome}");
    }

    // Where this run's records will start: the topic may hold an earlier
    // run's when the demo uses an existing cluster.
    let group = format!("ferrokafka-demo-{}", std::process::id());
    let consumer = Consumer::with_client(
        client.clone(),
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap),
            ("client_id", "ferrokafka-demo"),
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("max_poll_records", "10000"),
        ])?,
    );
    let partitions = [TopicPartition::new(TOPIC, 0), TopicPartition::new(TOPIC, 1)];
    let start = consumer.end_offsets(&partitions).await?;

    println!("producing {RECORDS} JSON-serialised integers (acks=all, idempotent)");
    let started = Instant::now();
    let (deliveries, mut pending) =
        tokio::sync::mpsc::channel::<ferrokafka_producer::DeliveryFuture>(100_000);
    let settle = tokio::spawn(async move {
        let mut per_partition = [0u64; 2];
        let mut delivered = 0u64;
        while let Some(delivery) = pending.recv().await {
            let metadata: RecordMetadata = delivery.await?;
            delivered += 1;
            if let Some(count) = usize::try_from(metadata.partition)
                .ok()
                .and_then(|p| per_partition.get_mut(p))
            {
                *count += 1;
            }
            if delivered.is_multiple_of(RECORDS / 40) {
                let bar = "#".repeat(usize::try_from(delivered * 40 / RECORDS).unwrap_or(40));
                eprint!("\r  [{bar:<40}] {delivered:>9} delivered");
            }
        }
        eprintln!();
        anyhow::Ok(per_partition)
    });
    let json = Json;
    for i in 0..RECORDS {
        let value = json.serialize(TOPIC, &i)?;
        deliveries
            .send(
                producer
                    .send(ProducerRecord::new(TOPIC).value(value))
                    .await?,
            )
            .await?;
    }
    drop(deliveries);
    let per_partition = settle.await??;
    let seconds = started.elapsed().as_secs_f64();
    let metrics = producer.metrics();
    producer.close(std::time::Duration::from_secs(30)).await?;
    #[allow(clippy::cast_precision_loss)]
    let rate = RECORDS as f64 / seconds;
    println!(
        "produced {RECORDS} records in {seconds:.2}s: {rate:.0} records/s; partition 0 got {}, partition 1 got {}",
        per_partition[0], per_partition[1]
    );
    println!(
        "  {} requests, {:.0} records per request, mean batch {:.0} bytes, request latency avg {:.2} ms / max {:.2} ms",
        metrics.request_total,
        metrics.records_per_request_avg,
        metrics.batch_size_avg,
        metrics.request_latency_avg_ms,
        metrics.request_latency_max_ms
    );

    println!("consuming them back in consumer group {group:?}");
    consumer.subscribe(&[TOPIC]).await?;
    let started = Instant::now();
    let mut seen = vec![false; usize::try_from(RECORDS)?];
    let mut consumed = 0u64;
    while consumed < RECORDS {
        let records = consumer.poll(std::time::Duration::from_secs(10)).await?;
        anyhow::ensure!(!records.is_empty(), "no records for 10 s after {consumed}");
        for record in records {
            let earlier_run = TopicPartition::new(TOPIC, record.partition);
            if record.offset < start.get(&earlier_run).copied().unwrap_or(0) {
                continue;
            }
            let value: u64 =
                json.deserialize(TOPIC, record.value.as_deref().unwrap_or_default())?;
            let slot = seen
                .get_mut(usize::try_from(value)?)
                .context("a value this run did not produce")?;
            anyhow::ensure!(!*slot, "{value} consumed twice");
            *slot = true;
            consumed += 1;
            if consumed.is_multiple_of(RECORDS / 40) {
                let bar = "#".repeat(usize::try_from(consumed * 40 / RECORDS).unwrap_or(40));
                eprint!("\r  [{bar:<40}] {consumed:>9} consumed");
            }
        }
    }
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    consumer.commit().await?;
    consumer.close(std::time::Duration::from_secs(5)).await?;
    #[allow(clippy::cast_precision_loss)]
    let rate = RECORDS as f64 / seconds;
    println!(
        "consumed all {RECORDS} records, each exactly once, in {seconds:.2}s: {rate:.0} records/s"
    );
    Ok(())
}
