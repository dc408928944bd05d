//! Committed offsets on the wire, with no I/O: building OffsetCommit and
//! OffsetFetch requests for whatever version the coordinator speaks, and
//! reading their responses, for the consumer and the admin client alike.
//!
//! The versions differ in two ways this module hides:
//!
//! - from version 10 ([`FIRST_TOPIC_ID_VERSION`]) both requests name topics
//!   by id instead of by name, so the caller hands in the ids of the topics
//!   it names (and gets names back from the same map);
//! - from OffsetFetch version 8 a request carries an array of groups, each
//!   with its own topics and error, where older versions name one group at
//!   the top level.
//!
//! The caller sends the request (each builder takes the version the
//! connection negotiated) and passes the response back here.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use ferrokafka_group::assignor::TopicPartition;
//! use ferrokafka_group::offsets::{
//!     GroupIdentity, OffsetAndMetadata, TopicIds, offset_commit_request, offset_fetch_request,
//!     partitions_by_topic, read_offset_fetch_response,
//! };
//! use ferrokafka_protocol::messages::OffsetFetchResponse;
//! use ferrokafka_protocol::messages::offset_fetch_response::{
//!     OffsetFetchResponsePartition, OffsetFetchResponseTopic,
//! };
//! use ferrokafka_protocol::{ErrorCode, Uuid};
//!
//! let ids = TopicIds::from([("orders".to_string(), Uuid([7; 16]))]);
//! let tp = TopicPartition::new("orders", 0);
//!
//! // An admin commit (no member, generation -1) at version 9 names the topic.
//! let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(42))]);
//! let commit = offset_commit_request(9, &GroupIdentity::without_member("billing"), &offsets, &ids);
//! assert_eq!(commit.topics[0].name, "orders");
//!
//! // Version 10 of OffsetFetch names it by id, inside the groups array.
//! let asked = partitions_by_topic([&tp]);
//! let fetch = offset_fetch_request(10, "billing", Some(&asked), &ids, false);
//! let topics = fetch.groups[0].topics.as_ref().unwrap();
//! assert_eq!(topics[0].topic_id, Uuid([7; 16]));
//!
//! // A version 7 answer: one group at the top level.
//! let response = OffsetFetchResponse {
//!     topics: vec![OffsetFetchResponseTopic {
//!         name: "orders".into(),
//!         partitions: vec![OffsetFetchResponsePartition {
//!             partition_index: 0,
//!             committed_offset: 42,
//!             committed_leader_epoch: -1,
//!             metadata: Some(String::new()),
//!             ..OffsetFetchResponsePartition::default()
//!         }],
//!         ..OffsetFetchResponseTopic::default()
//!     }],
//!     ..OffsetFetchResponse::default()
//! };
//! let fetched = read_offset_fetch_response(response);
//! assert_eq!(fetched.error, ErrorCode::None);
//! assert_eq!(fetched.partitions[0].result, Ok(Some(OffsetAndMetadata::new(42))));
//! ```

use std::collections::BTreeMap;

use ferrokafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use ferrokafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

use crate::assignor::TopicPartition;

/// The first version of OffsetCommit and of OffsetFetch that names topics
/// by id rather than by name.
pub const FIRST_TOPIC_ID_VERSION: i16 = 10;

/// The ids of the topics a request names, by name: what the caller knows
/// from metadata, used to name topics by id from version
/// [`FIRST_TOPIC_ID_VERSION`] and to name them again in the response.
pub type TopicIds = BTreeMap<String, Uuid>;

/// The first OffsetFetch version that carries an array of groups.
const FIRST_GROUPS_VERSION: i16 = 8;

/// The first OffsetFetch version with `require_stable`, and the first
/// OffsetCommit version with `group_instance_id`.
const FIRST_STABLE_VERSION: i16 = 7;

/// A committed offset with its metadata string and leader epoch: what a
/// commit stores and what a fetch of committed offsets returns.
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
    /// `offset` with no leader epoch and no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// Who commits: the group and, for a member, its generation and ids (the
