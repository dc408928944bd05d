//! The transaction state machine driven through whole transactions against
//! scripted coordinator answers.

use std::time::{Duration, Instant};

use ferrokafka_producer::idempotence::{BatchVerdict, ProduceOutcome, SequenceStamp};
use ferrokafka_producer::transaction::{
    GroupIdentity, OffsetAndMetadata, TransactionConfig, TransactionError, TransactionEvent,
    TransactionOperation, TransactionProtocol, TransactionRequest, TransactionResponse,
    TransactionState, Transactions,
};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use ferrokafka_protocol::messages::find_coordinator_response::Coordinator;
use ferrokafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use ferrokafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
    InitProducerIdResponse, TxnOffsetCommitResponse,
};

type Partition = (String, i32);

fn tp(topic: &str, partition: i32) -> Partition {
    (topic.to_string(), partition)
}

fn found(key: &str, node: i32) -> TransactionResponse {
    TransactionResponse::FindCoordinator(FindCoordinatorResponse {
        coordinators: vec![Coordinator {
            key: key.to_string(),
            node_id: node,
            ..Coordinator::default()
        }],
        ..FindCoordinatorResponse::default()
    })
}

fn init_ok(producer_id: i64, epoch: i16) -> TransactionResponse {
    TransactionResponse::InitProducerId(InitProducerIdResponse {
        producer_id,
        producer_epoch: epoch,
        ..InitProducerIdResponse::default()
    })
}

fn end_txn(error: ErrorCode) -> TransactionResponse {
    TransactionResponse::EndTxn(EndTxnResponse {
        error_code: error.code(),
        ..EndTxnResponse::default()
    })
}

fn added(partitions: &[(&str, i32, ErrorCode)]) -> TransactionResponse {
    TransactionResponse::AddPartitionsToTxn(AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: partitions
            .iter()
            .map(|(topic, partition, error)| AddPartitionsToTxnTopicResult {
                name: (*topic).to_string(),
                results_by_partition: vec![AddPartitionsToTxnPartitionResult {
                    partition_index: *partition,
                    partition_error_code: error.code(),
                    ..AddPartitionsToTxnPartitionResult::default()
                }],
                ..AddPartitionsToTxnTopicResult::default()
            })
            .collect(),
        ..AddPartitionsToTxnResponse::default()
    })
}

/// A machine through init_transactions: FindCoordinator, then InitProducerId.
fn initialized(now: Instant) -> Transactions<Partition> {
    let mut txn = Transactions::new(TransactionConfig::new("tx-1"));
    txn.init_transactions().unwrap();
    assert_eq!(txn.state(), TransactionState::Initializing);
    let Some(TransactionRequest::FindCoordinator { key, .. }) = txn.poll_request(now, false) else {
        panic!("the coordinator is looked up first");
    };
    assert_eq!(key, "tx-1");
    assert_eq!(txn.poll_request(now, false), None, "one request at a time");
    txn.on_response(now, found("tx-1", 3));
    let Some(TransactionRequest::InitProducerId { node: 3, request }) =
        txn.poll_request(now, false)
    else {
        panic!("InitProducerId goes to the coordinator");
    };
    assert_eq!(request.transactional_id.as_deref(), Some("tx-1"));
    assert_eq!(request.transaction_timeout_ms, 60_000);
    txn.on_response(now, init_ok(42, 0));
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::InitTransactions,
            result: Ok(())
        })
    );
    txn
}

#[test]
fn illegal_calls_are_typed_errors() {
    let mut txn: Transactions<Partition> = Transactions::new(TransactionConfig::new("tx"));
    assert!(matches!(
        txn.add_partition(&tp("t", 0)),
        Err(TransactionError::InvalidState {
            operation: "send",
            state: TransactionState::Uninitialized
        })
    ));
    assert!(matches!(
        txn.begin_transaction(),
        Err(TransactionError::InvalidState { .. })
    ));
    let now = Instant::now();
    let mut txn = initialized(now);
    assert!(matches!(
        txn.commit_transaction(),
        Err(TransactionError::InvalidState {
            operation: "commit_transaction",
            state: TransactionState::Ready
        })
    ));
    txn.begin_transaction().unwrap();
    assert!(matches!(
        txn.begin_transaction(),
        Err(TransactionError::InvalidState {
            operation: "begin_transaction",
            state: TransactionState::InTransaction
        })
    ));
    assert!(matches!(
        txn.init_transactions(),
        Err(TransactionError::InvalidState { .. })
    ));
}

