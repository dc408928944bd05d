//! A simulation of the idempotent producer against a model broker that
//! applies Kafka's sequence rules, over a network that delays, reorders,
//! drops requests and responses, answers retriable errors and repeats
//! responses. Whatever happens, every record is settled once (delivered or
//! failed), delivered records are in the log exactly once, the log of each
//! partition holds records in the order they were produced, nothing refused
//! for good is in the log, and no partition ever has more than five batches
//! on the wire.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use ferrokafka_producer::idempotence::{
    BatchVerdict, Idempotence, IdempotenceAction, IdempotenceConfig, ProduceOutcome, SequenceError,
    SequenceStamp, increment_sequence,
};
use ferrokafka_producer::partitioner::Xorshift;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::InitProducerIdResponse;
use proptest::prelude::*;

type Partition = i32;

#[derive(Debug, Clone)]
struct Batch {
    partition: Partition,
    records: Vec<u64>,
    stamp: Option<SequenceStamp>,
    attempts: u32,
    created: u64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    last_sequence: i32,
    /// (base sequence, record count) of the last five batches written.
    recent: VecDeque<(i32, i32)>,
}

#[derive(Debug, Default)]
struct BrokerPartition {
    log: Vec<u64>,
    producers: BTreeMap<i64, ProducerEntry>,
}

/// Kafka's checks of a produce batch's producer id, epoch and sequence.
fn broker_append(
    partition: &mut BrokerPartition,
    stamp: SequenceStamp,
    records: &[u64],
) -> ProduceOutcome {
    let count = records.len() as i32;
    let base = stamp.base_sequence;
    let refused = |error| ProduceOutcome::Refused {
        error,
        log_start_offset: 0,
    };
    let entry = partition.producers.get(&stamp.producer.producer_id);
    match entry {
        // Since KIP-360 a broker takes any first sequence from a producer
        // it has no state for (its state may have expired): a batch that
        // overtakes a refused first one is written.
        None => {}
        Some(entry) if stamp.producer.epoch < entry.epoch => {
            return refused(ErrorCode::InvalidProducerEpoch);
        }
        Some(entry) if stamp.producer.epoch > entry.epoch && base != 0 => {
            return refused(ErrorCode::OutOfOrderSequenceNumber);
        }
        Some(entry) if stamp.producer.epoch > entry.epoch => {}
        Some(entry) => {
            if entry.recent.contains(&(base, count)) {
                return refused(ErrorCode::DuplicateSequenceNumber);
            }
            if base != increment_sequence(entry.last_sequence, 1) {
                return refused(ErrorCode::OutOfOrderSequenceNumber);
            }
        }
    }
    let offset = partition.log.len() as i64;
    partition.log.extend_from_slice(records);
    let entry = partition
        .producers
        .entry(stamp.producer.producer_id)
        .or_default();
    if entry.epoch != stamp.producer.epoch {
        entry.recent.clear();
    }
    entry.epoch = stamp.producer.epoch;
    entry.last_sequence = increment_sequence(base, count - 1);
    entry.recent.push_back((base, count));
    if entry.recent.len() > 5 {
        entry.recent.pop_front();
    }
    ProduceOutcome::Written {
        base_offset: offset,
    }
}

#[derive(Debug, Clone, Copy)]
struct Faults {
    /// Per mille of requests lost before the broker.
    drop_request: u32,
    /// Per mille of responses lost after the broker wrote.
    drop_response: u32,
    /// Per mille of requests answered NOT_LEADER_OR_FOLLOWER.
    not_leader: u32,
    /// Per mille of responses delivered twice.
    duplicate_response: u32,
    /// Largest delay of a request or a response, in ticks.
    max_delay: u64,
}

const NO_FAULTS: Faults = Faults {
    drop_request: 0,
    drop_response: 0,
    not_leader: 0,
    duplicate_response: 0,
    max_delay: 3,
};

enum Event {
    /// The broker handles a request.
    Arrive {
        request: u64,
        lost_answer: bool,
        not_leader: bool,
    },
    /// The client gets an answer (or gives up on the request).
    Answer {
        request: u64,
        outcome: ProduceOutcome,
    },
    InitAnswer,
}

