//! `ferrokafka bench produce|consume|share`: one measured run, printed as one JSON
//! line, under the command-line contract every client of `cargo xtask bench`
//! follows (the peers in `bench/peers` take the same flags and print the
//! same line), so the orchestrator treats ferrokafka as one peer among
//! others.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use ferrokafka::consumer::{Consumer, ConsumerConfig, ShareConsumer, ShareConsumerConfig};
use ferrokafka::producer::{
    ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};

/// What to measure.
#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Send `--records` records and wait until all are acknowledged.
    Produce(ProduceArgs),
    /// Read `--records` records of a topic in a fresh consumer group.
    Consume(ConsumeArgs),
    /// Read `--records` records of a topic as members of a share group
    /// (implicit acknowledgement: every record is accepted), whose
    /// `share.auto.offset.reset` is `earliest` (the orchestrator sets it).
    Share(ShareArgs),
}

/// `bench share`.
#[derive(Args, Debug)]
pub(crate) struct ShareArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    records: u64,
    /// The share group to read in.
    #[arg(long)]
    group: String,
    /// Members of the share group, in this process, reading `--records`
    /// between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    consumers: u64,
    /// The run fails (exit 2) if it takes longer than this.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

/// `bench produce`.
#[derive(Args, Debug)]
pub(crate) struct ProduceArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    records: u64,
    /// Value size in bytes (ignored with `--json-ints`).
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    /// `1` or `all`.
    #[arg(long, default_value = "1")]
    acks: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    /// Record `i` is the JSON text of the integer `i` (the seeds' workload).
    #[arg(long)]
    json_ints: bool,
    /// Send at most this many records per second (0: as fast as possible),
    /// to measure latency below saturation.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Tasks sending at once through the one producer, each its share of
    /// the records (the application shape of a server handling requests).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    tasks: u64,
    /// `max_request_size` (records larger than the default 1 MiB request).
    #[arg(long)]
    max_request_size: Option<u64>,
    /// Any other producer setting, as `key=value` (repeatable), after the
    /// bench's own: to compare settings with one build. `cargo xtask bench`
    /// never passes it.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// The run fails (exit 2) if it takes longer than this.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

/// `bench consume`.
#[derive(Args, Debug)]
pub(crate) struct ConsumeArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    records: u64,
    /// The consumer group to read in (a fresh one reads from the start).
    #[arg(long)]
    group: String,
    /// `batch` (`poll_records`) or `iter` (the record stream, one at a time).
    #[arg(long, default_value = "batch")]
    mode: String,
    /// Consumers in the group, in this process, reading `--records` between
    /// them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    consumers: u64,
    /// The run fails (exit 2) if it takes longer than this.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

/// One run's result, the line the orchestrator reads.
struct Outcome {
    records: u64,
    bytes: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

pub(crate) fn run(command: &BenchCommand) -> ExitCode {
    // One worker, as every async client of `cargo xtask bench` gets
    // (`bench/peers/src/lib.rs`) and as the blocking producer and consumer
    // run: on a machine whose cores the broker shares, a second worker adds
    // wake-ups and hand-offs of the producer's lock between the two, and
    // nothing here needs it.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let timeout_s = match command {
        BenchCommand::Produce(args) => args.timeout_s,
        BenchCommand::Consume(args) => args.timeout_s,
        BenchCommand::Share(args) => args.timeout_s,
    };
    let outcome = runtime.block_on(async {
        let work = async {
            match command {
                BenchCommand::Produce(args) => produce(args).await,
                BenchCommand::Consume(args) => consume(args).await,
                BenchCommand::Share(args) => share(args).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(timeout_s), work).await
    });
    match outcome {
        Ok(Ok(outcome)) => {
            println!("{}", result_line(outcome));
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: the run took longer than {timeout_s}s");
            ExitCode::from(2)
        }
    }
}

fn result_line(outcome: Outcome) -> String {
    let mut latencies = outcome.latencies_us;
    // Each percentile is selected, not read from a sorted copy: sorting a
    // million latencies cost the run a few percent of its CPU, which the
    // bench counts as the client's.
    let mut percentile = |p: f64| -> serde_json::Value {
        if latencies.is_empty() {
            return serde_json::Value::Null;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((latencies.len() - 1) as f64 * p).round() as usize;
        let (_, nth, _) = latencies.select_nth_unstable(index);
        serde_json::json!(f64::from(*nth) / 1000.0)
    };
    serde_json::json!({
        "client": format!("ferrokafka {}", env!("CARGO_PKG_VERSION")),
        "records": outcome.records,
        "bytes": outcome.bytes,
        "elapsed_s": outcome.elapsed.as_secs_f64(),
        "latency_p50_ms": percentile(0.50),
        "latency_p99_ms": percentile(0.99),
    })
    .to_string()
}

/// Most distinct values records cycle through (the whole pool at 100 B).
const MAX_POOL_VALUES: usize = 1024;
/// Fewest distinct values, whatever the record size.
const MIN_POOL_VALUES: usize = 8;
/// Bytes the pool may hold before it stops growing: far more than one
/// 16 KiB batch, so no batch carries a value twice and compression gains
/// only what the letters allow, yet small enough that this program's own
/// memory does not swamp the producer's peak RSS at large records (1,024
/// values of 1 MiB would be 1 GiB).
const POOL_BYTES: usize = 8 << 20;

/// How many values of `size` bytes the pool holds (every client of the
/// benchmark computes the same, `bench/peers/src/lib.rs`).
fn pool_len(size: usize) -> usize {
    (POOL_BYTES / size.max(1)).clamp(MIN_POOL_VALUES, MAX_POOL_VALUES)
}

/// [`pool_len`] values of `size` pseudo-random uppercase letters, the same
/// for every client of the benchmark (xorshift64 from a fixed seed).
fn payload_pool(size: usize) -> Vec<Bytes> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..pool_len(size))
        .map(|_| {
            (0..size)
                .map(|_| {
                    #[allow(clippy::cast_possible_truncation)]
                    let letter = b'A' + (next() % 26) as u8;
                    letter
                })
                .collect::<Vec<u8>>()
                .into()
        })
        .collect()
}

