//! Peer benchmark: rust-rdkafka (librdkafka, bundled build).
//!
//! Producer: `ThreadedProducer` (a `BaseProducer` with a dedicated polling
//! thread, the producer rdkafka's own docs benchmark at ~1M msgs/s) with a
//! `ProducerContext` whose delivery callback records each record's latency.
//! The delivery opaque carries the send time, so nothing is allocated per
//! record beyond librdkafka's own copy of the value.
//!
//! Consumer, `--mode batch`: `BaseConsumer::poll` in a tight loop on the
//! calling thread. rdkafka 0.39 exposes no multi-message poll; librdkafka
//! prefetches into its local queue in the background (`queued.min.messages`)
//! and each `poll` pops one message from it without crossing threads or
//! touching an async runtime, which makes this the lowest-overhead consume
//! path rdkafka documents. `--mode iter`: `StreamConsumer::stream()`, the
//! async per-message `Stream`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use ferrokafka_bench_peers::{
    BATCH_SIZE, Command, ConsumeArgs, Mode, ProduceArgs, Report, Timer, Values, fail, pace_due,
    parse_args, start_watchdog,
};

fn client_name() -> String {
    format!("rdkafka {}", rdkafka::util::get_rdkafka_version().1)
}

/// Delivery-report sink. Runs on the producer's polling thread.
struct Ctx {
    /// Origin of the send timestamps carried in the delivery opaque.
    origin: Instant,
    latencies_us: Mutex<Vec<u64>>,
    failed: AtomicU64,
}

impl ClientContext for Ctx {
    /// librdkafka's own log (e.g. `debug=protocol,msg` through
    /// `RDKAFKA_BENCH_CONFIG`), on stderr, which the orchestrator ignores.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!("rdkafka-log {level:?} {fac}: {log_message}");
    }

    /// librdkafka's statistics (`statistics.interval.ms` through
    /// `RDKAFKA_BENCH_CONFIG`), one JSON document a line on stderr.
    fn stats_raw(&self, statistics: &[u8]) {
        eprintln!("rdkafka-stats {}", String::from_utf8_lossy(statistics));
    }
}

/// Extra librdkafka properties from `RDKAFKA_BENCH_CONFIG` (`key=value`
/// pairs separated by `;`), for diagnosing a run: its request trace or
/// statistics, say. Never set by `cargo xtask bench`.
fn extra_config(cfg: &mut ClientConfig) {
    let Ok(extra) = std::env::var("RDKAFKA_BENCH_CONFIG") else {
        return;
    };
    for pair in extra.split(';').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) => {
                cfg.set(key.trim(), value.trim());
            }
            None => fail(format!("RDKAFKA_BENCH_CONFIG: {pair:?} is not key=value")),
        }
    }
}

impl ProducerContext for Ctx {
    /// Nanoseconds since `origin` at the send call.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.origin.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => {
                let us = now_ns.saturating_sub(sent_ns as u64) / 1000;
                self.latencies_us.lock().unwrap().push(us);
            }
            Err((e, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                    eprintln!("error: delivery failed: {e}");
                }
            }
        }
    }
}

