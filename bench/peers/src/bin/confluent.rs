//! Peer benchmark: confluent-kafka (Confluent's pure-Rust translation of the
//! Java client).
//!
//! Producer: `send_with_callback`, which returns once the record is appended
//! to the accumulator; the callback (run on the producer's I/O task) records
//! the latency, as Java's `Callback` would. `flush` then waits for the rest.
//!
//! Consumer: KIP-848 group protocol (`group.protocol=consumer`), the only one
//! this client supports. `--mode batch`: `poll(timeout)` returning
//! `ConsumerRecords`, iterated by reference. `--mode iter`: the client has no
//! per-record stream or `recv` (it mirrors Java's `KafkaConsumer`), so records
//! are taken one at a time through `ConsumerRecords`' owning iterator — the
//! closest it has to a record-at-a-time API.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confluent_kafka::common::serialization::{ByteArraySerializer, BytesDeserializer};
use confluent_kafka::consumer::{Consumer, ConsumerConfig, KafkaConsumer};
use confluent_kafka::producer::{KafkaProducer, Producer, ProducerConfig, ProducerRecord};

use ferrokafka_bench_peers::{
    self as common, BATCH_SIZE, Command, ConsumeArgs, Mode, ProduceArgs, Report, Timer, Values,
    fail, pace_due, parse_args, start_watchdog,
};

fn client_name() -> String {
    format!("confluent-kafka {}", env!("PEER_VERSION_CONFLUENT_KAFKA"))
}

fn props(pairs: &[(&str, String)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// Where the delivery callbacks report.
struct Sink {
    latencies_us: Mutex<Vec<u64>>,
    failed: AtomicU64,
}

async fn produce(args: &ProduceArgs) {
    let mut pairs = vec![
        ("bootstrap.servers", args.bootstrap.clone()),
        ("client.id", "confluent-kafka-bench".to_string()),
        ("acks", args.acks.as_config().to_string()),
        ("linger.ms", args.linger_ms.to_string()),
        ("compression.type", args.compression.as_config().to_string()),
        ("batch.size", BATCH_SIZE.to_string()),
    ];
    if args.acks == common::Acks::One {
        // The Java-derived default (idempotence on) requires acks=all.
        pairs.push(("enable.idempotence", "false".to_string()));
    }
    let config = ProducerConfig::new(&props(&pairs))
        .unwrap_or_else(|e| fail(format!("producer config: {e}")));
    let producer = KafkaProducer::<Vec<u8>, Vec<u8>>::new(
        config,
        ByteArraySerializer::default(),
        ByteArraySerializer::default(),
    )
    .unwrap_or_else(|e| fail(format!("creating producer: {e}")));

    // Metadata warm-up (not measured).
    let partitions = producer
        .partitions_for(&args.topic)
        .await
        .unwrap_or_else(|e| fail(format!("metadata for {}: {e}", args.topic)));
    eprintln!(
        "{}: topic {} has {} partitions",
        client_name(),
        args.topic,
        partitions.len()
    );

    let sink: &'static Sink = Box::leak(Box::new(Sink {
        latencies_us: Mutex::new(Vec::with_capacity(args.records as usize)),
        failed: AtomicU64::new(0),
    }));
    let values = Values::new(args);
    let mut bytes = 0u64;

    let timer = Timer::start();
    let started = Instant::now();
    for i in 0..args.records {
        if let Some(due) = pace_due(started, i, i, args.rate) {
            tokio::time::sleep_until(due.into()).await;
        }
        let value = values.get_owned(i);
        bytes += value.len() as u64;
        let record = ProducerRecord::new(args.topic.clone(), Some(value));
        let sent = Instant::now();
        let callback = move |_md: Option<&confluent_kafka::producer::RecordMetadata>,
                             err: Option<&confluent_kafka::common::Error>| {
            match err {
                None => sink
                    .latencies_us
                    .lock()
                    .unwrap()
                    .push(common::micros(sent.elapsed())),
                Some(e) => {
                    if sink.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                        eprintln!("error: delivery failed: {e}");
                    }
                }
            }
        };
        // The returned future is not needed: the callback reports the outcome.
        let _ = producer
            .send_with_callback(record, Some(Box::new(callback)))
            .await
            .unwrap_or_else(|e| fail(format!("send of record {i}: {e}")));
    }
    producer
        .flush()
        .await
        .unwrap_or_else(|e| fail(format!("flush: {e}")));
    let elapsed = timer.elapsed();

    let failed = sink.failed.load(Ordering::Relaxed);
    if failed > 0 {
        fail(format!("{failed} of {} records failed", args.records));
    }
    let latencies = std::mem::take(&mut *sink.latencies_us.lock().unwrap());
    if latencies.len() as u64 != args.records {
        fail(format!(
            "{} acknowledgements for {} records",
            latencies.len(),
            args.records
        ));
    }
    Report {
        client: client_name(),
        records: args.records,
        bytes,
        elapsed,
        latencies_us: Some(latencies),
    }
    .print();
    let _ = producer.close_with_timeout(Duration::from_secs(5)).await;
}

async fn consume(args: &ConsumeArgs) {
    let pairs = [
        ("bootstrap.servers", args.bootstrap.clone()),
        ("client.id", "confluent-kafka-bench".to_string()),
        ("group.id", args.group.clone()),
        ("group.protocol", "consumer".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
    ];
    let config = ConsumerConfig::new(&props(&pairs))
        .unwrap_or_else(|e| fail(format!("consumer config: {e}")));
    let mut consumer =
        KafkaConsumer::new(config, BytesDeserializer::new(), BytesDeserializer::new())
            .unwrap_or_else(|e| fail(format!("creating consumer: {e}")));
    consumer
        .subscribe_with_topics(vec![args.topic.clone()])
        .await
        .unwrap_or_else(|e| fail(format!("subscribe: {e}")));

    let (mut count, mut bytes) = (0u64, 0u64);
    let timer = Timer::start();
    while count < args.records {
        let records = match consumer.poll(Duration::from_millis(500)).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("consume error: {e}");
                continue;
            }
        };
        match args.mode {
            Mode::Batch => {
                for r in &records {
                    if count == args.records {
                        break;
                    }
                    bytes += r.value().map_or(0, |v| v.len()) as u64;
                    count += 1;
                }
            }
            Mode::Iter => {
                for r in records {
                    if count == args.records {
                        break;
                    }
                    bytes += r.value().map_or(0, |v| v.len()) as u64;
                    count += 1;
                }
            }
        }
    }
    let elapsed = timer.elapsed();
    Report {
        client: client_name(),
        records: count,
        bytes,
        elapsed,
        latencies_us: None,
    }
    .print();
}

fn main() {
    let cmd = parse_args();
    ferrokafka_bench_peers::require_one_sender_and_member(&cmd);
    let timeout_s = match &cmd {
        Command::Produce(a) => a.timeout_s,
        Command::Consume(a) => a.timeout_s,
    };
    start_watchdog(timeout_s);
    let rt = ferrokafka_bench_peers::runtime();
    rt.block_on(async {
        match &cmd {
            Command::Produce(a) => produce(a).await,
            Command::Consume(a) => consume(a).await,
        }
    });
    // Do not wait for the consumer's close (leaving the group): the result
    // is printed.
    std::process::exit(0);
}