async fn produce(args: &ProduceArgs) -> anyhow::Result<Outcome> {
    let idempotent = if args.acks == "all" || args.acks == "-1" {
        "true"
    } else {
        "false"
    };
    let linger = args.linger_ms.to_string();
    let max_request_size = args.max_request_size.map(|size| size.to_string());
    let mut pairs = vec![
        ("bootstrap_servers", args.bootstrap.as_str()),
        ("client_id", "ferrokafka-bench"),
        ("acks", args.acks.as_str()),
        ("enable_idempotence", idempotent),
        ("linger_ms", linger.as_str()),
        ("compression_type", args.compression.as_str()),
        ("batch_size", "16384"),
    ];
    if let Some(size) = &max_request_size {
        pairs.push(("max_request_size", size.as_str()));
    }
    for setting in &args.config {
        let Some(pair) = setting.split_once('=') else {
            anyhow::bail!("--config {setting:?}: expected key=value");
        };
        pairs.push(pair);
    }
    let producer = Producer::new(ProducerConfig::from_pairs(pairs)?).await?;
    // Metadata warm-up, outside the measured time as for every client.
    producer.partitions_for(&args.topic).await?;

    let pool = payload_pool(args.record_size);
    // As the peers do (a delivery callback or report), each record's
    // outcome comes to a callback run by the producer's I/O task.
    let sink = Arc::new(Sink {
        latencies_us: Mutex::new(Vec::with_capacity(
            usize::try_from(args.records).unwrap_or(0),
        )),
        failures: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });

    let pool = Arc::new(pool);
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for task in 0..args.tasks {
        let (producer, pool, sink) = (producer.clone(), Arc::clone(&pool), Arc::clone(&sink));
        let (topic, json_ints, rate) = (args.topic.clone(), args.json_ints, args.rate);
        // Task `t` sends records t, t + tasks, t + 2 tasks, ...
        let indices = (task..args.records).step_by(usize::try_from(args.tasks).unwrap_or(1));
        senders.spawn(async move {
            let mut bytes = 0u64;
            for (n, i) in indices.enumerate() {
                // Record i is due at i / rate whichever task sends it, so
                // the tasks share the rate exactly (a per-task share
                // rate / tasks would round down, to unpaced when rate < tasks).
                if rate > 0 && n % 10 == 0 {
                    pace(started, i, rate).await;
                }
                let value = if json_ints {
                    Bytes::from(i.to_string())
                } else {
                    pool[usize::try_from(i % pool.len() as u64).unwrap_or(0)].clone()
                };
                bytes += value.len() as u64;
                let sent = Instant::now();
                let sink = Arc::clone(&sink);
                producer
                    .send_with_callback(
                        ProducerRecord::new(topic.as_str()).value(value),
                        move |outcome| sink.record(sent, outcome),
                    )
                    .await?;
            }
            anyhow::Ok(bytes)
        });
    }
    let mut bytes = 0u64;
    while let Some(sent) = senders.join_next().await {
        bytes += sent??;
    }
    producer.flush().await;
    let elapsed = started.elapsed();
    // On stderr, which the orchestrator ignores: how the records went out.
    report_requests(&producer);
    producer.close(Duration::from_secs(30)).await?;
    let failures = sink.failures.load(Ordering::Relaxed);
    if failures > 0 {
        let error = lock(&sink.first_error).clone().unwrap_or_default();
        anyhow::bail!("{failures} of {} records failed: {error}", args.records);
    }
    let latencies_us = std::mem::take(&mut *lock(&sink.latencies_us));
    if latencies_us.len() as u64 != args.records {
        anyhow::bail!(
            "{} deliveries for {} records",
            latencies_us.len(),
            args.records
        );
    }
    Ok(Outcome {
        records: args.records,
        bytes,
        elapsed,
        latencies_us,
    })
}