#[test]
fn a_committed_transaction_adds_partitions_in_one_wave_then_ends_after_the_flush() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    txn.add_partition(&tp("a", 1)).unwrap();
    txn.add_partition(&tp("b", 0)).unwrap();
    assert!(
        !txn.may_send(&tp("a", 0)),
        "not before AddPartitionsToTxn succeeds"
    );
    let Some(TransactionRequest::AddPartitionsToTxn { node: 3, request }) =
        txn.poll_request(now, true)
    else {
        panic!("one AddPartitionsToTxn for the wave");
    };
    assert_eq!(request.v3_and_below_producer_id, 42);
    let names: Vec<(String, Vec<i32>)> = request
        .v3_and_below_topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.clone()))
        .collect();
    assert_eq!(
        names,
        [("a".to_string(), vec![0, 1]), ("b".to_string(), vec![0])]
    );
    txn.on_response(
        now,
        added(&[
            ("a", 0, ErrorCode::None),
            ("a", 1, ErrorCode::None),
            ("b", 0, ErrorCode::None),
        ]),
    );
    assert!(txn.may_send(&tp("a", 0)));
    let stamp = txn
        .idempotence_mut()
        .assign_sequence(&tp("a", 0), 3)
        .unwrap();
    assert_eq!(stamp, (42, 0, 0));
    let stamp = SequenceStamp::from_tuple(stamp);
    txn.idempotence_mut().on_sent(&tp("a", 0), stamp);
    txn.commit_transaction().unwrap();
    assert_eq!(
        txn.poll_request(now, true),
        None,
        "EndTxn waits for the flush"
    );
    let verdict = txn.idempotence_mut().on_response(
        &tp("a", 0),
        stamp,
        ProduceOutcome::Written { base_offset: 7 },
        true,
    );
    assert_eq!(verdict, BatchVerdict::Delivered { duplicate: false });
    let Some(TransactionRequest::EndTxn { node: 3, request }) = txn.poll_request(now, false) else {
        panic!("EndTxn after the flush");
    };
    assert!(request.committed);
    txn.on_response(now, end_txn(ErrorCode::None));
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::Commit,
            result: Ok(())
        })
    );
}

#[test]
fn coordinator_errors_retry_or_look_the_coordinator_up_again() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert!(txn.poll_request(now, false).is_some());
    txn.on_response(now, added(&[("a", 0, ErrorCode::ConcurrentTransactions)]));
    assert_eq!(txn.poll_request(now, false), None, "backing off");
    let soon = now + Duration::from_millis(20);
    assert!(
        matches!(
            txn.poll_request(soon, false),
            Some(TransactionRequest::AddPartitionsToTxn { .. })
        ),
        "the first add of a transaction retries after 20 ms"
    );
    txn.on_response(soon, added(&[("a", 0, ErrorCode::NotCoordinator)]));
    let later = soon + Duration::from_millis(100);
    assert!(matches!(
        txn.poll_request(later, false),
        Some(TransactionRequest::FindCoordinator { .. })
    ));
    txn.on_response(later, found("tx-1", 5));
    assert!(matches!(
        txn.poll_request(later, false),
        Some(TransactionRequest::AddPartitionsToTxn { node: 5, .. })
    ));
    txn.on_response(later, added(&[("a", 0, ErrorCode::None)]));
    assert!(txn.may_send(&tp("a", 0)));
}

#[test]
fn fencing_is_fatal_and_every_call_says_so() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, added(&[("a", 0, ErrorCode::ProducerFenced)]));
    assert_eq!(txn.state(), TransactionState::FatalError);
    assert_eq!(txn.last_error(), Some(&TransactionError::ProducerFenced));
    assert!(matches!(
        txn.abort_transaction(),
        Err(TransactionError::Earlier(_))
    ));
    assert!(!txn.may_send(&tp("a", 0)));
}

