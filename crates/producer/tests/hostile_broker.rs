//! The producer against a broker that writes the records and then answers
//! in every broken way a broker or a network can: frames cut short, sizes
//! negative or past any limit, a wrong correlation id, an answer to a
//! request never sent, a garbled or truncated body, a count of two billion
//! topics, an answer trickling in past the request timeout, partitions
//! missing or never asked, a throttle time of 24 days, an error code no
//! Kafka version has, metadata whose leader epoch goes backwards; and a
//! transaction coordinator answering EndTxn so after it committed.
//! Whatever the answer, nothing panics, the records are retried (the
//! broker knowing them by their sequence) or fail with a typed error,
//! every acknowledged record is in the broker's log exactly once at the
//! offset acknowledged, and the producer goes on working.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use ferrokafka_protocol::messages::{ProduceRequest, ProduceResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode, Message as _, Uuid};
use ferrokafka_records::{Batch, BatchReader};
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

const RECORDS: usize = 12;
const WAIT: Duration = Duration::from_secs(60);

/// A broker's log: the values of each partition, in offset order, and
/// where each batch (by its bytes: a retry resends the same) went.
#[derive(Default)]
struct Log {
    partitions: HashMap<i32, Vec<Bytes>>,
    batches: HashMap<Bytes, i64>,
}

impl Log {
    /// Appends the batches of `request` it has not seen; the answer each
    /// partition gets: its offset, or DUPLICATE_SEQUENCE_NUMBER with the
    /// first copy's offset, as an idempotent broker answers a resend.
    fn append(&mut self, request: &FakeRequest) -> HashMap<i32, (ErrorCode, i64)> {
        let produce: ProduceRequest = request.decode();
        let mut answers = HashMap::new();
        for partition in produce.topic_data.iter().flat_map(|t| &t.partition_data) {
            let bytes = partition.records.clone().unwrap_or_default().to_bytes();
            if let Some(&offset) = self.batches.get(&bytes) {
                answers.insert(
                    partition.index,
                    (ErrorCode::DuplicateSequenceNumber, offset),
                );
                continue;
            }
            let log = self.partitions.entry(partition.index).or_default();
            let base = i64::try_from(log.len()).unwrap();
            for batch in BatchReader::new(bytes.clone()) {
                let Ok(Batch::V2(batch)) = batch else {
                    panic!("the producer sent a broken batch")
                };
                for record in batch.records() {
                    log.push(record.unwrap().value.unwrap_or_default());
                }
            }
            self.batches.insert(bytes, base);
            answers.insert(partition.index, (ErrorCode::None, base));
        }
        answers
    }
}

/// What the broker does with a Produce once it wrote it: the right
/// answer, or something hostile built from it.
type Hostile = fn(&FakeRequest, FakeReply) -> FakeReply;

/// A two-partition topic on one broker that writes every Produce into
/// `log` and answers the first `hostile_answers` of them as `hostile`
/// says.
fn cluster(log: &Arc<Mutex<Log>>, hostile_answers: usize, hostile: Hostile) -> FakeCluster {
    let log = Arc::clone(log);
    let produces = AtomicUsize::new(0);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let answers = log.lock().unwrap().append(request);
            let right = FakeReply::produce_per_partition(request, |p| answers[&p]);
            if produces.fetch_add(1, Ordering::SeqCst) < hostile_answers {
                hostile(request, right)
            } else {
                right
            }
        })
    });
    cluster.add_topic("t", &[1, 1]);
    cluster
}

async fn producer(cluster: &FakeCluster) -> Producer {
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("linger_ms", "5"),
        ("retry_backoff_ms", "10"),
        ("request_timeout_ms", "1000"),
        ("delivery_timeout_ms", "30000"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

/// Sends records `from..to` (value = index) to both partitions and waits
/// for each outcome.
async fn send_all(
    producer: &Producer,
    from: usize,
    to: usize,
) -> Vec<Result<(i32, i64), ProduceError>> {
    let mut deliveries = Vec::new();
    for i in from..to {
        let partition = i32::try_from(i % 2).unwrap();
        let record = ProducerRecord::new("t")
            .partition(partition)
            .value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut outcomes = Vec::new();
    for delivery in deliveries {
        let outcome = tokio::time::timeout(WAIT, delivery)
            .await
            .expect("a delivery outlived the delivery timeout");
        outcomes.push(outcome.map(|m| (m.partition, m.offset)));
    }
    outcomes
}

/// Every record acknowledged is in the log once, at its offset; the log
/// holds nothing else.
fn assert_log_holds_exactly(log: &Log, acknowledged: &[(usize, (i32, i64))], case: &str) {
    let mut seen = 0;
    for (i, (partition, offset)) in acknowledged {
        let values = &log.partitions[partition];
        let at = usize::try_from(*offset).unwrap();
        assert_eq!(
            values.get(at).map(Bytes::as_ref),
            Some(i.to_string().as_bytes()),
            "{case}: record {i} acknowledged at {partition}@{offset}"
        );
        seen += 1;
    }
    let total: usize = log.partitions.values().map(Vec::len).sum();
    assert_eq!(total, seen, "{case}: the log holds records twice");
}

/// A body that decodes as no Produce response at any version.
fn garbled(_: &FakeRequest, _: FakeReply) -> FakeReply {
    FakeReply::Respond(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff]))
}

fn truncated_body(_: &FakeRequest, right: FakeReply) -> FakeReply {
    let FakeReply::Respond(body) = right else {
        unreachable!()
    };
    FakeReply::Respond(body.slice(..body.len() / 2))
}

/// A response array claiming 2^31-1 topics: a compact array's length is
/// its count plus one as an unsigned varint (Produce v9 and later), a
/// plain one's an int32.
fn two_billion_topics(request: &FakeRequest, _: FakeReply) -> FakeReply {
    let count: &'static [u8] = if request.version >= 9 {
        &[0xff, 0xff, 0xff, 0xff, 0x07]
    } else {
        &[0x7f, 0xff, 0xff, 0xff]
    };
    FakeReply::Respond(Bytes::from_static(count))
}

