//! The cluster: its brokers and controller, feature levels, log dirs, the
//! KRaft quorum, leader elections, partition reassignments, and the API
//! versions each broker offers.
//!
//! ```no_run
//! # async fn example(admin: ferrokafka_admin::Admin) -> Result<(), ferrokafka_admin::AdminError> {
//! use ferrokafka_admin::AdminOptions;
//!
//! let cluster = admin.describe_cluster(&AdminOptions::new()).await?;
//! println!("cluster {} has {} brokers, controller {:?}", cluster.cluster_id, cluster.brokers.len(), cluster.controller);
//! let quorum = admin.describe_quorum(&AdminOptions::new()).await?;
//! println!("quorum leader {} at epoch {}", quorum.leader_id, quorum.leader_epoch);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use ferrokafka_group::offsets::partitions_by_topic;
use ferrokafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use ferrokafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use ferrokafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use ferrokafka_protocol::messages::describe_quorum_response::ReplicaState;
use ferrokafka_protocol::messages::elect_leaders_request::TopicPartitions;
use ferrokafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use ferrokafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiVersionsRequest, DescribeClusterRequest,
    DescribeLogDirsRequest, DescribeQuorumRequest, ElectLeadersRequest,
    ListPartitionReassignmentsRequest,
};
use ferrokafka_protocol::{ApiKey, ErrorCode, Uuid};
use ferrokafka_transport::{Lane, TransportError};

use crate::records::TopicPartition;
use crate::retry::{each_until_deadline, until_deadline};
use crate::topics::{any_node, check, retriable_for_topics, timeout_ms};
use crate::{Admin, AdminError, AdminOptions};

/// The KRaft metadata log's topic, whose quorum DescribeQuorum describes.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// DescribeCluster can list fenced brokers from version 2.
const FENCED_BROKERS_VERSION: i16 = 2;

/// A broker as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Host clients connect to.
    pub host: String,
    /// Port.
    pub port: i32,
    /// `broker.rack`, when set.
    pub rack: Option<String>,
    /// Whether the controller fenced it (DescribeCluster v2+; `false`
    /// otherwise).
    pub fenced: bool,
}

/// The cluster as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller's node id as brokers report it (in KRaft, a broker
    /// that forwards controller requests), when known.
    pub controller: Option<i32>,
    /// The brokers, by id.
    pub brokers: Vec<BrokerInfo>,
    /// The ACL operations the caller may perform on the cluster, as the
    /// broker's bit field, when it computed it.
    pub authorized_operations: Option<i32>,
}

/// A feature's range of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// The lowest.
    pub min: i16,
    /// The highest.
    pub max: i16,
}

/// The cluster's features (KIP-584): which levels brokers support and
/// which are finalized (in force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureMetadata {
    /// Finalized features and their levels.
    pub finalized: BTreeMap<String, VersionRange>,
    /// The epoch of the finalized features, when the broker says.
    pub finalized_epoch: Option<i64>,
    /// Features the answering broker supports and their ranges.
    pub supported: BTreeMap<String, VersionRange>,
}

/// One replica in a log dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Bytes on disk.
    pub size: i64,
    /// How far it is behind the leader's log end (0 on the leader), or
    /// how far a future replica is behind the current one.
    pub offset_lag: i64,
    /// Whether it is a future replica (being moved here from another dir).
    pub is_future: bool,
}

/// One log dir of a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirDescription {
    /// The dir's path.
    pub path: String,
    /// The dir's error (`KAFKA_STORAGE_ERROR` for an offline dir), if any.
    pub error: Option<ErrorCode>,
    /// Its replicas.
    pub replicas: BTreeMap<TopicPartition, ReplicaInfo>,
    /// The volume's size in bytes, when the broker says.
    pub total_bytes: Option<i64>,
    /// The bytes free for Kafka on the volume, when the broker says.
    pub usable_bytes: Option<i64>,
}

/// A voter or observer of the KRaft quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// Its node id.
    pub id: i32,
    /// Its directory id (KIP-853), zero when not said.
    pub directory_id: Uuid,
    /// The end offset of its copy of the metadata log.
    pub log_end_offset: i64,
    /// When the leader last heard a fetch from it (ms since the epoch), if known.
    pub last_fetch_timestamp: Option<i64>,
    /// When it was last caught up (ms since the epoch), if known.
    pub last_caught_up_timestamp: Option<i64>,
}