struct Report {
    delivered: BTreeSet<u64>,
    failed: BTreeMap<u64, SequenceError>,
    logs: BTreeMap<Partition, Vec<u64>>,
    produced: u64,
    max_on_wire: usize,
    ticks: u64,
}

/// Carries out what the machine asks for; a driver does this after every
/// event, before the next one.
fn apply_actions(
    machine: &mut Idempotence<Partition>,
    queues: &mut BTreeMap<Partition, VecDeque<Batch>>,
    events: &mut BTreeMap<u64, Vec<Event>>,
    tick: u64,
    now: Instant,
) {
    while let Some(action) = machine.poll_action(now) {
        match action {
            IdempotenceAction::SendInitProducerId(_) => {
                events.entry(tick + 2).or_default().push(Event::InitAnswer);
            }
            IdempotenceAction::RewriteBatch {
                partition,
                from,
                to,
            } => {
                let batch = queues
                    .get_mut(&partition)
                    .and_then(|q| q.iter_mut().find(|b| b.stamp == Some(from)))
                    .unwrap_or_else(|| {
                        panic!("rewrite of {from:?}: the batch must wait in the queue")
                    });
                batch.stamp = Some(to);
            }
            IdempotenceAction::EpochBumped(_) => {}
        }
    }
}

#[allow(clippy::too_many_lines)]
fn simulate(seed: u64, records: u64, partitions: i32, faults: Faults) -> Report {
    const REQUEST_TIMEOUT: u64 = 30;
    const DELIVERY_TIMEOUT: u64 = 400;
    const MAX_ATTEMPTS: u32 = 12;
    let t0 = Instant::now();
    let at = |tick: u64| t0 + Duration::from_millis(tick);
    let mut random = Xorshift::new(seed);
    let mut machine: Idempotence<Partition> = Idempotence::new(IdempotenceConfig {
        retry_backoff: Duration::from_millis(5),
        ..IdempotenceConfig::default()
    });
    let mut queues: BTreeMap<Partition, VecDeque<Batch>> = BTreeMap::new();
    let mut on_wire: BTreeMap<u64, Batch> = BTreeMap::new();
    let mut broker: BTreeMap<Partition, BrokerPartition> = BTreeMap::new();
    let mut events: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    let mut delivered = BTreeSet::new();
    let mut failed: BTreeMap<u64, SequenceError> = BTreeMap::new();
    let mut next_record = 0u64;
    let mut next_request = 0u64;
    let mut next_producer_id = 1000i64;
    let mut max_on_wire = 0usize;
    let mut tick = 0u64;
    let settle = |batch: &Batch,
                  verdict_error: Option<SequenceError>,
                  delivered: &mut BTreeSet<u64>,
                  failed: &mut BTreeMap<u64, SequenceError>| {
        for &record in &batch.records {
            assert!(
                !delivered.contains(&record) && !failed.contains_key(&record),
                "record {record} settled twice"
            );
            match &verdict_error {
                None => {
                    delivered.insert(record);
                }
                Some(error) => {
                    failed.insert(record, error.clone());
                }
            }
        }
    };
    loop {
        let now = at(tick);
        // Network and broker events due now.
        for event in events.remove(&tick).unwrap_or_default() {
            match event {
                Event::InitAnswer => {
                    next_producer_id += 1;
                    let response = InitProducerIdResponse {
                        producer_id: next_producer_id,
                        producer_epoch: 0,
                        ..InitProducerIdResponse::default()
                    };
                    machine
                        .on_init_producer_id_response(now, &response)
                        .unwrap();
                }
                Event::Arrive {
                    request,
                    lost_answer,
                    not_leader,
                } => {
                    let batch = &on_wire[&request];
                    let stamp = batch.stamp.unwrap();
                    let outcome = if not_leader {
                        ProduceOutcome::Refused {
                            error: ErrorCode::NotLeaderOrFollower,
                            log_start_offset: -1,
                        }
                    } else {
                        broker_append(
                            broker.entry(batch.partition).or_default(),
                            stamp,
                            &batch.records,
                        )
                    };
                    if lost_answer {
                        continue; // the client's timeout answers instead
                    }
                    let delay = 1 + random.below(faults.max_delay as usize) as u64;
                    events
                        .entry(tick + delay)
                        .or_default()
                        .push(Event::Answer { request, outcome });
                }
                Event::Answer { request, outcome } => {
                    let Some(mut batch) = on_wire.remove(&request) else {
                        continue; // answered already (the timeout raced a late answer)
                    };
                    let stamp = batch.stamp.unwrap();
                    let may_retry =
                        batch.attempts < MAX_ATTEMPTS && tick < batch.created + DELIVERY_TIMEOUT;
                    let verdict = machine.on_response(&batch.partition, stamp, outcome, may_retry);
                    if random.below(1000) < faults.duplicate_response as usize {
                        // The same answer again, before the batch goes out
                        // again: it must change nothing.
                        let again = machine.on_response(&batch.partition, stamp, outcome, true);
                        assert_eq!(
                            again,
                            BatchVerdict::Stale,
                            "a repeated answer must be ignored"
                        );
                    }
                    match verdict {
                        BatchVerdict::Delivered { .. } => {
                            settle(&batch, None, &mut delivered, &mut failed);
                        }
                        BatchVerdict::Failed(error) => {
                            settle(&batch, Some(error), &mut delivered, &mut failed);
                        }
                        BatchVerdict::Retry => {
                            // The accumulator change this needs: retried
                            // batches go back in sequence order.
                            let queue = queues.entry(batch.partition).or_default();
                            let position = queue
                                .iter()
                                .position(|b| {
                                    b.stamp
                                        .is_none_or(|s| s.base_sequence > stamp.base_sequence)
                                })
                                .unwrap_or(queue.len());
                            batch.stamp = Some(stamp);
                            queue.insert(position, batch);
                        }
                        BatchVerdict::Stale => panic!("a first answer must not be stale"),
                    }
                }
            }
            apply_actions(&mut machine, &mut queues, &mut events, tick, now);
        }
        // Batches waiting too long fail, oldest first, as the accumulator does.
        for queue in queues.values_mut() {
            while queue
                .front()
                .is_some_and(|b| tick >= b.created + DELIVERY_TIMEOUT)
            {
                let batch = queue.pop_front().unwrap();
                machine.on_expired(&batch.partition, batch.stamp);
                settle(
                    &batch,
                    Some(SequenceError::RetriesExhausted(None)),
                    &mut delivered,
                    &mut failed,
                );
            }
        }
        apply_actions(&mut machine, &mut queues, &mut events, tick, now);
        // New records: one to three per batch, the partition at random.
        if next_record < records && random.below(3) == 0 {
            let partition = random.below(partitions as usize) as i32;
            let count = 1 + random.below(3) as u64;
            let ids: Vec<u64> = (next_record..(next_record + count).min(records)).collect();
            next_record += ids.len() as u64;
            queues.entry(partition).or_default().push_back(Batch {
                partition,
                records: ids,
                stamp: None,
                attempts: 0,
                created: tick,
            });
        }
        // Drain the partitions the machine lets send, one batch each.
        for (partition, queue) in &mut queues {
            if queue.is_empty() || !machine.may_send(partition) {
                continue;
            }
            let mut batch = queue.pop_front().unwrap();
            if batch.stamp.is_none() {
                let assigned = machine
                    .assign_sequence(partition, batch.records.len() as i32)
                    .expect("may_send promised a sequence");
                batch.stamp = Some(SequenceStamp::from_tuple(assigned));
            }
            assert!(
                machine.on_sent(partition, batch.stamp.unwrap()),
                "the machine knows every drained batch"
            );
            batch.attempts += 1;
            let request = next_request;
            next_request += 1;
            let roll = random.below(1000) as u32;
            let delay = 1 + random.below(faults.max_delay as usize) as u64;
            if roll < faults.drop_request {
                events
                    .entry(tick + REQUEST_TIMEOUT)
                    .or_default()
                    .push(Event::Answer {
                        request,
                        outcome: ProduceOutcome::NoResponse,
                    });
            } else {
                let lost_answer = roll < faults.drop_request + faults.drop_response;
                let not_leader = !lost_answer
                    && roll < faults.drop_request + faults.drop_response + faults.not_leader;
                events.entry(tick + delay).or_default().push(Event::Arrive {
                    request,
                    lost_answer,
                    not_leader,
                });
                if lost_answer {
                    events
                        .entry(tick + REQUEST_TIMEOUT)
                        .or_default()
                        .push(Event::Answer {
                            request,
                            outcome: ProduceOutcome::NoResponse,
                        });
                }
            }
            on_wire.insert(request, batch);
        }
        for partition in queues.keys() {
            let count = on_wire
                .values()
                .filter(|b| b.partition == *partition)
                .count();
            max_on_wire = max_on_wire.max(count);
        }
        let settled = delivered.len() + failed.len();
        if next_record == records && settled as u64 == records && on_wire.is_empty() {
            break;
        }
        tick += 1;
        assert!(
            tick < 200_000,
            "the simulation stalled: {settled} of {records} settled"
        );
    }
    Report {
        delivered,
        failed,
        logs: broker.into_iter().map(|(p, b)| (p, b.log)).collect(),
        produced: next_record,
        max_on_wire,
        ticks: tick,
    }
}

