//! Cancellation safety on the in-memory cluster, with the runtime's clock
//! paused: each future of the producer's API is dropped after every number
//! of polls (one virtual millisecond of progress between polls) until it
//! would have finished by itself. Whatever the point, no record `send`
//! accepted is lost or completed twice, a dropped `send` accepted nothing,
//! and the producer goes on working: the next flush, send, commit and close
//! behave as if nothing had been dropped. So too with a delivery future
//! dropped (its record is delivered all the same), and with
//! `init_transactions`, `send_offsets_to_transaction` and
//! `abort_transaction` dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka_producer::transaction::{GroupIdentity, OffsetAndMetadata, TransactionState};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::EndTxnResponse;
use ferrokafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use ferrokafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use ferrokafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest, poll_then_drop};

/// The most polls any future here needs to finish by itself.
const MAX_POLLS: usize = 60;
/// The same for a send that waits for its topic's metadata.
const MAX_SEND_POLLS: usize = 400;
const WAIT: Duration = Duration::from_secs(30);

/// Every Produce answered after 5 ms, AddPartitionsToTxn and EndTxn at once.
fn cluster() -> FakeCluster {
    let cluster = FakeCluster::new(2, |request| match request.key {
        ApiKey::Produce => Some(FakeReply::After(
            Duration::from_millis(5),
            Box::new(FakeReply::produce(request, ErrorCode::None, 0)),
        )),
        ApiKey::AddPartitionsToTxn => Some(added(request)),
        ApiKey::EndTxn => Some(FakeReply::with(request, &EndTxnResponse::default())),
        _ => None,
    });
    cluster.add_topic("t", &[1, 2, 1, 2]);
    cluster
}

/// The offsets a TxnOffsetCommit carried: topic, partition, offset.
type TxnOffsets = Arc<std::sync::Mutex<Vec<(String, i32, i64)>>>;

/// As [`cluster`], with the answers the transaction calls wait on 5 ms
/// late (InitProducerId, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), so
/// each can be dropped while it waits; the offsets committed through
/// TxnOffsetCommit are kept in `offsets`.
fn slow_transactions(offsets: &TxnOffsets) -> FakeCluster {
    let offsets = Arc::clone(offsets);
    let cluster = FakeCluster::new(2, move |request| {
        let reply = match request.key {
            ApiKey::Produce => FakeReply::produce(request, ErrorCode::None, 0),
            ApiKey::AddPartitionsToTxn => added(request),
            ApiKey::EndTxn => FakeReply::with(request, &EndTxnResponse::default()),
            ApiKey::InitProducerId => FakeReply::Default,
            ApiKey::AddOffsetsToTxn => {
                FakeReply::with(request, &AddOffsetsToTxnResponse::default())
            }
            ApiKey::TxnOffsetCommit => {
                let asked: TxnOffsetCommitRequest = request.decode();
                let mut kept = offsets.lock().unwrap();
                let topics = asked
                    .topics
                    .iter()
                    .map(|topic| TxnOffsetCommitResponseTopic {
                        name: topic.name.clone(),
                        partitions: topic
                            .partitions
                            .iter()
                            .map(|p| {
                                kept.push((
                                    topic.name.clone(),
                                    p.partition_index,
                                    p.committed_offset,
                                ));
                                TxnOffsetCommitResponsePartition {
                                    partition_index: p.partition_index,
                                    ..TxnOffsetCommitResponsePartition::default()
                                }
                            })
                            .collect(),
                        ..TxnOffsetCommitResponseTopic::default()
                    })
                    .collect();
                FakeReply::with(
                    request,
                    &TxnOffsetCommitResponse {
                        topics,
                        ..TxnOffsetCommitResponse::default()
                    },
                )
            }
            _ => return None,
        };
        Some(FakeReply::After(Duration::from_millis(5), Box::new(reply)))
    });
    cluster.add_topic("t", &[1, 2, 1, 2]);
    cluster
}

fn added(request: &FakeRequest) -> FakeReply {
    let asked: AddPartitionsToTxnRequest = request.decode();
    FakeReply::with(
        request,
        &AddPartitionsToTxnResponse {
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
            ..AddPartitionsToTxnResponse::default()
        },
    )
}