/// The KRaft metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    /// The active controller's node id.
    pub leader_id: i32,
    /// The leader's epoch.
    pub leader_epoch: i32,
    /// The metadata log's high watermark.
    pub high_watermark: i64,
    /// The voters (controllers).
    pub voters: Vec<QuorumReplica>,
    /// The observers (brokers and non-voting controllers).
    pub observers: Vec<QuorumReplica>,
    /// The voters' listener endpoints `(node id, listener, host:port)`, from
    /// DescribeQuorum v2.
    pub nodes: Vec<(i32, String, String)>,
}

/// Which leader an election picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The preferred (first) replica, when it is in sync.
    Preferred,
    /// Any live replica, even one out of sync (data may be lost).
    Unclean,
}

/// A partition being reassigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The replicas now (old and new ones during the move).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding: Vec<i32>,
    /// Replicas being removed.
    pub removing: Vec<i32>,
}

/// One API a broker offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API's key.
    pub api_key: i16,
    /// Its name, when this client knows the key.
    pub name: Option<&'static str>,
    /// The broker's lowest version.
    pub min: i16,
    /// The broker's highest version.
    pub max: i16,
    /// The version this client would use, when both sides share one.
    pub usable: Option<i16>,
}

fn replica(state: &ReplicaState) -> QuorumReplica {
    QuorumReplica {
        id: state.replica_id,
        directory_id: state.replica_directory_id,
        log_end_offset: state.log_end_offset,
        last_fetch_timestamp: (state.last_fetch_timestamp >= 0)
            .then_some(state.last_fetch_timestamp),
        last_caught_up_timestamp: (state.last_caught_up_timestamp >= 0)
            .then_some(state.last_caught_up_timestamp),
    }
}

fn authorized(operations: i32) -> Option<i32> {
    (operations != i32::MIN).then_some(operations)
}

impl Admin {
    /// The cluster id, controller and brokers (with racks and, from
    /// brokers that say, whether they are fenced). Uses DescribeCluster,
    /// or Metadata from brokers without it.
    pub async fn describe_cluster(
        &self,
        options: &AdminOptions,
    ) -> Result<ClusterDescription, AdminError> {
        let deadline = self.deadline(options);
        until_deadline(
            "describing the cluster",
            deadline,
            self.retry_backoff(),
            || async {
                let node = any_node(self)?;
                let outcome = self
                    .live()?
                    .send_built(node, Lane::Data, |version| DescribeClusterRequest {
                        include_cluster_authorized_operations: true,
                        include_fenced_brokers: version >= FENCED_BROKERS_VERSION,
                        ..DescribeClusterRequest::default()
                    })
                    .await;
                let response = match outcome {
                    Ok(response) => response,
                    Err(TransportError::UnsupportedApi { .. }) => {
                        return self.describe_cluster_with_metadata().await;
                    }
                    Err(error) => return Err(error.into()),
                };
                check("the cluster", response.error_code, response.error_message)?;
                let mut brokers: Vec<BrokerInfo> = response
                    .brokers
                    .into_iter()
                    .map(|b| BrokerInfo {
                        id: b.broker_id,
                        host: b.host,
                        port: b.port,
                        rack: b.rack,
                        fenced: b.is_fenced,
                    })
                    .collect();
                brokers.sort_by_key(|b| b.id);
                Ok(ClusterDescription {
                    cluster_id: response.cluster_id,
                    controller: (response.controller_id >= 0).then_some(response.controller_id),
                    brokers,
                    authorized_operations: authorized(response.cluster_authorized_operations),
                })
            },
        )
        .await
    }

    /// The cluster as Metadata describes it, for brokers without
    /// DescribeCluster.
    async fn describe_cluster_with_metadata(&self) -> Result<ClusterDescription, AdminError> {
        let metadata = self.metadata(Some(&[]), false).await?;
        let mut brokers: Vec<BrokerInfo> = metadata
            .brokers
            .into_iter()
            .map(|b| BrokerInfo {
                id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
                fenced: false,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: metadata.cluster_id.unwrap_or_default(),
            controller: (metadata.controller_id >= 0).then_some(metadata.controller_id),
            brokers,
            authorized_operations: None,
        })
    }

