//! The sender driving the idempotence and transaction machines against the
//! in-memory cluster: Produce requests carry the transactional id and
//! transactional batches, CONCURRENT_TRANSACTIONS is retried, a moved
//! coordinator is looked up again, a fenced producer fails with typed
//! errors, and an idempotent partition keeps up to five batches in flight,
//! reaching the broker in sequence order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_producer::transaction::{TransactionError, TransactionState};
use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use ferrokafka_protocol::messages::find_coordinator_response::Coordinator;
use ferrokafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use ferrokafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, ProduceRequest, ProduceResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_records::{Batch, BatchReader};
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

const WAIT: Duration = Duration::from_secs(10);

fn produce_answer(request: &FakeRequest, error: ErrorCode) -> FakeReply {
    let produce: ProduceRequest = request.decode();
    let response = ProduceResponse {
        responses: produce
            .topic_data
            .iter()
            .map(|topic| TopicProduceResponse {
                name: topic.name.clone(),
                topic_id: topic.topic_id,
                partition_responses: topic
                    .partition_data
                    .iter()
                    .map(|p| PartitionProduceResponse {
                        index: p.index,
                        error_code: error.code(),
                        base_offset: if error.is_ok() { 0 } else { -1 },
                        log_append_time_ms: -1,
                        ..PartitionProduceResponse::default()
                    })
                    .collect(),
                ..TopicProduceResponse::default()
            })
            .collect(),
        ..ProduceResponse::default()
    };
    FakeReply::with(request, &response)
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

/// Names `node` as the coordinator of every key asked for.
fn coordinator_answer(request: &FakeRequest, node: i32) -> FakeReply {
    let asked: FindCoordinatorRequest = request.decode();
    let mut response = FindCoordinatorResponse::default();
    if request.version >= 4 {
        response.coordinators = asked
            .coordinator_keys
            .into_iter()
            .map(|key| Coordinator {
                key,
                node_id: node,
                host: format!("fake-{node}"),
                port: 9092,
                ..Coordinator::default()
            })
            .collect();
    } else {
        response.node_id = node;
        response.host = format!("fake-{node}");
        response.port = 9092;
    }
    FakeReply::with(request, &response)
}

/// The record batches of a Produce request.
fn batches(request: &FakeRequest) -> Vec<(i32, Bytes)> {
    let produce: ProduceRequest = request.decode();
    produce
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .map(|p| (p.index, p.records.clone().unwrap_or_default()))
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
                Some(coordinator_answer(request, node))
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