#[test]
fn a_refused_batch_makes_the_transaction_abortable_and_abort_bumps_the_epoch() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, added(&[("a", 0, ErrorCode::None)]));
    let stamp = SequenceStamp::from_tuple(
        txn.idempotence_mut()
            .assign_sequence(&tp("a", 0), 1)
            .unwrap(),
    );
    txn.idempotence_mut().on_sent(&tp("a", 0), stamp);
    let verdict = txn.idempotence_mut().on_response(
        &tp("a", 0),
        stamp,
        ProduceOutcome::Refused {
            error: ErrorCode::MessageTooLarge,
            log_start_offset: -1,
        },
        true,
    );
    assert!(matches!(verdict, BatchVerdict::Failed(_)));
    txn.commit_transaction().unwrap_err();
    assert_eq!(txn.state(), TransactionState::AbortableError);
    assert!(
        txn.unsent_batch_error().is_some(),
        "queued batches fail instead of going out"
    );
    txn.abort_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { request, .. }) = txn.poll_request(now, false) else {
        panic!("EndTxn(abort)");
    };
    assert!(!request.committed);
    txn.on_response(now, end_txn(ErrorCode::None));
    assert_eq!(txn.state(), TransactionState::Initializing);
    let Some(TransactionRequest::InitProducerId { request, .. }) = txn.poll_request(now, false)
    else {
        panic!("KIP-360: InitProducerId with the current id and epoch");
    };
    assert_eq!((request.producer_id, request.producer_epoch), (42, 0));
    txn.on_response(now, init_ok(42, 1));
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::Abort,
            result: Ok(())
        })
    );
    assert_eq!(
        txn.idempotence().next_sequence(&tp("a", 0)),
        0,
        "sequences start over"
    );
}

#[test]
fn offsets_go_to_the_transaction_then_to_the_group_coordinator_with_member_metadata() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.begin_transaction().unwrap();
    let group = GroupIdentity {
        group_id: "g".to_string(),
        generation: 7,
        member_id: "m-1".to_string(),
        group_instance_id: Some("i-1".to_string()),
    };
    txn.send_offsets_to_transaction(
        vec![(
            tp("in", 2),
            OffsetAndMetadata {
                offset: 99,
                leader_epoch: Some(4),
                metadata: String::new(),
            },
        )],
        group,
    )
    .unwrap();
    let Some(TransactionRequest::AddOffsetsToTxn { request, .. }) = txn.poll_request(now, false)
    else {
        panic!("AddOffsetsToTxn first (V1)");
    };
    assert_eq!(request.group_id, "g");
    txn.on_response(
        now,
        TransactionResponse::AddOffsetsToTxn(AddOffsetsToTxnResponse::default()),
    );
    assert!(
        matches!(txn.poll_request(now, false), Some(TransactionRequest::FindCoordinator { key, .. }) if key == "g")
    );
    txn.on_response(now, found("g", 8));
    let Some(TransactionRequest::TxnOffsetCommit { node: 8, request }) =
        txn.poll_request(now, false)
    else {
        panic!("TxnOffsetCommit to the group coordinator");
    };
    assert_eq!(
        (
            request.generation_id_or_member_epoch,
            request.member_id.as_str()
        ),
        (7, "m-1")
    );
    assert_eq!(request.group_instance_id.as_deref(), Some("i-1"));
    assert_eq!(request.topics[0].partitions[0].committed_offset, 99);
    assert_eq!(request.topics[0].partitions[0].committed_leader_epoch, 4);
    txn.on_response(
        now,
        TransactionResponse::TxnOffsetCommit(TxnOffsetCommitResponse {
            topics: vec![TxnOffsetCommitResponseTopic {
                name: "in".to_string(),
                partitions: vec![TxnOffsetCommitResponsePartition {
                    partition_index: 2,
                    error_code: ErrorCode::IllegalGeneration.code(),
                    ..TxnOffsetCommitResponsePartition::default()
                }],
                ..TxnOffsetCommitResponseTopic::default()
            }],
            ..TxnOffsetCommitResponse::default()
        }),
    );
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::SendOffsets,
            result: Err(TransactionError::CommitFailed(ErrorCode::IllegalGeneration))
        })
    );
    assert_eq!(txn.state(), TransactionState::AbortableError);
}