/// Every way of answering that breaks the frame or the body; each is
/// taken for "no answer": the records go again, and the broker knows them.
/// Each with what the transport error it gives says.
const BROKEN: &[(&str, Hostile, &str)] = &[
    (
        "a wrong correlation id",
        FakeReply::unsolicited,
        "correlation id",
    ),
    (
        "a frame cut after its size",
        |request, right| FakeReply::cut(request, right, 4),
        "0 bytes into",
    ),
    (
        "a frame cut in its body",
        |request, right| FakeReply::cut(request, right, 13),
        "9 bytes into",
    ),
    (
        "a size past receive_message_max_bytes",
        |_, _| FakeReply::claiming(i32::MAX),
        "more than receive_message_max_bytes",
    ),
    (
        "a negative size",
        |_, _| FakeReply::claiming(-7),
        "negative frame size",
    ),
    ("a garbled body", garbled, "cannot decode ProduceResponse"),
    ("a body cut short", truncated_body, "Truncated"),
    (
        "a count of two billion topics",
        two_billion_topics,
        "BadLength",
    ),
    (
        "an answer trickling in past the request timeout",
        |_, right| FakeReply::Drip(Duration::from_millis(100), Box::new(right)),
        "timed out",
    ),
    (
        "a disconnect after writing",
        |_, _| FakeReply::Disconnect,
        "closed",
    ),
    ("silence after writing", |_, _| FakeReply::Hang, "timed out"),
];

#[tokio::test(start_paused = true)]
async fn a_broken_answer_after_writing_loses_and_duplicates_nothing() {
    for &(case, hostile, _) in BROKEN {
        let log = Arc::new(Mutex::new(Log::default()));
        // The first two answers broken: a retry meets one too.
        let cluster = cluster(&log, 2, hostile);
        let producer = producer(&cluster).await;
        let outcomes = send_all(&producer, 0, RECORDS).await;
        let acknowledged: Vec<(usize, (i32, i64))> = outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| {
                (
                    i,
                    outcome.unwrap_or_else(|e| panic!("{case}: record {i} failed: {e}")),
                )
            })
            .collect();
        assert_log_holds_exactly(&log.lock().unwrap(), &acknowledged, case);
        assert!(
            producer.metrics().record_retry_total > 0,
            "{case}: nothing was retried"
        );
        producer.close(WAIT).await.unwrap();
    }
}

/// The same answers with the records' fate left to the retries a user
/// allows: with none, each record fails with a typed error (the transport
/// error that broke the answer) and the producer's next records, answered
/// well, go through.
#[tokio::test(start_paused = true)]
async fn without_retries_a_broken_answer_fails_the_records_with_a_typed_error() {
    for &(case, hostile, says) in BROKEN {
        let log = Arc::new(Mutex::new(Log::default()));
        let cluster = cluster(&log, 1, hostile);
        let config = ProducerConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("linger_ms", "5"),
            ("retries", "0"),
            ("enable_idempotence", "false"),
            ("request_timeout_ms", "1000"),
        ])
        .unwrap();
        let client = cluster.client(config.client.clone()).await.unwrap();
        let producer = Producer::with_client(client, config);
        // One record: one request, answered as the case says.
        let outcomes = send_all(&producer, 0, 1).await;
        let error = outcomes[0]
            .as_ref()
            .expect_err(&format!("{case}: a broken answer acknowledged a record"));
        assert!(
            matches!(error, ProduceError::Transport(_)) && error.to_string().contains(says),
            "{case}: {error:?}"
        );
        let next = send_all(&producer, 1, 5).await;
        assert!(
            next.iter().all(Result::is_ok),
            "{case}: after a broken answer {next:?}"
        );
        producer.close(WAIT).await.unwrap();
    }
}