fn check(report: &Report) {
    let mut in_log = BTreeSet::new();
    for (partition, log) in &report.logs {
        for pair in log.windows(2) {
            if pair[0] >= pair[1] {
                let at = |r: u64| {
                    log.iter()
                        .enumerate()
                        .filter(|(_, x)| **x == r)
                        .map(|(i, _)| i)
                        .collect::<Vec<_>>()
                };
                panic!(
                    "partition {partition}: {} written before {} (duplicate or reordered); {} at {:?}, {} at {:?}",
                    pair[0],
                    pair[1],
                    pair[0],
                    at(pair[0]),
                    pair[1],
                    at(pair[1])
                );
            }
        }
        in_log.extend(log.iter().copied());
    }
    for record in &report.delivered {
        assert!(
            in_log.contains(record),
            "record {record} reported delivered but not in the log"
        );
    }
    for (record, error) in &report.failed {
        if matches!(
            error,
            SequenceError::Refused(_) | SequenceError::InvalidProducerEpoch
        ) {
            assert!(
                !in_log.contains(record),
                "record {record} refused for good but in the log"
            );
        }
    }
    assert_eq!(
        (report.delivered.len() + report.failed.len()) as u64,
        report.produced
    );
    assert!(
        report.max_on_wire <= 5,
        "{} batches of one partition on the wire",
        report.max_on_wire
    );
}

