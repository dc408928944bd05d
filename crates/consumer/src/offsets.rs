//! Offsets over the wire: committing and fetching a group's offsets at its
//! coordinator, and asking partition leaders for offsets by time
//! (`beginning_offsets`, `end_offsets`, `offsets_for_times`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use ferrokafka_group::assignor::TopicPartition;
pub use ferrokafka_group::offsets::{GroupIdentity, OffsetAndMetadata};
use ferrokafka_group::offsets::{
    offset_commit_request, offset_fetch_request, partitions_by_topic, read_offset_commit_response,
    read_offset_fetch_response,
};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::ListOffsetsRequest;
use ferrokafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use ferrokafka_transport::backoff::Backoff;
use ferrokafka_transport::{Client, CoordinatorKind, Lane, TransportError};
use tracing::debug;

/// The positions of these partitions as offsets to commit (those without
/// a position are left out).
pub(crate) fn of_positions<'a>(
    positions: &crate::positions::Positions<TopicPartition>,
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
    partitions
        .into_iter()
        .filter_map(|tp| {
            let position = positions.position(tp).ok().flatten()?;
            Some((
                tp.clone(),
                OffsetAndMetadata {
                    offset: position.offset,
                    leader_epoch: position.leader_epoch,
                    metadata: String::new(),
                },
            ))
        })
        .collect()
}

/// Why offsets could not be committed or fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OffsetError {
    /// Reaching the coordinator or a leader failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The broker refused with this error (for the whole request or for
    /// the named partition).
    #[error("{what}: {error}")]
    Broker {
        /// The group or partition concerned.
        what: String,
        /// Kafka's error.
        error: ErrorCode,
    },
}

impl OffsetError {
    /// Whether trying again may succeed (a leader moved or is loading, a
    /// connection dropped).
    pub fn is_retriable(&self) -> bool {
        match self {
            OffsetError::Transport(error) => error.is_retriable(),
            OffsetError::Broker { error, .. } => error.is_retriable(),
        }
    }

    /// Whether the group's generation ended, so the member must rejoin
    /// before committing (the Java client's `CommitFailedException`).
    pub fn is_rebalance(&self) -> bool {
        matches!(
            self,
            OffsetError::Broker {
                error: ErrorCode::IllegalGeneration
                    | ErrorCode::UnknownMemberId
                    | ErrorCode::RebalanceInProgress
                    | ErrorCode::FencedInstanceId,
                ..
            }
        )
    }
}

/// Commits `offsets` for `group` at its coordinator, finding the
/// coordinator again and retrying while it moves or cannot be reached (up
/// to `default_api_timeout_ms`), as the Java client's `commitSync` does.
pub async fn commit(
    client: &Client,
    group: &GroupIdentity,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<(), OffsetError> {
    retrying(client, &group.group_id, || {
        commit_once(client, group, offsets)
    })
    .await
}

/// Repeats `attempt` while it fails in a way a new coordinator lookup can
/// fix, `retry_backoff_ms` apart, until `default_api_timeout_ms`.
async fn retrying<T, F, Fut>(
    client: &Client,
    group_id: &str,
    mut attempt: F,
) -> Result<T, OffsetError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, OffsetError>>,
{
    let config = client.config();
    let deadline = std::time::Instant::now() + config.default_api_timeout;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let retriable = match &error {
            OffsetError::Transport(e) => e.is_retriable(),
            OffsetError::Broker { error, .. } => matches!(
                error,
                ErrorCode::NotCoordinator
                    | ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::RequestTimedOut
            ),
        };
        if !retriable || std::time::Instant::now() + config.retry_backoff >= deadline {
            return Err(error);
        }
        client.forget_coordinator(CoordinatorKind::Group, group_id);
        tokio::time::sleep(config.retry_backoff).await;
    }
}