async fn producer(cluster: &FakeCluster, extra: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![
        ("bootstrap_servers", bootstrap.as_str()),
        ("linger_ms", "3"),
    ];
    pairs.extend_from_slice(extra);
    let config = ProducerConfig::from_pairs(pairs).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

/// Counts each record's outcomes.
#[derive(Default, Clone)]
struct Outcomes(Arc<Vec<AtomicUsize>>);

impl Outcomes {
    fn new(records: usize) -> Self {
        Outcomes(Arc::new(
            (0..records).map(|_| AtomicUsize::new(0)).collect(),
        ))
    }

    /// Sends record `i` with a callback counting its outcomes.
    async fn send(&self, producer: &Producer, i: usize) {
        let outcomes = self.clone();
        let partition = i32::try_from(i % 4).unwrap();
        producer
            .send_with_callback(
                ProducerRecord::new("t").partition(partition).value("v"),
                move |outcome| {
                    assert!(outcome.is_ok(), "{outcome:?}");
                    outcomes.0[i].fetch_add(1, Ordering::SeqCst);
                },
            )
            .await
            .unwrap();
    }

    fn counts(&self) -> Vec<usize> {
        self.0.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_flush_dropped_at_any_point_loses_nothing_and_the_next_one_works() {
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let producer = producer(&cluster, &[]).await;
        let outcomes = Outcomes::new(40);
        for i in 0..20 {
            outcomes.send(&producer, i).await;
        }
        let finished = poll_then_drop(polls, producer.flush()).await;
        // Records sent after the drop go out as usual.
        for i in 20..40 {
            outcomes.send(&producer, i).await;
        }
        tokio::time::timeout(WAIT, producer.flush())
            .await
            .unwrap_or_else(|_| panic!("flush after a flush dropped at poll {polls} hung"));
        assert_eq!(outcomes.counts(), vec![1; 40], "dropped at poll {polls}");
        producer.close(WAIT).await.unwrap();
        if finished {
            return;
        }
    }
    panic!("flush never finished within {MAX_POLLS} polls");
}

#[tokio::test(start_paused = true)]
async fn a_close_dropped_at_any_point_still_settles_every_record() {
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let producer = producer(&cluster, &[]).await;
        let outcomes = Outcomes::new(20);
        for i in 0..20 {
            outcomes.send(&producer, i).await;
        }
        let finished = poll_then_drop(polls, producer.close(WAIT)).await;
        // Once the close began (its first poll), new records are refused;
        // those accepted are delivered all the same, and a second close
        // waits for them.
        if polls > 0 {
            assert!(matches!(
                producer.send(ProducerRecord::new("t").value("v")).await,
                Err(ferrokafka_producer::ProduceError::Closed)
            ));
        }
        tokio::time::timeout(WAIT, producer.close(WAIT))
            .await
            .unwrap_or_else(|_| panic!("close after a close dropped at poll {polls} hung"))
            .unwrap();
        assert_eq!(outcomes.counts(), vec![1; 20], "dropped at poll {polls}");
        if finished {
            return;
        }
    }
    panic!("close never finished within {MAX_POLLS} polls");
}

/// A `send` dropped before it returned accepted nothing: its record is
/// never written and its callback never called. Here the first send of a
/// topic waits for the topic's metadata, which comes after a delay.
#[tokio::test(start_paused = true)]
async fn a_send_dropped_before_it_returned_accepted_nothing() {
    for polls in 0..MAX_SEND_POLLS {
        let produced = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&produced);
        let cluster = FakeCluster::new(1, move |request| match request.key {
            ApiKey::Produce => {
                let produce: ferrokafka_protocol::messages::ProduceRequest = request.decode();
                let records: usize = produce
                    .topic_data
                    .iter()
                    .flat_map(|t| t.partition_data.iter())
                    .map(|p| {
                        ferrokafka_records::BatchReader::new(
                            p.records.clone().unwrap_or_default().to_bytes(),
                        )
                        .filter_map(Result::ok)
                        .map(|b| match b {
                            ferrokafka_records::Batch::V2(b) => {
                                usize::try_from(b.header().record_count).unwrap()
                            }
                            ferrokafka_records::Batch::Legacy(_) => 0,
                        })
                        .sum::<usize>()
                    })
                    .sum();
                counted.fetch_add(records, Ordering::SeqCst);
                Some(FakeReply::After(
                    Duration::from_millis(5),
                    Box::new(FakeReply::produce(request, ErrorCode::None, 0)),
                ))
            }
            _ => None,
        });
        let producer = producer(&cluster, &[]).await;
        // The topic appears a few milliseconds into the send's wait.
        let adding = {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                cluster.add_topic("t", &[1]);
            })
        };
        let called = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&called);
        let finished = poll_then_drop(
            polls,
            producer.send_with_callback(ProducerRecord::new("t").value("v"), move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .await;
        adding.await.unwrap();
        producer.flush().await;
        producer.close(WAIT).await.unwrap();
        let (written, calls) = (
            produced.load(Ordering::SeqCst),
            called.load(Ordering::SeqCst),
        );
        if finished {
            assert_eq!((written, calls), (1, 1), "finished at poll {polls}");
            return;
        }
        assert_eq!((written, calls), (0, 0), "dropped at poll {polls}");
    }
    panic!("the send never finished within {MAX_SEND_POLLS} polls");
}

