//! Consumer groups: list, describe, delete, committed offsets (list, alter,
//! delete) and removing members.
//!
//! Every call about a group goes to its group coordinator, found with
//! FindCoordinator (batched where the broker allows); a coordinator that
//! moved or is still loading is looked up again and the call retried until
//! the operation's timeout. Listing asks every broker and merges the
//! answers. Describing works for classic groups (DescribeGroups, with the
//! members' subscriptions and assignments decoded from the consumer
//! protocol) and for KIP-848 consumer groups (ConsumerGroupDescribe).
//!
//! ```no_run
//! # async fn example() -> Result<(), ferrokafka_admin::AdminError> {
//! use ferrokafka_admin::groups::ListGroupsFilter;
//! use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
//!
//! let admin = Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?).await?;
//! let options = AdminOptions::new();
//! let listed = admin.list_groups(&ListGroupsFilter::default(), &options).await?;
//! let ids: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
//! for (group, described) in admin.describe_groups(&ids, &options).await {
//!     match described {
//!         Ok(description) => println!("{group}: {} ({} members)", description.state, description.members.len()),
//!         Err(error) => eprintln!("{group}: {error}"),
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use bytes::Bytes;
use ferrokafka_group::assignor::TopicPartition;
/// A committed offset: what [`Admin::alter_group_offsets`] commits and
/// [`Admin::list_group_offsets`] returns (the consumer's type).
pub use ferrokafka_group::offsets::OffsetAndMetadata;
use ferrokafka_group::offsets::{
    GroupIdentity, TopicIds, TopicRef, offset_commit_request, offset_fetch_request,
    partitions_by_topic, read_offset_commit_response, read_offset_fetch_response,
};
use ferrokafka_protocol::messages::leave_group_request::MemberIdentity;
use ferrokafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use ferrokafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription, DeleteGroupsRequest, DescribeGroupsRequest, LeaveGroupRequest,
    ListGroupsRequest, OffsetDeleteRequest, ShareGroupDescribeRequest,
};
use ferrokafka_protocol::{ErrorCode, Message, Uuid};
use ferrokafka_transport::{CoordinatorKind, Lane};

use crate::retry::{Round, each_until_deadline, until_deadline};
use crate::share_groups::share_groups;
use crate::{Admin, AdminError, AdminOptions};

/// The highest consumer-protocol version this client decodes.
const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// Which groups a listing returns; empty lists mean no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsFilter {
    /// Group states (`Stable`, `Empty`, `PreparingRebalance`, ...), as the
    /// broker names them.
    pub states: Vec<String>,
    /// Group types: `classic`, `consumer`, `share`, `streams`.
    pub types: Vec<String>,
}

/// A group as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer`, `connect`, empty for offsets-only groups).
    pub protocol_type: String,
    /// The group's state, from brokers that report it.
    pub state: Option<String>,
    /// The group's type (`classic`, `consumer`, `share`), from brokers that
    /// report it.
    pub group_type: Option<String>,
}

/// The merged listing of every broker: the groups, and the brokers that
/// could not answer.
#[derive(Debug, Clone, Default)]
pub struct GroupListings {
    /// The groups, by id.
    pub groups: Vec<GroupListing>,
    /// The brokers whose part of the listing failed, by node id.
    pub errors: BTreeMap<i32, AdminError>,
}

/// Which group protocol a described group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// The classic protocol (JoinGroup/SyncGroup).
    Classic,
    /// The KIP-848 consumer protocol (ConsumerGroupHeartbeat).
    Consumer,
    /// A share group (KIP-932, ShareGroupHeartbeat).
    Share,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave.
    pub member_id: String,
    /// The static member's `group_instance_id`.
    pub group_instance_id: Option<String>,
    /// The member's `client_id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub host: String,
    /// The topics it subscribed to (decoded from the consumer protocol for
    /// classic groups; empty when unreadable).
    pub subscribed_topics: Vec<String>,
    /// The partitions assigned to it.
    pub assignment: Vec<TopicPartition>,
    /// The member's rack, when known.
    pub rack: Option<String>,
}

