//! The broker's side of the admin calls the cancellation tests drop:
//! each request answered as a broker that has what is asked for does,
//! echoing what was asked, so that a call's own check can tell a right
//! answer from a wrong one.

use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as Replaced;
use ferrokafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use ferrokafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use ferrokafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use ferrokafka_protocol::messages::api_versions_response::FinalizedFeatureKey;
use ferrokafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use ferrokafka_protocol::messages::create_acls_response::AclCreationResult;
use ferrokafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use ferrokafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use ferrokafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use ferrokafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use ferrokafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use ferrokafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use ferrokafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use ferrokafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use ferrokafka_protocol::messages::describe_quorum_response::{
    PartitionData as QuorumPartition, ReplicaState, TopicData as QuorumTopic,
};
use ferrokafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use ferrokafka_protocol::messages::describe_topic_partitions_response::{
    DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use ferrokafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use ferrokafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use ferrokafka_protocol::messages::elect_leaders_response::{
    PartitionResult, ReplicaElectionResult,
};
use ferrokafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as Altered;
use ferrokafka_protocol::messages::leave_group_response::MemberResponse;
use ferrokafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use ferrokafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use ferrokafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use ferrokafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use ferrokafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use ferrokafka_protocol::messages::share_group_describe_response::DescribedGroup as ShareGroup;
use ferrokafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use ferrokafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse, AlterShareGroupOffsetsRequest,
    AlterShareGroupOffsetsResponse, AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse, ApiVersionsResponse, ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse, CreateAclsRequest, CreateAclsResponse, CreatePartitionsRequest,
    CreatePartitionsResponse, DeleteAclsRequest, DeleteAclsResponse, DeleteGroupsRequest,
    DeleteGroupsResponse, DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse,
    DescribeAclsResponse, DescribeConfigsRequest, DescribeConfigsResponse, DescribeLogDirsResponse,
    DescribeProducersRequest, DescribeProducersResponse, DescribeQuorumResponse,
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse,
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse, ElectLeadersRequest, ElectLeadersResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListPartitionReassignmentsResponse, ListTransactionsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ShareGroupDescribeRequest, ShareGroupDescribeResponse,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use ferrokafka_transport::fake::{FakeReply, FakeRequest};

/// The value every described config has.
pub(crate) const CONFIG_VALUE: &str = "1000";
/// The principal of the one ACL the cluster has.
pub(crate) const PRINCIPAL: &str = "User:alice";
/// The SCRAM iterations of every described credential.
pub(crate) const ITERATIONS: i32 = 8192;
/// The producer of every described transaction and partition.
pub(crate) const PRODUCER_ID: i64 = 42;
/// The replicas of the one ongoing reassignment (`existing-0`).
pub(crate) const REASSIGNING: [i32; 2] = [1, 2];
/// The one finalized feature, and its level.
pub(crate) const FEATURE: &str = "metadata.version";
pub(crate) const FEATURE_LEVEL: i16 = 27;
/// Every broker's one log dir.
pub(crate) const LOG_DIR: &str = "/var/kafka";
/// The offset every group has committed on every partition.
pub(crate) const COMMITTED: i64 = 7;

/// The answer to `request`, or `None` for one the cluster answers itself.
pub(crate) fn answer(request: &FakeRequest) -> Option<FakeReply> {
    Some(match request.key {
        ApiKey::FindCoordinator => coordinator(request),
        ApiKey::DescribeConfigs => described_configs(request),
        ApiKey::IncrementalAlterConfigs => altered_configs(request),
        ApiKey::AlterConfigs => replaced_configs(request),
        ApiKey::DescribeAcls => described_acls(request),
        ApiKey::CreateAcls => created_acls(request),
        ApiKey::DeleteAcls => deleted_acls(request),
        ApiKey::DescribeUserScramCredentials => described_credentials(request),
        ApiKey::AlterUserScramCredentials => altered_credentials(request),
        ApiKey::ElectLeaders => elected(request),
        ApiKey::ListPartitionReassignments => reassignments(request),
        ApiKey::AlterPartitionReassignments => reassigned(request),
        ApiKey::ConsumerGroupDescribe => described_groups(request),
        ApiKey::DeleteGroups => deleted_groups(request),
        ApiKey::LeaveGroup => left(request),
        ApiKey::CreatePartitions => partitions_created(request),
        ApiKey::DescribeTopicPartitions => topics_described(request),
        ApiKey::ApiVersions => versions(request),
        ApiKey::DescribeLogDirs => log_dirs(request),
        ApiKey::DescribeQuorum => quorum(request),
        ApiKey::ShareGroupDescribe => described_share_groups(request),
        ApiKey::DescribeShareGroupOffsets => share_offsets(request),
        ApiKey::AlterShareGroupOffsets => share_offsets_altered(request),
        ApiKey::DeleteShareGroupOffsets => share_offsets_deleted(request),
        ApiKey::OffsetFetch => offsets_fetched(request),
        ApiKey::OffsetCommit => committed(request),
        ApiKey::OffsetDelete => offsets_deleted(request),
        ApiKey::ListTransactions => listed_transactions(request),
        ApiKey::DescribeTransactions => described_transactions(request),
        ApiKey::DescribeProducers => described_producers(request),
        ApiKey::WriteTxnMarkers => markers_written(request),
        _ => return None,
    })
}

/// The broker asked is the coordinator: which broker the client asks
/// first is its random pick, and with the coordinator elsewhere half of
/// the calls would open one more connection than the other half, so that
/// a call's connections could not be told from a leak.
fn coordinator(request: &FakeRequest) -> FakeReply {
    FakeReply::coordinator(request, request.node)
}

fn described_configs(request: &FakeRequest) -> FakeReply {
    let asked: DescribeConfigsRequest = request.decode();
    let results = asked
        .resources
        .iter()
        .map(|r| DescribeConfigsResult {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            configs: vec![DescribeConfigsResourceResult {
                name: "retention.ms".to_string(),
                value: Some(CONFIG_VALUE.to_string()),
                // DYNAMIC_TOPIC_CONFIG
                config_source: 1,
                ..DescribeConfigsResourceResult::default()
            }],
            ..DescribeConfigsResult::default()
        })
        .collect();
    FakeReply::with(
        request,
        &DescribeConfigsResponse {
            results,
            ..DescribeConfigsResponse::default()
        },
    )
}

fn altered_configs(request: &FakeRequest) -> FakeReply {
    let asked: IncrementalAlterConfigsRequest = request.decode();
    let responses = asked
        .resources
        .iter()
        .map(|r| Altered {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            ..Altered::default()
        })
        .collect();
    FakeReply::with(
        request,
        &IncrementalAlterConfigsResponse {
            responses,
            ..IncrementalAlterConfigsResponse::default()
        },
    )
}

fn replaced_configs(request: &FakeRequest) -> FakeReply {
    let asked: AlterConfigsRequest = request.decode();
    let responses = asked
        .resources
        .iter()
        .map(|r| Replaced {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            ..Replaced::default()
        })
        .collect();
    FakeReply::with(
        request,
        &AlterConfigsResponse {
            responses,
            ..AlterConfigsResponse::default()
        },
    )
}

/// Kafka's codes of the one ACL: TOPIC `existing`, LITERAL, READ, ALLOW.
const TOPIC: i8 = 2;
const LITERAL: i8 = 3;
const READ: i8 = 3;
const ALLOW: i8 = 3;

fn described_acls(request: &FakeRequest) -> FakeReply {
    FakeReply::with(
        request,
        &DescribeAclsResponse {
            resources: vec![DescribeAclsResource {
                resource_type: TOPIC,
                resource_name: "existing".to_string(),
                pattern_type: LITERAL,
                acls: vec![AclDescription {
                    principal: PRINCIPAL.to_string(),
                    host: "*".to_string(),
                    operation: READ,
                    permission_type: ALLOW,
                    ..AclDescription::default()
                }],
                ..DescribeAclsResource::default()
            }],
            ..DescribeAclsResponse::default()
        },
    )
}

fn created_acls(request: &FakeRequest) -> FakeReply {
    let asked: CreateAclsRequest = request.decode();
    FakeReply::with(
        request,
        &CreateAclsResponse {
            results: asked
                .creations
                .iter()
                .map(|_| AclCreationResult::default())
                .collect(),
            ..CreateAclsResponse::default()
        },
    )
}

fn deleted_acls(request: &FakeRequest) -> FakeReply {
    let asked: DeleteAclsRequest = request.decode();
    FakeReply::with(
        request,
        &DeleteAclsResponse {
            filter_results: asked
                .filters
                .iter()
                .map(|_| DeleteAclsFilterResult {
                    matching_acls: vec![DeleteAclsMatchingAcl {
                        resource_type: TOPIC,
                        resource_name: "existing".to_string(),
                        pattern_type: LITERAL,
                        principal: PRINCIPAL.to_string(),
                        host: "*".to_string(),
                        operation: READ,
                        permission_type: ALLOW,
                        ..DeleteAclsMatchingAcl::default()
                    }],
                    ..DeleteAclsFilterResult::default()
                })
                .collect(),
            ..DeleteAclsResponse::default()
        },
    )
}

fn described_credentials(request: &FakeRequest) -> FakeReply {
    let asked: DescribeUserScramCredentialsRequest = request.decode();
    let users = asked.users.unwrap_or_default();
    FakeReply::with(
        request,
        &DescribeUserScramCredentialsResponse {
            results: users
                .into_iter()
                .map(|u| DescribeUserScramCredentialsResult {
                    user: u.name,
                    credential_infos: vec![CredentialInfo {
                        // SCRAM-SHA-512
                        mechanism: 2,
                        iterations: ITERATIONS,
                        ..CredentialInfo::default()
                    }],
                    ..DescribeUserScramCredentialsResult::default()
                })
                .collect(),
            ..DescribeUserScramCredentialsResponse::default()
        },
    )
}

fn altered_credentials(request: &FakeRequest) -> FakeReply {
    let asked: AlterUserScramCredentialsRequest = request.decode();
    let users = asked
        .deletions
        .iter()
        .map(|d| d.name.clone())
        .chain(asked.upsertions.iter().map(|u| u.name.clone()));
    FakeReply::with(
        request,
        &AlterUserScramCredentialsResponse {
            results: users
                .map(|user| AlterUserScramCredentialsResult {
                    user,
                    ..AlterUserScramCredentialsResult::default()
                })
                .collect(),
            ..AlterUserScramCredentialsResponse::default()
        },
    )
}

fn elected(request: &FakeRequest) -> FakeReply {
    let asked: ElectLeadersRequest = request.decode();
    FakeReply::with(
        request,
        &ElectLeadersResponse {
            replica_election_results: asked
                .topic_partitions
                .unwrap_or_default()
                .into_iter()
                .map(|t| ReplicaElectionResult {
                    topic: t.topic,
                    partition_result: t
                        .partitions
                        .into_iter()
                        .map(|p| PartitionResult {
                            partition_id: p,
                            ..PartitionResult::default()
                        })
                        .collect(),
                    ..ReplicaElectionResult::default()
                })
                .collect(),
            ..ElectLeadersResponse::default()
        },
    )
}

fn reassignments(request: &FakeRequest) -> FakeReply {
    FakeReply::with(
        request,
        &ListPartitionReassignmentsResponse {
            topics: vec![OngoingTopicReassignment {
                name: "existing".to_string(),
                partitions: vec![OngoingPartitionReassignment {
                    partition_index: 0,
                    replicas: REASSIGNING.to_vec(),
                    adding_replicas: vec![REASSIGNING[1]],
                    ..OngoingPartitionReassignment::default()
                }],
                ..OngoingTopicReassignment::default()
            }],
            ..ListPartitionReassignmentsResponse::default()
        },
    )
}

fn reassigned(request: &FakeRequest) -> FakeReply {
    let asked: AlterPartitionReassignmentsRequest = request.decode();
    FakeReply::with(
        request,
        &AlterPartitionReassignmentsResponse {
            responses: asked
                .topics
                .into_iter()
                .map(|t| ReassignableTopicResponse {
                    name: t.name,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| ReassignablePartitionResponse {
                            partition_index: p.partition_index,
                            ..ReassignablePartitionResponse::default()
                        })
                        .collect(),
                    ..ReassignableTopicResponse::default()
                })
                .collect(),
            ..AlterPartitionReassignmentsResponse::default()
        },
    )
}

