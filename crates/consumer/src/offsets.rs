//! Offsets over the wire: committing and fetching a group's offsets at its
//! coordinator, and asking partition leaders for offsets by time
//! (`beginning_offsets`, `end_offsets`, `offsets_for_times`).

use std::collections::{BTreeMap, HashMap};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use ferrokafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use ferrokafka_protocol::messages::{ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest};
use ferrokafka_protocol::{ErrorCode, Uuid};
use ferrokafka_transport::{Client, CoordinatorKind, Lane, TransportError};

/// A committed offset with its metadata string and leader epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free text stored with the offset.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

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

/// Who commits: the group and, for a member, its generation and ids (the
/// coordinator refuses commits from an old generation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupIdentity {
    /// `group_id`.
    pub group_id: String,
    /// The generation, `-1` outside a generation (assign mode).
    pub generation: i32,
    /// The member id, empty outside a generation.
    pub member_id: String,
    /// `group_instance_id`.
    pub group_instance_id: Option<String>,
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

/// Offset commits name topics by id from OffsetCommit v10 and OffsetFetch v10.
const FIRST_TOPIC_ID_VERSION: i16 = 10;

/// The ids of `topics`, fetching the metadata of those the client does not
/// know yet (newer OffsetCommit and OffsetFetch versions name topics by id).
async fn topic_ids(
    client: &Client,
    topics: impl Iterator<Item = String>,
) -> Result<HashMap<String, Uuid>, TransportError> {
    let mut ids = HashMap::new();
    for topic in topics {
        let known = client.view(|v| v.topic(&topic).map(|t| t.id));
        let id = match known {
            Some(id) => id,
            None => client.topic(&topic).await?.id,
        };
        ids.insert(topic, id);
    }
    Ok(ids)
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
    let ids = topic_ids(client, offsets.keys().map(|tp| tp.topic.clone())).await?;
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, offset) in offsets {
        by_topic
            .entry(&tp.topic)
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: offset.offset,
                committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
                committed_metadata: Some(offset.metadata.clone()),
                ..OffsetCommitRequestPartition::default()
            });
    }
    let response = client
        .send_built(coordinator, Lane::Coordination, |version| {
            OffsetCommitRequest {
                group_id: group.group_id.clone(),
                generation_id_or_member_epoch: group.generation,
                member_id: group.member_id.clone(),
                group_instance_id: if version >= 7 {
                    group.group_instance_id.clone()
                } else {
                    None
                },
                retention_time_ms: -1,
                topics: by_topic
                    .iter()
                    .map(|(topic, partitions)| {
                        let by_id = version >= FIRST_TOPIC_ID_VERSION;
                        OffsetCommitRequestTopic {
                            name: if by_id {
                                String::new()
                            } else {
                                (*topic).to_string()
                            },
                            topic_id: if by_id {
                                ids.get(*topic).copied().unwrap_or_default()
                            } else {
                                Uuid::default()
                            },
                            partitions: partitions.clone(),
                            ..OffsetCommitRequestTopic::default()
                        }
                    })
                    .collect(),
                ..OffsetCommitRequest::default()
            }
        })
        .await?;
    for topic in &response.topics {
        for partition in &topic.partitions {
            let error = ErrorCode::from_code(partition.error_code);
            if !error.is_ok() {
                if matches!(
                    error,
                    ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
                ) {
                    client.forget_coordinator(CoordinatorKind::Group, &group.group_id);
                }
                let name = if topic.name.is_empty() {
                    ids.iter()
                        .find(|(_, id)| **id == topic.topic_id)
                        .map_or_else(String::new, |(name, _)| name.clone())
                } else {
                    topic.name.clone()
                };
                return Err(OffsetError::Broker {
                    what: format!("committing {name}-{}", partition.partition_index),
                    error,
                });
            }
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
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let ids = topic_ids(client, by_topic.keys().map(|t| (*t).to_string())).await?;
    let response = client
        .send_built(coordinator, Lane::Coordination, |version| {
            if version >= 8 {
                OffsetFetchRequest {
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: group_id.to_string(),
                        member_epoch: -1,
                        topics: Some(
                            by_topic
                                .iter()
                                .map(|(topic, indexes)| {
                                    let by_id = version >= FIRST_TOPIC_ID_VERSION;
                                    OffsetFetchRequestTopics {
                                        name: if by_id {
                                            String::new()
                                        } else {
                                            (*topic).to_string()
                                        },
                                        topic_id: if by_id {
                                            ids.get(*topic).copied().unwrap_or_default()
                                        } else {
                                            Uuid::default()
                                        },
                                        partition_indexes: indexes.clone(),
                                        ..OffsetFetchRequestTopics::default()
                                    }
                                })
                                .collect(),
                        ),
                        ..OffsetFetchRequestGroup::default()
                    }],
                    require_stable,
                    ..OffsetFetchRequest::default()
                }
            } else {
                OffsetFetchRequest {
                    group_id: group_id.to_string(),
                    topics: Some(
                        by_topic
                            .iter()
                            .map(|(topic, indexes)| OffsetFetchRequestTopic {
                                name: (*topic).to_string(),
                                partition_indexes: indexes.clone(),
                                ..OffsetFetchRequestTopic::default()
                            })
                            .collect(),
                    ),
                    require_stable: version >= 7 && require_stable,
                    ..OffsetFetchRequest::default()
                }
            }
        })
        .await?;
    let mut found: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
        partitions.iter().map(|tp| (tp.clone(), None)).collect();
    let mut answers = Vec::new();
    let mut group_error = ErrorCode::from_code(response.error_code);
    for topic in &response.topics {
        for p in &topic.partitions {
            answers.push((
                topic.name.clone(),
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.clone(),
                p.error_code,
            ));
        }
    }
    for group in &response.groups {
        group_error = ErrorCode::from_code(group.error_code);
        for topic in &group.topics {
            let name = if topic.name.is_empty() {
                ids.iter()
                    .find(|(_, id)| **id == topic.topic_id)
                    .map_or_else(String::new, |(name, _)| name.clone())
            } else {
                topic.name.clone()
            };
            for p in &topic.partitions {
                answers.push((
                    name.clone(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.clone(),
                    p.error_code,
                ));
            }
        }
    }
    if !group_error.is_ok() {
        if matches!(
            group_error,
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
        ) {
            client.forget_coordinator(CoordinatorKind::Group, group_id);
        }
        return Err(OffsetError::Broker {
            what: format!("fetching the offsets of group {group_id}"),
            error: group_error,
        });
    }
    for (topic, partition, offset, epoch, metadata, code) in answers {
        let error = ErrorCode::from_code(code);
        if !error.is_ok() {
            return Err(OffsetError::Broker {
                what: format!("fetching the committed offset of {topic}-{partition}"),
                error,
            });
        }
        if offset >= 0 {
            found.insert(
                TopicPartition::new(topic, partition),
                Some(OffsetAndMetadata {
                    offset,
                    leader_epoch: (epoch >= 0).then_some(epoch),
                    metadata: metadata.unwrap_or_default(),
                }),
            );
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
/// that recent. One request per leader; a leader that moved or cannot be
/// reached is looked up again until `default_api_timeout_ms`.
pub async fn list_offsets(
    client: &Client,
    query: &BTreeMap<TopicPartition, i64>,
    read_committed: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, OffsetError> {
    let config = client.config();
    let deadline = std::time::Instant::now() + config.default_api_timeout;
    loop {
        let error = match list_offsets_once(client, query, read_committed).await {
            Ok(found) => return Ok(found),
            Err(error) => error,
        };
        let retriable = match &error {
            OffsetError::Transport(e) => e.is_retriable(),
            OffsetError::Broker { error, .. } => error.is_retriable(),
        };
        if !retriable || std::time::Instant::now() + config.retry_backoff >= deadline {
            return Err(error);
        }
        // The leaders are looked up afresh on the next attempt.
        client.note_error(ErrorCode::NotLeaderOrFollower);
        tokio::time::sleep(config.retry_backoff).await;
    }
}

async fn list_offsets_once(
    client: &Client,
    query: &BTreeMap<TopicPartition, i64>,
    read_committed: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, OffsetError> {
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<ListOffsetsPartition>>> = BTreeMap::new();
    for (tp, &at) in query {
        let leader = client.leader(&tp.topic, tp.partition).await?;
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
    let mut found = BTreeMap::new();
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
        let response = client.send(leader, &request).await?;
        for topic in response.topics {
            for p in topic.partitions {
                let error = ErrorCode::from_code(p.error_code);
                if !error.is_ok() {
                    client.note_error(error);
                    return Err(OffsetError::Broker {
                        what: format!("listing offsets of {}-{}", topic.name, p.partition_index),
                        error,
                    });
                }
                let answer = (p.offset >= 0).then_some(OffsetAndTimestamp {
                    offset: p.offset,
                    timestamp: p.timestamp,
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                });
                found.insert(
                    TopicPartition::new(topic.name.clone(), p.partition_index),
                    answer,
                );
            }
        }
    }
    Ok(found)
}