/// Answers that frame and decode well but say odd things.
#[tokio::test(start_paused = true)]
async fn odd_but_well_formed_answers_are_read_for_what_they_say() {
    // Partitions and a topic never asked about beside the right answers,
    // and a throttle time of 24 days.
    let extra: Hostile = |request, right| {
        let FakeReply::Respond(body) = right else {
            unreachable!()
        };
        let mut response = ProduceResponse::decode(body, request.version).unwrap();
        for topic in &mut response.responses {
            topic.partition_responses.push(PartitionProduceResponse {
                index: 99,
                base_offset: 12_345,
                ..PartitionProduceResponse::default()
            });
        }
        response.responses.push(TopicProduceResponse {
            name: "never-asked".to_string(),
            topic_id: Uuid([9; 16]),
            partition_responses: vec![PartitionProduceResponse::default()],
            ..TopicProduceResponse::default()
        });
        response.throttle_time_ms = i32::MAX;
        FakeReply::with(request, &response)
    };
    let log = Arc::new(Mutex::new(Log::default()));
    let cluster = cluster(&log, 1, extra);
    let producer = producer(&cluster).await;
    let started = tokio::time::Instant::now();
    let outcomes = send_all(&producer, 0, 2).await;
    // The extras are passed over, and the 24-day throttle time holds
    // nothing up.
    let acknowledged: Vec<(usize, (i32, i64))> = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| (i, o.unwrap()))
        .collect();
    assert!(started.elapsed() < Duration::from_secs(5));
    let next = send_all(&producer, 2, 6).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let acknowledged: Vec<(usize, (i32, i64))> = acknowledged
        .into_iter()
        .chain((2..).zip(next.into_iter().map(Result::unwrap)))
        .collect();
    assert_log_holds_exactly(&log.lock().unwrap(), &acknowledged, "extras");
    producer.close(WAIT).await.unwrap();
}

/// An answer that leaves out a partition it was sent: that partition's
/// records are retried, the broker answers them as duplicates, and each
/// is acknowledged once, at its offset.
#[tokio::test(start_paused = true)]
async fn a_partition_left_out_of_the_answer_is_retried() {
    let leave_out: Hostile = |request, _| {
        let produce: ProduceRequest = request.decode();
        let response = ferrokafka_protocol::messages::ProduceResponse {
            responses: produce
                .topic_data
                .iter()
                .map(|t| TopicProduceResponse {
                    name: t.name.clone(),
                    topic_id: t.topic_id,
                    ..TopicProduceResponse::default()
                })
                .collect(),
            ..Default::default()
        };
        FakeReply::with(request, &response)
    };
    let log = Arc::new(Mutex::new(Log::default()));
    let cluster = cluster(&log, 1, leave_out);
    let producer = producer(&cluster).await;
    let outcomes = send_all(&producer, 0, RECORDS).await;
    let acknowledged: Vec<(usize, (i32, i64))> = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| (i, o.unwrap()))
        .collect();
    assert_log_holds_exactly(&log.lock().unwrap(), &acknowledged, "left out");
    producer.close(WAIT).await.unwrap();
}

/// An error code no Kafka version has fails the records it answers with
/// that code, named; the producer goes on.
#[tokio::test(start_paused = true)]
async fn an_unknown_error_code_fails_the_records_with_it_and_the_producer_goes_on() {
    for idempotent in ["true", "false"] {
        let log = Arc::new(Mutex::new(Log::default()));
        let cluster = cluster(&log, 1, |request, _| {
            FakeReply::produce(request, ErrorCode::from_code(9_999), -1)
        });
        let config = ProducerConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("linger_ms", "5"),
            ("enable_idempotence", idempotent),
        ])
        .unwrap();
        let client = cluster.client(config.client.clone()).await.unwrap();
        let producer = Producer::with_client(client, config);
        let outcomes = send_all(&producer, 0, 1).await;
        match &outcomes[0] {
            Err(ProduceError::Broker { error, .. }) => {
                assert_eq!(*error, ErrorCode::Unknown(9_999), "idempotent {idempotent}");
                assert!(error.to_string().contains("9999"), "{error}");
            }
            other => panic!("idempotent {idempotent}: {other:?}"),
        }
        let next = send_all(&producer, 1, 5).await;
        assert!(
            next.iter().all(Result::is_ok),
            "idempotent {idempotent}: {next:?}"
        );
        producer.close(WAIT).await.unwrap();
    }
}