fn produce(args: &ProduceArgs) {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &args.bootstrap)
        .set("client.id", "rdkafka-bench")
        .set("acks", args.acks.as_config())
        .set("linger.ms", args.linger_ms.to_string())
        .set("compression.type", args.compression.as_config())
        .set("batch.size", BATCH_SIZE.to_string());
    if let Some(size) = args.max_request_size {
        cfg.set("message.max.bytes", size.to_string());
    }
    extra_config(&mut cfg);
    // enable.idempotence: librdkafka's default (false) for both acks values.
    let ctx = Ctx {
        origin: Instant::now(),
        latencies_us: Mutex::new(Vec::with_capacity(args.records as usize)),
        failed: AtomicU64::new(0),
    };
    let producer: ThreadedProducer<Ctx> = cfg
        .create_with_context(ctx)
        .unwrap_or_else(|e| fail(format!("creating producer: {e}")));

    // Metadata warm-up (not measured): connects and learns the topic's leaders.
    let md = producer
        .client()
        .fetch_metadata(Some(&args.topic), Duration::from_secs(30))
        .unwrap_or_else(|e| fail(format!("metadata for {}: {e}", args.topic)));
    let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
    eprintln!(
        "{}: topic {} has {partitions} partitions",
        client_name(),
        args.topic
    );

    let values = Values::new(args);
    let origin = producer.context().origin;
    let timer = Timer::start();
    let started = Instant::now();
    // Sender `t` sends records t, t + tasks, ... through the one producer.
    let bytes: u64 = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..args.tasks)
            .map(|task| {
                let (producer, values) = (&producer, &values);
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    let mut bytes = 0u64;
                    for (n, i) in (task..args.records)
                        .step_by(args.tasks as usize)
                        .enumerate()
                    {
                        if let Some(due) = pace_due(started, n as u64, i, args.rate) {
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        }
                        let value = values.get(i, &mut buf);
                        bytes += value.len() as u64;
                        let sent_ns = origin.elapsed().as_nanos() as usize;
                        let mut record =
                            BaseRecord::<(), [u8], usize>::with_opaque_to(&args.topic, sent_ns)
                                .payload(value);
                        loop {
                            match producer.send(record) {
                                Ok(()) => break,
                                Err((
                                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                    r,
                                )) => {
                                    // librdkafka's queue is full: serve delivery
                                    // reports and retry.
                                    record = r;
                                    producer.poll(Duration::from_millis(1));
                                }
                                Err((e, _)) => fail(format!("send of record {i}: {e}")),
                            }
                        }
                    }
                    bytes
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|s| s.join().unwrap_or_else(|_| fail("a sender panicked")))
            .sum()
    });
    producer
        .flush(None)
        .unwrap_or_else(|e| fail(format!("flush: {e}")));
    let elapsed = timer.elapsed();

    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        fail(format!("{failed} of {} records failed", args.records));
    }
    let latencies = std::mem::take(&mut *ctx.latencies_us.lock().unwrap());
    if latencies.len() as u64 != args.records {
        fail(format!(
            "{} delivery reports for {} records",
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
}

fn consumer_config(args: &ConsumeArgs) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &args.bootstrap)
        .set("client.id", "rdkafka-bench")
        .set("group.id", &args.group)
        .set("auto.offset.reset", "earliest")
        // Every client checks what it reads, as Java's does by default.
        .set("check.crcs", "true");
    // enable.auto.commit / auto.commit.interval.ms: librdkafka defaults.
    cfg
}

fn consume_batch(args: &ConsumeArgs) -> (u64, u64, Duration) {
    let consumers: Vec<BaseConsumer> = (0..args.consumers)
        .map(|_| {
            let consumer: BaseConsumer = consumer_config(args)
                .create()
                .unwrap_or_else(|e| fail(format!("creating consumer: {e}")));
            consumer
                .subscribe(&[&args.topic])
                .unwrap_or_else(|e| fail(format!("subscribe: {e}")));
            consumer
        })
        .collect();
    let (count, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let timer = Timer::start();
    // Each member polls on its own thread until the group has read them all.
    std::thread::scope(|scope| {
        for consumer in &consumers {
            let (count, bytes) = (&count, &bytes);
            scope.spawn(move || {
                while count.load(Ordering::Relaxed) < args.records {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => {
                            bytes.fetch_add(
                                m.payload().map_or(0, <[u8]>::len) as u64,
                                Ordering::Relaxed,
                            );
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Err(e)) => eprintln!("consume error: {e}"),
                        None => {}
                    }
                }
            });
        }
    });
    let elapsed = timer.elapsed();
    (count.into_inner(), bytes.into_inner(), elapsed)
}

async fn consume_iter(args: &ConsumeArgs) -> (u64, u64, Duration) {
    let consumer: StreamConsumer = consumer_config(args)
        .create()
        .unwrap_or_else(|e| fail(format!("creating consumer: {e}")));
    consumer
        .subscribe(&[&args.topic])
        .unwrap_or_else(|e| fail(format!("subscribe: {e}")));
    let mut stream = consumer.stream();
    let (mut count, mut bytes) = (0u64, 0u64);
    let timer = Timer::start();
    while count < args.records {
        match stream.next().await {
            Some(Ok(m)) => {
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
                count += 1;
            }
            Some(Err(e)) => eprintln!("consume error: {e}"),
            None => fail("message stream ended"),
        }
    }
    let elapsed = timer.elapsed();
    (count, bytes, elapsed)
}

fn consume(args: &ConsumeArgs) {
    if args.consumers > 1 && args.mode == Mode::Iter {
        eprintln!("error: --consumers is measured with --mode batch");
        std::process::exit(3);
    }
    let (count, bytes, elapsed) = match args.mode {
        Mode::Batch => consume_batch(args),
        Mode::Iter => ferrokafka_bench_peers::runtime().block_on(consume_iter(args)),
    };
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
    match parse_args() {
        Command::Produce(a) => {
            start_watchdog(a.timeout_s);
            produce(&a);
        }
        Command::Consume(a) => {
            start_watchdog(a.timeout_s);
            consume(&a);
        }
    }
    // Skip the consumer's close (LeaveGroup, final commit): the run is over.
    std::process::exit(0);
}