/// coordinator refuses commits from an old generation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupIdentity {
    /// `group_id`.
    pub group_id: String,
    /// The generation, `-1` outside a generation (assign mode, an admin).
    pub generation: i32,
    /// The member id, empty outside a generation.
    pub member_id: String,
    /// `group_instance_id`.
    pub group_instance_id: Option<String>,
}

impl GroupIdentity {
    /// `group_id` committing from outside any generation (generation `-1`,
    /// no member): an admin, or a consumer that assigns its own partitions.
    /// The coordinator takes such a commit only while the group has no
    /// active members.
    pub fn without_member(group_id: impl Into<String>) -> Self {
        GroupIdentity {
            group_id: group_id.into(),
            generation: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// How a response names a topic: by name, or (from version
/// [`FIRST_TOPIC_ID_VERSION`]) by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    /// The topic's name.
    Name(String),
    /// The topic's id.
    Id(Uuid),
}

impl TopicRef {
    /// The topic's name: as sent, or found for its id in `ids`; the id
    /// when `ids` does not know it.
    pub fn into_name(self, ids: &TopicIds) -> Result<String, Uuid> {
        match self {
            TopicRef::Name(name) => Ok(name),
            TopicRef::Id(id) => name_of(id, ids).map(str::to_string).ok_or(id),
        }
    }
}

/// One partition of an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// The topic, as the broker named it.
    pub topic: TopicRef,
    /// The partition index.
    pub partition: i32,
    /// The committed offset, `None` when nothing is committed (offset
    /// `-1`), or the partition's error.
    pub result: Result<Option<OffsetAndMetadata>, ErrorCode>,
}

/// An OffsetFetch response read for the one group it was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffsets {
    /// The group's error ([`ErrorCode::None`] when it has none).
    pub error: ErrorCode,
    /// Its partitions, in the broker's order.
    pub partitions: Vec<FetchedOffset>,
}

/// The partitions of each topic, topics in name order and partitions in the
/// order given: the shape [`offset_fetch_request`] (and other requests that
/// list partitions per topic) asks for.
pub fn partitions_by_topic<'a>(
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> BTreeMap<String, Vec<i32>> {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic().to_owned())
            .or_default()
            .push(tp.partition);
    }
    by_topic
}

/// The name `ids` gives topic `id`.
fn name_of(id: Uuid, ids: &TopicIds) -> Option<&str> {
    ids.iter()
        .find(|(_, known)| **known == id)
        .map(|(name, _)| name.as_str())
}

/// How `version` names `topic`: its name before [`FIRST_TOPIC_ID_VERSION`],
/// its id in `ids` (zero when unknown) from then on.
fn topic_key(version: i16, topic: &str, ids: &TopicIds) -> (String, Uuid) {
    if version >= FIRST_TOPIC_ID_VERSION {
        (String::new(), ids.get(topic).copied().unwrap_or_default())
    } else {
        (topic.to_string(), Uuid::default())
    }
}

/// Version `version` of an OffsetCommit of `offsets` by `group`, one entry
/// per topic in name order. From version [`FIRST_TOPIC_ID_VERSION`] topics
/// are named by their id in `ids`; the group instance id is sent from
/// version 7. The broker's retention default applies.
pub fn offset_commit_request(
    version: i16,
    group: &GroupIdentity,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ids: &TopicIds,
) -> OffsetCommitRequest {
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
    OffsetCommitRequest {
        group_id: group.group_id.clone(),
        generation_id_or_member_epoch: group.generation,
        member_id: group.member_id.clone(),
        group_instance_id: if version >= FIRST_STABLE_VERSION {
            group.group_instance_id.clone()
        } else {
            None
        },
        retention_time_ms: -1,
        topics: by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                let (name, topic_id) = topic_key(version, topic, ids);
                OffsetCommitRequestTopic {
                    name,
                    topic_id,
                    partitions,
                    ..OffsetCommitRequestTopic::default()
                }
            })
            .collect(),
        ..OffsetCommitRequest::default()
    }
}

