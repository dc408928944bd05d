//! The transactional workload, a consume-transform-produce loop: a
//! read_committed consumer in a group reads the idempotent producer's
//! topic, and each poll's records, transformed, go to the output topic in
//! one transaction together with the consumed offsets (KIP-447). One
//! transaction in four is aborted on purpose, one in 25 abandoned by a
//! producer dropped mid-transaction and taken over; after an abort the
//! consumer goes back to the group's committed offsets. One commit in
//! [`TRAP_EVERY`] has its EndTxn held by the proxy past the request timeout
//! and delivered late, while the next transaction (one aborted on purpose)
//! is open. The checker: read_committed shows every committed transaction
//! whole and once, no aborted record, no transaction torn; and the output
//! is the input below the group's committed offsets, each record once, in
//! order, and nothing above them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord};
use ferrokafka_producer::transaction::{OffsetAndMetadata, TransactionError, TransactionState};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord, TopicPartition};

use tokio::sync::watch;

use super::checker::Found;
use super::proxy::EndTxnTrap;
use super::workload::base_settings;

/// One transaction in this many is abandoned by a producer dropped
/// mid-transaction (a crashed client) and taken over by a new one.
const ABANDON_EVERY: u64 = 25;
/// The producers' `client_id`: the proxy's trap holds this client's EndTxn
/// only (the campaign has other transactional clients).
const CLIENT_ID: &str = "chaos-consume-transform-produce";
/// One commit in this many has its EndTxn held by the proxy.
pub const TRAP_EVERY: u64 = 20;
/// The first such commit: early, so the CI's short run has one too.
const TRAP_FIRST: u64 = 4;
/// The transactional producer's `request_timeout_ms`: short, so that a
/// held EndTxn times out soon.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the proxy holds a trapped EndTxn: well past the request
/// timeout, so the client has retried it on another connection, had the
/// answer and begun the next transaction before the first one arrives.
pub const TRAP_HOLD: Duration = Duration::from_secs(8);
/// Records taken from one poll, at most: one transaction's input.
const MAX_POLL_RECORDS: &str = "100";
/// How long the loop may go on after the stop, for a transaction to commit.
const SETTLE: Duration = Duration::from_secs(45);
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
    /// Records it sent (one per input record).
    pub records: u64,
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
    /// The output topic.
    pub topic: String,
    /// The input topic.
    pub input_topic: String,
    /// The consumer group.
    pub group: String,
    /// Every transaction, by number.
    pub transactions: Vec<Transaction>,
    /// Producers made because the last one failed fatally or was dropped
    /// mid-transaction.
    pub producers_replaced: u64,
    /// Times the consumer went back to the committed offsets after an abort.
    pub rewinds: u64,
    /// Commits whose EndTxn the proxy held past the request timeout.
    pub end_txn_held: u64,
    /// Of those, commits that still succeeded (the client retried EndTxn
    /// until the coordinator answered).
    pub held_then_committed: u64,
    /// Held EndTxns the coordinator answered while the next transaction was
    /// open (the late-marker case).
    pub late_while_open: u64,
    /// The transaction protocol the producers ran (V1 or V2), as last seen.
    pub protocol: String,
}

/// The value of record `index` of transaction `number`, the transform of
/// the input record at `partition`/`offset` with value `input`.
pub fn value(number: u64, index: u64, partition: i32, offset: i64, input: &str) -> String {
    format!("txn:{number}:{index}:{partition}:{offset}|{input}")
}

/// An output record's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Output<'a> {
    number: u64,
    index: u64,
    partition: i32,
    offset: i64,
    input: &'a str,
}

fn parse_value(value: &str) -> Option<Output<'_>> {
    let (head, input) = value.strip_prefix("txn:")?.split_once('|')?;
    let mut parts = head.split(':');
    let output = Output {
        number: parts.next()?.parse().ok()?,
        index: parts.next()?.parse().ok()?,
        partition: parts.next()?.parse().ok()?,
        offset: parts.next()?.parse().ok()?,
        input,
    };
    parts.next().is_none().then_some(output)
}