fn described_groups(request: &FakeRequest) -> FakeReply {
    let asked: ConsumerGroupDescribeRequest = request.decode();
    FakeReply::with(
        request,
        &ConsumerGroupDescribeResponse {
            groups: asked
                .group_ids
                .into_iter()
                .map(|group_id| DescribedGroup {
                    group_id,
                    group_state: "Stable".to_string(),
                    assignor_name: "uniform".to_string(),
                    ..DescribedGroup::default()
                })
                .collect(),
            ..ConsumerGroupDescribeResponse::default()
        },
    )
}

fn deleted_groups(request: &FakeRequest) -> FakeReply {
    let asked: DeleteGroupsRequest = request.decode();
    FakeReply::with(
        request,
        &DeleteGroupsResponse {
            results: asked
                .groups_names
                .into_iter()
                .map(|group_id| DeletableGroupResult {
                    group_id,
                    ..DeletableGroupResult::default()
                })
                .collect(),
            ..DeleteGroupsResponse::default()
        },
    )
}

/// ApiVersions as asked for the cluster's features (the link's own
/// versions come from the fake's connector).
fn versions(request: &FakeRequest) -> FakeReply {
    FakeReply::with(
        request,
        &ApiVersionsResponse {
            finalized_features_epoch: 3,
            finalized_features: vec![FinalizedFeatureKey {
                name: FEATURE.to_string(),
                min_version_level: 1,
                max_version_level: FEATURE_LEVEL,
                ..FinalizedFeatureKey::default()
            }],
            ..ApiVersionsResponse::default()
        },
    )
}