/// A described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The group protocol it uses.
    pub kind: GroupKind,
    /// Its state (`Stable`, `Empty`, `Dead`, ... / `stable`, `empty`,
    /// ... for consumer groups).
    pub state: String,
    /// The protocol type (`consumer` for consumer groups).
    pub protocol_type: String,
    /// The chosen protocol: the assignor's name (`range`, `uniform`, ...).
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// The coordinator's node id.
    pub coordinator: i32,
    /// The ACL operations the caller may perform on it, as the broker's bit
    /// field, when the broker computed it.
    pub authorized_operations: Option<i32>,
}

/// Which members [`Admin::remove_group_members`] removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersToRemove {
    /// The static members with these `group_instance_id`s.
    Static(Vec<String>),
    /// Every member (found by describing the group first).
    All,
}

/// An id a listing or the coordinator gives is a key in result maps.
fn coordinator_error(error: &AdminError) -> bool {
    matches!(
        error.code(),
        Some(
            ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::CoordinatorLoadInProgress
        )
    ) || matches!(error, AdminError::Transport(e) if e.is_retriable())
}

pub(crate) fn code_error(what: &str, code: i16, message: Option<String>) -> Result<(), AdminError> {
    match AdminError::from_code(what, ErrorCode::from_code(code), message) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A consumer-protocol message: a big-endian version then the body.
fn split_version(data: &Bytes) -> Option<(i16, Bytes)> {
    let version = i16::from_be_bytes([*data.first()?, *data.get(1)?]);
    (version >= 0).then(|| (version, data.slice(2..)))
}

/// The partitions of a consumer-protocol assignment; empty when there is
/// none, an error when it cannot be read.
pub fn decode_assignment(data: &Bytes) -> Result<Vec<TopicPartition>, AdminError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let (version, body) = split_version(data)
        .ok_or_else(|| AdminError::UnexpectedResponse("a truncated assignment".into()))?;
    let message = ConsumerProtocolAssignment::decode(body, version.min(CONSUMER_PROTOCOL_VERSION))
        .map_err(|e| AdminError::UnexpectedResponse(format!("an unreadable assignment: {e}")))?;
    Ok(message
        .assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic: std::sync::Arc<str> = t.topic.into();
            t.partitions
                .into_iter()
                .map(move |partition| TopicPartition::new(&topic, partition))
        })
        .collect())
}

/// The topics and rack of a consumer-protocol subscription, `None` when it
/// cannot be read.
fn decode_subscription(data: &Bytes) -> Option<(Vec<String>, Option<String>)> {
    let (version, body) = split_version(data)?;
    let message =
        ConsumerProtocolSubscription::decode(body, version.min(CONSUMER_PROTOCOL_VERSION)).ok()?;
    Some((message.topics, message.rack_id))
}

impl Admin {
    /// Runs rounds of a per-group operation: each round finds the pending
    /// groups' coordinators and hands `send` each coordinator with its
    /// groups; coordinator errors forget the coordinator and retry.
    pub(crate) async fn per_group<T, F, Fut>(
        &self,
        what: &str,
        groups: Vec<String>,
        options: &AdminOptions,
        send: F,
    ) -> BTreeMap<String, Result<T, AdminError>>
    where
        F: Fn(i32, Vec<String>) -> Fut,
        Fut: Future<Output = Round<String, T>>,
    {
        let send = &send;
        each_until_deadline(
            what,
            groups,
            self.deadline(options),
            self.retry_backoff(),
            coordinator_error,
            |pending: Vec<String>| async move {
                let keys: Vec<&str> = pending.iter().map(String::as_str).collect();
                let found = self
                    .live()?
                    .coordinators(CoordinatorKind::Group, &keys)
                    .await?;
                let mut by_node: BTreeMap<i32, Vec<String>> = BTreeMap::new();
                for group in &pending {
                    if let Some(&node) = found.get(group) {
                        by_node.entry(node).or_default().push(group.clone());
                    }
                }
                let mut answers = BTreeMap::new();
                for (node, groups) in by_node {
                    let outcome = match send(node, groups.clone()).await {
                        Ok(outcome) => outcome,
                        Err(error) => groups
                            .iter()
                            .map(|g| (g.clone(), Err(error.clone())))
                            .collect(),
                    };
                    for (group, answer) in outcome {
                        if let Err(error) = &answer
                            && coordinator_error(error)
                        {
                            self.live()?
                                .forget_coordinator(CoordinatorKind::Group, &group);
                        }
                        answers.insert(group, answer);
                    }
                }
                Ok(answers)
            },
        )
        .await
    }