/// Where the delivery callbacks report.
struct Sink {
    latencies_us: Mutex<Vec<u32>>,
    failures: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Sink {
    fn record(&self, sent: Instant, outcome: Result<&RecordMetadata, &ProduceError>) {
        match outcome {
            Ok(_) => {
                let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                lock(&self.latencies_us).push(micros);
            }
            Err(error) => {
                if self.failures.fetch_add(1, Ordering::Relaxed) == 0 {
                    *lock(&self.first_error) = Some(error.to_string());
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Prints on stderr (which the orchestrator ignores) how the records went
/// out: requests, batches and bytes per request.
#[allow(clippy::cast_precision_loss)]
fn report_requests(producer: &Producer) {
    let metrics = producer.metrics();
    let bytes = metrics.byte_total as f64;
    let batches = if metrics.batch_size_avg > 0.0 {
        bytes / metrics.batch_size_avg
    } else {
        0.0
    };
    let requests = metrics.request_total.max(1) as f64;
    eprintln!(
        "ferrokafka: {} requests, {:.1} batches and {:.0} records ({:.0} bytes) per request, \
         batches of {:.0} bytes, request latency {:.2} ms avg, records queued {:.2} ms avg \
         ({:.0} max), {} records retried",
        metrics.request_total,
        batches / requests,
        metrics.records_per_request_avg,
        bytes / requests,
        metrics.batch_size_avg,
        metrics.request_latency_avg_ms,
        metrics.record_queue_time_avg_ms,
        metrics.record_queue_time_max_ms,
        metrics.record_retry_total,
    );
}

/// Prints on stderr (which the orchestrator ignores) how the records came
/// in: fetches, and records and bytes per fetch.
fn report_fetches(consumer: &Consumer) {
    let metrics = consumer.metrics();
    eprintln!(
        "ferrokafka: {} fetches ({} full, {} incremental), {:.0} records and {:.0} bytes \
         per fetch ({:.0} max), fetch latency {:.2} ms avg ({:.0} max)",
        metrics.fetch_total,
        metrics.fetch_requests_full,
        metrics.fetch_requests_incremental,
        metrics.records_per_request_avg,
        metrics.fetch_size_avg,
        metrics.fetch_size_max,
        metrics.fetch_latency_avg_ms,
        metrics.fetch_latency_max_ms,
    );
}

/// Waits until record `i` (its index among all the run's records) is due
/// at `rate` records per second.
async fn pace(started: Instant, i: u64, rate: u64) {
    #[allow(clippy::cast_precision_loss)]
    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
    tokio::time::sleep_until(due.into()).await;
}

async fn consume(args: &ConsumeArgs) -> anyhow::Result<Outcome> {
    if !matches!(args.mode.as_str(), "batch" | "iter") {
        anyhow::bail!("--mode must be batch or iter, not {:?}", args.mode);
    }
    let mut consumers = Vec::new();
    for _ in 0..args.consumers {
        let consumer = Consumer::new(ConsumerConfig::from_pairs([
            ("bootstrap_servers", args.bootstrap.as_str()),
            ("client_id", "ferrokafka-bench"),
            ("group_id", args.group.as_str()),
            ("auto_offset_reset", "earliest"),
        ])?)
        .await?;
        consumer.subscribe(&[args.topic.as_str()]).await?;
        consumers.push(consumer);
    }
    let read = Arc::new(Tally::default());
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for consumer in consumers {
        let read = Arc::clone(&read);
        let (mode, wanted) = (args.mode.clone(), args.records);
        readers.spawn(async move {
            read_until(&consumer, &mode, &read, wanted)
                .await
                .map(|()| consumer)
        });
    }
    let mut finished = Vec::new();
    while let Some(done) = readers.join_next().await {
        finished.push(done??);
    }
    let elapsed = started.elapsed();
    for consumer in &finished {
        report_fetches(consumer);
    }
    for consumer in finished {
        consumer.close(Duration::from_secs(10)).await?;
    }
    Ok(Outcome {
        records: read.records.load(Ordering::Relaxed),
        bytes: read.bytes.load(Ordering::Relaxed),
        elapsed,
        latencies_us: Vec::new(),
    })
}

async fn share(args: &ShareArgs) -> anyhow::Result<Outcome> {
    // As Kafka's ShareConsumerPerformance configures its members: 1 MiB
    // fetches, no CRC check; the clock starts before they subscribe.
    let mut members = Vec::new();
    for _ in 0..args.consumers {
        members.push(
            ShareConsumer::new(ShareConsumerConfig::from_pairs([
                ("bootstrap_servers", args.bootstrap.as_str()),
                ("client_id", "ferrokafka-bench"),
                ("group_id", args.group.as_str()),
                ("fetch_max_bytes", "1048576"),
                ("check_crcs", "false"),
            ])?)
            .await?,
        );
    }
    let read = Arc::new(Tally::default());
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for member in members {
        let read = Arc::clone(&read);
        let (topic, wanted) = (args.topic.clone(), args.records);
        readers.spawn(async move {
            member.subscribe(&[topic.as_str()]).await?;
            while read.records.load(Ordering::Relaxed) < wanted {
                let records = member.poll(Duration::from_millis(100)).await?;
                let bytes: u64 = records
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
                    .sum();
                read.bytes.fetch_add(bytes, Ordering::Relaxed);
                read.records
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
            }
            anyhow::Ok(member)
        });
    }
    let mut finished = Vec::new();
    while let Some(done) = readers.join_next().await {
        finished.push(done??);
    }
    let elapsed = started.elapsed();
    // The last polls' records are accepted before the members leave (the
    // Java tool commits too, after its clock stops).
    for member in finished {
        member.commit_sync(Duration::from_secs(10)).await?;
        member.close(Duration::from_secs(10)).await?;
    }
    Ok(Outcome {
        records: read.records.load(Ordering::Relaxed),
        bytes: read.bytes.load(Ordering::Relaxed),
        elapsed,
        latencies_us: Vec::new(),
    })
}

/// What the consumers of one run have read between them.
#[derive(Default)]
struct Tally {
    records: AtomicU64,
    bytes: AtomicU64,
}

/// Reads with `consumer` until the group has read `wanted` records.
async fn read_until(
    consumer: &Consumer,
    mode: &str,
    read: &Tally,
    wanted: u64,
) -> anyhow::Result<()> {
    let count = |bytes: u64, records: u64| {
        read.bytes.fetch_add(bytes, Ordering::Relaxed);
        read.records.fetch_add(records, Ordering::Relaxed) + records >= wanted
    };
    if mode == "batch" {
        while read.records.load(Ordering::Relaxed) < wanted {
            let records = consumer.poll(Duration::from_millis(200)).await?;
            let bytes = records
                .iter()
                .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
                .sum();
            count(bytes, records.len() as u64);
        }
        return Ok(());
    }
    let mut stream = std::pin::pin!(consumer.stream());
    while read.records.load(Ordering::Relaxed) < wanted {
        // A member whose partitions are all read waits here while others
        // finish; the timeout lets it see that the group is done.
        let next = std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx));
        let Ok(record) = tokio::time::timeout(Duration::from_millis(200), next).await else {
            continue;
        };
        let Some(record) = record else {
            anyhow::bail!("the record stream ended");
        };
        let record = record?;
        if count(record.value.as_ref().map_or(0, |v| v.len() as u64), 1) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_uppercase_letters_of_the_asked_size_and_differ() {
        let pool = payload_pool(100);
        assert_eq!(pool.len(), MAX_POOL_VALUES);
        assert!(pool.iter().all(|p| p.len() == 100));
        assert!(
            pool.iter()
                .flat_map(|p| p.iter())
                .all(u8::is_ascii_uppercase)
        );
        assert_ne!(pool[0], pool[1]);
    }

    #[test]
    fn the_pool_shrinks_with_the_record_size_but_its_values_differ() {
        assert_eq!(pool_len(100), 1024);
        assert_eq!(pool_len(10 * 1024), 819);
        assert_eq!(pool_len(1 << 20), MIN_POOL_VALUES);
        let pool = payload_pool(1 << 20);
        assert_eq!(pool.iter().map(Bytes::len).sum::<usize>(), 8 << 20);
        let mut distinct = pool.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), pool.len());
    }

    #[test]
    fn the_result_line_has_percentiles_of_the_latencies() {
        let line = result_line(Outcome {
            records: 4,
            bytes: 400,
            elapsed: Duration::from_secs(2),
            latencies_us: vec![4000, 1000, 3000, 2000],
        });
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["records"], 4);
        assert_eq!(value["latency_p50_ms"], 3.0);
        assert_eq!(value["latency_p99_ms"], 4.0);
        assert_eq!(value["elapsed_s"], 2.0);
    }
}