    /// The cluster's supported and finalized features, from a broker's
    /// ApiVersions answer.
    pub async fn describe_features(
        &self,
        options: &AdminOptions,
    ) -> Result<FeatureMetadata, AdminError> {
        let deadline = self.deadline(options);
        until_deadline(
            "describing features",
            deadline,
            self.retry_backoff(),
            || async {
                let response = self
                    .live()?
                    .send_any(&ApiVersionsRequest {
                        client_software_name: "ferrokafka-admin".to_string(),
                        client_software_version: env!("CARGO_PKG_VERSION").to_string(),
                        ..ApiVersionsRequest::default()
                    })
                    .await?;
                check("ApiVersions", response.error_code, None)?;
                Ok(FeatureMetadata {
                    finalized: response
                        .finalized_features
                        .into_iter()
                        .map(|f| {
                            let range = VersionRange {
                                min: f.min_version_level,
                                max: f.max_version_level,
                            };
                            (f.name, range)
                        })
                        .collect(),
                    finalized_epoch: (response.finalized_features_epoch >= 0)
                        .then_some(response.finalized_features_epoch),
                    supported: response
                        .supported_features
                        .into_iter()
                        .map(|f| {
                            let range = VersionRange {
                                min: f.min_version,
                                max: f.max_version,
                            };
                            (f.name, range)
                        })
                        .collect(),
                })
            },
        )
        .await
    }

    /// The log dirs of each of `brokers`, with the replicas in them (size
    /// and offset lag). `topics` limits the replicas listed (`None`: all).
    pub async fn describe_log_dirs(
        &self,
        brokers: &[i32],
        topics: Option<&[TopicPartition]>,
        options: &AdminOptions,
    ) -> BTreeMap<i32, Result<Vec<LogDirDescription>, AdminError>> {
        let deadline = self.deadline(options);
        let request = DescribeLogDirsRequest {
            topics: topics.map(|partitions| {
                partitions_by_topic(partitions)
                    .into_iter()
                    .map(|(topic, partitions)| DescribableLogDirTopic {
                        topic,
                        partitions,
                        ..DescribableLogDirTopic::default()
                    })
                    .collect()
            }),
            ..DescribeLogDirsRequest::default()
        };
        let request = &request;
        each_until_deadline(
            "describing the log dirs of broker",
            brokers.to_vec(),
            deadline,
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| async move {
                let mut answers = BTreeMap::new();
                for node in pending {
                    let answer = match self.live()?.send(node, request).await {
                        Ok(response) => check(format!("broker {node}"), response.error_code, None)
                            .map(|()| {
                                response
                                    .results
                                    .into_iter()
                                    .map(|dir| LogDirDescription {
                                        error: Some(ErrorCode::from_code(dir.error_code))
                                            .filter(|e| !e.is_ok()),
                                        replicas: dir
                                            .topics
                                            .into_iter()
                                            .flat_map(|t| {
                                                let name = t.name;
                                                t.partitions.into_iter().map(move |p| {
                                                    (
                                                        TopicPartition::new(
                                                            name.clone(),
                                                            p.partition_index,
                                                        ),
                                                        ReplicaInfo {
                                                            size: p.partition_size,
                                                            offset_lag: p.offset_lag,
                                                            is_future: p.is_future_key,
                                                        },
                                                    )
                                                })
                                            })
                                            .collect(),
                                        total_bytes: (dir.total_bytes >= 0)
                                            .then_some(dir.total_bytes),
                                        usable_bytes: (dir.usable_bytes >= 0)
                                            .then_some(dir.usable_bytes),
                                        path: dir.log_dir,
                                    })
                                    .collect()
                            }),
                        Err(error) => Err(error.into()),
                    };
                    answers.insert(node, answer);
                }
                Ok(answers)
            },
        )
        .await
    }