    /// The groups every broker knows, filtered by state and type, merged.
    /// A broker that cannot answer is named in
    /// [`GroupListings::errors`]; the listing fails as a whole only when
    /// the brokers cannot be found.
    pub async fn list_groups(
        &self,
        filter: &ListGroupsFilter,
        options: &AdminOptions,
    ) -> Result<GroupListings, AdminError> {
        let deadline = self.deadline(options);
        let backoff = self.retry_backoff();
        let nodes = until_deadline("listing brokers", deadline, backoff, || async {
            self.live()?.refresh_metadata().await?;
            Ok(self
                .live()?
                .view(|v| v.brokers().map(|b| b.node_id).collect::<Vec<_>>()))
        })
        .await?;
        let request = ListGroupsRequest {
            states_filter: filter.states.clone(),
            types_filter: filter.types.clone(),
            ..ListGroupsRequest::default()
        };
        let mut merged: BTreeMap<String, GroupListing> = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for node in nodes {
            let what = format!("listing groups at broker {node}");
            let answer = until_deadline(&what, deadline, backoff, || async {
                let response = self.live()?.send(node, &request).await?;
                code_error(&what, response.error_code, None)?;
                Ok(response.groups)
            })
            .await;
            match answer {
                Ok(groups) => {
                    for g in groups {
                        merged.insert(
                            g.group_id.clone(),
                            GroupListing {
                                group_id: g.group_id,
                                protocol_type: g.protocol_type,
                                state: (!g.group_state.is_empty()).then_some(g.group_state),
                                group_type: (!g.group_type.is_empty()).then_some(g.group_type),
                            },
                        );
                    }
                }
                Err(error) => {
                    errors.insert(node, error);
                }
            }
        }
        Ok(GroupListings {
            groups: merged.into_values().collect(),
            errors,
        })
    }