async fn new_producer(bootstrap: &str, transactional_id: &str) -> anyhow::Result<Producer> {
    let mut settings = base_settings(bootstrap);
    settings.push(("transactional_id".into(), transactional_id.into()));
    settings.push(("client_id".into(), CLIENT_ID.into()));
    settings.push(("transaction_timeout_ms".into(), "60000".into()));
    settings.retain(|(k, _)| k != "request_timeout_ms");
    settings.push((
        "request_timeout_ms".into(),
        REQUEST_TIMEOUT.as_millis().to_string(),
    ));
    let producer = Producer::new(ProducerConfig::from_pairs(settings)?).await?;
    retry_timeouts(|| producer.init_transactions(CALL_TIMEOUT)).await?;
    Ok(producer)
}

async fn new_producer_until_stop(
    bootstrap: &str,
    transactional_id: &str,
    stop: &AtomicBool,
) -> anyhow::Result<Producer> {
    loop {
        match new_producer(bootstrap, transactional_id).await {
            Ok(p) => return Ok(p),
            Err(e) if !stop.load(Ordering::Relaxed) => {
                eprintln!("chaos: a new transactional producer failed ({e}); trying again");
            }
            Err(e) => return Err(e.context("replacing the transactional producer")),
        }
    }
}

async fn new_consumer(bootstrap: &str, group: &str, input: &str) -> anyhow::Result<Consumer> {
    let consumer = Consumer::new(ConsumerConfig::from_pairs([
        ("bootstrap_servers", bootstrap),
        ("group_id", group),
        ("auto_offset_reset", "earliest"),
        ("enable_auto_commit", "false"),
        ("isolation_level", "read_committed"),
        ("max_poll_records", MAX_POLL_RECORDS),
        ("request_timeout_ms", "10000"),
        ("session_timeout_ms", "10000"),
        ("heartbeat_interval_ms", "1000"),
    ])?)
    .await?;
    consumer.subscribe(&[input]).await?;
    Ok(consumer)
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

/// Where the workload runs.
pub struct Setup {
    /// The cluster's bootstrap servers.
    pub bootstrap: String,
    /// The topic read.
    pub input_topic: String,
    /// The topic written, with as many partitions as the input.
    pub output_topic: String,
    /// The transactional id.
    pub transactional_id: String,
    /// The consumer group.
    pub group: String,
    /// The proxies' late-EndTxn trap.
    pub trap: Arc<EndTxnTrap>,
}

/// Runs the loop until `stop` is set.
pub async fn run(
    setup: Setup,
    clock: Instant,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<TransactionLog> {
    let Setup {
        bootstrap,
        input_topic,
        output_topic,
        transactional_id,
        group,
        trap,
    } = setup;
    let mut producer = new_producer(&bootstrap, &transactional_id).await?;
    let mut consumer = new_consumer(&bootstrap, &group, &input_topic).await?;
    let mut log = TransactionLog {
        topic: output_topic.clone(),
        input_topic: input_topic.clone(),
        group: group.clone(),
        transactions: Vec::new(),
        producers_replaced: 0,
        rewinds: 0,
        end_txn_held: 0,
        held_then_committed: 0,
        late_while_open: 0,
        protocol: String::new(),
    };
    let mut number = 0u64;
    // The answered count to wait past, after a commit whose EndTxn was held.
    let mut late_pending: Option<u64> = None;
    let mut answered = trap.answered();
    // Once stopped, the loop goes on (bounded) until a transaction commits,
    // so that the last fault's recovery is measured, and a held EndTxn's
    // late arrival meets an open transaction, even at the end of a run.
    let mut stopping_since: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            let since = *stopping_since.get_or_insert_with(Instant::now);
            let settled = late_pending.is_none()
                && log
                    .transactions
                    .last()
                    .is_none_or(|t| t.fate == Fate::Committed);
            if settled || since.elapsed() > SETTLE {
                break;
            }
        }
        let stopping = stopping_since.is_some();
        let Ok(records) = consumer.poll(Duration::from_millis(500)).await else {
            // Errors under faults are expected: poll again after a pause so
            // an error that repeats at once does not spin.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if records.is_empty() {
            continue;
        }
        if let Some(protocol) = producer.transaction_protocol() {
            log.protocol = format!("{protocol:?}");
        }
        let began_at = clock.elapsed();
        let count = records.len() as u64;
        let fate = if !stopping && number % ABANDON_EVERY == ABANDON_EVERY / 2 {
            abandon(producer, &output_topic, &records, number).await;
            producer = new_producer_until_stop(&bootstrap, &transactional_id, &stop).await?;
            log.producers_replaced += 1;
            Fate::Abandoned
        } else {
            // The transaction after a held EndTxn is aborted on purpose: a
            // late COMMIT marker that ended it would show its records.
            let abort_on_purpose = (!stopping && number % 4 == 3) || late_pending.is_some();
            let trapped = !stopping && !abort_on_purpose && number % TRAP_EVERY == TRAP_FIRST;
            let late = late_pending.take();
            let held_before = trap.held();
            let answered_before = *answered.borrow();
            if trapped {
                trap.arm(TRAP_HOLD, CLIENT_ID);
            }
            let (fate, late_seen) = one_transaction(
                &producer,
                &consumer,
                &output_topic,
                &records,
                number,
                abort_on_purpose,
                late.map(|before| (&mut answered, before)),
            )
            .await;
            if late_seen {
                eprintln!(
                    "chaos: {:>6.1}s   transaction {number}: the held EndTxn was answered while it was open",
                    clock.elapsed().as_secs_f64()
                );
                log.late_while_open += 1;
            }
            if trapped {
                trap.disarm();
                if trap.held() > held_before {
                    eprintln!(
                        "chaos: {:>6.1}s   transaction {number}: its EndTxn held {}s past the \
                         request timeout; {fate:?} after {:.1}s",
                        clock.elapsed().as_secs_f64(),
                        TRAP_HOLD.as_secs(),
                        clock.elapsed().saturating_sub(began_at).as_secs_f64()
                    );
                    log.end_txn_held += 1;
                    if fate == Fate::Committed {
                        log.held_then_committed += 1;
                    }
                    // A commit slower than the hold (a fault on top) saw
                    // the held EndTxn answered already: nothing is late.
                    if *answered.borrow() == answered_before {
                        late_pending = Some(answered_before);
                    }
                }
            }
            fate
        };
        if fate == Fate::Unknown {
            // The producer can do no more: a new one fences it and ends
            // whatever it left open.
            let _ = producer.close(Duration::from_secs(5)).await;
            producer = new_producer_until_stop(&bootstrap, &transactional_id, &stop).await?;
            log.producers_replaced += 1;
        }
        if fate != Fate::Committed {
            log.rewinds += 1;
            if !rewind(&consumer).await {
                // Its positions are unknown: a new member starts from the
                // committed offsets.
                let _ = consumer.close(Duration::from_secs(5)).await;
                consumer = loop {
                    match new_consumer(&bootstrap, &group, &input_topic).await {
                        Ok(c) => break c,
                        Err(e) if !stop.load(Ordering::Relaxed) => {
                            eprintln!(
                                "chaos: a new transactional consumer failed ({e}); trying again"
                            );
                        }
                        Err(e) => return Err(e.context("replacing the consumer")),
                    }
                };
            }
        }
        log.transactions.push(Transaction {
            number,
            records: count,
            began_at,
            settled_at: clock.elapsed(),
            fate,
        });
        number += 1;
    }
    trap.disarm();
    let _ = consumer.close(Duration::from_secs(10)).await;
    producer.close(Duration::from_secs(30)).await?;
    Ok(log)
}