fn log_dirs(request: &FakeRequest) -> FakeReply {
    FakeReply::with(
        request,
        &DescribeLogDirsResponse {
            results: vec![DescribeLogDirsResult {
                log_dir: LOG_DIR.to_string(),
                topics: vec![DescribeLogDirsTopic {
                    name: "existing".to_string(),
                    partitions: vec![DescribeLogDirsPartition {
                        partition_index: request.node - 1,
                        partition_size: 1024,
                        ..DescribeLogDirsPartition::default()
                    }],
                    ..DescribeLogDirsTopic::default()
                }],
                total_bytes: 1 << 30,
                usable_bytes: 1 << 29,
                ..DescribeLogDirsResult::default()
            }],
            ..DescribeLogDirsResponse::default()
        },
    )
}

/// A quorum of brokers 1 (the leader) and 2.
fn quorum(request: &FakeRequest) -> FakeReply {
    let voter = |replica_id| ReplicaState {
        replica_id,
        log_end_offset: 100,
        ..ReplicaState::default()
    };
    FakeReply::with(
        request,
        &DescribeQuorumResponse {
            topics: vec![QuorumTopic {
                topic_name: "__cluster_metadata".to_string(),
                partitions: vec![QuorumPartition {
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: 4,
                    high_watermark: 100,
                    current_voters: vec![voter(1), voter(2)],
                    ..QuorumPartition::default()
                }],
                ..QuorumTopic::default()
            }],
            ..DescribeQuorumResponse::default()
        },
    )
}