#[test]
fn protocol_v2_adds_partitions_through_produce_and_takes_the_epoch_from_end_txn() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.set_protocol(TransactionProtocol::V2);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert!(
        txn.may_send(&tp("a", 0)),
        "Produce v12 adds the partition itself"
    );
    txn.commit_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { .. }) = txn.poll_request(now, false) else {
        panic!("no AddPartitionsToTxn with V2");
    };
    txn.on_response(
        now,
        TransactionResponse::EndTxn(EndTxnResponse {
            producer_id: 42,
            producer_epoch: 1,
            ..EndTxnResponse::default()
        }),
    );
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(txn.producer_id_and_epoch().epoch, 1);
}

#[test]
fn ending_an_empty_transaction_sends_nothing() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.begin_transaction().unwrap();
    txn.abort_transaction().unwrap();
    assert_eq!(txn.poll_request(now, false), None);
    assert_eq!(txn.state(), TransactionState::Ready);
}

fn end_txn_with_epoch(producer_id: i64, epoch: i16) -> TransactionResponse {
    TransactionResponse::EndTxn(EndTxnResponse {
        producer_id,
        producer_epoch: epoch,
        ..EndTxnResponse::default()
    })
}

/// A machine through init_transactions whose coordinator reported
/// `transaction.version` 2 with its InitProducerId answer.
fn initialized_v2(now: Instant) -> Transactions<Partition> {
    let mut txn = Transactions::new(TransactionConfig::new("tx-2"));
    txn.init_transactions().unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, found("tx-2", 3));
    let Some(TransactionRequest::InitProducerId { .. }) = txn.poll_request(now, false) else {
        panic!("InitProducerId");
    };
    txn.on_transaction_version(Some(7), true);
    assert_eq!(
        txn.protocol(),
        TransactionProtocol::V1,
        "not before the answer"
    );
    txn.on_response(now, init_ok(42, 0));
    assert_eq!(txn.protocol(), TransactionProtocol::V2);
    txn.poll_event().unwrap();
    txn
}

/// Sends one batch of `partition` and has it delivered; returns its stamp.
fn deliver(txn: &mut Transactions<Partition>, partition: &Partition) -> (i64, i16, i32) {
    assert!(txn.may_send(partition));
    let stamp = txn.idempotence_mut().assign_sequence(partition, 2).unwrap();
    let sequence_stamp = SequenceStamp::from_tuple(stamp);
    txn.idempotence_mut().on_sent(partition, sequence_stamp);
    let verdict = txn.idempotence_mut().on_response(
        partition,
        sequence_stamp,
        ProduceOutcome::Written { base_offset: 0 },
        true,
    );
    assert!(
        matches!(verdict, BatchVerdict::Delivered { .. }),
        "{verdict:?}"
    );
    stamp
}

#[test]
fn v2_sends_no_add_requests_adopts_the_end_txn_epoch_and_restarts_sequences() {
    let now = Instant::now();
    let mut txn = initialized_v2(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert_eq!(txn.poll_request(now, false), None, "no AddPartitionsToTxn");
    assert_eq!(deliver(&mut txn, &tp("a", 0)), (42, 0, 0));
    assert_eq!(deliver(&mut txn, &tp("a", 0)), (42, 0, 2));
    txn.send_offsets_to_transaction(
        vec![(tp("in", 0), OffsetAndMetadata::new(5))],
        GroupIdentity::without_member("g"),
    )
    .unwrap();
    let Some(TransactionRequest::FindCoordinator { key, .. }) = txn.poll_request(now, false) else {
        panic!("the group coordinator, no AddOffsetsToTxn");
    };
    assert_eq!(key, "g");
    txn.on_response(now, found("g", 4));
    let Some(TransactionRequest::TxnOffsetCommit { node: 4, request }) =
        txn.poll_request(now, false)
    else {
        panic!("TxnOffsetCommit straight away");
    };
    assert_eq!((request.producer_id, request.producer_epoch), (42, 0));
    txn.on_response(
        now,
        TransactionResponse::TxnOffsetCommit(TxnOffsetCommitResponse {
            topics: vec![TxnOffsetCommitResponseTopic {
                name: "in".into(),
                partitions: vec![TxnOffsetCommitResponsePartition {
                    partition_index: 0,
                    ..TxnOffsetCommitResponsePartition::default()
                }],
                ..TxnOffsetCommitResponseTopic::default()
            }],
            ..TxnOffsetCommitResponse::default()
        }),
    );
    assert!(matches!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::SendOffsets,
            result: Ok(())
        })
    ));
    txn.commit_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { node: 3, request }) = txn.poll_request(now, false) else {
        panic!("EndTxn");
    };
    assert_eq!((request.producer_id, request.producer_epoch), (42, 0));
    txn.on_response(now, end_txn_with_epoch(42, 1));
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(txn.producer_id_and_epoch().epoch, 1);
    assert_eq!(txn.poll_request(now, false), None, "no InitProducerId");

    // The next transaction writes with the new epoch from sequence 0.
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert_eq!(deliver(&mut txn, &tp("a", 0)), (42, 1, 0));
    txn.commit_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { request, .. }) = txn.poll_request(now, false) else {
        panic!("EndTxn");
    };
    assert_eq!(request.producer_epoch, 1);
    // The epoch would overflow: the coordinator hands out a new producer id.
    txn.on_response(now, end_txn_with_epoch(77, 0));
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert_eq!(deliver(&mut txn, &tp("a", 0)), (77, 0, 0));
}