/// Moves the consumer back to the group's committed offsets (the records
/// of the transaction that did not commit are read again); false when they
/// could not be had.
async fn rewind(consumer: &Consumer) -> bool {
    let assignment = consumer.assignment();
    let Ok(committed) = consumer.committed(&assignment).await else {
        return false;
    };
    for partition in &assignment {
        let moved = match committed.get(partition) {
            Some(Some(offset)) => consumer.seek(partition, offset.offset).await,
            _ => {
                consumer
                    .seek_to_beginning(std::slice::from_ref(partition))
                    .await
            }
        };
        if moved.is_err() {
            return false;
        }
    }
    true
}

fn output_record(topic: &str, record: &ConsumerRecord, number: u64, index: u64) -> ProducerRecord {
    let input = record
        .value
        .as_ref()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    ProducerRecord::new(topic)
        .partition(record.partition)
        .value(value(
            number,
            index,
            record.partition,
            record.offset,
            &input,
        ))
}

/// The next offset to read of every partition `records` came from.
fn next_offsets(records: &[ConsumerRecord]) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
    let mut offsets = BTreeMap::new();
    for record in records {
        let next = OffsetAndMetadata::new(record.offset + 1);
        offsets
            .entry(TopicPartition::new(
                record.topic.to_string(),
                record.partition,
            ))
            .and_modify(|o: &mut OffsetAndMetadata| {
                if o.offset < next.offset {
                    *o = next.clone();
                }
            })
            .or_insert(next);
    }
    offsets
}

