//! The producer workloads: each sends numbered records to its own topic at
//! a steady pace while the faults run, and logs every record's fate as the
//! client saw it (acknowledged at which offset, or failed) for the checker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

/// What a producer workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerKind {
    /// acks=all, enable_idempotence=true: exactly once, in order.
    Idempotent,
    /// acks=all, enable_idempotence=false, retries: never lost, duplicates
    /// allowed (and counted).
    Retrying,
}

impl ProducerKind {
    /// The scenario's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            ProducerKind::Idempotent => "idempotent producer (acks=all)",
            ProducerKind::Retrying => "non-idempotent producer with retries (acks=all)",
        }
    }

    /// The tag in record values and topic names.
    pub fn tag(self) -> &'static str {
        match self {
            ProducerKind::Idempotent => "idem",
            ProducerKind::Retrying => "retry",
        }
    }

    /// Whether duplicates and reordering break this workload's contract.
    pub fn exactly_once_in_order(self) -> bool {
        self == ProducerKind::Idempotent
    }

    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ProducerKind::Idempotent => &[("enable_idempotence", "true")],
            ProducerKind::Retrying => &[
                ("enable_idempotence", "false"),
                ("retries", "2147483647"),
                ("max_in_flight_requests_per_connection", "5"),
            ],
        }
    }
}

/// One record as the writer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its number within the workload (also in its value).
    pub seq: u64,
    /// The partition it was sent to.
    pub partition: i32,
    /// When `send` was called, from the campaign's start.
    pub sent_at: Duration,
    /// Its fate: acknowledged at an offset, or the error.
    pub outcome: Result<i64, String>,
    /// When the fate was known, from the campaign's start.
    pub settled_at: Duration,
}

/// A workload's log.
#[derive(Debug, Clone)]
pub struct ProducerLog {
    /// Which workload.
    pub kind: ProducerKind,
    /// Its topic.
    pub topic: String,
    /// Every record sent, by `seq`.
    pub sent: Vec<Sent>,
}

/// The value of record `seq` of a workload: the checker parses it back.
pub fn value(kind: ProducerKind, seq: u64) -> String {
    format!("{}:{seq}", kind.tag())
}

/// The `seq` in a value written by `kind`, if it is one.
pub fn parse_value(kind: ProducerKind, value: &str) -> Option<u64> {
    value
        .strip_prefix(kind.tag())
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|seq| seq.parse().ok())
}

/// The producer settings every workload shares: acks=all, and timeouts
/// that ride out a fault (a request retried after 5 s, a record given up
/// after 2 minutes).
pub fn base_settings(bootstrap: &str) -> Vec<(String, String)> {
    [
        ("bootstrap_servers", bootstrap),
        ("acks", "all"),
        ("linger_ms", "5"),
        ("request_timeout_ms", "5000"),
        ("delivery_timeout_ms", "120000"),
        ("reconnect_backoff_max_ms", "500"),
        ("max_block_ms", "120000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect()
}

/// Sends records `0, 1, ...` round-robin over `partitions` partitions of
/// `topic`, one every `pace`, until `stop` is set; then waits for every
/// record's fate and closes the producer.
pub async fn run_producer(
    kind: ProducerKind,
    bootstrap: String,
    topic: String,
    partitions: i32,
    pace: Duration,
    clock: Instant,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<ProducerLog> {
    let mut settings = base_settings(&bootstrap);
    settings.extend(
        kind.settings()
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    let producer = Producer::new(ProducerConfig::from_pairs(settings)?).await?;
    let (fates, mut settled) = mpsc::unbounded_channel();
    let mut ticker = tokio::time::interval(pace);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = Vec::new();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let partition = (seq % partitions as u64) as i32;
        let record = ProducerRecord::new(&topic)
            .partition(partition)
            .value(value(kind, seq));
        let sent_at = clock.elapsed();
        match producer.send(record).await {
            Ok(delivery) => {
                let fates = fates.clone();
                tokio::spawn(async move {
                    let outcome = delivery.await.map(|m| m.offset).map_err(|e| e.to_string());
                    let _ = fates.send((seq, outcome, clock.elapsed()));
                });
            }
            Err(e) => {
                let _ = fates.send((seq, Err(e.to_string()), clock.elapsed()));
            }
        }
        sent.push(Sent {
            seq,
            partition,
            sent_at,
            outcome: Err("never settled".to_string()),
            settled_at: Duration::MAX,
        });
        seq += 1;
    }
    drop(fates);
    // Every delivery future resolves within the delivery timeout.
    while let Some((seq, outcome, at)) = settled.recv().await {
        let record = &mut sent[seq as usize];
        record.outcome = outcome;
        record.settled_at = at;
    }
    producer.close(Duration::from_secs(30)).await?;
    Ok(ProducerLog { kind, topic, sent })
}

#[cfg(test)]
mod tests {
    use super::{ProducerKind, parse_value, value};

    #[test]
    fn values_parse_back_only_for_their_workload() {
        let v = value(ProducerKind::Idempotent, 42);
        assert_eq!(parse_value(ProducerKind::Idempotent, &v), Some(42));
        assert_eq!(parse_value(ProducerKind::Retrying, &v), None);
        assert_eq!(parse_value(ProducerKind::Idempotent, "idem:x"), None);
    }
}