/// The error of each partition of an OffsetCommit response
/// ([`ErrorCode::None`] for those committed), in the broker's order. A
/// topic named by id is named from `ids`; one `ids` does not know gets an
/// empty name.
pub fn read_offset_commit_response(
    response: OffsetCommitResponse,
    ids: &TopicIds,
) -> Vec<(TopicPartition, ErrorCode)> {
    let mut results = Vec::new();
    for topic in response.topics {
        let name = if topic.name.is_empty() {
            name_of(topic.topic_id, ids).unwrap_or_default().to_string()
        } else {
            topic.name
        };
        for partition in topic.partitions {
            results.push((
                TopicPartition::new(name.clone(), partition.partition_index),
                ErrorCode::from_code(partition.error_code),
            ));
        }
    }
    results
}

/// Version `version` of an OffsetFetch of `group_id`'s committed offsets:
/// of these partitions of each topic, or of every partition the group
/// committed when `topics` is `None`. From version 8 the group goes in the
/// groups array, and from [`FIRST_TOPIC_ID_VERSION`] topics are named by
/// their id in `ids`. `require_stable` (wait for pending transactional
/// commits, KIP-447) is sent from version 7.
pub fn offset_fetch_request(
    version: i16,
    group_id: &str,
    topics: Option<&BTreeMap<String, Vec<i32>>>,
    ids: &TopicIds,
    require_stable: bool,
) -> OffsetFetchRequest {
    let require_stable = version >= FIRST_STABLE_VERSION && require_stable;
    if version >= FIRST_GROUPS_VERSION {
        let topics = topics.map(|topics| {
            topics
                .iter()
                .map(|(topic, partitions)| {
                    let (name, topic_id) = topic_key(version, topic, ids);
                    OffsetFetchRequestTopics {
                        name,
                        topic_id,
                        partition_indexes: partitions.clone(),
                        ..OffsetFetchRequestTopics::default()
                    }
                })
                .collect()
        });
        OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group_id.to_string(),
                member_epoch: -1,
                topics,
                ..OffsetFetchRequestGroup::default()
            }],
            require_stable,
            ..OffsetFetchRequest::default()
        }
    } else {
        let topics = topics.map(|topics| {
            topics
                .iter()
                .map(|(topic, partitions)| OffsetFetchRequestTopic {
                    name: topic.clone(),
                    partition_indexes: partitions.clone(),
                    ..OffsetFetchRequestTopic::default()
                })
                .collect()
        });
        OffsetFetchRequest {
            group_id: group_id.to_string(),
            topics,
            require_stable,
            ..OffsetFetchRequest::default()
        }
    }
}

/// One partition's answer: its error, or its offset (`None` for `-1`,
/// nothing committed; a negative epoch is no epoch).
fn fetched(
    error_code: i16,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
) -> Result<Option<OffsetAndMetadata>, ErrorCode> {
    let error = ErrorCode::from_code(error_code);
    if !error.is_ok() {
        return Err(error);
    }
    Ok((offset >= 0).then(|| OffsetAndMetadata {
        offset,
        leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
        metadata: metadata.unwrap_or_default(),
    }))
}