/// Sends a transaction's records and drops the producer without
/// committing, aborting or closing it: a client process killed mid-transaction.
async fn abandon(producer: Producer, topic: &str, records: &[ConsumerRecord], number: u64) {
    if producer.begin_transaction().is_ok() {
        for (index, record) in records.iter().enumerate() {
            if producer
                .send(output_record(topic, record, number, index as u64))
                .await
                .is_err()
            {
                break;
            }
        }
    }
    drop(producer);
}

/// One transaction of `records`; with `late` (the trap's answered count
/// and the count before a held EndTxn), it stays open until that EndTxn
/// was answered, and says whether it was.
async fn one_transaction(
    producer: &Producer,
    consumer: &Consumer,
    topic: &str,
    records: &[ConsumerRecord],
    number: u64,
    abort_on_purpose: bool,
    late: Option<(&mut watch::Receiver<u64>, u64)>,
) -> (Fate, bool) {
    if producer.begin_transaction().is_err() {
        return (Fate::Unknown, false);
    }
    let mut failed = false;
    let mut deliveries = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let Ok(delivery) = producer
            .send(output_record(topic, record, number, index as u64))
            .await
        else {
            failed = true;
            break;
        };
        deliveries.push(delivery);
    }
    if !failed {
        match consumer.group_metadata().await {
            Some(group) => {
                failed = producer
                    .send_offsets_to_transaction(next_offsets(records), group)
                    .await
                    .is_err();
            }
            None => failed = true,
        }
    }
    if !failed && abort_on_purpose {
        // Every record is written (uncommitted) before the transaction ends.
        for delivery in deliveries {
            if delivery.await.is_err() {
                break;
            }
        }
    }
    let mut late_seen = false;
    if let Some((answered, before)) = late {
        let waited = tokio::time::timeout(
            TRAP_HOLD + Duration::from_secs(30),
            answered.wait_for(|n| *n > before),
        )
        .await;
        late_seen = matches!(waited, Ok(Ok(_)));
    }
    if !failed && !abort_on_purpose {
        match retry_timeouts(|| producer.commit_transaction(CALL_TIMEOUT)).await {
            Ok(()) => return (Fate::Committed, late_seen),
            Err(TransactionError::Timeout { .. }) => return (Fate::Unknown, late_seen),
            Err(_) if producer.transaction_state() == Some(TransactionState::FatalError) => {
                return (Fate::Unknown, late_seen);
            }
            Err(_) => {}
        }
    }
    let fate = match retry_timeouts(|| producer.abort_transaction(CALL_TIMEOUT)).await {
        Ok(()) => Fate::Aborted,
        Err(_) => Fate::Unknown,
    };
    (fate, late_seen)
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
        let Some(output) = parse_value(&record.value) else {
            continue;
        };
        let id = (output.number, output.index);
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
        let visible = (0..transaction.records)
            .filter(|i| shown.contains_key(&(transaction.number, *i)))
            .count() as u64;
        verdict.sent += transaction.records;
        if visible != 0 && visible != transaction.records {
            verdict.torn += 1;
        }
        match transaction.fate {
            Fate::Committed => {
                verdict.committed += transaction.records;
                verdict.lost += transaction.records - visible;
            }
            Fate::Aborted | Fate::Abandoned => verdict.aborted_seen += visible,
            Fate::Unknown => verdict.unknown += 1,
        }
    }
    verdict
}

