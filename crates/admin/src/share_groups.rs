//! Share groups (KIP-932): describing them (ShareGroupDescribe) and their
//! offsets: where each partition's share-partition starts
//! (DescribeShareGroupOffsets), setting it (AlterShareGroupOffsets, on an
//! empty group) and deleting it (DeleteShareGroupOffsets). Listing and
//! deleting share groups are the groups module's ([`Admin::list_groups`]
//! shows their type, [`Admin::delete_groups`] deletes them) and their
//! configs (`share.auto.offset.reset`, `share.record.lock.duration.ms`,
//! `share.delivery.count.limit`, `share.isolation.level`) are group
//! resources of the configs module.

use std::collections::BTreeMap;

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use ferrokafka_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
use ferrokafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
use ferrokafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, DeleteShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsRequest, ShareGroupDescribeRequest, ShareGroupDescribeResponse,
};
use ferrokafka_transport::Lane;

use crate::groups::{GroupDescription, GroupKind, MemberDescription, code_error};
use crate::{Admin, AdminError, AdminOptions};

/// Where a share group starts reading one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareOffset {
    /// The share-partition's start offset; `None` before the group
    /// initialised the partition.
    pub start_offset: Option<i64>,
    /// The leader epoch of the start offset, when known.
    pub leader_epoch: Option<i32>,
    /// Records from the start offset to the end of the partition, when the
    /// broker computed it.
    pub lag: Option<i64>,
}

/// The answers of ShareGroupDescribe, by group; groups that are not share
/// groups answer `GROUP_ID_NOT_FOUND`.
pub(crate) fn share_groups(
    node: i32,
    response: ShareGroupDescribeResponse,
) -> Vec<(String, Result<GroupDescription, AdminError>)> {
    response
        .groups
        .into_iter()
        .map(|g| {
            let what = format!("share group {}", g.group_id);
            let answer = code_error(&what, g.error_code, g.error_message).map(|()| {
                let members = g
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut assignment: Vec<TopicPartition> = m
                            .assignment
                            .topic_partitions
                            .iter()
                            .flat_map(|t| {
                                t.partitions
                                    .iter()
                                    .map(|p| TopicPartition::new(t.topic_name.clone(), *p))
                            })
                            .collect();
                        assignment.sort();
                        MemberDescription {
                            member_id: m.member_id,
                            group_instance_id: None,
                            client_id: m.client_id,
                            host: m.client_host,
                            subscribed_topics: m.subscribed_topic_names,
                            assignment,
                            rack: m.rack_id,
                        }
                    })
                    .collect();
                GroupDescription {
                    group_id: g.group_id.clone(),
                    kind: GroupKind::Share,
                    state: g.group_state,
                    protocol_type: "share".to_string(),
                    protocol: g.assignor_name,
                    members,
                    coordinator: node,
                    authorized_operations: (g.authorized_operations != i32::MIN)
                        .then_some(g.authorized_operations),
                }
            });
            (g.group_id, answer)
        })
        .collect()
}

