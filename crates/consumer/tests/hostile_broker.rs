//! The consumer against a broker whose Fetch answers are broken or
//! hostile: frames cut short, sizes past any limit, wrong correlation ids,
//! garbled bodies, answers trickling in past the request timeout, records
//! of partitions never asked for, batches with a bad CRC or a length past
//! the end, offsets at the edge of an int64, watermarks of any value, an
//! error code no Kafka version has. No poll panics or hands out a record
//! twice or out of order; a broken answer is a typed error or is fetched
//! again; corrupt data is an error naming where it is, and the consumer
//! reads on once the application seeks past it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrokafka_consumer::{ConsumeError, Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use ferrokafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use ferrokafka_protocol::messages::{
    FetchRequest, FetchResponse, OffsetCommitRequest, OffsetCommitResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_records::RecordBatchBuilder;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

#[path = "hostile_broker/group.rs"]
mod group;

/// The records of partition 0's log, at offsets `0..LOG_END`.
const LOG_END: i64 = 24;
const WAIT: Duration = Duration::from_secs(30);

/// One batch of the log's records from `offset`, at most 4 of them.
fn batch_from(offset: i64) -> Bytes {
    if offset >= LOG_END {
        return Bytes::new();
    }
    let mut batch = RecordBatchBuilder::new(offset);
    for o in offset..LOG_END.min(offset + 4) {
        batch.append::<ferrokafka_records::Header>(0, None, Some(&o.to_be_bytes()), &[]);
    }
    batch.build().unwrap()
}

/// The answer to a Fetch: each partition asked gets what `records` gives
/// for its fetch offset.
fn answer(request: &FakeRequest, records: impl Fn(i32, i64) -> PartitionData) -> FetchResponse {
    let asked: FetchRequest = request.decode();
    FetchResponse {
        responses: asked
            .topics
            .iter()
            .map(|topic| FetchableTopicResponse {
                topic: topic.topic.clone(),
                topic_id: topic.topic_id,
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| records(p.partition, p.fetch_offset))
                    .collect(),
                ..FetchableTopicResponse::default()
            })
            .collect(),
        ..FetchResponse::default()
    }
}

/// Partition data holding the log from `offset`, as a broker answers.
fn log_data(partition: i32, offset: i64) -> PartitionData {
    PartitionData {
        partition_index: partition,
        high_watermark: LOG_END,
        last_stable_offset: LOG_END,
        records: Some(batch_from(offset).into()),
        ..PartitionData::default()
    }
}

/// The right answer to a Fetch.
fn right(request: &FakeRequest) -> FakeReply {
    FakeReply::with(request, &answer(request, log_data))
}

/// What the broker does with a Fetch: the request and how many came
/// before it.
type Hostile = Arc<dyn Fn(&FakeRequest, usize) -> FakeReply + Send + Sync>;

/// A one-partition topic whose Fetch answers `hostile` gives.
fn cluster(hostile: Hostile) -> FakeCluster {
    let fetches = AtomicUsize::new(0);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Fetch)
            .then(|| hostile(request, fetches.fetch_add(1, Ordering::SeqCst)))
    });
    cluster.add_topic("t", &[1]);
    cluster
}

/// A broken answer to a Fetch.
type Broken = fn(&FakeRequest) -> FakeReply;

/// A broken answer made of the right one.
type Remade = fn(&FakeRequest, FakeReply) -> FakeReply;

/// A cluster whose first `broken` Fetch answers `hostile` gives, the
/// others right.
fn first_broken(broken: usize, hostile: Broken) -> FakeCluster {
    cluster(Arc::new(move |request, n| {
        if n < broken {
            hostile(request)
        } else {
            right(request)
        }
    }))
}

