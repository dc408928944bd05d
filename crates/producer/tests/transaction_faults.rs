//! The sender driving the idempotence and transaction machines against the
//! in-memory cluster: Produce requests carry the transactional id and
//! transactional batches, CONCURRENT_TRANSACTIONS is retried, a moved
//! coordinator is looked up again, a fenced producer fails with typed
//! errors, and an idempotent partition keeps up to five batches in flight,
//! reaching the broker in sequence order. A cluster that finalized
//! `transaction.version` 2 gets KIP-890 part 2 (transactions V2); one that
//! did not, the V1 protocol.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_producer::TopicPartition;
use ferrokafka_producer::transaction::{
    GroupIdentity, OffsetAndMetadata, TransactionError, TransactionProtocol, TransactionState,
};
use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use ferrokafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use ferrokafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse,
    ProduceRequest, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_records::{Batch, BatchReader};
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

const WAIT: Duration = Duration::from_secs(10);

/// Every partition answered with `error`, offset 0 when it is none.
fn produce_answer(request: &FakeRequest, error: ErrorCode) -> FakeReply {
    FakeReply::produce(request, error, if error.is_ok() { 0 } else { -1 })
}

fn add_partitions_answer(request: &FakeRequest, error: ErrorCode) -> FakeReply {
    assert!(
        request.version <= 3,
        "a client sends AddPartitionsToTxn v3 or below"
    );
    let asked: AddPartitionsToTxnRequest = request.decode();
    let response = AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: asked
            .v3_and_below_topics
            .iter()
            .map(|topic| AddPartitionsToTxnTopicResult {
                name: topic.name.clone(),
                results_by_partition: topic
                    .partitions
                    .iter()
                    .map(|&partition_index| AddPartitionsToTxnPartitionResult {
                        partition_index,
                        partition_error_code: error.code(),
                        ..AddPartitionsToTxnPartitionResult::default()
                    })
                    .collect(),
                ..AddPartitionsToTxnTopicResult::default()
            })
            .collect(),
        ..AddPartitionsToTxnResponse::default()
    };
    FakeReply::with(request, &response)
}

fn end_txn_answer(request: &FakeRequest, error: ErrorCode) -> FakeReply {
    FakeReply::with(
        request,
        &EndTxnResponse {
            error_code: error.code(),
            ..EndTxnResponse::default()
        },
    )
}

/// The record batches of a Produce request.
fn batches(request: &FakeRequest) -> Vec<(i32, Bytes)> {
    let produce: ProduceRequest = request.decode();
    produce
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .map(|p| (p.index, p.records.clone().unwrap_or_default().to_bytes()))
        .collect()
}

fn header(bytes: &Bytes) -> ferrokafka_records::BatchHeader {
    match BatchReader::new(bytes.clone()).next().unwrap().unwrap() {
        Batch::V2(batch) => *batch.header(),
        Batch::Legacy(_) => panic!("a v2 batch"),
    }
}

async fn producer(cluster: &FakeCluster, extra: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap.as_str()),
        ("linger_ms", "0"),
        ("retry_backoff_ms", "10"),
    ];
    pairs.extend_from_slice(extra);
    let config = ProducerConfig::from_pairs(pairs).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

/// What the fake coordinator saw.
#[derive(Default)]
struct Seen {
    add_partitions: usize,
    end_txn: Vec<(i32, bool)>,
    produce_ids: Vec<Option<String>>,
    /// Produce and EndTxn versions: the V1 protocol stays below KIP-890's.
    versions: Vec<(ApiKey, i16)>,
    batches: Vec<Bytes>,
    find_coordinator: usize,
}