#[tokio::test(start_paused = true)]
async fn a_commit_dropped_at_any_point_can_be_called_again() {
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let producer = producer(&cluster, &[("transactional_id", "tx-cancel")]).await;
        producer.init_transactions(WAIT).await.unwrap();
        producer.begin_transaction().unwrap();
        let outcomes = Outcomes::new(20);
        for i in 0..20 {
            outcomes.send(&producer, i).await;
        }
        let finished = poll_then_drop(polls, producer.commit_transaction(WAIT)).await;
        // Called again, the commit finishes (or has finished) and every
        // record of it has its outcome; the next transaction goes as usual.
        tokio::time::timeout(WAIT, producer.commit_transaction(WAIT))
            .await
            .unwrap_or_else(|_| panic!("commit after one dropped at poll {polls} hung"))
            .or_else(|error| {
                // A commit that went on to finish after the drop left no
                // transaction: calling it again is refused as out of place.
                if producer.transaction_state() == Some(TransactionState::Ready) {
                    Ok(())
                } else {
                    Err(error)
                }
            })
            .unwrap_or_else(|e| panic!("dropped at poll {polls}: {e}"));
        assert_eq!(outcomes.counts(), vec![1; 20], "dropped at poll {polls}");
        producer.begin_transaction().unwrap();
        outcomes.send(&producer, 0).await;
        producer.commit_transaction(WAIT).await.unwrap();
        producer.close(WAIT).await.unwrap();
        if finished {
            return;
        }
    }
    panic!("the commit never finished within {MAX_POLLS} polls");
}

/// A delivery future dropped at any point: the record it stood for is
/// delivered all the same (its callback-less outcome simply unread), once.
#[tokio::test(start_paused = true)]
async fn a_delivery_future_dropped_at_any_point_loses_no_record() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&produced);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            counted.fetch_add(1, Ordering::SeqCst);
            FakeReply::After(
                Duration::from_millis(5),
                Box::new(FakeReply::produce(request, ErrorCode::None, 0)),
            )
        })
    });
    cluster.add_topic("t", &[1]);
    // No linger: the accumulator's linger runs on the real clock, which the
    // paused one does not move, so with one the polls a delivery needs
    // would depend on how busy the machine is.
    let producer = producer(&cluster, &[("linger_ms", "0")]).await;
    for polls in 0..MAX_POLLS {
        let delivery = producer
            .send(ProducerRecord::new("t").value("v"))
            .await
            .unwrap();
        let finished = poll_then_drop(polls, delivery).await;
        producer.flush().await;
        assert_eq!(
            produced.load(Ordering::SeqCst),
            polls + 1,
            "dropped at poll {polls}"
        );
        if finished {
            assert_eq!(producer.metrics().record_send_total, (polls + 1) as u64);
            producer.close(WAIT).await.unwrap();
            return;
        }
    }
    panic!("a delivery never finished within {MAX_POLLS} polls");
}