#[test]
fn v2_aborts_after_an_abortable_error_without_init_producer_id() {
    let now = Instant::now();
    let mut txn = initialized_v2(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    let stamp = SequenceStamp::from_tuple(
        txn.idempotence_mut()
            .assign_sequence(&tp("a", 0), 1)
            .unwrap(),
    );
    txn.idempotence_mut().on_sent(&tp("a", 0), stamp);
    txn.idempotence_mut().on_response(
        &tp("a", 0),
        stamp,
        ProduceOutcome::Refused {
            error: ErrorCode::TransactionAbortable,
            log_start_offset: -1,
        },
        true,
    );
    txn.commit_transaction().unwrap_err();
    assert_eq!(txn.state(), TransactionState::AbortableError);
    txn.abort_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { request, .. }) = txn.poll_request(now, false) else {
        panic!("EndTxn(abort)");
    };
    assert!(!request.committed);
    // The coordinator's bump fences the failed batch: nothing else is due.
    txn.on_response(now, end_txn_with_epoch(42, 1));
    assert_eq!(txn.poll_request(now, false), None);
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::Abort,
            result: Ok(())
        })
    );
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert_eq!(deliver(&mut txn, &tp("a", 0)), (42, 1, 0));
}

#[test]
fn v2_fencing_and_transaction_abortable_at_end_txn() {
    let now = Instant::now();
    let mut txn = initialized_v2(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    txn.commit_transaction().unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, end_txn(ErrorCode::TransactionAbortable));
    assert_eq!(txn.state(), TransactionState::AbortableError);
    txn.abort_transaction().unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, end_txn(ErrorCode::ProducerFenced));
    assert_eq!(txn.state(), TransactionState::FatalError);
    assert!(txn.last_error().unwrap().is_fenced());
}

#[test]
fn a_coordinator_that_goes_to_v2_takes_effect_after_one_epoch_bump() {
    let now = Instant::now();
    let mut txn = initialized(now);
    txn.on_transaction_version(Some(1), false);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    let Some(TransactionRequest::AddPartitionsToTxn { .. }) = txn.poll_request(now, false) else {
        panic!("V1 adds the partition");
    };
    txn.on_response(now, added(&[("a", 0, ErrorCode::None)]));
    // transaction.version 2 finalized meanwhile; a stale broker's older
    // report does not undo it.
    txn.on_transaction_version(Some(2), true);
    txn.on_transaction_version(Some(1), false);
    assert_eq!(
        txn.protocol(),
        TransactionProtocol::V1,
        "not mid-transaction"
    );
    txn.commit_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { .. }) = txn.poll_request(now, false) else {
        panic!("EndTxn of the V1 transaction");
    };
    txn.on_response(now, end_txn(ErrorCode::None));
    let Some(TransactionRequest::InitProducerId { request, .. }) = txn.poll_request(now, false)
    else {
        panic!("a new epoch before the first V2 transaction");
    };
    assert_eq!((request.producer_id, request.producer_epoch), (42, 0));
    txn.on_response(now, init_ok(42, 1));
    assert_eq!(txn.protocol(), TransactionProtocol::V2);
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::Commit,
            result: Ok(())
        })
    );
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert!(txn.may_send(&tp("a", 0)));
    assert_eq!(txn.poll_request(now, false), None);
}

