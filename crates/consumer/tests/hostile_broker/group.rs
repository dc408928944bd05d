//! Hostile answers to the classic group protocol: JoinGroup, SyncGroup,
//! Heartbeat and LeaveGroup carrying every error code membership acts on,
//! once or for ever; a protocol the client never offered, a member id it
//! never had, a member subscribed to a topic no broker has; assignments
//! cut short, garbled or naming partitions that do not exist; silence past
//! the request timeout. The consumer recovers or surfaces a typed error,
//! never panics, never spins (its group requests stay few), and no poll or
//! close outlives its timeout.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::BufMut as _;
use ferrokafka_protocol::Message;
use ferrokafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;
use ferrokafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use ferrokafka_protocol::messages::{
    ConsumerProtocolAssignment, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupResponse, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
// The consumer's timeouts run on the real clock (even where a test pauses
// tokio's), so they are checked against it.
use std::time::Instant;

use super::*;

/// Group requests past which the fake stops answering. A client that
/// retries with no pause sends them in no time (and, with the clock
/// paused, would never let a poll's timer fire): stopping it lets the test
/// end and fail on the count instead of hanging.
const RUNAWAY: usize = 1_000;

/// The most group requests of one kind a consumer may send in the
/// seconds a test polls: at `retry_backoff_ms` 50, doubling after each
/// failure up to 1 s, about ten in five seconds when every answer is an
/// error.
const FEW: usize = 30;

/// How a test twists the group's answers: the request and how many of its
/// kind came before it; `None` leaves the right answer.
type Twist = Arc<dyn Fn(&FakeRequest, usize) -> Option<FakeReply> + Send + Sync>;

/// The right answer to a JoinGroup: generation 1, this member (named
/// `m-1` when it has no id yet) the leader and the only member, the first
/// protocol it offered chosen.
fn joined(request: &FakeRequest) -> JoinGroupResponse {
    let asked: JoinGroupRequest = request.decode();
    let member_id = if asked.member_id.is_empty() {
        "m-1".to_string()
    } else {
        asked.member_id.clone()
    };
    let first = asked
        .protocols
        .first()
        .expect("the client offers an assignor");
    JoinGroupResponse {
        generation_id: 1,
        protocol_type: Some("consumer".to_string()),
        protocol_name: Some(first.name.clone()),
        leader: member_id.clone(),
        member_id: member_id.clone(),
        members: vec![JoinGroupResponseMember {
            member_id,
            metadata: first.metadata.clone(),
            ..JoinGroupResponseMember::default()
        }],
        ..JoinGroupResponse::default()
    }
}

/// The right answer to a SyncGroup: the assignment the leader gave this
/// member.
fn synced(request: &FakeRequest) -> SyncGroupResponse {
    let asked: SyncGroupRequest = request.decode();
    SyncGroupResponse {
        protocol_type: Some("consumer".to_string()),
        protocol_name: asked.protocol_name.clone(),
        assignment: asked
            .assignments
            .iter()
            .find(|a| a.member_id == asked.member_id)
            .map(|a| a.assignment.clone())
            .unwrap_or_default(),
        ..SyncGroupResponse::default()
    }
}

/// The right answer to any request the group consumer sends.
fn right_group(request: &FakeRequest) -> Option<FakeReply> {
    Some(match request.key {
        ApiKey::JoinGroup => FakeReply::with(request, &joined(request)),
        ApiKey::SyncGroup => FakeReply::with(request, &synced(request)),
        ApiKey::Heartbeat => FakeReply::with(request, &HeartbeatResponse::default()),
        ApiKey::LeaveGroup => FakeReply::with(request, &LeaveGroupResponse::default()),
        // Nothing committed: the group-level answer, no partitions.
        ApiKey::OffsetFetch => FakeReply::with(request, &OffsetFetchResponse::default()),
        ApiKey::ListOffsets => log_bounds(request),
        ApiKey::Fetch => right(request),
        _ => return None,
    })
}

/// A cluster with topic `t` (one partition) whose group answers `twist`
/// bends, and a classic-protocol group consumer subscribed to it.
async fn group(twist: Twist) -> (FakeCluster, Consumer) {
    let seen = Mutex::new(HashMap::<ApiKey, usize>::new());
    let cluster = FakeCluster::new(1, move |request| {
        let n = {
            let mut seen = seen.lock().unwrap();
            let n = seen.entry(request.key).or_default();
            *n += 1;
            *n - 1
        };
        if n >= RUNAWAY {
            return Some(FakeReply::Hang);
        }
        twist(request, n).or_else(|| right_group(request))
    });
    cluster.add_topic("t", &[1]);
    let config = ConsumerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("group_id", "g"),
        ("group_protocol", "classic"),
        ("enable_auto_commit", "false"),
        ("auto_offset_reset", "earliest"),
        ("fetch_max_wait_ms", "10"),
        ("request_timeout_ms", "1000"),
        ("retry_backoff_ms", "50"),
        ("session_timeout_ms", "6000"),
        ("heartbeat_interval_ms", "100"),
        ("max_poll_interval_ms", "10000"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let consumer = Consumer::with_client(client, config);
    consumer.subscribe(&["t"]).await.unwrap();
    (cluster, consumer)
}

/// Requests of `key` the cluster received.
fn sent(cluster: &FakeCluster, key: ApiKey) -> usize {
    cluster.received().iter().filter(|(_, k)| *k == key).count()
}

/// An answer carrying `code`, of the kind of `request`.
fn failing(request: &FakeRequest, code: ErrorCode) -> FakeReply {
    let code = code.code();
    match request.key {
        ApiKey::JoinGroup => FakeReply::with(
            request,
            &JoinGroupResponse {
                error_code: code,
                generation_id: -1,
                ..JoinGroupResponse::default()
            },
        ),
        ApiKey::SyncGroup => FakeReply::with(
            request,
            &SyncGroupResponse {
                error_code: code,
                ..SyncGroupResponse::default()
            },
        ),
        ApiKey::Heartbeat => FakeReply::with(
            request,
            &HeartbeatResponse {
                error_code: code,
                ..HeartbeatResponse::default()
            },
        ),
        other => panic!("no failing answer for {other:?}"),
    }
}

/// Polls for `polls` rounds of 200 ms, each returning in time (with room
/// for a loaded machine): the offsets handed out and the errors met.
async fn poll_for(consumer: &Consumer, polls: usize) -> (Vec<i64>, Vec<ConsumeError>) {
    let (mut offsets, mut errors) = (Vec::new(), Vec::new());
    for i in 0..polls {
        let started = Instant::now();
        let polled = tokio::time::timeout(WAIT, consumer.poll(Duration::from_millis(200)))
            .await
            .expect("a poll outlived its timeout");
        assert!(
            started.elapsed() <= Duration::from_secs(1),
            "a 200 ms poll took {:?} (poll {i})",
            started.elapsed()
        );
        match polled {
            Ok(records) => offsets.extend(records.iter().map(|r| r.offset)),
            Err(error) => errors.push(error),
        }
    }
    (offsets, errors)
}

/// Closes within its timeout (a LeaveGroup that hangs included).
async fn close_in_time(consumer: &Consumer) {
    let started = Instant::now();
    let _ = tokio::time::timeout(WAIT, consumer.close(Duration::from_secs(2))).await;
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "close took {:?}",
        started.elapsed()
    );
}

/// The errors membership retries.
const RETRIABLE: [ErrorCode; 6] = [
    ErrorCode::RebalanceInProgress,
    ErrorCode::UnknownMemberId,
    ErrorCode::IllegalGeneration,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::NotCoordinator,
    ErrorCode::CoordinatorLoadInProgress,
];

/// The errors that end membership.
const FATAL: [ErrorCode; 2] = [
    ErrorCode::InconsistentGroupProtocol,
    ErrorCode::GroupAuthorizationFailed,
];

/// A few answers carrying a retriable error, at each step: the member
/// joins in the end and the consumer reads the whole log.
#[tokio::test(start_paused = true)]
async fn a_retriable_error_at_any_step_is_recovered_from() {
    for key in [ApiKey::JoinGroup, ApiKey::SyncGroup, ApiKey::Heartbeat] {
        for code in RETRIABLE {
            eprintln!("case: {key:?} {code:?}");
            let (cluster, consumer) = group(Arc::new(move |request, n| {
                (request.key == key && n < 3).then(|| failing(request, code))
            }))
            .await;
            let (offsets, errors) = read_to_end(&consumer).await;
            let mut distinct = offsets.clone();
            distinct.sort_unstable();
            distinct.dedup();
            // A heartbeat's error may cost the partition (no commits: it
            // is read again from the start); a join's or sync's may not.
            if key == ApiKey::Heartbeat {
                assert_eq!(distinct, whole_log(), "{key:?} {code:?}: {errors:?}");
            } else {
                assert_eq!(offsets, whole_log(), "{key:?} {code:?}: {errors:?}");
            }
            for k in [
                ApiKey::JoinGroup,
                ApiKey::SyncGroup,
                ApiKey::FindCoordinator,
            ] {
                assert!(
                    sent(&cluster, k) <= FEW,
                    "{key:?} {code:?}: {k:?} x{}",
                    sent(&cluster, k)
                );
            }
            close_in_time(&consumer).await;
        }
    }
}

/// Every answer to a step carrying the same error: a retriable one is
/// retried at a bounded rate for as long as it lasts (a heartbeat's at
/// most once per heartbeat interval), a fatal one is a typed error from
/// `poll` and no more requests. On the real clock: the requests are
/// counted over the seconds the polls take.
#[tokio::test]
async fn an_error_for_ever_is_retried_slowly_or_surfaced() {
    for key in [ApiKey::JoinGroup, ApiKey::SyncGroup, ApiKey::Heartbeat] {
        for code in RETRIABLE.into_iter().chain(FATAL) {
            eprintln!("case: {key:?} {code:?}");
            let (cluster, consumer) = group(Arc::new(move |request, _| {
                (request.key == key).then(|| failing(request, code))
            }))
            .await;
            // Two seconds of polling.
            let (offsets, errors) = poll_for(&consumer, 10).await;
            // Heartbeats start once the member has its partitions.
            if key != ApiKey::Heartbeat {
                assert!(offsets.is_empty(), "{key:?} {code:?}: {offsets:?}");
            }
            let steps = sent(&cluster, key);
            assert!(
                (1..=FEW).contains(&steps),
                "{key:?} {code:?}: {steps} requests in 2 s"
            );
            if FATAL.contains(&code) {
                assert!(
                    matches!(errors.first(), Some(ConsumeError::Group(_))),
                    "{key:?} {code:?}: {errors:?}"
                );
                assert!(
                    steps <= 2,
                    "{key:?} {code:?}: {steps} requests after a fatal error"
                );
            } else {
                assert!(errors.is_empty(), "{key:?} {code:?}: {errors:?}");
            }
            close_in_time(&consumer).await;
        }
    }
}

/// The assignment bytes of `partitions` of `topic`, as a leader writes them.
fn assignment(topics: &[(&str, &[i32])]) -> Bytes {
    let message = ConsumerProtocolAssignment {
        assigned_partitions: topics
            .iter()
            .map(|(topic, partitions)| Assigned {
                topic: (*topic).to_string(),
                partitions: partitions.to_vec(),
                ..Assigned::default()
            })
            .collect(),
        ..ConsumerProtocolAssignment::default()
    };
    let mut bytes = BytesMut::new();
    bytes.put_i16(1);
    message.encode(&mut bytes, 1).unwrap();
    bytes.freeze()
}

/// SyncGroup answers whose assignment is cut short, garbled, or names
/// partitions that do not exist: a typed error, or the partitions that
/// exist read whole; never a panic.
#[tokio::test(start_paused = true)]
async fn an_odd_assignment_is_a_typed_error_or_read_around() {
    let whole = assignment(&[("t", &[0])]);
    let cases: Vec<(&str, Bytes, bool)> = vec![
        ("cut short", whole.slice(..whole.len() - 3), false),
        ("a version only", Bytes::from_static(&[0, 1]), false),
        (
            "a negative count",
            Bytes::from_static(&[0, 1, 0xff, 0xff, 0xff, 0xf0]),
            false,
        ),
        (
            "a count past the end",
            Bytes::from_static(&[0, 1, 0x7f, 0xff, 0xff, 0xff]),
            false,
        ),
        (
            "an unknown topic",
            assignment(&[("t", &[0]), ("ghost", &[0])]),
            true,
        ),
        (
            "a partition past the last",
            assignment(&[("t", &[0, 99])]),
            true,
        ),
        ("a negative partition", assignment(&[("t", &[-1, 0])]), true),
    ];
    for (what, bytes, readable) in cases {
        eprintln!("case: {what}");
        let bytes = bytes.clone();
        let (cluster, consumer) = group(Arc::new(move |request, _| {
            (request.key == ApiKey::SyncGroup).then(|| {
                let mut answer = synced(request);
                answer.assignment = bytes.clone();
                FakeReply::with(request, &answer)
            })
        }))
        .await;
        joined_or_refused(&cluster, &consumer, what, readable, ApiKey::SyncGroup).await;
    }
}

/// After an odd answer to `key`: either the consumer joined and reads the
/// whole log, or its polls return nothing but a group error; either way
/// `key` was sent only a few times and the close returns in time.
async fn joined_or_refused(
    cluster: &FakeCluster,
    consumer: &Consumer,
    what: &str,
    joins: bool,
    key: ApiKey,
) {
    if joins {
        let (offsets, errors) = read_to_end(consumer).await;
        assert_eq!(offsets, whole_log(), "{what}: {errors:?}");
    } else {
        let (offsets, errors) = poll_for(consumer, 10).await;
        assert!(offsets.is_empty(), "{what}: {offsets:?}");
        assert!(
            matches!(errors.first(), Some(ConsumeError::Group(_))),
            "{what}: {errors:?}"
        );
    }
    assert!(sent(cluster, key) <= FEW, "{what}");
    close_in_time(consumer).await;
}

/// JoinGroup answers naming a protocol the client never offered, a member
/// id it never had, another member subscribed to a topic no broker has, or
/// a member whose subscription is garbled.
#[tokio::test(start_paused = true)]
async fn an_odd_join_answer_is_a_typed_error_or_joined() {
    type Bend = fn(&mut JoinGroupResponse);
    let cases: [(&str, Bend, bool); 4] = [
        (
            "an unknown protocol",
            |answer| answer.protocol_name = Some("no-such-assignor".to_string()),
            false,
        ),
        (
            "a member id never had",
            |answer| {
                answer.member_id = "stranger".to_string();
                answer.leader = "stranger".to_string();
                answer.members[0].member_id = "stranger".to_string();
            },
            true,
        ),
        (
            "a member of an unknown topic",
            |answer| {
                let mut other = answer.members[0].clone();
                other.member_id = "m-2".to_string();
                // The same subscription with its topic renamed: `t`
                // becomes `x`, a topic no broker has.
                let mut metadata = other.metadata.to_vec();
                let at = metadata.windows(3).position(|w| w == [0, 1, b't']).unwrap();
                metadata[at + 2] = b'x';
                other.metadata = Bytes::from(metadata);
                answer.members.push(other);
            },
            true,
        ),
        (
            "a garbled subscription",
            |answer| answer.members[0].metadata = Bytes::from_static(&[0, 3, 0x7f]),
            false,
        ),
    ];
    for (what, bend, joins) in cases {
        eprintln!("case: {what}");
        let (cluster, consumer) = group(Arc::new(move |request, _| {
            (request.key == ApiKey::JoinGroup).then(|| {
                let mut answer = joined(request);
                bend(&mut answer);
                FakeReply::with(request, &answer)
            })
        }))
        .await;
        joined_or_refused(&cluster, &consumer, what, joins, ApiKey::JoinGroup).await;
    }
}

/// Group requests never answered, or answered too slowly: each times out
/// (after `request_timeout_ms`; a JoinGroup after the rebalance timeout and
/// 5 s) and is sent again; every poll and the close (whose LeaveGroup hangs
/// too) return in time.
#[tokio::test(start_paused = true)]
async fn silence_is_waited_out_in_time() {
    for key in [ApiKey::JoinGroup, ApiKey::SyncGroup, ApiKey::Heartbeat] {
        for slow in [false, true] {
            eprintln!("case: {key:?} slow={slow}");
            // A JoinGroup waits 15 s (the rebalance timeout and 5 s) for
            // its answer, on tokio's clock, which runs ahead while a poll
            // waits on the real one: one silence is as long as the others'
            // two, and two would outlast the `WAIT` around a single poll.
            let stalls = if key == ApiKey::JoinGroup { 1 } else { 2 };
            let (cluster, consumer) = group(Arc::new(move |request, n| {
                let stalled = request.key == key || request.key == ApiKey::LeaveGroup;
                (stalled && n < stalls).then(|| {
                    if slow {
                        // The right answer, one byte every 100 ms: past
                        // the request timeout.
                        let answer = right_group(request).unwrap();
                        FakeReply::Drip(Duration::from_millis(100), Box::new(answer))
                    } else {
                        FakeReply::Hang
                    }
                })
            }))
            .await;
            let (offsets, errors) = read_to_end(&consumer).await;
            let mut distinct = offsets.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct, whole_log(), "{key:?} slow={slow}: {errors:?}");
            assert!(sent(&cluster, key) <= FEW, "{key:?} slow={slow}");
            close_in_time(&consumer).await;
        }
    }
}

/// A JoinGroup the coordinator holds past `request_timeout_ms` (1 s here)
/// but within the rebalance timeout (`max_poll_interval_ms`, 10 s) and 5 s
/// more, as a broker does while it waits for the group's other members:
/// its answer is taken, the join neither abandoned nor sent again. (Held
/// a few seconds only: tokio's clock jumps over the hold while the
/// membership's timers run on the real one, which a longer hold would
/// leave behind by more than the poll interval. The transport's own test
/// covers the deadline's edges.)
#[tokio::test(start_paused = true)]
async fn a_join_held_past_the_request_timeout_is_waited_for() {
    let (cluster, consumer) = group(Arc::new(|request, n| {
        (request.key == ApiKey::JoinGroup && n == 0).then(|| {
            FakeReply::After(
                Duration::from_secs(3),
                Box::new(FakeReply::with(request, &joined(request))),
            )
        })
    }))
    .await;
    let (offsets, errors) = read_to_end(&consumer).await;
    assert_eq!(offsets, whole_log(), "{errors:?}");
    assert_eq!(
        sent(&cluster, ApiKey::JoinGroup),
        1,
        "the join was abandoned and sent again"
    );
    close_in_time(&consumer).await;
}