async fn consumer(cluster: &FakeCluster) -> Consumer {
    let config = ConsumerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("fetch_max_wait_ms", "10"),
        ("request_timeout_ms", "1000"),
        ("retry_backoff_ms", "10"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let consumer = Consumer::with_client(client, config);
    let partition = TopicPartition::new("t", 0);
    consumer
        .assign(std::slice::from_ref(&partition))
        .await
        .unwrap();
    consumer.seek(&partition, 0).await.unwrap();
    consumer
}

/// Polls until the log's last record (60 polls at most): the offsets
/// handed out and the errors met.
async fn read_to_end(consumer: &Consumer) -> (Vec<i64>, Vec<ConsumeError>) {
    let (mut offsets, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..60 {
        if offsets.last() == Some(&(LOG_END - 1)) {
            break;
        }
        let polled = tokio::time::timeout(WAIT, consumer.poll(Duration::from_millis(200)))
            .await
            .expect("a poll outlived its timeout");
        match polled {
            Ok(records) => offsets.extend(records.iter().map(|r| r.offset)),
            Err(error) => errors.push(error),
        }
    }
    (offsets, errors)
}

fn whole_log() -> Vec<i64> {
    (0..LOG_END).collect()
}

/// Answers whose frame or body is broken: each is a typed error or
/// fetched again, and the consumer reads the whole log once, in order.
#[tokio::test(start_paused = true)]
async fn a_broken_fetch_answer_is_fetched_again() {
    let cases: &[(&str, Broken)] = &[
        ("a wrong correlation id", |r| {
            FakeReply::unsolicited(r, right(r))
        }),
        ("an answer then one to nothing asked", |r| {
            FakeReply::with_unsolicited(r, right(r))
        }),
        ("a frame cut in its body", |r| {
            FakeReply::cut(r, right(r), 30)
        }),
        ("a size past receive_message_max_bytes", |_| {
            FakeReply::claiming(i32::MAX)
        }),
        ("a negative size", |_| FakeReply::claiming(-1)),
        ("a garbled body", |_| {
            FakeReply::Respond(Bytes::from_static(&[0xff; 9]))
        }),
        ("a body cut short", |r| {
            let FakeReply::Respond(body) = right(r) else {
                unreachable!()
            };
            FakeReply::Respond(body.slice(..body.len() - 10))
        }),
        ("a count of two billion topics", |r| {
            // Fetch v12 and later: throttle, error, session id, then a
            // compact array whose length is its count plus one.
            assert!(r.version >= 12);
            let mut body = BytesMut::from(&[0u8; 10][..]);
            body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
            FakeReply::Respond(body.freeze())
        }),
        ("an answer trickling in past the request timeout", |r| {
            FakeReply::Drip(Duration::from_millis(50), Box::new(right(r)))
        }),
        ("a disconnect", |_| FakeReply::Disconnect),
        ("silence", |_| FakeReply::Hang),
    ];
    for &(case, hostile) in cases {
        let cluster = first_broken(2, hostile);
        let consumer = consumer(&cluster).await;
        let (offsets, errors) = read_to_end(&consumer).await;
        assert_eq!(offsets, whole_log(), "{case}");
        for error in &errors {
            assert!(
                matches!(error, ConsumeError::Transport(_)),
                "{case}: {error:?}"
            );
        }
        consumer.close(WAIT).await.unwrap();
    }
}

/// Records of a partition not asked for (one the consumer is not
/// assigned, and one of a topic it never heard of) are not handed out.
#[tokio::test(start_paused = true)]
async fn records_of_partitions_never_asked_for_are_not_handed_out() {
    let cluster = cluster(Arc::new(|request, _| {
        let mut response = answer(request, log_data);
        for topic in &mut response.responses {
            topic.partitions.push(PartitionData {
                records: Some(batch_from(0).into()),
                ..log_data(1, 0)
            });
        }
        response.responses.push(FetchableTopicResponse {
            topic: "other".to_string(),
            topic_id: ferrokafka_protocol::Uuid([7; 16]),
            partitions: vec![log_data(0, 0)],
            ..FetchableTopicResponse::default()
        });
        FakeReply::with(request, &response)
    }));
    cluster.add_topic("t", &[1, 1]);
    let consumer = consumer(&cluster).await;
    let (offsets, errors) = read_to_end(&consumer).await;
    assert_eq!(offsets, whole_log());
    assert!(errors.is_empty(), "{errors:?}");
    consumer.close(WAIT).await.unwrap();
}

/// A batch cut by the answer's size limit (its length runs past the end
/// of the records) is a partial batch, fetched again whole next time.
#[tokio::test(start_paused = true)]
async fn a_batch_running_past_the_end_is_fetched_again() {
    let cluster = cluster(Arc::new(|request, _| {
        FakeReply::with(
            request,
            &answer(request, |partition, offset| {
                let mut records = BytesMut::from(&batch_from(offset)[..]);
                let next = batch_from(offset + 4);
                records.extend_from_slice(&next[..next.len().min(25)]);
                PartitionData {
                    records: Some(records.freeze().into()),
                    ..log_data(partition, offset)
                }
            }),
        )
    }));
    let consumer = consumer(&cluster).await;
    let (offsets, errors) = read_to_end(&consumer).await;
    assert_eq!(offsets, whole_log());
    assert!(errors.is_empty(), "{errors:?}");
    consumer.close(WAIT).await.unwrap();
}

/// The log's batch starting at `at` with one byte of its records flipped,
/// so its CRC no longer matches.
fn corrupt_batch(at: i64) -> Bytes {
    let mut batch = BytesMut::from(&batch_from(at)[..]);
    let last = batch.len() - 1;
    batch[last] ^= 0xff;
    batch.freeze()
}

/// A batch whose CRC does not match: the records before it are handed
/// out, then polls fail with an error naming the corrupt batch's offset
/// (the position stays before it) until the application seeks past it,
/// and the consumer reads on from there.
#[tokio::test(start_paused = true)]
async fn a_bad_crc_is_an_error_naming_the_batch_and_a_seek_past_it_reads_on() {
    let cluster = cluster(Arc::new(|request, _| {
        FakeReply::with(
            request,
            &answer(request, |partition, offset| {
                // The batch at 8 is corrupt; an answer holds three
                // batches, so the first answer has two good ones before it.
                let mut records = BytesMut::new();
                for at in [offset, offset + 4, offset + 8] {
                    let batch = if at == 8 {
                        corrupt_batch(at)
                    } else {
                        batch_from(at)
                    };
                    records.extend_from_slice(&batch);
                }
                PartitionData {
                    records: Some(records.freeze().into()),
                    ..log_data(partition, offset)
                }
            }),
        )
    }));
    let consumer = consumer(&cluster).await;
    let mut offsets = Vec::new();
    let mut error = None;
    for _ in 0..10 {
        match consumer.poll(Duration::from_millis(200)).await {
            Ok(records) => offsets.extend(records.iter().map(|r| r.offset)),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(offsets, (0..8).collect::<Vec<_>>());
    let partition = TopicPartition::new("t", 0);
    match error.expect("the corrupt batch was never reported") {
        ConsumeError::Corrupt {
            topic,
            partition: 0,
            offset: 8,
            reason,
        } if topic == "t" => assert!(reason.to_lowercase().contains("crc"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The position stays before the corrupt batch, and polls keep saying so.
    assert_eq!(consumer.position(&partition).await.unwrap(), 8);
    assert!(matches!(
        consumer.poll(Duration::from_millis(200)).await,
        Err(ConsumeError::Corrupt { offset: 8, .. })
    ));
    consumer.seek(&partition, 12).await.unwrap();
    let mut rest = Vec::new();
    for _ in 0..10 {
        rest.extend(
            consumer
                .poll(Duration::from_millis(200))
                .await
                .unwrap()
                .iter()
                .map(|r| r.offset),
        );
        if rest.last() == Some(&(LOG_END - 1)) {
            break;
        }
    }
    assert_eq!(rest, (12..LOG_END).collect::<Vec<_>>());
    consumer.close(WAIT).await.unwrap();
}

/// A batch whose length field is negative breaks the framing of the rest:
/// a typed error, never a panic.
#[tokio::test(start_paused = true)]
async fn a_negative_batch_length_is_a_typed_error() {
    let cluster = cluster(Arc::new(|request, _| {
        FakeReply::with(
            request,
            &answer(request, |partition, offset| {
                let mut records = BytesMut::from(&batch_from(offset)[..]);
                records[8..12].copy_from_slice(&(-5i32).to_be_bytes());
                PartitionData {
                    records: Some(records.freeze().into()),
                    ..log_data(partition, offset)
                }
            }),
        )
    }));
    let consumer = consumer(&cluster).await;
    let error = consumer.poll(WAIT).await.unwrap_err();
    assert!(
        matches!(error, ConsumeError::Corrupt { offset: 0, .. }),
        "{error:?}"
    );
    consumer.close(WAIT).await.unwrap();
}

/// Offsets and watermarks at the edges of an int64 (a batch at offset
/// 2^63-1, watermarks of -2^63 and 2^63-1, a log start past the end) and a
/// 24-day throttle time: no overflow, no panic, no wait.
#[tokio::test(start_paused = true)]
async fn offsets_and_watermarks_at_the_edges_of_an_int64_panic_nothing() {
    let edges = [i64::MIN, -1, i64::MAX];
    for (n, &edge) in edges.iter().enumerate() {
        let cluster = cluster(Arc::new(move |request, _| {
            let mut response = answer(request, |partition, offset| {
                let mut batch = RecordBatchBuilder::new(i64::MAX);
                batch.append::<ferrokafka_records::Header>(0, None, Some(b"edge"), &[]);
                PartitionData {
                    partition_index: partition,
                    high_watermark: edge,
                    last_stable_offset: edge,
                    log_start_offset: edge,
                    records: Some(
                        if offset < LOG_END {
                            batch_from(offset)
                        } else {
                            batch.build().unwrap()
                        }
                        .into(),
                    ),
                    ..PartitionData::default()
                }
            });
            response.throttle_time_ms = i32::MAX;
            FakeReply::with(request, &response)
        }));
        let consumer = consumer(&cluster).await;
        let started = tokio::time::Instant::now();
        let (offsets, errors) = read_to_end(&consumer).await;
        assert_eq!(offsets, whole_log(), "edge {n}");
        assert!(errors.is_empty(), "edge {n}: {errors:?}");
        // The batch at 2^63-1 after the log: handed out or not, no panic.
        let _ = consumer.poll(Duration::from_millis(200)).await;
        let _ = consumer.metrics();
        assert!(started.elapsed() < Duration::from_secs(60), "edge {n}");
        consumer.close(WAIT).await.unwrap();
    }
}

/// An error code no Kafka version has is named in a typed error; once
/// the broker answers well again, the consumer reads the log.
#[tokio::test(start_paused = true)]
async fn an_unknown_error_code_is_a_typed_error_and_the_consumer_reads_on() {
    let cluster = first_broken(1, |request| {
        FakeReply::with(
            request,
            &answer(request, |partition, offset| PartitionData {
                error_code: 9_999,
                records: None,
                ..log_data(partition, offset)
            }),
        )
    });
    let consumer = consumer(&cluster).await;
    let (offsets, errors) = read_to_end(&consumer).await;
    assert_eq!(offsets, whole_log());
    match errors.as_slice() {
        [
            ConsumeError::Broker {
                error,
                partition: 0,
                ..
            },
        ] => assert_eq!(*error, ErrorCode::Unknown(9_999)),
        other => panic!("{other:?}"),
    }
    consumer.close(WAIT).await.unwrap();
}

/// The group's committed offset for partition 0, as the broker keeps it.
type Committed = Arc<std::sync::Mutex<Option<i64>>>;

/// Keeps the offset an OffsetCommit carries; the right answer to it.
fn commit(request: &FakeRequest, committed: &Committed) -> FakeReply {
    let asked: OffsetCommitRequest = request.decode();
    let topics = asked
        .topics
        .iter()
        .map(|topic| OffsetCommitResponseTopic {
            name: topic.name.clone(),
            topic_id: topic.topic_id,
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    *committed.lock().unwrap() = Some(p.committed_offset);
                    OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        ..OffsetCommitResponsePartition::default()
                    }
                })
                .collect(),
            ..OffsetCommitResponseTopic::default()
        })
        .collect();
    FakeReply::with(
        request,
        &OffsetCommitResponse {
            topics,
            ..OffsetCommitResponse::default()
        },
    )
}

/// A commit whose answer comes broken (the broker having stored the
/// offset): `commit` ends in time, with the commit done or a typed error,
/// and the next commit, answered well, commits the position. An answer
/// naming only a partition never committed leaves the one committed
/// unanswered: an error, not a success.
#[tokio::test(start_paused = true)]
async fn a_broken_commit_answer_is_a_typed_error_or_retried() {
    let cases: &[(&str, Remade)] = &[
        ("a wrong correlation id", FakeReply::unsolicited),
        ("a frame cut in its body", |r, right| {
            FakeReply::cut(r, right, 12)
        }),
        ("a size past receive_message_max_bytes", |_, _| {
            FakeReply::claiming(i32::MAX)
        }),
        ("a garbled body", |_, _| {
            FakeReply::Respond(Bytes::from_static(&[0xff; 5]))
        }),
        ("a disconnect", |_, _| FakeReply::Disconnect),
        ("silence", |_, _| FakeReply::Hang),
        ("an unknown error code", |request, _| {
            let asked: OffsetCommitRequest = request.decode();
            let mut response = OffsetCommitResponse::default();
            for topic in &asked.topics {
                response.topics.push(OffsetCommitResponseTopic {
                    name: topic.name.clone(),
                    topic_id: topic.topic_id,
                    partitions: vec![OffsetCommitResponsePartition {
                        partition_index: 0,
                        error_code: 9_999,
                        ..OffsetCommitResponsePartition::default()
                    }],
                    ..OffsetCommitResponseTopic::default()
                });
            }
            FakeReply::with(request, &response)
        }),
        ("an answer about another partition", |request, _| {
            let asked: OffsetCommitRequest = request.decode();
            let mut response = OffsetCommitResponse::default();
            for topic in &asked.topics {
                response.topics.push(OffsetCommitResponseTopic {
                    name: topic.name.clone(),
                    topic_id: topic.topic_id,
                    partitions: vec![OffsetCommitResponsePartition {
                        partition_index: 77,
                        ..OffsetCommitResponsePartition::default()
                    }],
                    ..OffsetCommitResponseTopic::default()
                });
            }
            FakeReply::with(request, &response)
        }),
    ];
    for &(case, hostile) in cases {
        let committed = Committed::default();
        let kept = Arc::clone(&committed);
        let commits = AtomicUsize::new(0);
        let cluster = FakeCluster::new(1, move |request| match request.key {
            ApiKey::Fetch => Some(right(request)),
            ApiKey::OffsetCommit => {
                let right = commit(request, &kept);
                Some(if commits.fetch_add(1, Ordering::SeqCst) == 0 {
                    hostile(request, right)
                } else {
                    right
                })
            }
            _ => None,
        });
        cluster.add_topic("t", &[1]);
        let config = ConsumerConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("group_id", "g"),
            ("enable_auto_commit", "false"),
            ("fetch_max_wait_ms", "10"),
            ("request_timeout_ms", "1000"),
            ("retry_backoff_ms", "10"),
            ("default_api_timeout_ms", "5000"),
        ])
        .unwrap();
        let client = cluster.client(config.client.clone()).await.unwrap();
        let consumer = Consumer::with_client(client, config);
        let partition = TopicPartition::new("t", 0);
        consumer
            .assign(std::slice::from_ref(&partition))
            .await
            .unwrap();
        consumer.seek(&partition, 0).await.unwrap();
        let handed = consumer.poll(WAIT).await.unwrap();
        let next = handed.last().unwrap().offset + 1;
        let started = tokio::time::Instant::now();
        let first = consumer.commit().await;
        assert!(started.elapsed() < Duration::from_secs(10), "{case}");
        if case.starts_with("an ") {
            // What the broker said about the partition is not a success.
            assert!(first.is_err(), "{case}: {first:?}");
        }
        if let Err(error) = &first {
            assert!(
                matches!(error, ConsumeError::Offsets(_) | ConsumeError::Transport(_)),
                "{case}: {error:?}"
            );
        }
        consumer
            .commit()
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(*committed.lock().unwrap(), Some(next), "{case}");
        consumer.close(WAIT).await.unwrap();
    }
}

/// ListOffsets answers naming partitions never asked, leaving out the one
/// asked, or with an error code no Kafka version has: the offsets calls
/// give only what was asked, and a typed error for an answer that leaves
/// the asked partition out or refuses it.
#[tokio::test(start_paused = true)]
async fn odd_list_offsets_answers_give_only_what_was_asked_or_a_typed_error() {
    use ferrokafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use ferrokafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
    /// The answer: the asked partitions (with `code`, offset 5) if
    /// `asked`, and partition 9 of the topic and of `other`.
    fn listed(request: &FakeRequest, asked: bool, code: i16) -> FakeReply {
        let request_body: ListOffsetsRequest = request.decode();
        let partition = |index, code| ListOffsetsPartitionResponse {
            partition_index: index,
            error_code: code,
            offset: 5,
            timestamp: -1,
            ..ListOffsetsPartitionResponse::default()
        };
        let mut topics: Vec<ListOffsetsTopicResponse> = request_body
            .topics
            .iter()
            .map(|t| {
                let mut partitions = vec![partition(9, 0)];
                if asked {
                    partitions.extend(
                        t.partitions
                            .iter()
                            .map(|p| partition(p.partition_index, code)),
                    );
                }
                ListOffsetsTopicResponse {
                    name: t.name.clone(),
                    partitions,
                    ..ListOffsetsTopicResponse::default()
                }
            })
            .collect();
        topics.push(ListOffsetsTopicResponse {
            name: "other".to_string(),
            partitions: vec![partition(0, 0)],
            ..ListOffsetsTopicResponse::default()
        });
        FakeReply::with(
            request,
            &ListOffsetsResponse {
                topics,
                ..ListOffsetsResponse::default()
            },
        )
    }
    let partition = TopicPartition::new("t", 0);
    for (asked, code) in [(true, 0), (false, 0), (true, 9_999)] {
        let cluster = FakeCluster::new(1, move |request| {
            (request.key == ApiKey::ListOffsets).then(|| listed(request, asked, code))
        });
        cluster.add_topic("t", &[1]);
        let consumer = consumer(&cluster).await;
        let found =
            tokio::time::timeout(WAIT, consumer.end_offsets(std::slice::from_ref(&partition)))
                .await
                .expect("end_offsets hung");
        match (asked, code, found) {
            (true, 0, Ok(found)) => {
                assert_eq!(found, [(partition.clone(), 5)].into_iter().collect());
            }
            (false, _, Err(ConsumeError::Offsets(error))) => {
                assert!(error.to_string().contains("no result for t-0"), "{error}");
            }
            (true, 9_999, Err(ConsumeError::Offsets(error))) => {
                assert!(error.to_string().contains("9999"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        consumer.close(WAIT).await.unwrap();
    }
}

/// A leader that cannot answer for one partition of several yet (still
/// loading it, as a broker does for a while after a topic of thousands of
/// partitions is created): the partitions it answered for are not asked
/// again, only the one it refused, until it answers.
#[tokio::test(start_paused = true)]
async fn list_offsets_asks_again_only_for_the_partitions_refused() {
    let asked: Arc<Mutex<Vec<Vec<i32>>>> = Arc::default();
    let cluster = FakeCluster::new(1, {
        let asked = Arc::clone(&asked);
        move |request| {
            if request.key != ApiKey::ListOffsets {
                return None;
            }
            let mut asked = asked.lock().unwrap();
            asked.push(listed_partitions(request));
            // Partition 1 is refused the first two times it is asked.
            let refusing = asked.iter().filter(|a| a.contains(&1)).count() <= 2;
            Some(log_bounds_refusing(
                request,
                refusing.then_some((1, ErrorCode::NotLeaderOrFollower)),
            ))
        }
    });
    cluster.add_topic("t", &[1, 1, 1]);
    let consumer = consumer(&cluster).await;
    let partitions: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
    let found = tokio::time::timeout(WAIT, consumer.end_offsets(&partitions))
        .await
        .expect("end_offsets hung")
        .unwrap();
    assert_eq!(
        found,
        partitions.iter().map(|tp| (tp.clone(), LOG_END)).collect()
    );
    assert_eq!(*asked.lock().unwrap(), [vec![0, 1, 2], vec![1], vec![1]]);
    consumer.close(WAIT).await.unwrap();
}

/// The partitions a ListOffsets request asks about.
fn listed_partitions(request: &FakeRequest) -> Vec<i32> {
    let body: ferrokafka_protocol::messages::ListOffsetsRequest = request.decode();
    body.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect()
}

/// When ListOffsets was asked, and for which partitions.
type AskedAt = (std::time::Instant, Vec<i32>);

/// In a poll, a partition whose leader cannot yet say where its log
/// starts does not hold up the others: partition 0's records are handed
/// out from the first poll, each poll returns in its time, and partition 1
/// is asked about again, alone, after waits that double, until it is read
/// too.
#[tokio::test(start_paused = true)]
async fn a_poll_reads_the_partitions_answered_for_while_another_waits_for_its_offset() {
    let asked: Arc<Mutex<Vec<AskedAt>>> = Arc::default();
    let cluster = FakeCluster::new(1, {
        let asked = Arc::clone(&asked);
        move |request| match request.key {
            ApiKey::Fetch => Some(right(request)),
            ApiKey::ListOffsets => {
                let mut asked = asked.lock().unwrap();
                asked.push((std::time::Instant::now(), listed_partitions(request)));
                let refusing = asked.iter().filter(|(_, a)| a.contains(&1)).count() <= 4;
                Some(log_bounds_refusing(
                    request,
                    refusing.then_some((1, ErrorCode::NotLeaderOrFollower)),
                ))
            }
            _ => None,
        }
    });
    cluster.add_topic("t", &[1, 1]);
    let config = ConsumerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("fetch_max_wait_ms", "10"),
        ("request_timeout_ms", "1000"),
        ("retry_backoff_ms", "100"),
        ("retry_backoff_max_ms", "10000"),
        ("auto_offset_reset", "earliest"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let consumer = Consumer::with_client(client, config);
    let partitions = [TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    consumer.assign(&partitions).await.unwrap();
    let mut read: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    let mut first_of_1 = None;
    for n in 0..100 {
        if read.iter().all(|offsets| offsets.len() == LOG_END as usize) {
            break;
        }
        let records = tokio::time::timeout(
            Duration::from_millis(400),
            consumer.poll(Duration::from_millis(200)),
        )
        .await
        .expect("a poll outlived its timeout")
        .unwrap();
        for record in records {
            let partition = usize::try_from(record.partition).unwrap();
            if partition == 1 && first_of_1.is_none() {
                first_of_1 = Some(n);
            }
            read[partition].push(record.offset);
        }
        if n == 0 {
            assert!(!read[0].is_empty(), "partition 0 waited for partition 1");
        }
    }
    let whole: Vec<i64> = (0..LOG_END).collect();
    assert_eq!(read, [whole.clone(), whole]);
    assert!(first_of_1.is_some_and(|n| n > 0));
    let asked = asked.lock().unwrap().clone();
    let partitions: Vec<&Vec<i32>> = asked.iter().map(|(_, p)| p).collect();
    assert_eq!(
        partitions,
        [&vec![0, 1], &vec![1], &vec![1], &vec![1], &vec![1]]
    );
    // 100 ms, then twice as long each time, less at most 20 % jitter.
    for (k, pair) in asked.windows(2).enumerate() {
        let least = Duration::from_millis(80 << k);
        assert!(
            pair[1].0 - pair[0].0 >= least,
            "retry {k} came early: {:?}",
            asked
                .iter()
                .map(|(t, p)| (*t - asked[0].0, p))
                .collect::<Vec<_>>()
        );
    }
    consumer.close(WAIT).await.unwrap();
}

/// A KIP-848 coordinator whose heartbeat answers are odd: an assignment
/// naming a topic id no topic has and a partition the topic does not have
/// beside partition 0 of `t`; or an error code no Kafka version has. The
/// member reads what it can read (the whole log of partition 0) or fails
/// with a typed error, from every poll until it subscribes again, each
/// poll in its time, and nothing panics. (The
/// partition without a leader once held every poll up for
/// `default_api_timeout_ms`, looking up its offset, so partition 0's
/// records never came.)
#[tokio::test(start_paused = true)]
async fn odd_heartbeat_answers_are_a_typed_error_or_read_around() {
    use ferrokafka_protocol::messages::consumer_group_heartbeat_response::{
        Assignment, TopicPartitions,
    };
    use ferrokafka_protocol::messages::{
        ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    };
    fn heartbeat(request: &FakeRequest, error_code: i16) -> FakeReply {
        let asked: ConsumerGroupHeartbeatRequest = request.decode();
        let leaving = asked.member_epoch < 0;
        // The fake's first topic's id, and one no topic has.
        let mut known = [0u8; 16];
        known[15] = 1;
        FakeReply::with(
            request,
            &ConsumerGroupHeartbeatResponse {
                error_code: if leaving { 0 } else { error_code },
                member_id: Some("member-1".to_string()),
                member_epoch: if leaving { asked.member_epoch } else { 1 },
                heartbeat_interval_ms: 100,
                assignment: (!leaving && error_code == 0).then(|| Assignment {
                    topic_partitions: vec![
                        TopicPartitions {
                            topic_id: ferrokafka_protocol::Uuid(known),
                            partitions: vec![0, 99],
                            ..TopicPartitions::default()
                        },
                        TopicPartitions {
                            topic_id: ferrokafka_protocol::Uuid([0xab; 16]),
                            partitions: vec![0],
                            ..TopicPartitions::default()
                        },
                    ],
                    ..Assignment::default()
                }),
                ..ConsumerGroupHeartbeatResponse::default()
            },
        )
    }
    for error_code in [0, 9_999] {
        let cluster = FakeCluster::new(1, move |request| match request.key {
            ApiKey::ConsumerGroupHeartbeat => Some(heartbeat(request, error_code)),
            ApiKey::Fetch => Some(right(request)),
            ApiKey::OffsetFetch => {
                use ferrokafka_protocol::messages::OffsetFetchResponse;
                // Nothing committed: the group-level answer, no partitions.
                Some(FakeReply::with(request, &OffsetFetchResponse::default()))
            }
            ApiKey::ListOffsets => Some(log_bounds(request)),
            _ => None,
        });
        cluster.add_topic("t", &[1]);
        let config = ConsumerConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("group_id", "g"),
            ("group_protocol", "consumer"),
            ("enable_auto_commit", "false"),
            ("auto_offset_reset", "earliest"),
            ("fetch_max_wait_ms", "10"),
            ("request_timeout_ms", "1000"),
        ])
        .unwrap();
        let client = cluster.client(config.client.clone()).await.unwrap();
        let consumer = Consumer::with_client(client, config);
        consumer.subscribe(&["t"]).await.unwrap();
        if error_code == 0 {
            let (offsets, errors) = read_to_end(&consumer).await;
            assert_eq!(offsets, whole_log(), "{errors:?}");
        } else {
            // Once membership failed for good, every poll says so (they
            // went on returning nothing, as if all were well).
            let mut first = None;
            for _ in 0..5 {
                match consumer.poll(Duration::from_millis(200)).await {
                    Ok(records) => {
                        assert!(first.is_none() && records.is_empty(), "{records:?}");
                    }
                    Err(error) => {
                        assert!(error.to_string().contains("9999"), "{error}");
                        first.get_or_insert(error);
                    }
                }
            }
            assert!(first.is_some(), "the failure was never reported");
            let heartbeats = || {
                cluster
                    .received()
                    .iter()
                    .filter(|(_, key)| *key == ApiKey::ConsumerGroupHeartbeat)
                    .count()
            };
            // Subscribing again starts a new membership.
            let before = heartbeats();
            consumer.subscribe(&["t"]).await.unwrap();
            let _ = consumer.poll(Duration::from_millis(200)).await;
            assert!(heartbeats() > before, "no new membership");
        }
        let _ = tokio::time::timeout(WAIT, consumer.close(WAIT)).await;
    }
}

/// The log's bounds as ListOffsets gives them: 0 for the earliest offset,
/// `LOG_END` for the latest.
fn log_bounds(request: &FakeRequest) -> FakeReply {
    log_bounds_refusing(request, None)
}

/// [`log_bounds`], but with the error of `refused` for its partition.
fn log_bounds_refusing(request: &FakeRequest, refused: Option<(i32, ErrorCode)>) -> FakeReply {
    use ferrokafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use ferrokafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
    let asked: ListOffsetsRequest = request.decode();
    let topics = asked
        .topics
        .iter()
        .map(|t| ListOffsetsTopicResponse {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| match refused {
                    Some((partition, error)) if partition == p.partition_index => {
                        ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: error.code(),
                            offset: -1,
                            timestamp: -1,
                            ..ListOffsetsPartitionResponse::default()
                        }
                    }
                    _ => ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        offset: if p.timestamp == -2 { 0 } else { LOG_END },
                        timestamp: -1,
                        ..ListOffsetsPartitionResponse::default()
                    },
                })
                .collect(),
            ..ListOffsetsTopicResponse::default()
        })
        .collect();
    FakeReply::with(
        request,
        &ListOffsetsResponse {
            topics,
            ..ListOffsetsResponse::default()
        },
    )
}