/// Commits one V1 transaction on `a-0` whose first EndTxn goes unanswered
/// (timed out) and whose retry succeeds; returns the machine after the
/// retry's answer.
fn commit_with_a_timed_out_end_txn(txn: &mut Transactions<Partition>, now: Instant) {
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    assert!(matches!(
        txn.poll_request(now, false),
        Some(TransactionRequest::AddPartitionsToTxn { .. })
    ));
    txn.on_response(now, added(&[("a", 0, ErrorCode::None)]));
    deliver(txn, &tp("a", 0));
    txn.commit_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { request, .. }) = txn.poll_request(now, false) else {
        panic!("EndTxn");
    };
    assert_eq!(request.producer_epoch, 0);
    // request_timeout_ms passed: the request may still reach the coordinator.
    txn.on_request_failed(now);
    assert_eq!(txn.state(), TransactionState::CommittingTransaction);
    let later = now + Duration::from_secs(1);
    assert!(matches!(
        txn.poll_request(later, false),
        Some(TransactionRequest::FindCoordinator { .. })
    ));
    txn.on_response(later, found("tx-1", 3));
    let Some(TransactionRequest::EndTxn { request, .. }) = txn.poll_request(later, false) else {
        panic!("the EndTxn is retried until the coordinator answers");
    };
    assert!(request.committed);
    txn.on_response(later, end_txn(ErrorCode::None));
}

#[test]
fn v1_after_an_unanswered_end_txn_a_new_epoch_fences_it_before_the_next_transaction() {
    let now = Instant::now();
    let mut txn = initialized(now);
    commit_with_a_timed_out_end_txn(&mut txn, now);
    // With V1 the next transaction would run on epoch 0, and the first
    // EndTxn(commit), arriving late, would commit it at once, in part.
    assert_eq!(txn.state(), TransactionState::Initializing);
    assert_eq!(txn.poll_event(), None, "the commit waits for the new epoch");
    assert!(txn.begin_transaction().is_err());
    let Some(TransactionRequest::InitProducerId { request, .. }) = txn.poll_request(now, false)
    else {
        panic!("InitProducerId bumps the epoch");
    };
    assert_eq!((request.producer_id, request.producer_epoch), (42, 0));
    txn.on_response(now, init_ok(42, 1));
    assert_eq!(
        txn.poll_event(),
        Some(TransactionEvent::Completed {
            operation: TransactionOperation::Commit,
            result: Ok(())
        })
    );
    assert_eq!(txn.producer_id_and_epoch().epoch, 1);
    txn.begin_transaction().unwrap();

    // An EndTxn answered the first time needs no new epoch.
    txn.add_partition(&tp("a", 0)).unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, added(&[("a", 0, ErrorCode::None)]));
    deliver(&mut txn, &tp("a", 0));
    txn.commit_transaction().unwrap();
    txn.poll_request(now, false).unwrap();
    txn.on_response(now, end_txn(ErrorCode::None));
    assert_eq!(txn.state(), TransactionState::Ready);
}

#[test]
fn v2_after_an_unanswered_end_txn_takes_the_epoch_the_retry_bumped_to() {
    let now = Instant::now();
    let mut txn = initialized_v2(now);
    txn.begin_transaction().unwrap();
    txn.add_partition(&tp("a", 0)).unwrap();
    deliver(&mut txn, &tp("a", 0));
    txn.commit_transaction().unwrap();
    let Some(TransactionRequest::EndTxn { .. }) = txn.poll_request(now, false) else {
        panic!("EndTxn");
    };
    txn.on_request_failed(now);
    let later = now + Duration::from_secs(1);
    txn.poll_request(later, false).unwrap();
    txn.on_response(later, found("tx-2", 3));
    let Some(TransactionRequest::EndTxn { .. }) = txn.poll_request(later, false) else {
        panic!("the EndTxn is retried");
    };
    // The coordinator's bump already fences the late one: nothing more.
    txn.on_response(later, end_txn_with_epoch(42, 1));
    assert_eq!(txn.state(), TransactionState::Ready);
    assert_eq!(txn.producer_id_and_epoch().epoch, 1);
    assert_eq!(txn.poll_request(later, false), None);
}