fn described_share_groups(request: &FakeRequest) -> FakeReply {
    let asked: ShareGroupDescribeRequest = request.decode();
    FakeReply::with(
        request,
        &ShareGroupDescribeResponse {
            groups: asked
                .group_ids
                .into_iter()
                .map(|group_id| ShareGroup {
                    group_id,
                    group_state: "Stable".to_string(),
                    assignor_name: "simple".to_string(),
                    ..ShareGroup::default()
                })
                .collect(),
            ..ShareGroupDescribeResponse::default()
        },
    )
}

/// Every share group starts at `COMMITTED` on both partitions of
/// `existing`.
fn share_offsets(request: &FakeRequest) -> FakeReply {
    let asked: DescribeShareGroupOffsetsRequest = request.decode();
    FakeReply::with(
        request,
        &DescribeShareGroupOffsetsResponse {
            groups: asked
                .groups
                .into_iter()
                .map(|g| DescribeShareGroupOffsetsResponseGroup {
                    group_id: g.group_id,
                    topics: vec![DescribeShareGroupOffsetsResponseTopic {
                        topic_name: "existing".to_string(),
                        partitions: (0..2)
                            .map(|p| DescribeShareGroupOffsetsResponsePartition {
                                partition_index: p,
                                start_offset: COMMITTED,
                                leader_epoch: -1,
                                lag: -1,
                                ..DescribeShareGroupOffsetsResponsePartition::default()
                            })
                            .collect(),
                        ..DescribeShareGroupOffsetsResponseTopic::default()
                    }],
                    ..DescribeShareGroupOffsetsResponseGroup::default()
                })
                .collect(),
            ..DescribeShareGroupOffsetsResponse::default()
        },
    )
}

fn share_offsets_altered(request: &FakeRequest) -> FakeReply {
    let asked: AlterShareGroupOffsetsRequest = request.decode();
    FakeReply::with(
        request,
        &AlterShareGroupOffsetsResponse {
            responses: asked
                .topics
                .into_iter()
                .map(|t| AlterShareGroupOffsetsResponseTopic {
                    topic_name: t.topic_name,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| AlterShareGroupOffsetsResponsePartition {
                            partition_index: p.partition_index,
                            ..AlterShareGroupOffsetsResponsePartition::default()
                        })
                        .collect(),
                    ..AlterShareGroupOffsetsResponseTopic::default()
                })
                .collect(),
            ..AlterShareGroupOffsetsResponse::default()
        },
    )
}

