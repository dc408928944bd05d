//! The transactional workload: transactions of a few records each, one in
//! four aborted on purpose, committed or aborted while the faults run (the
//! transaction coordinator killed mid-commit among them); and its checker:
//! read_committed must show every committed transaction whole and once,
//! no aborted record, and no transaction torn.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrokafka_producer::transaction::{TransactionError, TransactionState};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};

use super::checker::Found;
use super::workload::base_settings;

/// One transaction in this many is abandoned by a producer dropped
/// mid-transaction (a crashed client) and taken over by a new one.
const ABANDON_EVERY: u64 = 25;

/// Records in each transaction.
pub const RECORDS_PER_TRANSACTION: u64 = 10;
/// How long one transaction call may wait before the workload calls it
/// again (the client's contract after a timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How many timeouts in a row one commit or abort may take before the
/// workload gives the producer up (its outcome then unknown).
const CALL_ATTEMPTS: u32 = 6;

/// What became of a transaction, as the writer was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// `commit_transaction` succeeded: all its records must be visible, once.
    Committed,
    /// `abort_transaction` succeeded: none may be visible.
    Aborted,
    /// The producer was dropped mid-transaction, as a crashed process leaves
    /// it, and a new one with the same transactional id took over: the
    /// takeover aborts it, so none may be visible.
    Abandoned,
    /// The producer failed in a way that leaves the outcome unknown (fenced,
    /// a fatal error, calls that kept timing out): all or none visible.
    Unknown,
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Its number (in its records' values).
    pub number: u64,
    /// When it began, from the campaign's start.
    pub began_at: Duration,
    /// When its fate was known.
    pub settled_at: Duration,
    /// Its fate.
    pub fate: Fate,
}

/// The workload's log.
#[derive(Debug, Clone)]
pub struct TransactionLog {
    /// Its topic.
    pub topic: String,
    /// Every transaction, by number.
    pub transactions: Vec<Transaction>,
    /// Producers made because the last one failed fatally or was dropped
    /// mid-transaction.
    pub producers_replaced: u64,
}

/// The value of record `index` of transaction `number`.
pub fn value(number: u64, index: u64) -> String {
    format!("txn:{number}:{index}")
}

fn parse_value(value: &str) -> Option<(u64, u64)> {
    let mut parts = value.strip_prefix("txn:")?.split(':');
    let number = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((number, index))
}

async fn new_producer(bootstrap: &str, transactional_id: &str) -> anyhow::Result<Producer> {
    let mut settings = base_settings(bootstrap);
    settings.push(("transactional_id".into(), transactional_id.into()));
    settings.push(("transaction_timeout_ms".into(), "60000".into()));
    let producer = Producer::new(ProducerConfig::from_pairs(settings)?).await?;
    retry_timeouts(|| producer.init_transactions(CALL_TIMEOUT)).await?;
    Ok(producer)
}

/// Calls `call` again after each [`TransactionError::Timeout`], up to
/// [`CALL_ATTEMPTS`] times.
async fn retry_timeouts<F, Fut>(mut call: F) -> Result<(), TransactionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), TransactionError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(TransactionError::Timeout { .. }) if attempt < CALL_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Runs transactions on `topic` until `stop` is set.
pub async fn run(
    bootstrap: String,
    topic: String,
    partitions: i32,
    transactional_id: String,
    clock: Instant,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<TransactionLog> {
    let mut producer = new_producer(&bootstrap, &transactional_id).await?;
    let mut log = TransactionLog {
        topic: topic.clone(),
        transactions: Vec::new(),
        producers_replaced: 0,
    };
    let mut number = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let began_at = clock.elapsed();
        let fate = if number % ABANDON_EVERY == ABANDON_EVERY / 2 {
            abandon(producer, &topic, partitions, number).await;
            producer = new_producer(&bootstrap, &transactional_id).await?;
            log.producers_replaced += 1;
            Fate::Abandoned
        } else {
            one_transaction(&producer, &topic, partitions, number).await
        };
        if fate == Fate::Unknown {
            // The producer can do no more: a new one fences it and ends
            // whatever it left open.
            let _ = producer.close(Duration::from_secs(5)).await;
            producer = loop {
                match new_producer(&bootstrap, &transactional_id).await {
                    Ok(p) => break p,
                    Err(e) if !stop.load(Ordering::Relaxed) => {
                        eprintln!("chaos: a new transactional producer failed ({e}); trying again");
                    }
                    Err(e) => return Err(e.context("replacing the transactional producer")),
                }
            };
            log.producers_replaced += 1;
        }
        log.transactions.push(Transaction {
            number,
            began_at,
            settled_at: clock.elapsed(),
            fate,
        });
        number += 1;
    }
    producer.close(Duration::from_secs(30)).await?;
    Ok(log)
}