#[tokio::test]
async fn concurrent_transactions_is_retried_and_produce_carries_the_transactional_id() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = Arc::clone(&seen);
    let cluster = FakeCluster::new(2, move |request| {
        let mut seen = log.lock().unwrap();
        match request.key {
            ApiKey::AddPartitionsToTxn => {
                seen.add_partitions += 1;
                // The previous transaction is still completing, twice.
                Some(if seen.add_partitions <= 2 {
                    add_partitions_answer(request, ErrorCode::ConcurrentTransactions)
                } else {
                    add_partitions_answer(request, ErrorCode::None)
                })
            }
            ApiKey::Produce => {
                let produce: ProduceRequest = request.decode();
                seen.versions.push((request.key, request.version));
                seen.produce_ids.push(produce.transactional_id);
                seen.batches
                    .extend(batches(request).into_iter().map(|(_, b)| b));
                Some(produce_answer(request, ErrorCode::None))
            }
            ApiKey::EndTxn => {
                let end: EndTxnRequest = request.decode();
                seen.versions.push((request.key, request.version));
                seen.end_txn.push((request.node, end.committed));
                Some(end_txn_answer(request, ErrorCode::None))
            }
            _ => None,
        }
    });
    cluster.add_topic("t", &[2, 2]);
    let producer = producer(&cluster, &[("transactional_id", "tx-a")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    let mut deliveries = Vec::new();
    for i in 0..4 {
        let record = ProducerRecord::new("t")
            .partition(i % 2)
            .value(format!("v{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.commit_transaction(WAIT).await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    assert_eq!(producer.transaction_state(), Some(TransactionState::Ready));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.add_partitions, 3, "two refusals, then the add");
    assert_eq!(seen.end_txn, [(1, true)], "one commit, at the coordinator");
    assert!(!seen.produce_ids.is_empty());
    assert!(
        seen.produce_ids
            .iter()
            .all(|id| id.as_deref() == Some("tx-a")),
        "{:?}",
        seen.produce_ids
    );
    for (key, version) in &seen.versions {
        let highest = if *key == ApiKey::Produce { 11 } else { 4 };
        assert!(*version <= highest, "{key:?} v{version}");
    }
    for bytes in &seen.batches {
        let header = header(bytes);
        assert!(header.attributes.is_transactional());
        assert_eq!((header.producer_id, header.producer_epoch), (1000, 0));
    }
}

#[tokio::test]
async fn a_moved_coordinator_is_looked_up_again() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = Arc::clone(&seen);
    let cluster = FakeCluster::new(2, move |request| {
        let mut seen = log.lock().unwrap();
        match request.key {
            ApiKey::FindCoordinator => {
                seen.find_coordinator += 1;
                // Node 1 first; node 2 once it has moved.
                let node = if seen.end_txn.is_empty() { 1 } else { 2 };
                Some(FakeReply::coordinator(request, node))
            }
            ApiKey::AddPartitionsToTxn => Some(add_partitions_answer(request, ErrorCode::None)),
            ApiKey::Produce => Some(produce_answer(request, ErrorCode::None)),
            ApiKey::EndTxn => {
                let end: EndTxnRequest = request.decode();
                seen.end_txn.push((request.node, end.committed));
                Some(if request.node == 1 {
                    end_txn_answer(request, ErrorCode::NotCoordinator)
                } else {
                    end_txn_answer(request, ErrorCode::None)
                })
            }
            _ => None,
        }
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("transactional_id", "tx-b")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    let delivery = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap();
    producer.commit_transaction(WAIT).await.unwrap();
    delivery.await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.end_txn, [(1, true), (2, true)]);
    assert_eq!(seen.find_coordinator, 2, "looked up at init, then again");
}

#[tokio::test]
async fn a_fenced_producer_fails_its_records_and_calls_with_typed_errors() {
    let cluster = FakeCluster::new(1, |request| match request.key {
        ApiKey::AddPartitionsToTxn => Some(add_partitions_answer(request, ErrorCode::None)),
        // A newer producer with the same transactional id took over.
        ApiKey::Produce => Some(produce_answer(request, ErrorCode::ProducerFenced)),
        ApiKey::EndTxn => panic!("a fenced producer must not end the transaction"),
        _ => None,
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("transactional_id", "tx-c")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    let error = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ProduceError::Transaction(TransactionError::ProducerFenced)
        ),
        "{error:?}"
    );
    let error = producer.commit_transaction(WAIT).await.unwrap_err();
    assert!(error.is_fenced(), "{error:?}");
    assert_eq!(
        producer.transaction_state(),
        Some(TransactionState::FatalError)
    );
    match producer.send(ProducerRecord::new("t").value("late")).await {
        Err(ProduceError::Transaction(error)) => assert!(error.is_fenced(), "{error:?}"),
        other => panic!("{other:?}"),
    }
    assert!(
        producer
            .abort_transaction(WAIT)
            .await
            .unwrap_err()
            .is_fenced()
    );
}

#[tokio::test]
async fn an_aborted_transaction_fails_records_never_sent() {
    let cluster = FakeCluster::new(1, |request| match request.key {
        // The add never completes, so the records wait in the accumulator.
        ApiKey::AddPartitionsToTxn => Some(add_partitions_answer(
            request,
            ErrorCode::ConcurrentTransactions,
        )),
        ApiKey::Produce => panic!("nothing may be sent before the partition is added"),
        ApiKey::EndTxn => panic!("nothing reached the coordinator: no EndTxn"),
        _ => None,
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("transactional_id", "tx-d")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    let delivery = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap();
    producer.abort_transaction(WAIT).await.unwrap();
    let error = delivery.await.unwrap_err();
    assert!(
        matches!(error, ProduceError::Transaction(TransactionError::Aborted)),
        "{error:?}"
    );
    // The producer goes on with the next transaction.
    assert_eq!(producer.transaction_state(), Some(TransactionState::Ready));
    producer.begin_transaction().unwrap();
}

/// A commit returns only once every record of the transaction has its
/// outcome: with the answers held back, each callback has run and each
/// future is resolved when `commit_transaction` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_returns_after_every_record_of_it_has_its_outcome() {
    let cluster = FakeCluster::new(1, |request| match request.key {
        ApiKey::AddPartitionsToTxn => Some(add_partitions_answer(request, ErrorCode::None)),
        ApiKey::Produce => Some(FakeReply::After(
            Duration::from_millis(30),
            Box::new(produce_answer(request, ErrorCode::None)),
        )),
        ApiKey::EndTxn => Some(end_txn_answer(request, ErrorCode::None)),
        _ => None,
    });
    cluster.add_topic("t", &[1; 20]);
    let producer = producer(
        &cluster,
        &[("transactional_id", "tx-outcomes"), ("linger_ms", "5")],
    )
    .await;
    producer.init_transactions(WAIT).await.unwrap();
    for transaction in 0..20 {
        producer.begin_transaction().unwrap();
        let called = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut deliveries = Vec::new();
        for i in 0..400i32 {
            let record = ProducerRecord::new("t").partition(i % 20).value("v");
            if i % 2 == 0 {
                deliveries.push(producer.send(record).await.unwrap());
            } else {
                let called = Arc::clone(&called);
                producer
                    .send_with_callback(record, move |outcome| {
                        assert!(outcome.is_ok(), "{outcome:?}");
                        // Callbacks that take a while, as real ones do.
                        std::hint::black_box((0..20_000u64).sum::<u64>());
                        called.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    })
                    .await
                    .unwrap();
            }
        }
        producer.commit_transaction(WAIT).await.unwrap();
        assert_eq!(
            called.load(std::sync::atomic::Ordering::SeqCst),
            200,
            "transaction {transaction}: callbacks when the commit returned"
        );
        for mut delivery in deliveries {
            let ready = tokio::task::unconstrained(std::future::poll_fn(|context| {
                std::task::Poll::Ready(std::pin::Pin::new(&mut delivery).poll(context))
            }))
            .await;
            assert!(
                matches!(ready, std::task::Poll::Ready(Ok(_))),
                "transaction {transaction}: a future unresolved when the commit returned"
            );
        }
    }
}

/// The first batch goes alone (a broker without state for the producer
/// would take a later sequence first, KIP-360); once it is acknowledged,
/// five go out at once, in sequence order.
#[tokio::test]
async fn five_batches_of_a_partition_are_in_flight_in_sequence_order() {
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let mut first = false;
            for (_, batch) in batches(request) {
                first |= header(&batch).base_sequence == 0;
                let _ = arrived.send(batch);
            }
            if first {
                produce_answer(request, ErrorCode::None)
            } else {
                // Never answered: every later batch stays in flight.
                FakeReply::Hang
            }
        })
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(
        &cluster,
        // Each record its own batch.
        &[("batch_size", "1"), ("request_timeout_ms", "30000")],
    )
    .await;
    let mut deliveries = Vec::new();
    for i in 0..12 {
        let record = ProducerRecord::new("t").value(format!("v{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut sequences = Vec::new();
    for _ in 0..6 {
        let batch = tokio::time::timeout(WAIT, arrivals.recv())
            .await
            .expect("five batches go out")
            .unwrap();
        sequences.push(header(&batch).base_sequence);
    }
    assert_eq!(sequences, [0, 1, 2, 3, 4, 5], "in sequence order");
    // A sixth would go out now if the limit let it.
    let sixth = tokio::time::timeout(Duration::from_millis(300), arrivals.recv()).await;
    assert!(sixth.is_err(), "no more than five in flight: {sixth:?}");
}

/// What a fake coordinator on transactions V2 saw.
#[derive(Default)]
struct SeenV2 {
    /// API, version, and the producer id and epoch the request carried.
    requests: Vec<(ApiKey, i16, i64, i16)>,
    /// Producer id, epoch and base sequence of each batch written.
    batches: Vec<(i64, i16, i32)>,
    init_producer_id: usize,
}

/// A coordinator with `transaction.version` 2: EndTxn bumps the epoch, and
/// hands out producer id 2000 instead of epoch 2 (an overflow, shortened).
fn v2_cluster(seen: &Arc<Mutex<SeenV2>>, produce_error: ErrorCode) -> FakeCluster {
    let log = Arc::clone(seen);
    let cluster = FakeCluster::new(1, move |request| {
        let mut seen = log.lock().unwrap();
        match request.key {
            ApiKey::AddPartitionsToTxn | ApiKey::AddOffsetsToTxn => {
                panic!("{:?} with transactions V2", request.key)
            }
            ApiKey::InitProducerId => {
                seen.init_producer_id += 1;
                None
            }
            ApiKey::Produce => {
                for (_, bytes) in batches(request) {
                    let header = header(&bytes);
                    seen.batches.push((
                        header.producer_id,
                        header.producer_epoch,
                        header.base_sequence,
                    ));
                    seen.requests.push((
                        request.key,
                        request.version,
                        header.producer_id,
                        header.producer_epoch,
                    ));
                }
                Some(produce_answer(request, produce_error))
            }
            ApiKey::TxnOffsetCommit => {
                let commit: TxnOffsetCommitRequest = request.decode();
                seen.requests.push((
                    request.key,
                    request.version,
                    commit.producer_id,
                    commit.producer_epoch,
                ));
                let response = TxnOffsetCommitResponse {
                    topics: commit
                        .topics
                        .iter()
                        .map(|topic| TxnOffsetCommitResponseTopic {
                            name: topic.name.clone(),
                            partitions: topic
                                .partitions
                                .iter()
                                .map(|p| TxnOffsetCommitResponsePartition {
                                    partition_index: p.partition_index,
                                    ..TxnOffsetCommitResponsePartition::default()
                                })
                                .collect(),
                            ..TxnOffsetCommitResponseTopic::default()
                        })
                        .collect(),
                    ..TxnOffsetCommitResponse::default()
                };
                Some(FakeReply::with(request, &response))
            }
            ApiKey::EndTxn => {
                let end: EndTxnRequest = request.decode();
                seen.requests.push((
                    request.key,
                    request.version,
                    end.producer_id,
                    end.producer_epoch,
                ));
                let (producer_id, producer_epoch) = if end.producer_epoch == 1 {
                    (2000, 0)
                } else {
                    (end.producer_id, end.producer_epoch + 1)
                };
                Some(FakeReply::with(
                    request,
                    &EndTxnResponse {
                        producer_id,
                        producer_epoch,
                        ..EndTxnResponse::default()
                    },
                ))
            }
            _ => None,
        }
    });
    cluster.set_finalized_feature("transaction.version", Some(2));
    cluster.add_topic("t", &[1, 1]);
    cluster
}

async fn send_and_commit(producer: &Producer, values: &[&'static str]) {
    producer.begin_transaction().unwrap();
    let mut deliveries = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let record = ProducerRecord::new("t")
            .partition(i32::try_from(i % 2).unwrap())
            .value(*value);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.commit_transaction(WAIT).await.unwrap();
}

#[tokio::test]
async fn with_transaction_version_2_nothing_is_added_and_each_end_txn_brings_the_next_epoch() {
    let seen = Arc::new(Mutex::new(SeenV2::default()));
    let cluster = v2_cluster(&seen, ErrorCode::None);
    let producer = producer(&cluster, &[("transactional_id", "tx-v2")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    assert_eq!(
        producer.transaction_protocol(),
        Some(TransactionProtocol::V2)
    );

    send_and_commit(&producer, &["a", "b"]).await;
    let epoch = producer.producer_id_and_epoch().unwrap();
    assert_eq!((epoch.producer_id, epoch.epoch), (1000, 1));

    producer.begin_transaction().unwrap();
    producer
        .send(ProducerRecord::new("t").partition(0).value("c"))
        .await
        .unwrap()
        .await
        .unwrap();
    producer
        .send_offsets_to_transaction(
            [(TopicPartition::new("in", 0), OffsetAndMetadata::new(9))],
            GroupIdentity::without_member("g"),
        )
        .await
        .unwrap();
    producer.commit_transaction(WAIT).await.unwrap();
    // The epoch would have overflowed: a new producer id, epoch 0.
    let epoch = producer.producer_id_and_epoch().unwrap();
    assert_eq!((epoch.producer_id, epoch.epoch), (2000, 0));

    send_and_commit(&producer, &["d"]).await;
    producer.close(WAIT).await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.init_producer_id, 1, "EndTxn alone moves the epoch on");
    assert_eq!(
        seen.batches,
        [(1000, 0, 0), (1000, 0, 0), (1000, 1, 0), (2000, 0, 0)],
        "every transaction's sequences start at 0 with its epoch"
    );
    let produce = ApiKey::Produce.versions().1;
    let end_txn = ApiKey::EndTxn.versions().1;
    let expected = [
        (ApiKey::Produce, produce, 1000, 0),
        (ApiKey::Produce, produce, 1000, 0),
        (ApiKey::EndTxn, end_txn, 1000, 0),
        (ApiKey::Produce, produce, 1000, 1),
        (ApiKey::TxnOffsetCommit, 5, 1000, 1),
        (ApiKey::EndTxn, end_txn, 1000, 1),
        (ApiKey::Produce, produce, 2000, 0),
        (ApiKey::EndTxn, end_txn, 2000, 0),
    ];
    assert_eq!(seen.requests, expected);
    assert!(produce >= 12 && end_txn >= 5);
}

#[tokio::test]
async fn with_transaction_version_2_an_abortable_error_is_aborted_without_init_producer_id() {
    let seen = Arc::new(Mutex::new(SeenV2::default()));
    let cluster = v2_cluster(&seen, ErrorCode::TransactionAbortable);
    let producer = producer(&cluster, &[("transactional_id", "tx-v2-abort")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    let error = producer
        .send(ProducerRecord::new("t").partition(0).value("v"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(error, ProduceError::Transaction(_)), "{error:?}");
    producer.commit_transaction(WAIT).await.unwrap_err();
    assert_eq!(
        producer.transaction_state(),
        Some(TransactionState::AbortableError)
    );
    producer.abort_transaction(WAIT).await.unwrap();
    assert_eq!(producer.transaction_state(), Some(TransactionState::Ready));
    assert_eq!(producer.producer_id_and_epoch().unwrap().epoch, 1);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.init_producer_id, 1,
        "the abort's EndTxn bumped the epoch"
    );
    let end_txn = ApiKey::EndTxn.versions().1;
    assert_eq!(
        seen.requests.last(),
        Some(&(ApiKey::EndTxn, end_txn, 1000, 0))
    );
}

#[tokio::test]
async fn with_transaction_version_2_a_fenced_end_txn_is_fatal() {
    let cluster = FakeCluster::new(1, |request| match request.key {
        ApiKey::Produce => Some(produce_answer(request, ErrorCode::None)),
        ApiKey::EndTxn => Some(end_txn_answer(request, ErrorCode::ProducerFenced)),
        ApiKey::AddPartitionsToTxn => panic!("AddPartitionsToTxn with transactions V2"),
        _ => None,
    });
    cluster.set_finalized_feature("transaction.version", Some(2));
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("transactional_id", "tx-v2-fenced")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap()
        .await
        .unwrap();
    let error = producer.commit_transaction(WAIT).await.unwrap_err();
    assert!(error.is_fenced(), "{error:?}");
    assert_eq!(
        producer.transaction_state(),
        Some(TransactionState::FatalError)
    );
}

#[tokio::test]
async fn without_transaction_version_2_the_v1_protocol_is_kept() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let cluster = FakeCluster::new(1, move |request| {
        log.lock().unwrap().push((request.key, request.version));
        match request.key {
            ApiKey::AddPartitionsToTxn => Some(add_partitions_answer(request, ErrorCode::None)),
            ApiKey::Produce => Some(produce_answer(request, ErrorCode::None)),
            ApiKey::EndTxn => Some(end_txn_answer(request, ErrorCode::None)),
            _ => None,
        }
    });
    // Finalized, but below 2: as a 3.x cluster or a 4.x one formatted so.
    cluster.set_finalized_feature("transaction.version", Some(1));
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("transactional_id", "tx-v1")]).await;
    producer.init_transactions(WAIT).await.unwrap();
    assert_eq!(
        producer.transaction_protocol(),
        Some(TransactionProtocol::V1)
    );
    for _ in 0..2 {
        producer.begin_transaction().unwrap();
        producer
            .send(ProducerRecord::new("t").value("v"))
            .await
            .unwrap()
            .await
            .unwrap();
        producer.commit_transaction(WAIT).await.unwrap();
    }
    let epoch = producer.producer_id_and_epoch().unwrap();
    assert_eq!((epoch.producer_id, epoch.epoch), (1000, 0), "no V2 bump");
    let seen = seen.lock().unwrap();
    let count = |key| seen.iter().filter(|(k, _)| *k == key).count();
    assert_eq!(count(ApiKey::AddPartitionsToTxn), 2);
    assert_eq!(count(ApiKey::EndTxn), 2);
    for (key, version) in seen.iter() {
        match key {
            ApiKey::Produce => assert!(*version <= 11, "Produce v{version}"),
            ApiKey::EndTxn => assert!(*version <= 4, "EndTxn v{version}"),
            _ => {}
        }
    }
}