async fn commit_once(
    client: &Client,
    group: &GroupIdentity,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<(), OffsetError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let coordinator = client
        .coordinator(CoordinatorKind::Group, &group.group_id)
        .await?;
    let mut names: Vec<&str> = offsets.keys().map(TopicPartition::topic).collect();
    // In topic order: each name once, not once for each of its partitions.
    names.dedup();
    let ids = client.topic_ids(&names).await?;
    let response = client
        .send_built(coordinator, Lane::Coordination, |version| {
            offset_commit_request(version, group, offsets, &ids)
        })
        .await?;
    let answered = read_offset_commit_response(response, &ids);
    // A partition the answer leaves out was not confirmed committed: a
    // broken answer, not a success.
    // A set, not a scan of the answer per partition: a commit of every
    // partition of a 4,000-partition topic took 16 million comparisons.
    let confirmed: HashSet<&TopicPartition> = answered.iter().map(|(tp, _)| tp).collect();
    if let Some(tp) = offsets.keys().find(|tp| !confirmed.contains(tp)) {
        return Err(OffsetError::Transport(TransportError::Protocol {
            broker: format!("group coordinator {coordinator}"),
            reason: format!("the OffsetCommit answer has no result for {tp}"),
        }));
    }
    for (tp, error) in answered {
        if !error.is_ok() {
            if matches!(
                error,
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
            ) {
                client.forget_coordinator(CoordinatorKind::Group, &group.group_id);
            }
            return Err(OffsetError::Broker {
                what: format!("committing {tp}"),
                error,
            });
        }
    }
    Ok(())
}