/// Metadata whose leader epoch goes backwards (a broker behind the others
/// answers it) is not believed: the records keep going to the leader of
/// the newest epoch, and none to the old leader.
#[tokio::test(start_paused = true)]
async fn metadata_with_an_older_leader_epoch_is_not_believed() {
    let slot = Arc::new(std::sync::OnceLock::<FakeCluster>::new());
    let seen = Arc::clone(&slot);
    let metadata_answers = AtomicUsize::new(0);
    let cluster = FakeCluster::new(2, move |request| match request.key {
        ApiKey::Metadata => {
            let mut metadata = seen.get()?.metadata();
            // The first answer names node 2 leader at epoch 5, every later
            // one node 1 at epoch 3.
            let (leader, epoch) = if metadata_answers.fetch_add(1, Ordering::SeqCst) == 0 {
                (2, 5)
            } else {
                (1, 3)
            };
            for partition in metadata.topics.iter_mut().flat_map(|t| &mut t.partitions) {
                partition.leader_id = leader;
                partition.leader_epoch = epoch;
            }
            Some(FakeReply::with(request, &metadata))
        }
        ApiKey::Produce if request.node == 1 => Some(FakeReply::produce(
            request,
            ErrorCode::NotLeaderOrFollower,
            -1,
        )),
        _ => None,
    });
    slot.set(cluster.clone()).ok();
    cluster.add_topic("t", &[2]);
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("linger_ms", "5"),
        ("metadata_max_age_ms", "10"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let producer = Producer::with_client(client, config);
    for round in 0..5 {
        let metadata = producer
            .send(ProducerRecord::new("t").value("v"))
            .await
            .unwrap()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(metadata.partition, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = cluster.received();
    assert!(
        received
            .iter()
            .filter(|(_, key)| *key == ApiKey::Metadata)
            .count()
            > 2,
        "the metadata was not refreshed: {received:?}"
    );
    assert!(
        !received.contains(&(1, ApiKey::Produce)),
        "records went to the leader of an older epoch: {received:?}"
    );
    producer.close(WAIT).await.unwrap();
}

/// A transaction coordinator that commits, then answers the EndTxn in a
/// broken way: the commit is retried (a coordinator answers a repeated
/// EndTxn of a transaction it just completed the same way), and
/// `commit_transaction` returns once the commit is known; the next
/// transaction goes as usual. Each EndTxn asked to commit. (For EndTxn,
/// whose answer has no array, the two-billion count is one more garbled
/// body.)
#[tokio::test(start_paused = true)]
async fn a_broken_end_txn_answer_is_retried_and_the_next_transaction_works() {
    for &(case, hostile, _) in BROKEN {
        let end_txns = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&end_txns);
        let cluster = FakeCluster::new(1, move |request| match request.key {
            ApiKey::AddPartitionsToTxn => Some(added(request)),
            ApiKey::EndTxn => {
                let asked: ferrokafka_protocol::messages::EndTxnRequest = request.decode();
                let mut seen = seen.lock().unwrap();
                seen.push(asked.committed);
                let right = FakeReply::with(
                    request,
                    &ferrokafka_protocol::messages::EndTxnResponse::default(),
                );
                Some(if seen.len() == 1 {
                    hostile(request, right)
                } else {
                    right
                })
            }
            _ => None,
        });
        cluster.add_topic("t", &[1, 1]);
        let config = ProducerConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("transactional_id", "tx"),
            ("request_timeout_ms", "1000"),
            ("retry_backoff_ms", "10"),
        ])
        .unwrap();
        let client = cluster.client(config.client.clone()).await.unwrap();
        let producer = Producer::with_client(client, config);
        producer.init_transactions(WAIT).await.unwrap();
        for round in 0..2 {
            producer.begin_transaction().unwrap();
            let outcomes = send_all(&producer, round * 4, round * 4 + 4).await;
            assert!(outcomes.iter().all(Result::is_ok), "{case}: {outcomes:?}");
            let committed = producer.commit_transaction(WAIT).await;
            committed.unwrap_or_else(|e| panic!("{case}, transaction {round}: {e}"));
        }
        // The broken answer's EndTxn, its retry, the second transaction's.
        let end_txns = end_txns.lock().unwrap().clone();
        assert!(
            end_txns.len() >= 3 && end_txns.iter().all(|&c| c),
            "{case}: {end_txns:?}"
        );
        producer.close(WAIT).await.unwrap();
    }
}

fn added(request: &FakeRequest) -> FakeReply {
    use ferrokafka_protocol::messages::add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
    };
    let asked: ferrokafka_protocol::messages::AddPartitionsToTxnRequest = request.decode();
    FakeReply::with(
        request,
        &ferrokafka_protocol::messages::AddPartitionsToTxnResponse {
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
                            ..AddPartitionsToTxnPartitionResult::default()
                        })
                        .collect(),
                    ..AddPartitionsToTxnTopicResult::default()
                })
                .collect(),
            ..Default::default()
        },
    )
}
