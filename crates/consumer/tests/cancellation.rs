//! Cancellation safety of the consumer on the in-memory cluster, with the
//! runtime's clock paused: `poll` is dropped after every number of polls
//! of its future until it would have finished by itself. Whatever the
//! point, no record is skipped or handed out twice: the polls after the
//! drop hand out the partition's log from where the last completed poll
//! left it, in order. A `commit` dropped likewise can be called again and
//! commits the consumer's position. So with the record stream (its `next`
//! dropped, then the stream itself with records in hand), `commit_async`,
//! `seek`, `seek_to_beginning`/`seek_to_end` with the `position` that
//! looks the offset up, the offsets calls, and a group member's first
//! poll, which joins the group (KIP-848) and fetches its committed offset.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use ferrokafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use ferrokafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use ferrokafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, OffsetCommitRequest,
    OffsetCommitResponse,
};
use ferrokafka_records::RecordBatchBuilder;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest, poll_then_drop};

/// The records in each partition's log, at offsets `0..LOG_END`.
const LOG_END: i64 = 30;
/// The most polls any `poll` here needs to finish by itself.
const MAX_POLLS: usize = 200;
const WAIT: Duration = Duration::from_secs(30);

/// A one-partition topic whose Fetch answers come 5 ms late with at most
/// 4 records from the offset asked (none past the log's end), and whose
/// OffsetCommit answers come as late, the offsets committed kept in
/// `committed`.
fn cluster_keeping(committed: Committed) -> FakeCluster {
    cluster_with(committed, false)
}

/// As [`cluster_keeping`]; with `slow_metadata`, Metadata answers come
/// 5 ms late too, so that a poll waits on the metadata refresh it makes
/// before fetching ahead, after it took records from its buffer.
fn cluster_with(committed: Committed, slow_metadata: bool) -> FakeCluster {
    let cluster = FakeCluster::new(1, move |request| {
        let reply = match request.key {
            ApiKey::Fetch => fetched(request),
            ApiKey::OffsetCommit => commit(request, &committed),
            ApiKey::ListOffsets => listed(request),
            ApiKey::Metadata if slow_metadata => FakeReply::Default,
            _ => return None,
        };
        Some(FakeReply::After(Duration::from_millis(5), Box::new(reply)))
    });
    cluster.add_topic("t", &[1]);
    cluster
}

fn cluster() -> FakeCluster {
    cluster_keeping(Committed::default())
}

/// The offset last committed for partition 0 of `t`.
type Committed = Arc<Mutex<Option<i64>>>;

fn commit(request: &FakeRequest, committed: &Committed) -> FakeReply {
    let asked: OffsetCommitRequest = request.decode();
    let response = OffsetCommitResponse {
        topics: asked
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
            .collect(),
        ..OffsetCommitResponse::default()
    };
    FakeReply::with(request, &response)
}

/// The log starts at 0 and ends at `LOG_END`; the record at offset `o`
/// has timestamp `o` (so a time finds the offset of the same number).
fn listed(request: &FakeRequest) -> FakeReply {
    let asked: ListOffsetsRequest = request.decode();
    let response = ListOffsetsResponse {
        topics: asked
            .topics
            .iter()
            .map(|topic| ListOffsetsTopicResponse {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let offset = match p.timestamp {
                            -2 => 0,
                            -1 => LOG_END,
                            at if at >= LOG_END => -1,
                            at => at.max(0),
                        };
                        ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            timestamp: if offset < 0 { -1 } else { offset },
                            offset,
                            leader_epoch: 0,
                            ..ListOffsetsPartitionResponse::default()
                        }
                    })
                    .collect(),
                ..ListOffsetsTopicResponse::default()
            })
            .collect(),
        ..ListOffsetsResponse::default()
    };
    FakeReply::with(request, &response)
}