fn share_offsets_deleted(request: &FakeRequest) -> FakeReply {
    let asked: DeleteShareGroupOffsetsRequest = request.decode();
    FakeReply::with(
        request,
        &DeleteShareGroupOffsetsResponse {
            responses: asked
                .topics
                .into_iter()
                .map(|t| DeleteShareGroupOffsetsResponseTopic {
                    topic_name: t.topic_name,
                    ..DeleteShareGroupOffsetsResponseTopic::default()
                })
                .collect(),
            ..DeleteShareGroupOffsetsResponse::default()
        },
    )
}

/// Every member named is removed.
fn left(request: &FakeRequest) -> FakeReply {
    let asked: LeaveGroupRequest = request.decode();
    FakeReply::with(
        request,
        &LeaveGroupResponse {
            members: asked
                .members
                .into_iter()
                .map(|m| MemberResponse {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    ..MemberResponse::default()
                })
                .collect(),
            ..LeaveGroupResponse::default()
        },
    )
}

/// Every topic asked for has the two partitions of `existing`, led by
/// brokers 1 and 2, in one page.
fn topics_described(request: &FakeRequest) -> FakeReply {
    let asked: DescribeTopicPartitionsRequest = request.decode();
    FakeReply::with(
        request,
        &DescribeTopicPartitionsResponse {
            topics: asked
                .topics
                .into_iter()
                .map(|t| DescribeTopicPartitionsResponseTopic {
                    name: Some(t.name),
                    partitions: [1, 2]
                        .into_iter()
                        .enumerate()
                        .map(|(index, leader)| DescribeTopicPartitionsResponsePartition {
                            partition_index: i32::try_from(index).unwrap(),
                            leader_id: leader,
                            replica_nodes: vec![leader],
                            isr_nodes: vec![leader],
                            ..DescribeTopicPartitionsResponsePartition::default()
                        })
                        .collect(),
                    ..DescribeTopicPartitionsResponseTopic::default()
                })
                .collect(),
            ..DescribeTopicPartitionsResponse::default()
        },
    )
}

fn partitions_created(request: &FakeRequest) -> FakeReply {
    let asked: CreatePartitionsRequest = request.decode();
    FakeReply::with(
        request,
        &CreatePartitionsResponse {
            results: asked
                .topics
                .into_iter()
                .map(|t| CreatePartitionsTopicResult {
                    name: t.name,
                    ..CreatePartitionsTopicResult::default()
                })
                .collect(),
            ..CreatePartitionsResponse::default()
        },
    )
}

/// Every partition asked for has `COMMITTED` committed, in the layout of
/// the request's version: one group at the top level before v8, a list of
/// groups from v8 on.
fn offsets_fetched(request: &FakeRequest) -> FakeReply {
    let asked: OffsetFetchRequest = request.decode();
    let partition = |partition_index| OffsetFetchResponsePartitions {
        partition_index,
        committed_offset: COMMITTED,
        committed_leader_epoch: -1,
        metadata: Some(String::new()),
        ..OffsetFetchResponsePartitions::default()
    };
    let response = if request.version >= 8 {
        OffsetFetchResponse {
            groups: asked
                .groups
                .into_iter()
                .map(|g| OffsetFetchResponseGroup {
                    group_id: g.group_id,
                    topics: g
                        .topics
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| OffsetFetchResponseTopics {
                            name: t.name,
                            topic_id: t.topic_id,
                            partitions: t.partition_indexes.into_iter().map(partition).collect(),
                            ..OffsetFetchResponseTopics::default()
                        })
                        .collect(),
                    ..OffsetFetchResponseGroup::default()
                })
                .collect(),
            ..OffsetFetchResponse::default()
        }
    } else {
        OffsetFetchResponse {
            topics: asked
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| OffsetFetchResponseTopic {
                    name: t.name,
                    partitions: t
                        .partition_indexes
                        .into_iter()
                        .map(|p| OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: COMMITTED,
                            committed_leader_epoch: -1,
                            metadata: Some(String::new()),
                            ..OffsetFetchResponsePartition::default()
                        })
                        .collect(),
                    ..OffsetFetchResponseTopic::default()
                })
                .collect(),
            ..OffsetFetchResponse::default()
        }
    };
    FakeReply::with(request, &response)
}