    /// The KRaft metadata quorum: leader, epoch, high watermark, voters and
    /// observers with their log end offsets.
    pub async fn describe_quorum(&self, options: &AdminOptions) -> Result<QuorumInfo, AdminError> {
        let deadline = self.deadline(options);
        until_deadline(
            "describing the quorum",
            deadline,
            self.retry_backoff(),
            || async {
                let response = self
                    .live()?
                    .send_any(&DescribeQuorumRequest {
                        topics: vec![TopicData {
                            topic_name: METADATA_TOPIC.to_string(),
                            partitions: vec![PartitionData {
                                partition_index: 0,
                                ..PartitionData::default()
                            }],
                            ..TopicData::default()
                        }],
                        ..DescribeQuorumRequest::default()
                    })
                    .await?;
                check("the quorum", response.error_code, response.error_message)?;
                let partition = response
                    .topics
                    .into_iter()
                    .find(|t| t.topic_name == METADATA_TOPIC)
                    .and_then(|t| t.partitions.into_iter().find(|p| p.partition_index == 0))
                    .ok_or_else(|| {
                        AdminError::UnexpectedResponse(format!(
                            "DescribeQuorum did not describe {METADATA_TOPIC}-0"
                        ))
                    })?;
                check(
                    format!("{METADATA_TOPIC}-0"),
                    partition.error_code,
                    partition.error_message,
                )?;
                Ok(QuorumInfo {
                    leader_id: partition.leader_id,
                    leader_epoch: partition.leader_epoch,
                    high_watermark: partition.high_watermark,
                    voters: partition.current_voters.iter().map(replica).collect(),
                    observers: partition.observers.iter().map(replica).collect(),
                    nodes: response
                        .nodes
                        .into_iter()
                        .flat_map(|n| {
                            let id = n.node_id;
                            n.listeners
                                .into_iter()
                                .map(move |l| (id, l.name, format!("{}:{}", l.host, l.port)))
                        })
                        .collect(),
                })
            },
        )
        .await
    }

    /// Elects leaders of `partitions` (`None`: every partition whose
    /// preferred replica is not leading). Answers per partition;
    /// `ELECTION_NOT_NEEDED` means the partition already had that leader.
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
        options: &AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, Result<(), AdminError>>, AdminError> {
        let deadline = self.deadline(options);
        until_deadline(
            "electing leaders",
            deadline,
            self.retry_backoff(),
            || async {
                let request = ElectLeadersRequest {
                    election_type: match election {
                        ElectionType::Preferred => 0,
                        ElectionType::Unclean => 1,
                    },
                    topic_partitions: partitions.map(|partitions| {
                        partitions_by_topic(partitions)
                            .into_iter()
                            .map(|(topic, partitions)| TopicPartitions {
                                topic,
                                partitions,
                                ..TopicPartitions::default()
                            })
                            .collect()
                    }),
                    timeout_ms: timeout_ms(deadline),
                    ..ElectLeadersRequest::default()
                };
                let response = self.live()?.send_any(&request).await?;
                check("electing leaders", response.error_code, None)?;
                let mut answers = BTreeMap::new();
                for topic in response.replica_election_results {
                    for p in topic.partition_result {
                        let tp = TopicPartition::new(topic.topic.clone(), p.partition_id);
                        let result =
                            check(format!("partition {tp}"), p.error_code, p.error_message);
                        answers.insert(tp, result);
                    }
                }
                Ok(answers)
            },
        )
        .await
    }

    /// The reassignments in progress, of `partitions` (`None`: all).
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[TopicPartition]>,
        options: &AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, PartitionReassignment>, AdminError> {
        let deadline = self.deadline(options);
        until_deadline(
            "listing reassignments",
            deadline,
            self.retry_backoff(),
            || async {
                let request = ListPartitionReassignmentsRequest {
                    timeout_ms: timeout_ms(deadline),
                    topics: partitions.map(|partitions| {
                        partitions_by_topic(partitions)
                            .into_iter()
                            .map(
                                |(name, partition_indexes)| ListPartitionReassignmentsTopics {
                                    name,
                                    partition_indexes,
                                    ..ListPartitionReassignmentsTopics::default()
                                },
                            )
                            .collect()
                    }),
                    ..ListPartitionReassignmentsRequest::default()
                };
                let response = self.live()?.send_any(&request).await?;
                check(
                    "listing reassignments",
                    response.error_code,
                    response.error_message,
                )?;
                Ok(response
                    .topics
                    .into_iter()
                    .flat_map(|t| {
                        let name = t.name;
                        t.partitions.into_iter().map(move |p| {
                            (
                                TopicPartition::new(name.clone(), p.partition_index),
                                PartitionReassignment {
                                    replicas: p.replicas,
                                    adding: p.adding_replicas,
                                    removing: p.removing_replicas,
                                },
                            )
                        })
                    })
                    .collect())
            },
        )
        .await
    }