/// Sends a transaction's records and drops the producer without
/// committing, aborting or closing it: a client process killed mid-transaction.
async fn abandon(producer: Producer, topic: &str, partitions: i32, number: u64) {
    if producer.begin_transaction().is_ok() {
        for index in 0..RECORDS_PER_TRANSACTION {
            let record = ProducerRecord::new(topic)
                .partition((index % partitions as u64) as i32)
                .value(value(number, index));
            if producer.send(record).await.is_err() {
                break;
            }
        }
    }
    drop(producer);
}

async fn one_transaction(producer: &Producer, topic: &str, partitions: i32, number: u64) -> Fate {
    if producer.begin_transaction().is_err() {
        return Fate::Unknown;
    }
    let mut failed = false;
    for index in 0..RECORDS_PER_TRANSACTION {
        let record = ProducerRecord::new(topic)
            .partition((index % partitions as u64) as i32)
            .value(value(number, index));
        if producer.send(record).await.is_err() {
            failed = true;
            break;
        }
    }
    let abort_on_purpose = number % 4 == 3;
    if !failed && !abort_on_purpose {
        match retry_timeouts(|| producer.commit_transaction(CALL_TIMEOUT)).await {
            Ok(()) => return Fate::Committed,
            Err(TransactionError::Timeout { .. }) => return Fate::Unknown,
            Err(_) if producer.transaction_state() == Some(TransactionState::FatalError) => {
                return Fate::Unknown;
            }
            Err(_) => {}
        }
    }
    match retry_timeouts(|| producer.abort_transaction(CALL_TIMEOUT)).await {
        Ok(()) => Fate::Aborted,
        Err(_) => Fate::Unknown,
    }
}

/// The transactional workload's fates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionVerdict {
    /// Records sent in transactions.
    pub sent: u64,
    /// Records of committed transactions.
    pub committed: u64,
    /// Records of committed transactions read_committed did not show.
    pub lost: u64,
    /// Copies shown beyond the first.
    pub duplicated: u64,
    /// Records shown after a record of a later transaction, same partition.
    pub out_of_order: u64,
    /// Records of aborted transactions read_committed showed.
    pub aborted_seen: u64,
    /// Transactions shown in part.
    pub torn: u64,
    /// Transactions whose fate was unknown to the writer.
    pub unknown: u64,
}

impl TransactionVerdict {
    /// Whether exactly-once held.
    pub fn holds(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.aborted_seen == 0
            && self.torn == 0
    }
}