/// The offsets `group` committed for `partitions` (`None`: nothing
/// committed), retrying as [`commit`] does.
pub async fn committed(
    client: &Client,
    group_id: &str,
    partitions: &[TopicPartition],
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, OffsetError> {
    retrying(client, group_id, || {
        committed_once(client, group_id, partitions, require_stable)
    })
    .await
}

async fn committed_once(
    client: &Client,
    group_id: &str,
    partitions: &[TopicPartition],
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, OffsetError> {
    let coordinator = client.coordinator(CoordinatorKind::Group, group_id).await?;
    let by_topic = partitions_by_topic(partitions);
    let names: Vec<&str> = by_topic.keys().map(String::as_str).collect();
    let ids = client.topic_ids(&names).await?;
    let response = client
        .send_built(coordinator, Lane::Coordination, |version| {
            offset_fetch_request(version, group_id, Some(&by_topic), &ids, require_stable)
        })
        .await?;
    let fetched = read_offset_fetch_response(response);
    if !fetched.error.is_ok() {
        if matches!(
            fetched.error,
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
        ) {
            client.forget_coordinator(CoordinatorKind::Group, group_id);
        }
        return Err(OffsetError::Broker {
            what: format!("fetching the offsets of group {group_id}"),
            error: fetched.error,
        });
    }
    let mut found: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
        partitions.iter().map(|tp| (tp.clone(), None)).collect();
    for answer in fetched.partitions {
        debug!(
            group = group_id,
            topic = ?answer.topic,
            partition = answer.partition,
            result = ?answer.result,
            "committed offset fetched"
        );
        // An id this request did not name: the answer cannot be placed, and
        // reading it as "nothing committed" would hide it.
        let topic = answer.topic.into_name(&ids).map_err(|id| OffsetError::Broker {
            what: format!(
                "fetching the committed offsets of group {group_id}: an answer for topic id {id:?}, which was not asked for"
            ),
            error: ErrorCode::UnknownTopicId,
        })?;
        match answer.result {
            Err(error) => {
                return Err(OffsetError::Broker {
                    what: format!(
                        "fetching the committed offset of {topic}-{}",
                        answer.partition
                    ),
                    error,
                });
            }
            Ok(Some(offset)) => {
                found.insert(TopicPartition::new(topic, answer.partition), Some(offset));
            }
            Ok(None) => {}
        }
    }
    Ok(found)
}

/// `ListOffsets` timestamps with a special meaning.
pub mod timestamp {
    /// The end of the log (the high watermark, or the last stable offset
    /// for read_committed).
    pub const LATEST: i64 = -1;
    /// The log start offset.
    pub const EARLIEST: i64 = -2;
    /// The offset of the record with the largest timestamp (KIP-734).
    pub const MAX_TIMESTAMP: i64 = -3;
}

/// An offset a leader gave for a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The offset.
    pub offset: i64,
    /// The timestamp of the record at that offset (`-1` for the special
    /// timestamps).
    pub timestamp: i64,
    /// The leader epoch of that record, if known.
    pub leader_epoch: Option<i32>,
}

/// For each partition, the earliest offset whose timestamp is at least the
/// one given (or a special one of [`timestamp`]); `None` when no record is
/// that recent. One request per leader; the partitions a leader could not
/// answer for (it moved, is still loading, or cannot be reached) are looked
/// up again, alone, until `default_api_timeout_ms`: an answer once given
/// is kept, so one slow partition of thousands costs a request for that
/// partition, not for all of them.
pub async fn list_offsets(
    client: &Client,
    query: &BTreeMap<TopicPartition, i64>,
    read_committed: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, OffsetError> {
    let config = client.config();
    let deadline = std::time::Instant::now() + config.default_api_timeout;
    let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
    let mut found = BTreeMap::new();
    let mut left = query.clone();
    loop {
        let error = list_offsets_once(client, &mut left, &mut found, read_committed).await;
        let Some(error) = error else {
            return Ok(found);
        };
        if !error.is_retriable() || std::time::Instant::now() + config.retry_backoff >= deadline {
            return Err(error);
        }
        // The leaders are looked up afresh on the next attempt, which waits
        // longer each time (KIP-580): a broker still loading thousands of
        // partitions is not asked, with a metadata refresh, ten times a
        // second.
        client.note_error(ErrorCode::NotLeaderOrFollower);
        let now = std::time::Instant::now();
        let wait = backoff
            .next_jittered_delay()
            .min(deadline.saturating_duration_since(now + config.retry_backoff));
        tokio::time::sleep(wait).await;
    }
}

/// One round of [`list_offsets`], for a caller that retries by itself: the
/// answers the leaders gave, and the first error met, if any (then some
/// partitions of `query` have no answer).
pub(crate) async fn list_offsets_round(
    client: &Client,
    query: &BTreeMap<TopicPartition, i64>,
    read_committed: bool,
) -> (
    BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>,
    Option<OffsetError>,
) {
    let mut left = query.clone();
    let mut found = BTreeMap::new();
    let error = list_offsets_once(client, &mut left, &mut found, read_committed).await;
    (found, error)
}

/// One round of [`list_offsets`]: moves each partition of `left` that its
/// leader answered for into `found`; the first error met, if any.
async fn list_offsets_once(
    client: &Client,
    left: &mut BTreeMap<TopicPartition, i64>,
    found: &mut BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>,
    read_committed: bool,
) -> Option<OffsetError> {
    let mut first_error = None;
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<ListOffsetsPartition>>> = BTreeMap::new();
    let asked: Vec<(&str, i32)> = left.keys().map(|tp| (tp.topic(), tp.partition)).collect();
    let leaders = client.leaders(&asked).await;
    for ((tp, &at), leader) in left.iter().zip(leaders) {
        let leader = match leader {
            Ok(leader) => leader,
            Err(error) => {
                first_error.get_or_insert(OffsetError::from(error));
                continue;
            }
        };
        by_leader
            .entry(leader)
            .or_default()
            .entry(&tp.topic)
            .or_default()
            .push(ListOffsetsPartition {
                partition_index: tp.partition,
                current_leader_epoch: -1,
                timestamp: at,
                ..ListOffsetsPartition::default()
            });
    }
    let mut answered = Vec::new();
    for (leader, topics) in by_leader {
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: i8::from(read_committed),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| ListOffsetsTopic {
                    name: name.to_string(),
                    partitions,
                    ..ListOffsetsTopic::default()
                })
                .collect(),
            timeout_ms: i32::try_from(client.config().connection.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            ..ListOffsetsRequest::default()
        };
        let response = match client.send(leader, &request).await {
            Ok(response) => response,
            Err(error) => {
                first_error.get_or_insert(OffsetError::from(error));
                continue;
            }
        };
        for topic in response.topics {
            // One name shared by the topic's partitions, not one each.
            let name: Arc<str> = Arc::from(topic.name.as_str());
            for p in topic.partitions {
                let tp = TopicPartition {
                    topic: Arc::clone(&name),
                    partition: p.partition_index,
                };
                if !left.contains_key(&tp) {
                    // Never asked: not an answer to anything.
                    continue;
                }
                let error = ErrorCode::from_code(p.error_code);
                if !error.is_ok() {
                    client.note_error(error);
                    first_error.get_or_insert(OffsetError::Broker {
                        what: format!("listing offsets of {}-{}", topic.name, p.partition_index),
                        error,
                    });
                    continue;
                }
                let answer = (p.offset >= 0).then_some(OffsetAndTimestamp {
                    offset: p.offset,
                    timestamp: p.timestamp,
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                });
                answered.push((tp, answer));
            }
        }
    }
    for (tp, answer) in answered {
        left.remove(&tp);
        found.insert(tp, answer);
    }
    if first_error.is_some() {
        return first_error;
    }
    // With no error met, every partition asked has its answer, or the call
    // fails: a broker that leaves one out answered wrong.
    let missing = left.keys().next()?;
    Some(OffsetError::Transport(TransportError::Protocol {
        broker: format!("the leader of {missing}"),
        reason: format!("the ListOffsets answer has no result for {missing}"),
    }))
}