fn fetched(request: &FakeRequest) -> FakeReply {
    let asked: FetchRequest = request.decode();
    let response = FetchResponse {
        responses: asked
            .topics
            .iter()
            .map(|topic| FetchableTopicResponse {
                topic: topic.topic.clone(),
                topic_id: topic.topic_id,
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| PartitionData {
                        partition_index: p.partition,
                        high_watermark: LOG_END,
                        last_stable_offset: LOG_END,
                        records: Some(log_from(p.fetch_offset).into()),
                        ..PartitionData::default()
                    })
                    .collect(),
                ..FetchableTopicResponse::default()
            })
            .collect(),
        ..FetchResponse::default()
    };
    FakeReply::with(request, &response)
}

/// One batch of the log's records from `offset`, at most 4 of them.
fn log_from(offset: i64) -> bytes::Bytes {
    if offset >= LOG_END {
        return bytes::Bytes::new();
    }
    let mut batch = RecordBatchBuilder::new(offset);
    for o in offset..LOG_END.min(offset + 4) {
        batch.append::<ferrokafka_records::Header>(0, None, Some(&o.to_be_bytes()), &[]);
    }
    batch.build().unwrap()
}

async fn consumer(cluster: &FakeCluster) -> Consumer {
    let bootstrap = cluster.bootstrap();
    let config = ConsumerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("group_id", "g"),
        ("enable_auto_commit", "false"),
        ("fetch_max_wait_ms", "10"),
        // A metadata refresh before most fetches: one more await point
        // inside each poll.
        ("metadata_max_age_ms", "2"),
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

/// Polls until the log's last record (100 polls at most), returning the
/// offsets handed out.
async fn read_to_end(consumer: &Consumer, mut offsets: Vec<i64>) -> Vec<i64> {
    for _ in 0..100 {
        if offsets.last() == Some(&(LOG_END - 1)) {
            break;
        }
        let records = tokio::time::timeout(WAIT, consumer.poll(Duration::from_millis(100)))
            .await
            .expect("a poll after a dropped one hung")
            .unwrap();
        offsets.extend(records.iter().map(|r| r.offset));
    }
    offsets
}

#[tokio::test(start_paused = true)]
async fn a_poll_dropped_at_any_point_skips_no_record() {
    dropping_polls_skips_no_record(false).await;
}

/// The drop can fall after the poll took records from its buffer, while it
/// refreshes the metadata before fetching ahead: those records were lost.
#[tokio::test(start_paused = true)]
async fn a_poll_dropped_while_it_refreshes_metadata_skips_no_record() {
    dropping_polls_skips_no_record(true).await;
}

async fn dropping_polls_skips_no_record(slow_metadata: bool) {
    for polls in 0..MAX_POLLS {
        let cluster = cluster_with(Committed::default(), slow_metadata);
        let consumer = consumer(&cluster).await;
        // A first poll done, so the drop below can fall while records are
        // buffered and the next fetch is being prepared.
        let offsets = consumer.poll(WAIT).await.unwrap();
        let mut offsets: Vec<i64> = offsets.iter().map(|r| r.offset).collect();
        let mut kept = None;
        let finished = poll_then_drop(polls, async {
            kept = Some(consumer.poll(WAIT).await.unwrap());
        })
        .await;
        offsets.extend(kept.into_iter().flatten().map(|r| r.offset));
        let offsets = read_to_end(&consumer, offsets).await;
        assert_eq!(
            offsets,
            (0..LOG_END).collect::<Vec<_>>(),
            "poll dropped at poll {polls}"
        );
        consumer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("poll never finished within {MAX_POLLS} polls");
}

/// The fake answers every Fetch without a session (id 0), as a broker
/// whose session cache is full does; the answer names topics by id only.
/// Its records were once dropped, the session then knowing no topic name.
#[tokio::test(start_paused = true)]
async fn records_of_a_fetch_answered_without_a_session_are_handed_out() {
    let cluster = cluster();
    let consumer = consumer(&cluster).await;
    let offsets = read_to_end(&consumer, Vec::new()).await;
    assert_eq!(offsets, (0..LOG_END).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_commit_dropped_at_any_point_can_be_called_again() {
    for polls in 0..MAX_POLLS {
        let committed = Committed::default();
        let cluster = cluster_keeping(Arc::clone(&committed));
        let consumer = consumer(&cluster).await;
        let handed = consumer.poll(WAIT).await.unwrap();
        let next = handed
            .last()
            .expect("the first poll handed out records")
            .offset
            + 1;
        let finished = poll_then_drop(polls, consumer.commit()).await;
        tokio::time::timeout(WAIT, consumer.commit())
            .await
            .unwrap_or_else(|_| panic!("a commit after one dropped at poll {polls} hung"))
            .unwrap_or_else(|e| panic!("dropped at poll {polls}: {e}"));
        assert_eq!(
            *committed.lock().unwrap(),
            Some(next),
            "dropped at poll {polls}"
        );
        // The consumer reads on from where it was.
        let offsets = read_to_end(&consumer, handed.iter().map(|r| r.offset).collect()).await;
        assert_eq!(
            offsets,
            (0..LOG_END).collect::<Vec<_>>(),
            "dropped at poll {polls}"
        );
        consumer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("commit never finished within {MAX_POLLS} polls");
}

/// The next item of `stream`, as `StreamExt::next` gives it.
async fn next_record(
    stream: &mut ferrokafka_consumer::RecordStream<'_>,
) -> Option<Result<ferrokafka_consumer::ConsumerRecord, ferrokafka_consumer::ConsumeError>> {
    std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut *stream), cx))
        .await
}

/// The stream's `next` dropped at any point, and then the stream itself
/// with the records it took and did not hand out yet: polls after it go
/// on from the last record handed out. (A dropped stream once lost the
/// rest of the poll it had taken.)
#[tokio::test(start_paused = true)]
async fn a_stream_dropped_at_any_point_skips_no_record() {
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let consumer = consumer(&cluster).await;
        let mut stream = consumer.stream();
        let first = next_record(&mut stream).await.unwrap().unwrap();
        let mut offsets = vec![first.offset];
        let mut kept = None;
        let finished = poll_then_drop(polls, async {
            // Past the records in hand, so the drop can fall in a poll.
            for _ in 0..6 {
                let record = next_record(&mut stream).await.unwrap().unwrap();
                kept.get_or_insert_with(Vec::new).push(record.offset);
            }
        })
        .await;
        drop(stream);
        offsets.extend(kept.into_iter().flatten());
        let offsets = read_to_end(&consumer, offsets).await;
        assert_eq!(
            offsets,
            (0..LOG_END).collect::<Vec<_>>(),
            "stream dropped at poll {polls}"
        );
        consumer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("the stream never finished within {MAX_POLLS} polls");
}

/// A `commit_async` dropped at any point, or its handle dropped: the
/// commit it started (if any) finishes by itself, no task is left behind,
/// and the next commit commits the position.
#[tokio::test(start_paused = true)]
async fn a_commit_async_dropped_at_any_point_leaves_nothing_behind() {
    for polls in 0..MAX_POLLS {
        let committed = Committed::default();
        let cluster = cluster_keeping(Arc::clone(&committed));
        let consumer = consumer(&cluster).await;
        let handed = consumer.poll(WAIT).await.unwrap();
        let next = handed.last().unwrap().offset + 1;
        let baseline = tasks();
        let finished = poll_then_drop(polls, async {
            let handle = consumer.commit_async().await.unwrap();
            handle.await.unwrap().unwrap();
        })
        .await;
        // The commit's own task ends, answered or not.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            tasks() <= baseline,
            "a task outlived the drop at poll {polls}"
        );
        tokio::time::timeout(WAIT, consumer.commit())
            .await
            .unwrap_or_else(|_| panic!("commit after a dropped commit_async at {polls} hung"))
            .unwrap();
        assert_eq!(
            *committed.lock().unwrap(),
            Some(next),
            "dropped at poll {polls}"
        );
        consumer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("commit_async never finished within {MAX_POLLS} polls");
}

/// The tasks alive on this (current-thread) runtime.
fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// `seek`, `seek_to_beginning` and `seek_to_end`, each followed by the
/// `position` that looks the new offset up, dropped at any point: the
/// partition is where the last call that finished put it, and polls hand
/// out the log from there.
#[tokio::test(start_paused = true)]
async fn a_seek_dropped_at_any_point_leaves_a_consistent_position() {
    let partition = TopicPartition::new("t", 0);
    for target in [Some(10), Some(0), None] {
        for polls in 0..MAX_POLLS {
            let cluster = cluster();
            let consumer = consumer(&cluster).await;
            let handed = consumer.poll(WAIT).await.unwrap();
            let before = handed.last().unwrap().offset + 1;
            let mut moved = false;
            let finished = poll_then_drop(polls, async {
                match target {
                    Some(0) => consumer
                        .seek_to_beginning(std::slice::from_ref(&partition))
                        .await
                        .unwrap(),
                    Some(offset) => consumer.seek(&partition, offset).await.unwrap(),
                    None => consumer
                        .seek_to_end(std::slice::from_ref(&partition))
                        .await
                        .unwrap(),
                }
                moved = true;
                consumer.position(&partition).await.unwrap();
            })
            .await;
            let expected = if moved {
                target.unwrap_or(LOG_END)
            } else {
                before
            };
            let position = tokio::time::timeout(WAIT, consumer.position(&partition))
                .await
                .unwrap_or_else(|_| panic!("position after a drop at poll {polls} hung"))
                .unwrap();
            assert_eq!(position, expected, "{target:?} dropped at poll {polls}");
            if expected == LOG_END {
                let none = consumer.poll(Duration::from_millis(100)).await.unwrap();
                assert!(none.is_empty(), "{target:?} dropped at poll {polls}");
            } else {
                let offsets = read_to_end(&consumer, Vec::new()).await;
                let from = usize::try_from(expected).unwrap();
                assert_eq!(
                    offsets,
                    (0..LOG_END).skip(from).collect::<Vec<_>>(),
                    "{target:?} dropped at poll {polls}"
                );
            }
            consumer.close(WAIT).await.unwrap();
            if finished {
                break;
            }
            assert!(polls + 1 < MAX_POLLS, "{target:?} never finished");
        }
    }
}

/// `beginning_offsets`, `end_offsets` and `offsets_for_times` dropped at
/// any point: the next call answers right.
#[tokio::test(start_paused = true)]
async fn an_offsets_call_dropped_at_any_point_can_be_called_again() {
    let partition = TopicPartition::new("t", 0);
    let times = std::collections::BTreeMap::from([(partition.clone(), 7)]);
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let consumer = consumer(&cluster).await;
        let finished = poll_then_drop(polls, async {
            consumer
                .beginning_offsets(std::slice::from_ref(&partition))
                .await
                .unwrap();
            consumer
                .end_offsets(std::slice::from_ref(&partition))
                .await
                .unwrap();
            consumer.offsets_for_times(&times).await.unwrap();
        })
        .await;
        let beginning = consumer
            .beginning_offsets(std::slice::from_ref(&partition))
            .await
            .unwrap();
        let end = consumer
            .end_offsets(std::slice::from_ref(&partition))
            .await
            .unwrap();
        let found = consumer.offsets_for_times(&times).await.unwrap();
        assert_eq!(beginning[&partition], 0, "dropped at poll {polls}");
        assert_eq!(end[&partition], LOG_END, "dropped at poll {polls}");
        assert_eq!(
            found[&partition].as_ref().map(|o| o.offset),
            Some(7),
            "dropped at poll {polls}"
        );
        consumer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answers");
            return;
        }
    }
    panic!("the offsets calls never finished within {MAX_POLLS} polls");
}

