//! The soak's steady load: one producer sending at a fixed pace and one
//! group consumer reading the same topic, both in this process, with
//! counters only (no per-record log) so that the workload's own memory
//! stays flat and the process's growth is the client's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ferrokafka_consumer::{Consumer, ConsumerConfig};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

/// Bytes of each record's value: a typical small event.
const VALUE_BYTES: usize = 100;

/// How long the consumer may take, once the producer has stopped, to read
/// the records still on their way: a consumer that never catches up fails
/// the check instead of holding the run open.
const DRAIN: Duration = Duration::from_secs(60);

/// What the workload has done so far; read by the sampler while it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records acknowledged by the broker.
    pub produced: AtomicU64,
    /// Records whose send or delivery failed.
    pub failed: AtomicU64,
    /// Distinct records handed to the consumer, in offset order.
    pub consumed: AtomicU64,
    /// Records handed to the consumer again.
    pub duplicated: AtomicU64,
    /// Offsets the consumer skipped (records never handed to it).
    pub skipped: AtomicU64,
    /// Errors `poll` returned.
    pub poll_errors: AtomicU64,
    /// The producer has stopped and every delivery is settled: `produced`
    /// is final, and the consumer may compare with it.
    pub settled: AtomicBool,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Sends records round-robin over `partitions` partitions of `topic` at
/// `rate` records a second until `stop` is set, then waits for every
/// delivery and closes the producer.
pub async fn produce(
    bootstrap: String,
    topic: String,
    partitions: i32,
    rate: u64,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let producer = Producer::new(ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("acks", "all"),
        ("enable_idempotence", "true"),
        ("linger_ms", "5"),
    ])?)
    .await?;
    // One task awaits the deliveries in send order, rather than a task per
    // record: the tokio task count then measures the client alone.
    let (deliveries, mut pending) = mpsc::unbounded_channel();
    let acks = {
        let counters = counters.clone();
        tokio::spawn(async move {
            while let Some(delivery) = pending.recv().await {
                match delivery {
                    Some(delivery) => match delivery.await {
                        Ok(_) => Counters::add(&counters.produced, 1),
                        Err(_) => Counters::add(&counters.failed, 1),
                    },
                    None => Counters::add(&counters.failed, 1),
                }
            }
        })
    };
    let value = bytes::Bytes::from(vec![b'x'; VALUE_BYTES]);
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate.max(1) as u32);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let record = ProducerRecord::new(&topic)
            .partition((seq % partitions as u64) as i32)
            .value(value.clone());
        let _ = deliveries.send(producer.send(record).await.ok());
        seq += 1;
    }
    drop(deliveries);
    acks.await?;
    counters.settled.store(true, Ordering::Relaxed);
    producer.close(Duration::from_secs(30)).await?;
    Ok(())
}

/// Reads `topic` in group `group` until `stop` is set and every record
/// the producer had acknowledged when it settled has been read (or a
/// minute, the drain bound, has passed), counting
/// each partition's records in offset order; then closes the consumer.
pub async fn consume(
    bootstrap: String,
    topic: String,
    group: String,
    partitions: i32,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let consumer = Consumer::new(ConsumerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("group_id", group.as_str()),
        ("auto_offset_reset", "earliest"),
    ])?)
    .await?;
    consumer.subscribe(&[topic.as_str()]).await?;
    // The topic is new and its producer idempotent, so each partition's
    // offsets run 0, 1, 2, ... with no gap: the next one expected is all
    // the bookkeeping needed.
    let mut next = vec![0i64; partitions as usize];
    let mut drain_deadline = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            let deadline =
                *drain_deadline.get_or_insert_with(|| tokio::time::Instant::now() + DRAIN);
            // Records still being acknowledged when the load stopped count
            // too: the consumer waits for the producer's last delivery.
            let done = counters.settled.load(Ordering::Relaxed)
                && counters.consumed.load(Ordering::Relaxed)
                    >= counters.produced.load(Ordering::Relaxed);
            if done || tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        let Ok(records) = consumer.poll(Duration::from_millis(500)).await else {
            Counters::add(&counters.poll_errors, 1);
            // An error that repeats at once must not spin.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for record in &records {
            let Some(expected) = next.get_mut(record.partition as usize) else {
                continue;
            };
            if record.offset < *expected {
                Counters::add(&counters.duplicated, 1);
                continue;
            }
            Counters::add(&counters.skipped, (record.offset - *expected) as u64);
            Counters::add(&counters.consumed, 1);
            *expected = record.offset + 1;
        }
    }
    consumer.close(Duration::from_secs(30)).await?;
    Ok(())
}