/// Judges the transactions `wanted` keeps against what read_committed
/// showed.
pub fn judge(
    log: &TransactionLog,
    found: &[Found],
    wanted: &dyn Fn(&Transaction) -> bool,
) -> TransactionVerdict {
    let mut verdict = TransactionVerdict::default();
    let mut shown: HashMap<(u64, u64), u64> = HashMap::new();
    let mut last_in_partition: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    let keep: HashMap<u64, &Transaction> = log
        .transactions
        .iter()
        .filter(|t| wanted(t))
        .map(|t| (t.number, t))
        .collect();
    for record in found {
        let Some(id) = parse_value(&record.value) else {
            continue;
        };
        let copies = shown.entry(id).or_default();
        *copies += 1;
        let counted = keep.contains_key(&id.0);
        if *copies > 1 {
            if counted {
                verdict.duplicated += 1;
            }
            continue;
        }
        let last = last_in_partition.entry(record.partition).or_insert(id);
        if id < *last {
            if counted {
                verdict.out_of_order += 1;
            }
        } else {
            *last = id;
        }
    }
    for transaction in keep.values() {
        let visible = (0..RECORDS_PER_TRANSACTION)
            .filter(|i| shown.contains_key(&(transaction.number, *i)))
            .count() as u64;
        verdict.sent += RECORDS_PER_TRANSACTION;
        if visible != 0 && visible != RECORDS_PER_TRANSACTION {
            verdict.torn += 1;
        }
        match transaction.fate {
            Fate::Committed => {
                verdict.committed += RECORDS_PER_TRANSACTION;
                verdict.lost += RECORDS_PER_TRANSACTION - visible;
            }
            Fate::Aborted | Fate::Abandoned => verdict.aborted_seen += visible,
            Fate::Unknown => verdict.unknown += 1,
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Fate, RECORDS_PER_TRANSACTION, Transaction, TransactionLog, judge, value};
    use crate::chaos::checker::Found;

    fn log(fates: &[Fate]) -> TransactionLog {
        TransactionLog {
            topic: "t".into(),
            transactions: fates
                .iter()
                .enumerate()
                .map(|(number, &fate)| Transaction {
                    number: number as u64,
                    began_at: Duration::ZERO,
                    settled_at: Duration::ZERO,
                    fate,
                })
                .collect(),
            producers_replaced: 0,
        }
    }

    fn shown(transactions: &[u64]) -> Vec<Found> {
        let mut offset = 0;
        let mut found = Vec::new();
        for &number in transactions {
            for index in 0..RECORDS_PER_TRANSACTION {
                found.push(Found {
                    partition: 0,
                    offset,
                    value: value(number, index),
                });
                offset += 1;
            }
        }
        found
    }

    #[test]
    fn committed_shown_aborted_hidden_holds() {
        let log = log(&[
            Fate::Committed,
            Fate::Aborted,
            Fate::Unknown,
            Fate::Committed,
        ]);
        let verdict = judge(&log, &shown(&[0, 2, 3]), &|_| true);
        assert!(verdict.holds(), "{verdict:?}");
        assert_eq!(verdict.committed, 2 * RECORDS_PER_TRANSACTION);
        assert_eq!(verdict.unknown, 1);
    }

    #[test]
    fn an_aborted_record_shown_and_a_torn_transaction_are_caught() {
        let log = log(&[Fate::Aborted, Fate::Committed]);
        let mut found = shown(&[0, 1]);
        found.truncate(found.len() - 1);
        let verdict = judge(&log, &found, &|_| true);
        assert_eq!(verdict.aborted_seen, RECORDS_PER_TRANSACTION);
        assert_eq!(verdict.torn, 1);
        assert_eq!(verdict.lost, 1);
        assert!(!verdict.holds());
    }

    #[test]
    fn an_abandoned_transaction_shown_is_an_aborted_read() {
        let log = log(&[Fate::Abandoned]);
        let verdict = judge(&log, &shown(&[0]), &|_| true);
        assert_eq!(verdict.aborted_seen, RECORDS_PER_TRANSACTION);
        assert!(!verdict.holds());
    }

    #[test]
    fn a_transaction_shown_twice_is_duplicated() {
        let log = log(&[Fate::Committed]);
        let verdict = judge(&log, &shown(&[0, 0]), &|_| true);
        assert_eq!(verdict.duplicated, RECORDS_PER_TRANSACTION);
    }
}
