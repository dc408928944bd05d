//! Peer benchmark: krafka (pure-Rust, Tokio).
//!
//! Producer: `Producer::enqueue`, which returns once the record is buffered
//! and hands back a `DeliveryHandle` (krafka's pipelined send path; `send`
//! would wait for each acknowledgement). The handles go to a collector task
//! that awaits them in a `FuturesUnordered` — the pattern krafka's docs show
//! for `enqueue` — so each latency is taken when its acknowledgement resolves,
//! concurrently with the enqueue loop.
//!
//! Consumer, `--mode batch`: `Consumer::poll(timeout)`, a `Vec` of records per
//! call. `--mode iter`: `Consumer::recv()`, one record per call. Both with
//! `max_buffered_records(2000)`, the read-ahead krafka's Performance guide
//! suggests for high-throughput consumers (default 500); everything else,
//! group protocol and auto-commit included, at krafka's defaults.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use krafka::consumer::AutoOffsetReset;
use krafka::producer::{Acks, DeliveryHandle};
use krafka::{Kafka, Record};
use tokio::sync::mpsc;

use ferrokafka_bench_peers::{
    self as common, BATCH_SIZE, Command, ConsumeArgs, Mode, ProduceArgs, Report, StaticOrOwned,
    Timer, Values, fail, pace_due, parse_args, start_watchdog,
};

fn client_name() -> String {
    format!("krafka {}", env!("PEER_VERSION_KRAFKA"))
}

fn compression(c: common::Compression) -> krafka::Compression {
    match c {
        common::Compression::None => krafka::Compression::None,
        common::Compression::Gzip => krafka::Compression::Gzip,
        common::Compression::Snappy => krafka::Compression::Snappy,
        common::Compression::Lz4 => krafka::Compression::Lz4,
        common::Compression::Zstd => krafka::Compression::Zstd,
    }
}

async fn connect(bootstrap: &str) -> Kafka {
    Kafka::builder(bootstrap)
        .client_id("krafka-bench")
        .connect()
        .await
        .unwrap_or_else(|e| fail(format!("connecting to {bootstrap}: {e}")))
}

async fn produce(args: &ProduceArgs) {
    let kafka = connect(&args.bootstrap).await;
    let mut builder = kafka
        .producer()
        .batch_size(BATCH_SIZE)
        .linger(Duration::from_millis(args.linger_ms))
        .compression(compression(args.compression));
    builder = match args.acks {
        // krafka's idempotent default requires acks=all.
        common::Acks::One => builder.acks(Acks::Leader).idempotent(false),
        common::Acks::All => builder.acks(Acks::All),
    };
    let producer = builder
        .build()
        .await
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

    let values = Values::new(args).leak();
    let n = args.records as usize;

    // Collector: awaits delivery handles as they resolve.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, DeliveryHandle)>();
    let collector = tokio::spawn(async move {
        let mut pending = FuturesUnordered::new();
        let mut latencies = Vec::with_capacity(n);
        let mut failed = 0u64;
        let mut open = true;
        loop {
            tokio::select! {
                biased;
                Some((sent, result)) = pending.next(), if !pending.is_empty() => {
                    let sent: Instant = sent;
                    match result {
                        Ok(_) => latencies.push(common::micros(sent.elapsed())),
                        Err(e) => {
                            failed += 1;
                            if failed <= 10 {
                                eprintln!("error: delivery failed: {e}");
                            }
                        }
                    }
                }
                msg = rx.recv(), if open => match msg {
                    Some((sent, handle)) => pending.push(async move { (sent, handle.await) }),
                    None => open = false,
                },
                else => break,
            }
        }
        (latencies, failed)
    });

    let mut bytes = 0u64;
    let timer = Timer::start();
    let started = Instant::now();
    for i in 0..args.records {
        if let Some(due) = pace_due(started, i, i, args.rate) {
            tokio::time::sleep_until(due.into()).await;
        }
        let record = match values.get(i) {
            StaticOrOwned::Static(v) => {
                bytes += v.len() as u64;
                Record::new(args.topic.as_str(), v)
            }
            StaticOrOwned::Owned(v) => {
                bytes += v.len() as u64;
                Record::new(args.topic.as_str(), v)
            }
        };
        let sent = Instant::now();
        let handle = producer
            .enqueue(record)
            .await
            .unwrap_or_else(|e| fail(format!("enqueue of record {i}: {e}")));
        let _ = tx.send((sent, handle));
    }
    drop(tx);
    producer
        .flush()
        .await
        .unwrap_or_else(|e| fail(format!("flush: {e}")));
    let elapsed = timer.elapsed();

    let (latencies, failed) = collector.await.expect("collector task");
    if failed > 0 {
        fail(format!("{failed} of {} records failed", args.records));
    }
    if latencies.len() != n {
        fail(format!(
            "{} acknowledgements for {n} records",
            latencies.len()
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
    let _ = producer.close().await;
}

async fn consume(args: &ConsumeArgs) {
    let kafka = connect(&args.bootstrap).await;
    let consumer = kafka
        .consumer(args.group.as_str())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_buffered_records(2000)
        .build()
        .await
        .unwrap_or_else(|e| fail(format!("creating consumer: {e}")));
    consumer
        .subscribe([args.topic.as_str()])
        .await
        .unwrap_or_else(|e| fail(format!("subscribe: {e}")));

    let (mut count, mut bytes) = (0u64, 0u64);
    let timer = Timer::start();
    match args.mode {
        Mode::Batch => {
            while count < args.records {
                match consumer.poll(Duration::from_millis(500)).await {
                    Ok(records) => {
                        for r in &records {
                            if count == args.records {
                                break;
                            }
                            bytes += r.value.as_ref().map_or(0, |v| v.len()) as u64;
                            count += 1;
                        }
                    }
                    Err(e) => eprintln!("consume error: {e}"),
                }
            }
        }
        Mode::Iter => {
            while count < args.records {
                match consumer.recv().await {
                    Ok(Some(r)) => {
                        bytes += r.value.as_ref().map_or(0, |v| v.len()) as u64;
                        count += 1;
                    }
                    Ok(None) => fail("consumer closed"),
                    Err(e) => eprintln!("consume error: {e}"),
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
    // Do not wait for the consumer's close (LeaveGroup, final commit): the
    // result is printed.
    std::process::exit(0);
}