    /// Describes `groups`: members, their assignments, state and protocol.
    /// Share groups are described with ShareGroupDescribe,
    /// consumer (KIP-848) groups with ConsumerGroupDescribe,
    /// classic ones with DescribeGroups (the fallback when the broker says
    /// a group is not a consumer group or lacks the API).
    pub async fn describe_groups(
        &self,
        groups: &[&str],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<GroupDescription, AdminError>> {
        let groups = groups.iter().map(|g| (*g).to_string()).collect();
        self.per_group(
            "describing group",
            groups,
            options,
            |node, groups| async move {
                let mut answers = BTreeMap::new();
                let mut classic = Vec::new();
                let request = ConsumerGroupDescribeRequest {
                    group_ids: groups.clone(),
                    include_authorized_operations: true,
                    ..ConsumerGroupDescribeRequest::default()
                };
                match self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await
                {
                    Ok(response) => {
                        for (group, answer) in consumer_groups(node, response) {
                            match answer {
                                Err(error)
                                    if matches!(
                                        error.code(),
                                        Some(
                                            ErrorCode::GroupIdNotFound
                                                | ErrorCode::UnsupportedVersion
                                        )
                                    ) =>
                                {
                                    classic.push(group);
                                }
                                answer => {
                                    answers.insert(group, answer);
                                }
                            }
                        }
                    }
                    Err(error) if error.is_retriable() => return Err(error.into()),
                    Err(_) => classic = groups,
                }
                if !classic.is_empty() {
                    // Not a consumer group: perhaps a share group.
                    let request = ShareGroupDescribeRequest {
                        group_ids: classic.clone(),
                        include_authorized_operations: true,
                        ..ShareGroupDescribeRequest::default()
                    };
                    match self
                        .live()?
                        .send_on(node, Lane::Coordination, &request)
                        .await
                    {
                        Ok(response) => {
                            for (group, answer) in share_groups(node, response) {
                                if answer.is_ok() {
                                    classic.retain(|g| *g != group);
                                    answers.insert(group, answer);
                                }
                            }
                        }
                        Err(error) if error.is_retriable() => return Err(error.into()),
                        Err(_) => {}
                    }
                }
                if classic.is_empty() {
                    return Ok(answers);
                }
                let request = DescribeGroupsRequest {
                    groups: classic,
                    include_authorized_operations: true,
                    ..DescribeGroupsRequest::default()
                };
                let response = self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await?;
                for g in response.groups {
                    let what = format!("group {}", g.group_id);
                    let answer = code_error(&what, g.error_code, g.error_message).and_then(|()| {
                        let consumer = g.protocol_type == "consumer" || g.protocol_type.is_empty();
                        let members = g
                            .members
                            .into_iter()
                            .map(|m| {
                                let (subscribed_topics, rack) = if consumer {
                                    decode_subscription(&m.member_metadata).unwrap_or_default()
                                } else {
                                    (Vec::new(), None)
                                };
                                let assignment = if consumer {
                                    decode_assignment(&m.member_assignment)?
                                } else {
                                    Vec::new()
                                };
                                Ok(MemberDescription {
                                    member_id: m.member_id,
                                    group_instance_id: m.group_instance_id,
                                    client_id: m.client_id,
                                    host: m.client_host,
                                    subscribed_topics,
                                    assignment,
                                    rack,
                                })
                            })
                            .collect::<Result<Vec<_>, AdminError>>()?;
                        Ok(GroupDescription {
                            group_id: g.group_id.clone(),
                            kind: GroupKind::Classic,
                            state: g.group_state,
                            protocol_type: g.protocol_type,
                            protocol: g.protocol_data,
                            members,
                            coordinator: node,
                            authorized_operations: (g.authorized_operations != i32::MIN)
                                .then_some(g.authorized_operations),
                        })
                    });
                    answers.insert(g.group_id, answer);
                }
                Ok(answers)
            },
        )
        .await
    }

    /// Deletes `groups`. A group that still has members fails with
    /// `NON_EMPTY_GROUP`; the others are deleted regardless.
    pub async fn delete_groups(
        &self,
        groups: &[&str],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<(), AdminError>> {
        let groups = groups.iter().map(|g| (*g).to_string()).collect();
        self.per_group(
            "deleting group",
            groups,
            options,
            |node, groups| async move {
                let request = DeleteGroupsRequest {
                    groups_names: groups,
                    ..DeleteGroupsRequest::default()
                };
                let response = self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await?;
                Ok(response
                    .results
                    .into_iter()
                    .map(|r| {
                        let what = format!("group {}", r.group_id);
                        (r.group_id, code_error(&what, r.error_code, r.error_message))
                    })
                    .collect())
            },
        )
        .await
    }

    /// The committed offsets of each group: of `partitions`, or of every
    /// partition it committed when `partitions` is `None`. A partition with
    /// no committed offset is absent.
    pub async fn list_group_offsets(
        &self,
        groups: &[&str],
        partitions: Option<&[TopicPartition]>,
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError>> {
        let groups = groups.iter().map(|g| (*g).to_string()).collect();
        let by_topic = partitions.map(partitions_by_topic);
        let by_topic = &by_topic;
        self.per_group(
            "fetching the offsets of group",
            groups,
            options,
            |node, groups| async move {
                let ids = match by_topic {
                    Some(topics) => {
                        let names: Vec<&str> = topics.keys().map(String::as_str).collect();
                        self.live()?.topic_ids(&names).await?
                    }
                    None => TopicIds::new(),
                };
                let mut answers = BTreeMap::new();
                for group in groups {
                    let answer = self
                        .offset_fetch(node, &group, by_topic.as_ref(), &ids)
                        .await;
                    if let Err(error) = &answer
                        && error.is_retriable()
                        && !coordinator_error(error)
                    {
                        return Err(error.clone());
                    }
                    answers.insert(group, answer);
                }
                Ok(answers)
            },
        )
        .await
    }

    async fn offset_fetch(
        &self,
        node: i32,
        group: &str,
        topics: Option<&BTreeMap<String, Vec<i32>>>,
        ids: &TopicIds,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        let response = self
            .live()?
            .send_built(node, Lane::Coordination, |version| {
                offset_fetch_request(version, group, topics, ids, false)
            })
            .await?;
        let fetched = read_offset_fetch_response(response);
        code_error(&format!("group {group}"), fetched.error.code(), None)?;
        let mut names: HashMap<Uuid, String> = ids.iter().map(|(n, id)| (*id, n.clone())).collect();
        let mut found = BTreeMap::new();
        for answer in fetched.partitions {
            let name = match answer.topic {
                TopicRef::Name(name) => name,
                TopicRef::Id(id) => match self.topic_name(&mut names, id).await? {
                    Some(name) => name,
                    None => continue,
                },
            };
            let partition = answer.partition;
            match answer.result {
                Ok(Some(offset)) => {
                    found.insert(
                        TopicPartition {
                            topic: name.into(),
                            partition,
                        },
                        offset,
                    );
                }
                Ok(None) => {}
                Err(error) => code_error(
                    &format!("group {group} partition {name}-{partition}"),
                    error.code(),
                    None,
                )?,
            }
        }
        Ok(found)
    }

    /// The name of topic `id`, refreshing the metadata of every topic once
    /// when it is not known; `None` for a topic that no longer exists.
    async fn topic_name(
        &self,
        names: &mut HashMap<Uuid, String>,
        id: Uuid,
    ) -> Result<Option<String>, AdminError> {
        if let Some(name) = names.get(&id) {
            return Ok(Some(name.clone()));
        }
        let lookup = |client: &ferrokafka_transport::Client| {
            client.view(|v| {
                v.topic_names()
                    .filter_map(|n| v.topic(n).map(|t| (t.id, n.to_string())))
                    .collect::<Vec<_>>()
            })
        };
        let mut known = lookup(self.live()?);
        if !known.iter().any(|(i, _)| *i == id) {
            self.live()?.track_all_topics();
            self.live()?.refresh_metadata().await?;
            known = lookup(self.live()?);
        }
        names.extend(known);
        Ok(names.get(&id).cloned())
    }

    /// Commits `offsets` for `group` as an admin (no member, generation
    /// -1): only possible while the group has no active members; otherwise
    /// the coordinator refuses (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`,
    /// `REBALANCE_IN_PROGRESS`, ...), as that partition's error.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<(), AdminError>> {
        let identity = GroupIdentity::without_member(group);
        let identity = &identity;
        let outcome = self
            .per_group(
                "altering the offsets of group",
                vec![group.to_string()],
                options,
                |node, groups| async move {
                    let mut names: Vec<&str> = offsets.keys().map(TopicPartition::topic).collect();
                    // The keys are sorted by topic first.
                    names.dedup();
                    let ids = self.live()?.topic_ids(&names).await?;
                    let response = self
                        .live()?
                        .send_built(node, Lane::Coordination, |version| {
                            offset_commit_request(version, identity, offsets, &ids)
                        })
                        .await?;
                    let mut results = BTreeMap::new();
                    let mut worst: Option<AdminError> = None;
                    for (tp, error) in read_offset_commit_response(response, &ids) {
                        let what = format!("group {group} partition {tp}");
                        let result = code_error(&what, error.code(), None);
                        if let Err(error) = &result
                            && coordinator_error(error)
                        {
                            worst = Some(error.clone());
                        }
                        results.insert(tp, result);
                    }
                    let answer = match worst {
                        Some(error) => Err(error),
                        None => Ok(results),
                    };
                    Ok(groups.into_iter().map(|g| (g, answer.clone())).collect())
                },
            )
            .await;
        per_partition(group, offsets.keys(), outcome)
    }

    /// Deletes the committed offsets of `partitions` for `group`. A topic
    /// the group is still subscribed to fails with
    /// `GROUP_SUBSCRIBED_TO_TOPIC`.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<(), AdminError>> {
        let by_topic = &partitions_by_topic(partitions);
        let outcome = self
            .per_group(
                "deleting the offsets of group",
                vec![group.to_string()],
                options,
                |node, groups| async move {
                    let request = OffsetDeleteRequest {
                        group_id: group.to_string(),
                        topics: by_topic
                            .iter()
                            .map(|(name, partitions)| OffsetDeleteRequestTopic {
                                name: name.clone(),
                                partitions: partitions
                                    .iter()
                                    .map(|&partition_index| OffsetDeleteRequestPartition {
                                        partition_index,
                                        ..OffsetDeleteRequestPartition::default()
                                    })
                                    .collect(),
                                ..OffsetDeleteRequestTopic::default()
                            })
                            .collect(),
                        ..OffsetDeleteRequest::default()
                    };
                    let response = self
                        .live()?
                        .send_on(node, Lane::Coordination, &request)
                        .await?;
                    let answer = code_error(&format!("group {group}"), response.error_code, None)
                        .map(|()| {
                            let mut results = BTreeMap::new();
                            for t in response.topics {
                                for p in t.partitions {
                                    let what = format!(
                                        "group {group} partition {}-{}",
                                        t.name, p.partition_index
                                    );
                                    results.insert(
                                        TopicPartition {
                                            topic: t.name.as_str().into(),
                                            partition: p.partition_index,
                                        },
                                        code_error(&what, p.error_code, None),
                                    );
                                }
                            }
                            results
                        });
                    Ok(groups.into_iter().map(|g| (g, answer.clone())).collect())
                },
            )
            .await;
        per_partition(group, partitions.iter(), outcome)
    }

    /// Removes members from `group` (LeaveGroup v3+): the static members
    /// named, or every member. The answer is per member id (or instance id
    /// for static members).
    pub async fn remove_group_members(
        &self,
        group: &str,
        members: &MembersToRemove,
        options: &AdminOptions,
    ) -> Result<BTreeMap<String, Result<(), AdminError>>, AdminError> {
        let identities: Vec<MemberIdentity> = match members {
            MembersToRemove::Static(ids) => ids
                .iter()
                .map(|id| MemberIdentity {
                    member_id: String::new(),
                    group_instance_id: Some(id.clone()),
                    reason: Some("removed by an admin".into()),
                    ..MemberIdentity::default()
                })
                .collect(),
            MembersToRemove::All => {
                let mut described = self.describe_groups(&[group], options).await;
                let description = described.remove(group).unwrap_or_else(|| {
                    Err(AdminError::UnexpectedResponse(format!(
                        "group {group} was not described"
                    )))
                })?;
                description
                    .members
                    .into_iter()
                    .map(|m| MemberIdentity {
                        member_id: if m.group_instance_id.is_some() {
                            String::new()
                        } else {
                            m.member_id
                        },
                        group_instance_id: m.group_instance_id,
                        reason: Some("removed by an admin".into()),
                        ..MemberIdentity::default()
                    })
                    .collect()
            }
        };
        if identities.is_empty() {
            return Ok(BTreeMap::new());
        }
        let identities = &identities;
        let mut outcome = self
            .per_group(
                "removing members of group",
                vec![group.to_string()],
                options,
                |node, groups| async move {
                    let request = LeaveGroupRequest {
                        group_id: group.to_string(),
                        members: identities.clone(),
                        ..LeaveGroupRequest::default()
                    };
                    let response = self
                        .live()?
                        .send_on(node, Lane::Coordination, &request)
                        .await?;
                    let answer = code_error(&format!("group {group}"), response.error_code, None)
                        .map(|()| {
                            response
                                .members
                                .into_iter()
                                .map(|m| {
                                    let key = m.group_instance_id.clone().unwrap_or(m.member_id);
                                    let what = format!("group {group} member {key}");
                                    (key, code_error(&what, m.error_code, None))
                                })
                                .collect::<BTreeMap<_, _>>()
                        });
                    Ok(groups.into_iter().map(|g| (g, answer.clone())).collect())
                },
            )
            .await;
        outcome.remove(group).unwrap_or_else(|| {
            Err(AdminError::UnexpectedResponse(format!(
                "group {group} was not answered"
            )))
        })
    }
}

/// One result per partition.
type PartitionResults = BTreeMap<TopicPartition, Result<(), AdminError>>;

/// Spreads a whole-group answer over the partitions asked about.
fn per_partition<'a>(
    group: &str,
    asked: impl Iterator<Item = &'a TopicPartition>,
    mut outcome: BTreeMap<String, Result<PartitionResults, AdminError>>,
) -> BTreeMap<TopicPartition, Result<(), AdminError>> {
    let answer = outcome.remove(group).unwrap_or_else(|| {
        Err(AdminError::UnexpectedResponse(format!(
            "group {group} was not answered"
        )))
    });
    asked
        .map(|tp| {
            let result = match &answer {
                Ok(results) => results.get(tp).cloned().unwrap_or_else(|| {
                    Err(AdminError::UnexpectedResponse(format!(
                        "the broker did not answer for {}-{}",
                        tp.topic, tp.partition
                    )))
                }),
                Err(error) => Err(error.clone()),
            };
            (tp.clone(), result)
        })
        .collect()
}