/// `init_transactions` dropped at any point: called again, it finishes,
/// and a transaction then commits.
#[tokio::test(start_paused = true)]
async fn an_init_transactions_dropped_at_any_point_can_be_called_again() {
    for polls in 0..MAX_POLLS {
        let cluster = slow_transactions(&Arc::default());
        let producer = producer(&cluster, &[("transactional_id", "tx-init")]).await;
        let finished = poll_then_drop(polls, producer.init_transactions(WAIT)).await;
        tokio::time::timeout(WAIT, producer.init_transactions(WAIT))
            .await
            .unwrap_or_else(|_| panic!("init after one dropped at poll {polls} hung"))
            .or_else(|error| {
                // One that went on to finish leaves nothing to do.
                if producer.transaction_state() == Some(TransactionState::Ready) {
                    Ok(())
                } else {
                    Err(error)
                }
            })
            .unwrap_or_else(|e| panic!("dropped at poll {polls}: {e}"));
        assert!(producer.producer_id_and_epoch().is_some());
        producer.begin_transaction().unwrap();
        let outcomes = Outcomes::new(4);
        for i in 0..4 {
            outcomes.send(&producer, i).await;
        }
        producer.commit_transaction(WAIT).await.unwrap();
        assert_eq!(outcomes.counts(), vec![1; 4], "dropped at poll {polls}");
        producer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("init_transactions never finished within {MAX_POLLS} polls");
}

/// `send_offsets_to_transaction` dropped at any point: called again, it
/// sends the offsets, and the transaction commits with them.
#[tokio::test(start_paused = true)]
async fn a_send_offsets_dropped_at_any_point_can_be_called_again() {
    let offsets = || {
        [(
            ferrokafka_producer::TopicPartition::new("in", 3),
            OffsetAndMetadata::new(77),
        )]
    };
    for polls in 0..MAX_POLLS {
        let committed = Arc::default();
        let cluster = slow_transactions(&committed);
        let producer = producer(&cluster, &[("transactional_id", "tx-offsets")]).await;
        producer.init_transactions(WAIT).await.unwrap();
        producer.begin_transaction().unwrap();
        let outcomes = Outcomes::new(4);
        for i in 0..4 {
            outcomes.send(&producer, i).await;
        }
        let group = GroupIdentity::without_member("g");
        let finished = poll_then_drop(
            polls,
            producer.send_offsets_to_transaction(offsets(), group.clone()),
        )
        .await;
        tokio::time::timeout(WAIT, producer.send_offsets_to_transaction(offsets(), group))
            .await
            .unwrap_or_else(|_| panic!("send_offsets after one dropped at poll {polls} hung"))
            .unwrap_or_else(|e| panic!("dropped at poll {polls}: {e}"));
        producer.commit_transaction(WAIT).await.unwrap();
        assert_eq!(outcomes.counts(), vec![1; 4], "dropped at poll {polls}");
        let committed = committed.lock().unwrap().clone();
        assert!(!committed.is_empty(), "dropped at poll {polls}");
        assert!(
            committed.iter().all(|c| *c == ("in".to_string(), 3, 77)),
            "dropped at poll {polls}: {committed:?}"
        );
        producer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("send_offsets_to_transaction never finished within {MAX_POLLS} polls");
}

/// `abort_transaction` dropped at any point: called again, it finishes
/// (or has finished); every record of the transaction has exactly one
/// outcome, and the next transaction commits.
#[tokio::test(start_paused = true)]
async fn an_abort_dropped_at_any_point_can_be_called_again() {
    for polls in 0..MAX_POLLS {
        let cluster = slow_transactions(&Arc::default());
        let producer = producer(&cluster, &[("transactional_id", "tx-abort")]).await;
        producer.init_transactions(WAIT).await.unwrap();
        producer.begin_transaction().unwrap();
        let settled: Arc<Vec<AtomicUsize>> =
            Arc::new((0..8).map(|_| AtomicUsize::new(0)).collect());
        for i in 0..8 {
            if i == 4 {
                // Half the records written, half still queued when the
                // abort comes: it fails these and must end the
                // transaction for those.
                producer.flush().await;
            }
            let settled = Arc::clone(&settled);
            producer
                .send_with_callback(
                    ProducerRecord::new("t")
                        .partition(i32::try_from(i % 4).unwrap())
                        .value("v"),
                    move |_| {
                        settled[i].fetch_add(1, Ordering::SeqCst);
                    },
                )
                .await
                .unwrap();
        }
        let finished = poll_then_drop(polls, producer.abort_transaction(WAIT)).await;
        tokio::time::timeout(WAIT, producer.abort_transaction(WAIT))
            .await
            .unwrap_or_else(|_| panic!("abort after one dropped at poll {polls} hung"))
            .or_else(|error| {
                if producer.transaction_state() == Some(TransactionState::Ready) {
                    Ok(())
                } else {
                    Err(error)
                }
            })
            .unwrap_or_else(|e| panic!("dropped at poll {polls}: {e}"));
        let counts: Vec<usize> = settled.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(counts, vec![1; 8], "dropped at poll {polls}");
        producer.begin_transaction().unwrap();
        let outcomes = Outcomes::new(1);
        outcomes.send(&producer, 0).await;
        producer.commit_transaction(WAIT).await.unwrap();
        assert_eq!(outcomes.counts(), vec![1], "dropped at poll {polls}");
        producer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("abort_transaction never finished within {MAX_POLLS} polls");
}