/// Every partition committed, named as asked (by name, or by id from
/// OffsetCommit v10).
fn committed(request: &FakeRequest) -> FakeReply {
    let asked: OffsetCommitRequest = request.decode();
    FakeReply::with(
        request,
        &OffsetCommitResponse {
            topics: asked
                .topics
                .into_iter()
                .map(|t| OffsetCommitResponseTopic {
                    name: t.name,
                    topic_id: t.topic_id,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            ..OffsetCommitResponsePartition::default()
                        })
                        .collect(),
                    ..OffsetCommitResponseTopic::default()
                })
                .collect(),
            ..OffsetCommitResponse::default()
        },
    )
}

fn offsets_deleted(request: &FakeRequest) -> FakeReply {
    let asked: OffsetDeleteRequest = request.decode();
    FakeReply::with(
        request,
        &OffsetDeleteResponse {
            topics: asked
                .topics
                .into_iter()
                .map(|t| OffsetDeleteResponseTopic {
                    name: t.name,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| OffsetDeleteResponsePartition {
                            partition_index: p.partition_index,
                            ..OffsetDeleteResponsePartition::default()
                        })
                        .collect(),
                    ..OffsetDeleteResponseTopic::default()
                })
                .collect(),
            ..OffsetDeleteResponse::default()
        },
    )
}

/// Each broker has one open transaction, `txn-<node>`.
fn listed_transactions(request: &FakeRequest) -> FakeReply {
    FakeReply::with(
        request,
        &ListTransactionsResponse {
            transaction_states: vec![Listed {
                transactional_id: format!("txn-{}", request.node),
                producer_id: PRODUCER_ID,
                transaction_state: "Ongoing".to_string(),
                ..Listed::default()
            }],
            ..ListTransactionsResponse::default()
        },
    )
}

fn described_transactions(request: &FakeRequest) -> FakeReply {
    let asked: DescribeTransactionsRequest = request.decode();
    FakeReply::with(
        request,
        &DescribeTransactionsResponse {
            transaction_states: asked
                .transactional_ids
                .into_iter()
                .map(|transactional_id| TransactionState {
                    transactional_id,
                    transaction_state: "Ongoing".to_string(),
                    transaction_timeout_ms: 60_000,
                    transaction_start_time_ms: 5,
                    producer_id: PRODUCER_ID,
                    producer_epoch: 3,
                    topics: vec![TopicData {
                        topic: "existing".to_string(),
                        partitions: vec![0],
                        ..TopicData::default()
                    }],
                    ..TransactionState::default()
                })
                .collect(),
            ..DescribeTransactionsResponse::default()
        },
    )
}

fn described_producers(request: &FakeRequest) -> FakeReply {
    let asked: DescribeProducersRequest = request.decode();
    FakeReply::with(
        request,
        &DescribeProducersResponse {
            topics: asked
                .topics
                .into_iter()
                .map(|t| TopicResponse {
                    name: t.name,
                    partitions: t
                        .partition_indexes
                        .into_iter()
                        .map(|p| PartitionResponse {
                            partition_index: p,
                            active_producers: vec![ProducerState {
                                producer_id: PRODUCER_ID,
                                producer_epoch: 3,
                                coordinator_epoch: 1,
                                current_txn_start_offset: 10,
                                ..ProducerState::default()
                            }],
                            ..PartitionResponse::default()
                        })
                        .collect(),
                    ..TopicResponse::default()
                })
                .collect(),
            ..DescribeProducersResponse::default()
        },
    )
}

fn markers_written(request: &FakeRequest) -> FakeReply {
    let asked: WriteTxnMarkersRequest = request.decode();
    FakeReply::with(
        request,
        &WriteTxnMarkersResponse {
            markers: asked
                .markers
                .into_iter()
                .map(|m| WritableTxnMarkerResult {
                    producer_id: m.producer_id,
                    topics: m
                        .topics
                        .into_iter()
                        .map(|t| WritableTxnMarkerTopicResult {
                            name: t.name,
                            partitions: t
                                .partition_indexes
                                .into_iter()
                                .map(|p| WritableTxnMarkerPartitionResult {
                                    partition_index: p,
                                    ..WritableTxnMarkerPartitionResult::default()
                                })
                                .collect(),
                            ..WritableTxnMarkerTopicResult::default()
                        })
                        .collect(),
                    ..WritableTxnMarkerResult::default()
                })
                .collect(),
            ..WriteTxnMarkersResponse::default()
        },
    )
}