#[test]
fn without_faults_every_record_is_delivered_once_in_order() {
    let report = simulate(7, 2000, 3, NO_FAULTS);
    check(&report);
    assert_eq!(
        report.delivered.len(),
        2000,
        "failures: {:?}",
        report.failed.values().next()
    );
    assert!(report.max_on_wire > 1, "batches were pipelined");
}

#[test]
fn reordered_requests_are_retried_into_order_without_duplicates() {
    // Long random delays reorder a partition's requests at the broker, so
    // many answers are OUT_OF_ORDER_SEQUENCE_NUMBER; all must still land.
    let report = simulate(
        11,
        1500,
        2,
        Faults {
            max_delay: 12,
            ..NO_FAULTS
        },
    );
    check(&report);
    // A retried batch goes alone, so heavy reordering slows a partition
    // down and some batches pass delivery_timeout_ms; most still land.
    assert!(
        report.delivered.len() >= 750,
        "only {} delivered",
        report.delivered.len()
    );
}

#[test]
fn lost_answers_never_lead_to_a_batch_written_twice() {
    let report = simulate(
        3,
        1500,
        2,
        Faults {
            drop_response: 150,
            ..NO_FAULTS
        },
    );
    check(&report);
    // A batch whose answer was lost and that the broker no longer remembers
    // (five later batches written) fails as "may or may not be written".
    assert!(
        report.delivered.len() >= 1100,
        "only {} delivered",
        report.delivered.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn under_any_faults_records_are_delivered_once_in_order_or_fail(
        seed in any::<u64>(),
        partitions in 1..4i32,
        drop_request in 0..200u32,
        drop_response in 0..200u32,
        not_leader in 0..200u32,
        duplicate_response in 0..300u32,
        max_delay in 1..20u64,
    ) {
        let faults = Faults { drop_request, drop_response, not_leader, duplicate_response, max_delay };
        let report = simulate(seed, 400, partitions, faults);
        check(&report);
        prop_assert!(report.ticks > 0);
    }
}