impl Admin {
    /// Describes share `groups`: state, assignor, members with their
    /// subscriptions and assignments. [`Admin::describe_groups`] describes
    /// share groups too, among groups of every kind.
    pub async fn describe_share_groups(
        &self,
        groups: &[&str],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<GroupDescription, AdminError>> {
        let groups = groups.iter().map(|g| (*g).to_string()).collect();
        self.per_group(
            "describing share group",
            groups,
            options,
            |node, groups| async move {
                let request = ShareGroupDescribeRequest {
                    group_ids: groups,
                    include_authorized_operations: true,
                    ..ShareGroupDescribeRequest::default()
                };
                let response = self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await?;
                Ok(share_groups(node, response).into_iter().collect())
            },
        )
        .await
    }

    /// Where share `group` starts reading each partition it has state for.
    pub async fn list_share_group_offsets(
        &self,
        group: &str,
        options: &AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, Result<ShareOffset, AdminError>>, AdminError> {
        self.one_group(
            "describing the offsets of share group",
            group,
            options,
            |node, group| async move {
                let request = DescribeShareGroupOffsetsRequest {
                    groups: vec![DescribeShareGroupOffsetsRequestGroup {
                        group_id: group.clone(),
                        topics: None,
                        ..DescribeShareGroupOffsetsRequestGroup::default()
                    }],
                    ..DescribeShareGroupOffsetsRequest::default()
                };
                let response = self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await?;
                let mut offsets = BTreeMap::new();
                for g in response.groups {
                    code_error(
                        &format!("share group {group}"),
                        g.error_code,
                        g.error_message,
                    )?;
                    for topic in g.topics {
                        for p in topic.partitions {
                            let tp =
                                TopicPartition::new(topic.topic_name.clone(), p.partition_index);
                            let what = format!("share group {group} offset of {tp}");
                            let offset =
                                code_error(&what, p.error_code, p.error_message).map(|()| {
                                    ShareOffset {
                                        start_offset: (p.start_offset >= 0)
                                            .then_some(p.start_offset),
                                        leader_epoch: (p.leader_epoch >= 0)
                                            .then_some(p.leader_epoch),
                                        lag: (p.lag >= 0).then_some(p.lag),
                                    }
                                });
                            offsets.insert(tp, offset);
                        }
                    }
                }
                Ok(offsets)
            },
        )
        .await
    }

    /// Sets where share `group` starts reading these partitions. The group
    /// must have no members.
    pub async fn alter_share_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
        options: &AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, Result<(), AdminError>>, AdminError> {
        let mut topics: BTreeMap<&str, Vec<AlterShareGroupOffsetsRequestPartition>> =
            BTreeMap::new();
        for (tp, offset) in offsets {
            topics
                .entry(tp.topic())
                .or_default()
                .push(AlterShareGroupOffsetsRequestPartition {
                    partition_index: tp.partition,
                    start_offset: *offset,
                    ..AlterShareGroupOffsetsRequestPartition::default()
                });
        }
        let topics: Vec<AlterShareGroupOffsetsRequestTopic> = topics
            .into_iter()
            .map(|(name, partitions)| AlterShareGroupOffsetsRequestTopic {
                topic_name: name.to_string(),
                partitions,
                ..AlterShareGroupOffsetsRequestTopic::default()
            })
            .collect();
        let topics = &topics;
        self.one_group(
            "altering the offsets of share group",
            group,
            options,
            |node, group| async move {
                let request = AlterShareGroupOffsetsRequest {
                    group_id: group.clone(),
                    topics: topics.clone(),
                    ..AlterShareGroupOffsetsRequest::default()
                };
                let response = self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await?;
                code_error(
                    &format!("share group {group}"),
                    response.error_code,
                    response.error_message,
                )?;
                let mut results = BTreeMap::new();
                for topic in response.responses {
                    for p in topic.partitions {
                        let tp = TopicPartition::new(topic.topic_name.clone(), p.partition_index);
                        let what = format!("share group {group} offset of {tp}");
                        results.insert(tp, code_error(&what, p.error_code, p.error_message));
                    }
                }
                Ok(results)
            },
        )
        .await
    }

    /// Deletes share `group`'s state for these topics: its members read them
    /// afresh, from `share.auto.offset.reset`. The group must have no
    /// members.
    pub async fn delete_share_group_offsets(
        &self,
        group: &str,
        topics: &[&str],
        options: &AdminOptions,
    ) -> Result<BTreeMap<String, Result<(), AdminError>>, AdminError> {
        let topics: Vec<DeleteShareGroupOffsetsRequestTopic> = topics
            .iter()
            .map(|t| DeleteShareGroupOffsetsRequestTopic {
                topic_name: (*t).to_string(),
                ..DeleteShareGroupOffsetsRequestTopic::default()
            })
            .collect();
        let topics = &topics;
        self.one_group(
            "deleting the offsets of share group",
            group,
            options,
            |node, group| async move {
                let request = DeleteShareGroupOffsetsRequest {
                    group_id: group.clone(),
                    topics: topics.clone(),
                    ..DeleteShareGroupOffsetsRequest::default()
                };
                let response = self
                    .live()?
                    .send_on(node, Lane::Coordination, &request)
                    .await?;
                code_error(
                    &format!("share group {group}"),
                    response.error_code,
                    response.error_message,
                )?;
                Ok(response
                    .responses
                    .into_iter()
                    .map(|t| {
                        let what = format!("share group {group} offsets of {}", t.topic_name);
                        let result = code_error(&what, t.error_code, t.error_message);
                        (t.topic_name, result)
                    })
                    .collect())
            },
        )
        .await
    }

    /// A per-group operation on one group, whose errors (coordinator moves
    /// retried) are the whole answer's.
    async fn one_group<T, F, Fut>(
        &self,
        what: &str,
        group: &str,
        options: &AdminOptions,
        send: F,
    ) -> Result<T, AdminError>
    where
        F: Fn(i32, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, AdminError>>,
    {
        let send = &send;
        let mut answers = self
            .per_group(
                what,
                vec![group.to_string()],
                options,
                |node, groups| async move {
                    let mut answers = BTreeMap::new();
                    for group in groups {
                        // Coordinator errors are retried by `per_group`.
                        let answer = send(node, group.clone()).await;
                        answers.insert(group, answer);
                    }
                    Ok(answers)
                },
            )
            .await;
        answers.remove(group).unwrap_or_else(|| {
            Err(AdminError::InvalidArgument(format!(
                "{what} {group}: no answer"
            )))
        })
    }
}