/// The groups of a ConsumerGroupDescribe response.
fn consumer_groups(
    node: i32,
    response: ConsumerGroupDescribeResponse,
) -> Vec<(String, Result<GroupDescription, AdminError>)> {
    response
        .groups
        .into_iter()
        .map(|g| {
            let what = format!("group {}", g.group_id);
            let answer =
                code_error(&what, g.error_code, g.error_message).map(|()| GroupDescription {
                    group_id: g.group_id.clone(),
                    kind: GroupKind::Consumer,
                    state: g.group_state,
                    protocol_type: "consumer".into(),
                    protocol: g.assignor_name,
                    members: g
                        .members
                        .into_iter()
                        .map(|m| MemberDescription {
                            member_id: m.member_id,
                            group_instance_id: m.instance_id,
                            client_id: m.client_id,
                            host: m.client_host,
                            subscribed_topics: m.subscribed_topic_names,
                            assignment: m
                                .assignment
                                .topic_partitions
                                .into_iter()
                                .flat_map(|t| {
                                    let topic = t.topic_name;
                                    t.partitions
                                        .into_iter()
                                        .map(move |partition| TopicPartition {
                                            topic: topic.as_str().into(),
                                            partition,
                                        })
                                })
                                .collect(),
                            rack: m.rack_id,
                        })
                        .collect(),
                    coordinator: node,
                    authorized_operations: (g.authorized_operations != i32::MIN)
                        .then_some(g.authorized_operations),
                });
            (g.group_id, answer)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut as _, BytesMut};
    use ferrokafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;

    #[test]
    fn assignments_decode_and_garbage_is_an_error() {
        let message = ConsumerProtocolAssignment {
            assigned_partitions: vec![Assigned {
                topic: "t".into(),
                partitions: vec![0, 2],
                ..Assigned::default()
            }],
            ..ConsumerProtocolAssignment::default()
        };
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        message.encode(&mut buf, 1).unwrap();
        let decoded = decode_assignment(&buf.freeze()).unwrap();
        assert_eq!(
            decoded,
            [
                TopicPartition {
                    topic: "t".into(),
                    partition: 0
                },
                TopicPartition {
                    topic: "t".into(),
                    partition: 2
                }
            ]
        );
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
        assert!(decode_assignment(&Bytes::from_static(&[0, 1, 0, 0, 0, 9])).is_err());
        assert!(decode_assignment(&Bytes::from_static(&[0])).is_err());
    }

    mod on_the_fake {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        use std::time::Duration;

        use ferrokafka_protocol::ApiKey;
        use ferrokafka_protocol::messages::consumer_group_describe_response::DescribedGroup as NewGroup;
        use ferrokafka_protocol::messages::delete_groups_response::DeletableGroupResult;
        use ferrokafka_protocol::messages::describe_groups_response::{
            DescribedGroup, DescribedGroupMember,
        };
        use ferrokafka_protocol::messages::{DeleteGroupsResponse, DescribeGroupsResponse};
        use ferrokafka_transport::config::ClientConfig;
        use ferrokafka_transport::fake::{FakeCluster, FakeReply};

        use super::*;

        async fn admin(cluster: &FakeCluster) -> Admin {
            let config = ClientConfig::from_pairs([
                ("bootstrap_servers", cluster.bootstrap().as_str()),
                ("retry_backoff_ms", "10"),
            ])
            .unwrap();
            Admin::with_client(cluster.client(config).await.unwrap())
        }

        #[tokio::test]
        async fn a_moved_coordinator_is_retried_for_its_group_alone() {
            let asked: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
            let moved_once = Arc::new(AtomicUsize::new(0));
            let (log, moved) = (Arc::clone(&asked), Arc::clone(&moved_once));
            let cluster = FakeCluster::new(1, move |request| {
                (request.key == ApiKey::DeleteGroups).then(|| {
                    let groups: DeleteGroupsRequest = request.decode();
                    log.lock().unwrap().push(groups.groups_names.clone());
                    let results = groups
                        .groups_names
                        .iter()
                        .map(|g| {
                            let code = match g.as_str() {
                                "moving" if moved.fetch_add(1, Ordering::SeqCst) == 0 => {
                                    ErrorCode::NotCoordinator
                                }
                                "busy" => ErrorCode::NonEmptyGroup,
                                _ => ErrorCode::None,
                            };
                            DeletableGroupResult {
                                group_id: g.clone(),
                                error_code: code.code(),
                                ..DeletableGroupResult::default()
                            }
                        })
                        .collect();
                    FakeReply::with(
                        request,
                        &DeleteGroupsResponse {
                            results,
                            ..DeleteGroupsResponse::default()
                        },
                    )
                })
            });
            let admin = admin(&cluster).await;
            let deleted = admin
                .delete_groups(
                    &["moving", "busy", "gone"],
                    &AdminOptions::new().timeout(Duration::from_secs(5)),
                )
                .await;
            assert!(deleted["moving"].is_ok(), "{deleted:?}");
            assert!(deleted["gone"].is_ok());
            assert_eq!(
                deleted["busy"].as_ref().unwrap_err().code(),
                Some(ErrorCode::NonEmptyGroup)
            );
            let asked = asked.lock().unwrap().clone();
            assert_eq!(asked.len(), 2, "{asked:?}");
            assert_eq!(asked[1], ["moving"]);
        }

        #[tokio::test]
        async fn a_classic_group_falls_back_to_describe_groups() {
            let cluster = FakeCluster::new(1, move |request| match request.key {
                ApiKey::ConsumerGroupDescribe => {
                    let asked: ConsumerGroupDescribeRequest = request.decode();
                    let groups = asked
                        .group_ids
                        .iter()
                        .map(|g| NewGroup {
                            group_id: g.clone(),
                            error_code: ErrorCode::GroupIdNotFound.code(),
                            ..NewGroup::default()
                        })
                        .collect();
                    Some(FakeReply::with(
                        request,
                        &ConsumerGroupDescribeResponse {
                            groups,
                            ..ConsumerGroupDescribeResponse::default()
                        },
                    ))
                }
                // Nor a share group.
                ApiKey::ShareGroupDescribe => {
                    use ferrokafka_protocol::messages::share_group_describe_response::DescribedGroup as ShareGroup;
                    let asked: ShareGroupDescribeRequest = request.decode();
                    let groups = asked
                        .group_ids
                        .iter()
                        .map(|g| ShareGroup {
                            group_id: g.clone(),
                            error_code: ErrorCode::GroupIdNotFound.code(),
                            ..ShareGroup::default()
                        })
                        .collect();
                    Some(FakeReply::with(
                        request,
                        &ferrokafka_protocol::messages::ShareGroupDescribeResponse {
                            groups,
                            ..Default::default()
                        },
                    ))
                }
                ApiKey::DescribeGroups => {
                    let mut assignment = bytes::BytesMut::new();
                    bytes::BufMut::put_i16(&mut assignment, 0);
                    ConsumerProtocolAssignment {
                        assigned_partitions: vec![
                            ferrokafka_protocol::messages::consumer_protocol_assignment::TopicPartition {
                                topic: "t".into(),
                                partitions: vec![1],
                                ..Default::default()
                            },
                        ],
                        ..ConsumerProtocolAssignment::default()
                    }
                    .encode(&mut assignment, 0)
                    .unwrap();
                    let response = DescribeGroupsResponse {
                        groups: vec![DescribedGroup {
                            group_id: "classic".into(),
                            group_state: "Stable".into(),
                            protocol_type: "consumer".into(),
                            protocol_data: "range".into(),
                            members: vec![DescribedGroupMember {
                                member_id: "m-1".into(),
                                client_id: "c".into(),
                                client_host: "/10.0.0.1".into(),
                                member_assignment: assignment.freeze(),
                                member_metadata: Bytes::from_static(&[0, 0, 0]),
                                ..DescribedGroupMember::default()
                            }],
                            authorized_operations: i32::MIN,
                            ..DescribedGroup::default()
                        }],
                        ..DescribeGroupsResponse::default()
                    };
                    Some(FakeReply::with(request, &response))
                }
                _ => None,
            });
            let admin = admin(&cluster).await;
            let described = admin
                .describe_groups(
                    &["classic"],
                    &AdminOptions::new().timeout(Duration::from_secs(5)),
                )
                .await;
            let group = described["classic"].as_ref().unwrap();
            assert_eq!(group.kind, GroupKind::Classic);
            assert_eq!(group.protocol, "range");
            assert_eq!(group.authorized_operations, None);
            assert_eq!(
                group.members[0].assignment,
                [TopicPartition {
                    topic: "t".into(),
                    partition: 1
                }]
            );
            // An unreadable subscription leaves the topics empty, not an error.
            assert!(group.members[0].subscribed_topics.is_empty());
        }
    }
}