/// The loop's end-to-end fates: the output against the input and the
/// group's committed offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowVerdict {
    /// Input records below the group's committed offsets: each must be in
    /// the output once.
    pub consumed: u64,
    /// Of those, the ones the output lacks.
    pub lost: u64,
    /// Input records in the output more than once (copies beyond the first,
    /// from distinct output records: processed twice).
    pub duplicated: u64,
    /// Output records that came after the output of a later input record
    /// of the same partition.
    pub out_of_order: u64,
    /// Output records of input at or above the committed offset (committed
    /// output whose offsets were not), or of input that is not there, or
    /// whose value is not the transform of the input's.
    pub mismatched: u64,
}

impl FlowVerdict {
    /// Whether exactly-once held end to end.
    pub fn holds(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0 && self.mismatched == 0
    }
}

/// Judges the output (`found`, read_committed) against the input (`input`,
/// as the independent reader found it) and the group's committed offsets
/// per input partition.
pub fn judge_flow(input: &[Found], found: &[Found], committed: &BTreeMap<i32, i64>) -> FlowVerdict {
    let mut verdict = FlowVerdict::default();
    let inputs: HashMap<(i32, i64), &str> = input
        .iter()
        .map(|r| ((r.partition, r.offset), r.value.as_str()))
        .collect();
    let mut seen_outputs: HashSet<(u64, u64)> = HashSet::new();
    let mut copies: HashMap<(i32, i64), u64> = HashMap::new();
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    for record in found {
        let Some(output) = parse_value(&record.value) else {
            verdict.mismatched += 1;
            continue;
        };
        // A copy of one output record is the transaction check's duplicate.
        if !seen_outputs.insert((output.number, output.index)) {
            continue;
        }
        let key = (output.partition, output.offset);
        let below = committed
            .get(&output.partition)
            .is_some_and(|c| output.offset < *c);
        if !below || output.partition != record.partition || inputs.get(&key) != Some(&output.input)
        {
            verdict.mismatched += 1;
        }
        let n = copies.entry(key).or_default();
        *n += 1;
        if *n > 1 {
            verdict.duplicated += 1;
            continue;
        }
        let last = last_offset.entry(output.partition).or_insert(output.offset);
        if output.offset < *last {
            verdict.out_of_order += 1;
        } else {
            *last = output.offset;
        }
    }
    for record in input {
        if committed
            .get(&record.partition)
            .is_some_and(|c| record.offset < *c)
        {
            verdict.consumed += 1;
            if !copies.contains_key(&(record.partition, record.offset)) {
                verdict.lost += 1;
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::{Fate, Transaction, TransactionLog, judge, judge_flow, value};
    use crate::chaos::checker::Found;

    const RECORDS: u64 = 3;

    fn log(fates: &[Fate]) -> TransactionLog {
        TransactionLog {
            topic: "out".into(),
            input_topic: "in".into(),
            group: "g".into(),
            transactions: fates
                .iter()
                .enumerate()
                .map(|(number, &fate)| Transaction {
                    number: number as u64,
                    records: RECORDS,
                    began_at: Duration::ZERO,
                    settled_at: Duration::ZERO,
                    fate,
                })
                .collect(),
            producers_replaced: 0,
            rewinds: 0,
            end_txn_held: 0,
            held_then_committed: 0,
            late_while_open: 0,
            protocol: String::new(),
        }
    }

    fn input(count: i64) -> Vec<Found> {
        (0..count)
            .map(|offset| Found {
                partition: 0,
                offset,
                value: format!("idem:{offset}"),
            })
            .collect()
    }

    /// The output of transactions, each of [`RECORDS`] input records from
    /// `first_input` on.
    fn shown(transactions: &[(u64, i64)]) -> Vec<Found> {
        let mut offset = 0;
        let mut found = Vec::new();
        for &(number, first_input) in transactions {
            for index in 0..RECORDS {
                let input_offset = first_input + index as i64;
                found.push(Found {
                    partition: 0,
                    offset,
                    value: value(
                        number,
                        index,
                        0,
                        input_offset,
                        &format!("idem:{input_offset}"),
                    ),
                });
                offset += 1;
            }
        }
        found
    }

    fn committed(offset: i64) -> BTreeMap<i32, i64> {
        BTreeMap::from([(0, offset)])
    }

    #[test]
    fn committed_shown_aborted_hidden_holds() {
        let log = log(&[
            Fate::Committed,
            Fate::Aborted,
            Fate::Unknown,
            Fate::Committed,
        ]);
        // 1 aborted and 2 of unknown outcome took input 3..6; 2 shows it.
        let output = shown(&[(0, 0), (2, 3), (3, 6)]);
        let verdict = judge(&log, &output, &|_| true);
        assert!(verdict.holds(), "{verdict:?}");
        assert_eq!(verdict.committed, 2 * RECORDS);
        assert_eq!(verdict.unknown, 1);
        let flow = judge_flow(&input(12), &output, &committed(9));
        assert!(flow.holds(), "{flow:?}");
        assert_eq!(flow.consumed, 9);
    }

    #[test]
    fn an_aborted_record_shown_and_a_torn_transaction_are_caught() {
        let log = log(&[Fate::Aborted, Fate::Committed]);
        let mut found = shown(&[(0, 0), (1, 0)]);
        found.truncate(found.len() - 1);
        let verdict = judge(&log, &found, &|_| true);
        assert_eq!(verdict.aborted_seen, RECORDS);
        assert_eq!(verdict.torn, 1);
        assert_eq!(verdict.lost, 1);
        assert!(!verdict.holds());
        let flow = judge_flow(&input(3), &found, &committed(3));
        assert_eq!(flow.duplicated, RECORDS - 1, "input processed twice");
    }

    #[test]
    fn an_abandoned_transaction_shown_is_an_aborted_read() {
        let log = log(&[Fate::Abandoned]);
        let verdict = judge(&log, &shown(&[(0, 0)]), &|_| true);
        assert_eq!(verdict.aborted_seen, RECORDS);
        assert!(!verdict.holds());
    }

    #[test]
    fn a_transaction_shown_twice_is_duplicated() {
        let log = log(&[Fate::Committed]);
        let verdict = judge(&log, &shown(&[(0, 0), (0, 0)]), &|_| true);
        assert_eq!(verdict.duplicated, RECORDS);
    }

    #[test]
    fn input_lost_out_of_order_or_beyond_the_committed_offsets_is_caught() {
        let output = shown(&[(0, 0), (1, 6)]);
        // 3..6 skipped.
        let flow = judge_flow(&input(9), &output, &committed(9));
        assert_eq!(flow.lost, 3);
        assert!(!flow.holds());
        // Output committed but the offsets not.
        let flow = judge_flow(&input(9), &output, &committed(3));
        assert_eq!(flow.mismatched, 3);
        // 3..6 after 6..9.
        let flow = judge_flow(&input(9), &shown(&[(0, 0), (1, 6), (2, 3)]), &committed(9));
        assert_eq!(flow.out_of_order, 3);
        // A transform that does not match the input.
        let mut output = shown(&[(0, 0)]);
        output[1].value = value(0, 1, 0, 1, "idem:77");
        let flow = judge_flow(&input(3), &output, &committed(3));
        assert_eq!(flow.mismatched, 1);
    }
}