/// A KIP-848 group coordinator for [`group_cluster`]: every heartbeat is
/// answered 5 ms late, assigning partition 0 of `t` (epoch 1), a leaving
/// one with the epoch it asked for; OffsetFetch finds offset 0 committed.
fn group_answer(request: &FakeRequest) -> Option<FakeReply> {
    use ferrokafka_protocol::messages::consumer_group_heartbeat_response::{
        Assignment, TopicPartitions,
    };
    use ferrokafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
    };
    use ferrokafka_protocol::messages::{
        ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, OffsetFetchRequest,
        OffsetFetchResponse,
    };
    let reply = match request.key {
        ApiKey::ConsumerGroupHeartbeat => {
            let asked: ConsumerGroupHeartbeatRequest = request.decode();
            let leaving = asked.member_epoch < 0;
            // The fake's first topic's id.
            let mut id = [0u8; 16];
            id[15] = 1;
            FakeReply::with(
                request,
                &ConsumerGroupHeartbeatResponse {
                    member_id: Some("member-1".to_string()),
                    member_epoch: if leaving { asked.member_epoch } else { 1 },
                    heartbeat_interval_ms: 3_000,
                    assignment: (!leaving).then(|| Assignment {
                        topic_partitions: vec![TopicPartitions {
                            topic_id: ferrokafka_protocol::Uuid(id),
                            partitions: vec![0],
                            ..TopicPartitions::default()
                        }],
                        ..Assignment::default()
                    }),
                    ..ConsumerGroupHeartbeatResponse::default()
                },
            )
        }
        ApiKey::OffsetFetch => {
            let asked: OffsetFetchRequest = request.decode();
            let groups = asked
                .groups
                .iter()
                .map(|group| OffsetFetchResponseGroup {
                    group_id: group.group_id.clone(),
                    topics: group
                        .topics
                        .iter()
                        .flatten()
                        .map(|topic| OffsetFetchResponseTopics {
                            name: topic.name.clone(),
                            topic_id: topic.topic_id,
                            partitions: topic
                                .partition_indexes
                                .iter()
                                .map(|&partition_index| OffsetFetchResponsePartitions {
                                    partition_index,
                                    committed_offset: 0,
                                    committed_leader_epoch: -1,
                                    ..OffsetFetchResponsePartitions::default()
                                })
                                .collect(),
                            ..OffsetFetchResponseTopics::default()
                        })
                        .collect(),
                    ..OffsetFetchResponseGroup::default()
                })
                .collect();
            FakeReply::with(
                request,
                &OffsetFetchResponse {
                    groups,
                    ..OffsetFetchResponse::default()
                },
            )
        }
        ApiKey::Fetch => fetched(request),
        _ => return None,
    };
    Some(FakeReply::After(Duration::from_millis(5), Box::new(reply)))
}