/// Reads an OffsetFetch response of either layout, for a request that
/// named one group: before version 8 its error and topics stand at the top
/// level; from version 8 they stand in the groups array (the first group
/// error found is the error). Topics keep the broker's naming (by name, or
/// by id from version [`FIRST_TOPIC_ID_VERSION`]).
pub fn read_offset_fetch_response(response: OffsetFetchResponse) -> FetchedOffsets {
    let mut partitions = Vec::new();
    if response.groups.is_empty() {
        for topic in response.topics {
            for p in topic.partitions {
                partitions.push(FetchedOffset {
                    topic: TopicRef::Name(topic.name.clone()),
                    partition: p.partition_index,
                    result: fetched(
                        p.error_code,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                    ),
                });
            }
        }
        return FetchedOffsets {
            error: ErrorCode::from_code(response.error_code),
            partitions,
        };
    }
    let mut error = ErrorCode::None;
    for group in response.groups {
        if error.is_ok() {
            error = ErrorCode::from_code(group.error_code);
        }
        for topic in group.topics {
            let topic_ref = if topic.name.is_empty() {
                TopicRef::Id(topic.topic_id)
            } else {
                TopicRef::Name(topic.name)
            };
            for p in topic.partitions {
                partitions.push(FetchedOffset {
                    topic: topic_ref.clone(),
                    partition: p.partition_index,
                    result: fetched(
                        p.error_code,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                    ),
                });
            }
        }
    }
    FetchedOffsets { error, partitions }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use ferrokafka_protocol::Message as _;
    use ferrokafka_protocol::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };
    use ferrokafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };

    use super::*;

    const ORDERS: Uuid = Uuid([1; 16]);
    const EVENTS: Uuid = Uuid([2; 16]);

    fn ids() -> TopicIds {
        TopicIds::from([
            ("orders".to_string(), ORDERS),
            ("events".to_string(), EVENTS),
        ])
    }

    fn member() -> GroupIdentity {
        GroupIdentity {
            group_id: "g".into(),
            generation: 5,
            member_id: "m-1".into(),
            group_instance_id: Some("i-1".into()),
        }
    }

    fn offsets() -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        BTreeMap::from([
            (
                TopicPartition::new("orders", 1),
                OffsetAndMetadata {
                    offset: 10,
                    leader_epoch: Some(3),
                    metadata: "m".into(),
                },
            ),
            (TopicPartition::new("orders", 0), OffsetAndMetadata::new(4)),
            (TopicPartition::new("events", 2), OffsetAndMetadata::new(0)),
        ])
    }

    /// Each fetched partition as (topic, partition, result).
    fn rows(fetched: &FetchedOffsets) -> Vec<(TopicRef, i32, Fetched)> {
        fetched
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.result.clone()))
            .collect()
    }

    type Fetched = Result<Option<OffsetAndMetadata>, ErrorCode>;

    #[test]
    fn a_commit_names_topics_before_v10_and_ids_from_v10() {
        let v9 = offset_commit_request(9, &member(), &offsets(), &ids());
        assert_eq!(v9.group_id, "g");
        assert_eq!(v9.generation_id_or_member_epoch, 5);
        assert_eq!(v9.member_id, "m-1");
        assert_eq!(v9.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(v9.retention_time_ms, -1);
        let named: Vec<_> = v9
            .topics
            .iter()
            .map(|t| (t.name.as_str(), t.topic_id))
            .collect();
        assert_eq!(
            named,
            [("events", Uuid::default()), ("orders", Uuid::default())]
        );
        let orders = &v9.topics[1].partitions;
        assert_eq!(orders.len(), 2);
        assert_eq!(
            (orders[0].partition_index, orders[0].committed_offset),
            (0, 4)
        );
        assert_eq!(orders[0].committed_leader_epoch, -1);
        assert_eq!(orders[1].committed_leader_epoch, 3);
        assert_eq!(orders[1].committed_metadata.as_deref(), Some("m"));

        let v10 = offset_commit_request(10, &member(), &offsets(), &ids());
        let by_id: Vec<_> = v10
            .topics
            .iter()
            .map(|t| (t.name.as_str(), t.topic_id))
            .collect();
        assert_eq!(by_id, [("", EVENTS), ("", ORDERS)]);
        assert_eq!(v10.topics[1].partitions, v9.topics[1].partitions);

        // Both encode at their version (v6 drops the instance id it lacks).
        for (version, request) in [
            (6, offset_commit_request(6, &member(), &offsets(), &ids())),
            (9, v9),
            (10, v10),
        ] {
            request.encode(&mut BytesMut::new(), version).unwrap();
        }
    }

    #[test]
    fn an_admin_commits_without_a_member() {
        let admin = GroupIdentity::without_member("g");
        assert_eq!(admin.generation, -1);
        assert!(admin.member_id.is_empty());
        let request = offset_commit_request(8, &admin, &offsets(), &ids());
        assert_eq!(request.generation_id_or_member_epoch, -1);
        assert_eq!(request.group_instance_id, None);
    }

    #[test]
    fn commit_results_name_topics_from_ids_and_leave_unknown_ids_unnamed() {
        let partition = |index, error: ErrorCode| OffsetCommitResponsePartition {
            partition_index: index,
            error_code: error.code(),
            ..OffsetCommitResponsePartition::default()
        };
        let response = OffsetCommitResponse {
            topics: vec![
                OffsetCommitResponseTopic {
                    topic_id: ORDERS,
                    partitions: vec![
                        partition(0, ErrorCode::None),
                        partition(1, ErrorCode::OffsetMetadataTooLarge),
                    ],
                    ..OffsetCommitResponseTopic::default()
                },
                OffsetCommitResponseTopic {
                    topic_id: Uuid([9; 16]),
                    partitions: vec![partition(0, ErrorCode::UnknownTopicId)],
                    ..OffsetCommitResponseTopic::default()
                },
                OffsetCommitResponseTopic {
                    name: "events".into(),
                    partitions: vec![partition(2, ErrorCode::None)],
                    ..OffsetCommitResponseTopic::default()
                },
            ],
            ..OffsetCommitResponse::default()
        };
        assert_eq!(
            read_offset_commit_response(response, &ids()),
            [
                (TopicPartition::new("orders", 0), ErrorCode::None),
                (
                    TopicPartition::new("orders", 1),
                    ErrorCode::OffsetMetadataTooLarge
                ),
                (TopicPartition::new("", 0), ErrorCode::UnknownTopicId),
                (TopicPartition::new("events", 2), ErrorCode::None),
            ]
        );
    }

    #[test]
    fn partitions_group_by_topic() {
        let asked = [
            TopicPartition::new("orders", 2),
            TopicPartition::new("events", 0),
            TopicPartition::new("orders", 1),
        ];
        assert_eq!(
            partitions_by_topic(&asked),
            BTreeMap::from([
                ("events".to_string(), vec![0]),
                ("orders".to_string(), vec![2, 1]),
            ])
        );
    }

    #[test]
    fn a_fetch_names_one_group_before_v8_and_a_groups_array_from_v8() {
        let asked = partitions_by_topic(&[
            TopicPartition::new("orders", 0),
            TopicPartition::new("events", 1),
        ]);
        let v7 = offset_fetch_request(7, "g", Some(&asked), &ids(), true);
        assert_eq!(v7.group_id, "g");
        assert!(v7.groups.is_empty());
        assert!(v7.require_stable);
        let topics = v7.topics.as_ref().unwrap();
        assert_eq!(
            topics
                .iter()
                .map(|t| (t.name.as_str(), t.partition_indexes.clone()))
                .collect::<Vec<_>>(),
            [("events", vec![1]), ("orders", vec![0])]
        );
        // require_stable does not exist before v7.
        assert!(!offset_fetch_request(6, "g", Some(&asked), &ids(), true).require_stable);

        let v8 = offset_fetch_request(8, "g", Some(&asked), &ids(), true);
        assert!(v8.group_id.is_empty());
        assert!(v8.require_stable);
        assert_eq!(v8.groups.len(), 1);
        assert_eq!(v8.groups[0].group_id, "g");
        assert_eq!(v8.groups[0].member_epoch, -1);
        let named: Vec<_> = v8.groups[0]
            .topics
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| (t.name.as_str(), t.topic_id))
            .collect();
        assert_eq!(
            named,
            [("events", Uuid::default()), ("orders", Uuid::default())]
        );

        let v10 = offset_fetch_request(10, "g", Some(&asked), &ids(), false);
        assert!(!v10.require_stable);
        let by_id: Vec<_> = v10.groups[0]
            .topics
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| (t.name.as_str(), t.topic_id, t.partition_indexes.clone()))
            .collect();
        assert_eq!(by_id, [("", EVENTS, vec![1]), ("", ORDERS, vec![0])]);

        // Every partition of the group.
        let all = offset_fetch_request(10, "g", None, &TopicIds::new(), false);
        assert_eq!(all.groups[0].topics, None);
        assert_eq!(
            offset_fetch_request(7, "g", None, &TopicIds::new(), false).topics,
            None
        );

        for (version, request) in [(7, v7), (8, v8), (10, v10), (10, all)] {
            request.encode(&mut BytesMut::new(), version).unwrap();
        }
    }

    #[test]
    fn a_v7_fetch_response_reads_from_the_top_level() {
        let partition = |index, offset, epoch, error: ErrorCode| OffsetFetchResponsePartition {
            partition_index: index,
            committed_offset: offset,
            committed_leader_epoch: epoch,
            metadata: Some("meta".into()),
            error_code: error.code(),
            ..OffsetFetchResponsePartition::default()
        };
        let response = OffsetFetchResponse {
            topics: vec![OffsetFetchResponseTopic {
                name: "orders".into(),
                partitions: vec![
                    partition(0, 12, 4, ErrorCode::None),
                    partition(1, -1, -1, ErrorCode::None),
                    partition(2, 3, -1, ErrorCode::None),
                    partition(3, -1, -1, ErrorCode::UnstableOffsetCommit),
                ],
                ..OffsetFetchResponseTopic::default()
            }],
            error_code: ErrorCode::None.code(),
            ..OffsetFetchResponse::default()
        };
        let fetched = read_offset_fetch_response(response);
        assert_eq!(fetched.error, ErrorCode::None);
        let orders = || TopicRef::Name("orders".into());
        assert_eq!(
            rows(&fetched),
            [
                (
                    orders(),
                    0,
                    Ok(Some(OffsetAndMetadata {
                        offset: 12,
                        leader_epoch: Some(4),
                        metadata: "meta".into(),
                    }))
                ),
                (orders(), 1, Ok(None)),
                (
                    orders(),
                    2,
                    Ok(Some(OffsetAndMetadata {
                        offset: 3,
                        leader_epoch: None,
                        metadata: "meta".into(),
                    }))
                ),
                (orders(), 3, Err(ErrorCode::UnstableOffsetCommit)),
            ]
        );

        let refused = OffsetFetchResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..OffsetFetchResponse::default()
        };
        let fetched = read_offset_fetch_response(refused);
        assert_eq!(fetched.error, ErrorCode::GroupAuthorizationFailed);
        assert!(fetched.partitions.is_empty());
    }

    #[test]
    fn a_v8_fetch_response_reads_from_the_group_and_keeps_ids() {
        let partition = |index, offset| OffsetFetchResponsePartitions {
            partition_index: index,
            committed_offset: offset,
            committed_leader_epoch: -1,
            metadata: None,
            ..OffsetFetchResponsePartitions::default()
        };
        let unknown = Uuid([9; 16]);
        let response = OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup {
                group_id: "g".into(),
                topics: vec![
                    OffsetFetchResponseTopics {
                        topic_id: ORDERS,
                        partitions: vec![partition(0, 5), partition(1, -1)],
                        ..OffsetFetchResponseTopics::default()
                    },
                    OffsetFetchResponseTopics {
                        topic_id: unknown,
                        partitions: vec![partition(0, 1)],
                        ..OffsetFetchResponseTopics::default()
                    },
                    OffsetFetchResponseTopics {
                        name: "events".into(),
                        partitions: vec![partition(2, 7)],
                        ..OffsetFetchResponseTopics::default()
                    },
                ],
                ..OffsetFetchResponseGroup::default()
            }],
            ..OffsetFetchResponse::default()
        };
        let fetched = read_offset_fetch_response(response);
        assert_eq!(fetched.error, ErrorCode::None);
        assert_eq!(
            rows(&fetched),
            [
                (TopicRef::Id(ORDERS), 0, Ok(Some(OffsetAndMetadata::new(5)))),
                (TopicRef::Id(ORDERS), 1, Ok(None)),
                (
                    TopicRef::Id(unknown),
                    0,
                    Ok(Some(OffsetAndMetadata::new(1)))
                ),
                (
                    TopicRef::Name("events".into()),
                    2,
                    Ok(Some(OffsetAndMetadata::new(7)))
                ),
            ]
        );
        let names: Vec<_> = fetched
            .partitions
            .into_iter()
            .map(|p| p.topic.into_name(&ids()))
            .collect();
        assert_eq!(
            names,
            [
                Ok("orders".to_string()),
                Ok("orders".to_string()),
                Err(unknown),
                Ok("events".to_string()),
            ]
        );

        let refused = OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup {
                group_id: "g".into(),
                error_code: ErrorCode::CoordinatorLoadInProgress.code(),
                ..OffsetFetchResponseGroup::default()
            }],
            ..OffsetFetchResponse::default()
        };
        assert_eq!(
            read_offset_fetch_response(refused).error,
            ErrorCode::CoordinatorLoadInProgress
        );
    }
}