    /// Moves partitions to new replicas (`Some(replicas)`), or cancels a
    /// reassignment in progress (`None`).
    pub async fn alter_partition_reassignments(
        &self,
        reassignments: &BTreeMap<TopicPartition, Option<Vec<i32>>>,
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<(), AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "reassigning partition",
            reassignments.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| async move {
                let mut topics: BTreeMap<String, Vec<ReassignablePartition>> = BTreeMap::new();
                for tp in &pending {
                    topics
                        .entry(tp.topic.to_string())
                        .or_default()
                        .push(ReassignablePartition {
                            partition_index: tp.partition,
                            replicas: reassignments.get(tp).cloned().flatten(),
                            ..ReassignablePartition::default()
                        });
                }
                let node = any_node(self)?;
                let response = self
                    .live()?
                    .send_built(node, Lane::Data, |_| AlterPartitionReassignmentsRequest {
                        timeout_ms: timeout_ms(deadline),
                        topics: topics
                            .into_iter()
                            .map(|(name, partitions)| ReassignableTopic {
                                name,
                                partitions,
                                ..ReassignableTopic::default()
                            })
                            .collect(),
                        ..AlterPartitionReassignmentsRequest::default()
                    })
                    .await?;
                check(
                    "reassigning partitions",
                    response.error_code,
                    response.error_message,
                )?;
                let mut answers = BTreeMap::new();
                for topic in response.responses {
                    for p in topic.partitions {
                        let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                        let result =
                            check(format!("partition {tp}"), p.error_code, p.error_message);
                        answers.insert(tp, result);
                    }
                }
                Ok(answers)
            },
        )
        .await
    }

    /// The API versions each of `brokers` offers (`None`: every known
    /// broker), with the version this client would use.
    pub async fn api_versions(
        &self,
        brokers: Option<&[i32]>,
        options: &AdminOptions,
    ) -> BTreeMap<i32, Result<Vec<ApiVersionRange>, AdminError>> {
        let deadline = self.deadline(options);
        let nodes: Vec<i32> = match brokers {
            Some(nodes) => nodes.to_vec(),
            // Known brokers from local metadata: no request, so no gate.
            None => self
                .client()
                .view(|v| v.brokers().map(|b| b.node_id).collect::<BTreeSet<_>>())
                .into_iter()
                .collect(),
        };
        each_until_deadline(
            "the API versions of broker",
            nodes,
            deadline,
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| async move {
                let mut answers = BTreeMap::new();
                for node in pending {
                    let answer = match self.live()?.connection(node, Lane::Data).await {
                        Ok(connection) => {
                            let mut apis: Vec<ApiVersionRange> = connection
                                .broker_versions()
                                .iter()
                                .map(|(&key, &(min, max))| ApiVersionRange {
                                    api_key: key as i16,
                                    name: Some(key.name()),
                                    min,
                                    max,
                                    usable: connection.version(key).ok(),
                                })
                                .collect();
                            apis.sort_by_key(|a| a.api_key);
                            Ok(apis)
                        }
                        Err(error) => Err(error.into()),
                    };
                    answers.insert(node, answer);
                }
                Ok(answers)
            },
        )
        .await
    }
}

/// The name of an API key, for keys this client knows.
///
/// ```
/// assert_eq!(ferrokafka_admin::cluster::api_name(19), Some("CreateTopics"));
/// assert_eq!(ferrokafka_admin::cluster::api_name(-7), None);
/// ```
pub fn api_name(key: i16) -> Option<&'static str> {
    ApiKey::from_i16(key).map(ApiKey::name)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::FakeCluster;

    use super::*;

    #[tokio::test]
    async fn without_describe_cluster_the_metadata_describes_the_cluster() {
        let cluster = FakeCluster::new(3, |_| None);
        let config =
            ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap())]).unwrap();
        let admin = Admin::with_client(cluster.client(config).await.unwrap());
        let described = tokio::time::timeout(
            Duration::from_secs(5),
            admin.describe_cluster_with_metadata(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(described.cluster_id, "fake");
        assert_eq!(described.controller, Some(1));
        assert_eq!(
            described.brokers.iter().map(|b| b.id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(described.brokers[1].host, "fake-2");
    }
}