/// The first poll of a group member (KIP-848), which joins the group,
/// fetches the committed offset and then the records, dropped at any
/// point: the polls after it join (or are joined) and hand out the log
/// once, in order, from the committed offset.
#[tokio::test(start_paused = true)]
async fn a_joining_poll_dropped_at_any_point_skips_no_record() {
    for polls in 0..MAX_POLLS {
        let cluster = FakeCluster::new(1, group_answer);
        cluster.add_topic("t", &[1]);
        let config = ConsumerConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("group_id", "g"),
            ("group_protocol", "consumer"),
            ("enable_auto_commit", "false"),
            ("fetch_max_wait_ms", "10"),
        ])
        .unwrap();
        let client = cluster.client(config.client.clone()).await.unwrap();
        let consumer = Consumer::with_client(client, config);
        consumer.subscribe(&["t"]).await.unwrap();
        let mut kept = None;
        let finished = poll_then_drop(polls, async {
            kept = Some(consumer.poll(WAIT).await.unwrap());
        })
        .await;
        let offsets = kept.into_iter().flatten().map(|r| r.offset).collect();
        let offsets = read_to_end(&consumer, offsets).await;
        assert_eq!(
            offsets,
            (0..LOG_END).collect::<Vec<_>>(),
            "joining poll dropped at poll {polls}"
        );
        consumer.close(WAIT).await.unwrap();
        if finished {
            assert!(polls > 10, "finished at poll {polls}, before its answers");
            return;
        }
    }
    panic!("the joining poll never finished within {MAX_POLLS} polls");
}
