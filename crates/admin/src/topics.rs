//! Topics: list, describe, create, delete, and add partitions.
//!
//! Creating, deleting and growing topics go to any broker (in KRaft every
//! broker forwards them to the active controller); `NOT_CONTROLLER` and
//! other retriable answers are retried until the operation's timeout.
//! Describing uses DescribeTopicPartitions (paging through its cursor) where
//! the broker offers it, Metadata otherwise.
//!
//! ```no_run
//! # async fn example() -> Result<(), ferrokafka_admin::AdminError> {
//! use ferrokafka_admin::topics::NewTopic;
//! use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
//!
//! let admin = Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?).await?;
//! let options = AdminOptions::new();
//! let created = admin
//!     .create_topics(&[NewTopic::new("events", 3, 1).config("cleanup.policy", "compact")], false, &options)
//!     .await;
//! for (topic, result) in &created {
//!     match result {
//!         Ok(topic_info) => println!("{topic}: {} partitions", topic_info.partitions),
//!         Err(error) => eprintln!("{topic}: {error}"),
//!     }
//! }
//! let described = admin.describe_topics(&["events"], &options).await;
//! # let _ = described;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use ferrokafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use ferrokafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use ferrokafka_protocol::messages::delete_topics_request::DeleteTopicState;
use ferrokafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use ferrokafka_protocol::messages::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeTopicPartitionsRequest, MetadataRequest, MetadataResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};
use ferrokafka_transport::{Lane, TransportError};

use crate::retry::{Round, each_until_deadline, until_deadline};
use crate::{Admin, AdminError, AdminOptions};

/// The value of an "authorized operations" field when the broker did not
/// compute it.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Partitions per DescribeTopicPartitions page.
const PARTITIONS_PER_PAGE: i32 = 2000;

/// DeleteTopics names topics by id (or name) from version 6.
const DELETE_TOPICS_BY_STATE_VERSION: i16 = 6;

/// A topic as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// The topic's name.
    pub name: String,
    /// The topic's id (KIP-516), zero from brokers that do not say.
    pub topic_id: Uuid,
    /// Whether the topic is internal (`__consumer_offsets`, ...).
    pub internal: bool,
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id, `None` while the partition has no leader.
    pub leader: Option<i32>,
    /// The leader epoch, when the broker says.
    pub leader_epoch: Option<i32>,
    /// The replicas' node ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas on a broker that is down or a log dir that failed.
    pub offline_replicas: Vec<i32>,
    /// Eligible leader replicas (KIP-966), when the broker says.
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// The partition-level error the broker reported, if any
    /// (`LEADER_NOT_AVAILABLE`, ...).
    pub error: Option<ErrorCode>,
}

/// A described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// The topic's id (KIP-516).
    pub topic_id: Uuid,
    /// Whether the topic is internal.
    pub internal: bool,
    /// Its partitions by index.
    pub partitions: Vec<PartitionDescription>,
    /// The ACL operations the caller may perform on it, as the broker's bit
    /// field (bit `n` set: operation code `n` is allowed), when the broker
    /// computed it.
    pub authorized_operations: Option<i32>,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// The number of partitions; `None` for the broker's `num.partitions`.
    /// Ignored when `assignments` is given.
    pub partitions: Option<i32>,
    /// The replication factor; `None` for the broker's
    /// `default.replication.factor`. Ignored when `assignments` is given.
    pub replication_factor: Option<i16>,
    /// Explicit replicas per partition index (the first one is the
    /// preferred leader); empty to let the controller place them.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic of `partitions` partitions with `replication_factor` replicas each.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            assignments: BTreeMap::new(),
            configs: BTreeMap::new(),
        }
    }

    /// A topic with the broker's default partition count and replication factor.
    pub fn with_defaults(name: impl Into<String>) -> Self {
        NewTopic {
            partitions: None,
            replication_factor: None,
            ..NewTopic::new(name, -1, -1)
        }
    }

    /// A topic whose partition `i` has the replicas `assignments[i]`.
    pub fn with_assignments(name: impl Into<String>, assignments: Vec<Vec<i32>>) -> Self {
        NewTopic {
            partitions: None,
            replication_factor: None,
            assignments: (0..).zip(assignments).collect::<BTreeMap<i32, Vec<i32>>>(),
            ..NewTopic::new(name, -1, -1)
        }
    }

    /// Adds the topic config `key = value`.
    #[must_use]
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }

    /// The topic as an entry of a CreateTopics request, for a caller that
    /// sends its own.
    ///
    /// ```
    /// use ferrokafka_admin::topics::NewTopic;
    /// let entry = NewTopic::new("orders", 3, 1).config("retention.ms", "-1").to_request();
    /// assert_eq!((entry.num_partitions, entry.configs.len()), (3, 1));
    /// ```
    pub fn to_request(&self) -> CreatableTopic {
        let explicit = !self.assignments.is_empty();
        CreatableTopic {
            name: self.name.clone(),
            num_partitions: if explicit {
                -1
            } else {
                self.partitions.unwrap_or(-1)
            },
            replication_factor: if explicit {
                -1
            } else {
                self.replication_factor.unwrap_or(-1)
            },
            assignments: self
                .assignments
                .iter()
                .map(|(&partition_index, brokers)| CreatableReplicaAssignment {
                    partition_index,
                    broker_ids: brokers.clone(),
                    ..CreatableReplicaAssignment::default()
                })
                .collect(),
            configs: self
                .configs
                .iter()
                .map(|(name, value)| CreatableTopicConfig {
                    name: name.clone(),
                    value: Some(value.clone()),
                    ..CreatableTopicConfig::default()
                })
                .collect(),
            ..CreatableTopic::default()
        }
    }
}

/// What the controller made of a created (or, with `validate_only`, a
/// validated) topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// The new topic's id (zero when only validated, or from old brokers).
    pub topic_id: Uuid,
    /// Its partition count (-1 from brokers before CreateTopics v5).
    pub partitions: i32,
    /// Its replication factor (-1 from brokers before CreateTopics v5).
    pub replication_factor: i16,
    /// Its configs as the broker reported them (name, value), when it did.
    pub configs: BTreeMap<String, Option<String>>,
}

/// Partitions to add to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The topic's partition count after the change.
    pub total_count: i32,
    /// The replicas of each new partition, in order; `None` to let the
    /// controller place them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grows the topic to `total_count` partitions.
    pub fn increase_to(total_count: i32) -> Self {
        NewPartitions {
            total_count,
            assignments: None,
        }
    }
}

/// Whether an item's failure is worth another attempt: the broker's
/// retriable errors, except that a topic the broker does not know is an
/// answer (it is the caller's name that is wrong, not the broker's view).
pub(crate) fn retriable_for_topics(error: &AdminError) -> bool {
    error.is_retriable()
        && !matches!(
            error.code(),
            Some(ErrorCode::UnknownTopicOrPartition | ErrorCode::UnknownTopicId)
        )
}

/// The time left before `deadline`, in the milliseconds of a request's
/// `timeout_ms` field (at least 1).
pub(crate) fn timeout_ms(deadline: Instant) -> i32 {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_millis();
    i32::try_from(left).unwrap_or(i32::MAX).max(1)
}

/// A broker to send a cluster-wide request to: the one Metadata names as
/// controller (in KRaft, a broker that forwards to the active controller),
/// else the first known broker.
pub(crate) fn any_node(admin: &Admin) -> Result<i32, AdminError> {
    admin
        .live()?
        .view(|v| {
            v.controller()
                .or_else(|| v.brokers().next().map(|b| b.node_id))
        })
        .ok_or_else(|| {
            AdminError::Transport(TransportError::NoBrokerAvailable {
                tried: "the metadata names no broker".to_string(),
            })
        })
}

/// The error of `code` for `what`, `Ok` for `NONE`.
pub(crate) fn check(
    what: impl Into<String>,
    code: i16,
    message: Option<String>,
) -> Result<(), AdminError> {
    match AdminError::from_code(what, ErrorCode::from_code(code), message) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Optional `-1`-means-none values.
fn known(value: i32) -> Option<i32> {
    (value >= 0).then_some(value)
}

fn authorized(operations: i32) -> Option<i32> {
    (operations != AUTHORIZED_OPERATIONS_OMITTED).then_some(operations)
}

impl Admin {
    /// Sends a Metadata request for `topics` (`None`: every topic) to any broker.
    pub(crate) async fn metadata(
        &self,
        topics: Option<&[String]>,
        authorized_operations: bool,
    ) -> Result<MetadataResponse, AdminError> {
        let request = MetadataRequest {
            topics: topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name.clone()),
                        ..MetadataRequestTopic::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: false,
            include_topic_authorized_operations: authorized_operations,
            ..MetadataRequest::default()
        };
        Ok(self.live()?.send_any(&request).await?)
    }

    /// The cluster's topics, by name; internal ones only when
    /// `include_internal`.
    pub async fn list_topics(
        &self,
        include_internal: bool,
        options: &AdminOptions,
    ) -> Result<Vec<TopicListing>, AdminError> {
        let deadline = self.deadline(options);
        let response = until_deadline("listing topics", deadline, self.retry_backoff(), || {
            self.metadata(None, false)
        })
        .await?;
        let mut topics: Vec<TopicListing> = response
            .topics
            .into_iter()
            .filter(|t| ErrorCode::from_code(t.error_code).is_ok())
            .filter(|t| include_internal || !t.is_internal)
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name?,
                    topic_id: t.topic_id,
                    internal: t.is_internal,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Describes `topics`: partitions with leader, replicas, ISR, offline
    /// replicas and leader epoch, topic id, internal flag and the caller's
    /// authorized operations. A topic that does not exist is its own
    /// `UNKNOWN_TOPIC_OR_PARTITION` error.
    pub async fn describe_topics<S: AsRef<str>>(
        &self,
        topics: &[S],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<TopicDescription, AdminError>> {
        let names: Vec<String> = topics.iter().map(|t| t.as_ref().to_string()).collect();
        let deadline = self.deadline(options);
        each_until_deadline(
            "describing topic",
            names,
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| self.describe_topics_once(pending),
        )
        .await
    }

    async fn describe_topics_once(&self, names: Vec<String>) -> Round<String, TopicDescription> {
        match self.describe_topic_partitions(&names).await {
            Err(AdminError::Transport(TransportError::UnsupportedApi { .. })) => {}
            other => return other,
        }
        self.describe_with_metadata(&names).await
    }

    /// Describes topics from a Metadata response, for brokers without
    /// DescribeTopicPartitions.
    async fn describe_with_metadata(&self, names: &[String]) -> Round<String, TopicDescription> {
        let response = self.metadata(Some(names), true).await?;
        let mut answers = BTreeMap::new();
        for topic in response.topics {
            let Some(name) = topic.name else { continue };
            let result = check(format!("topic {name}"), topic.error_code, None).map(|()| {
                let partitions: Vec<PartitionDescription> = topic
                    .partitions
                    .into_iter()
                    .map(|p| PartitionDescription {
                        partition: p.partition_index,
                        leader: known(p.leader_id),
                        leader_epoch: known(p.leader_epoch),
                        replicas: p.replica_nodes,
                        isr: p.isr_nodes,
                        offline_replicas: p.offline_replicas,
                        eligible_leader_replicas: None,
                        error: Some(ErrorCode::from_code(p.error_code)).filter(|e| !e.is_ok()),
                    })
                    .collect();
                TopicDescription {
                    name: name.clone(),
                    topic_id: topic.topic_id,
                    internal: topic.is_internal,
                    partitions: sorted(partitions),
                    authorized_operations: authorized(topic.topic_authorized_operations),
                }
            });
            answers.insert(name, result);
        }
        Ok(answers)
    }

    /// DescribeTopicPartitions over every page of its cursor.
    async fn describe_topic_partitions(&self, names: &[String]) -> Round<String, TopicDescription> {
        let mut sorted_names = names.to_vec();
        sorted_names.sort();
        let mut found: BTreeMap<String, Result<TopicDescription, AdminError>> = BTreeMap::new();
        let mut cursor: Option<Cursor> = None;
        // Every page moves the cursor forward; a broker that repeats one
        // would otherwise keep this loop going.
        let mut pages = 0usize;
        loop {
            pages += 1;
            let request = DescribeTopicPartitionsRequest {
                topics: sorted_names
                    .iter()
                    .filter(|n| cursor.as_ref().is_none_or(|c| **n >= c.topic_name))
                    .map(|name| TopicRequest {
                        name: name.clone(),
                        ..TopicRequest::default()
                    })
                    .collect(),
                response_partition_limit: PARTITIONS_PER_PAGE,
                cursor: cursor.take(),
                ..DescribeTopicPartitionsRequest::default()
            };
            let response = self.live()?.send_any(&request).await?;
            for topic in response.topics {
                let Some(name) = topic.name else { continue };
                if let Err(error) = check(format!("topic {name}"), topic.error_code, None) {
                    found.insert(name, Err(error));
                    continue;
                }
                let entry = found.entry(name.clone()).or_insert_with(|| {
                    Ok(TopicDescription {
                        name: name.clone(),
                        topic_id: topic.topic_id,
                        internal: topic.is_internal,
                        partitions: Vec::new(),
                        authorized_operations: authorized(topic.topic_authorized_operations),
                    })
                });
                if let Ok(description) = entry {
                    description
                        .partitions
                        .extend(topic.partitions.into_iter().map(|p| PartitionDescription {
                            partition: p.partition_index,
                            leader: known(p.leader_id),
                            leader_epoch: known(p.leader_epoch),
                            replicas: p.replica_nodes,
                            isr: p.isr_nodes,
                            offline_replicas: p.offline_replicas,
                            eligible_leader_replicas: p.eligible_leader_replicas,
                            error: Some(ErrorCode::from_code(p.error_code)).filter(|e| !e.is_ok()),
                        }));
                }
            }
            match response.next_cursor {
                Some(next) if pages <= names.len() * 1000 + 1 => {
                    cursor = Some(Cursor {
                        topic_name: next.topic_name,
                        partition_index: next.partition_index,
                        ..Cursor::default()
                    });
                }
                Some(_) => {
                    return Err(AdminError::UnexpectedResponse(
                        "DescribeTopicPartitions kept returning a cursor".to_string(),
                    ));
                }
                None => break,
            }
        }
        for description in found.values_mut().flatten() {
            let partitions = std::mem::take(&mut description.partitions);
            description.partitions = sorted(partitions);
        }
        Ok(found)
    }

    /// Creates `topics` (or, with `validate_only`, only checks that they
    /// could be created). After a real creation it waits, within the
    /// timeout, until the metadata shows a leader for every partition of
    /// each new topic, so a produce sent next finds them.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<CreatedTopic, AdminError>> {
        let deadline = self.deadline(options);
        let by_name: BTreeMap<String, &NewTopic> =
            topics.iter().map(|t| (t.name.clone(), t)).collect();
        let mut results = each_until_deadline(
            "creating topic",
            by_name.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| {
                let request = CreateTopicsRequest {
                    topics: pending
                        .iter()
                        .filter_map(|name| by_name.get(name))
                        .map(|t| t.to_request())
                        .collect(),
                    timeout_ms: timeout_ms(deadline),
                    validate_only,
                    ..CreateTopicsRequest::default()
                };
                async move {
                    let response = self.live()?.send_any(&request).await?;
                    Ok(response
                        .topics
                        .into_iter()
                        .map(|t| {
                            let result =
                                check(format!("topic {}", t.name), t.error_code, t.error_message)
                                    .map(|()| CreatedTopic {
                                        topic_id: t.topic_id,
                                        partitions: t.num_partitions,
                                        replication_factor: t.replication_factor,
                                        configs: t
                                            .configs
                                            .unwrap_or_default()
                                            .into_iter()
                                            .map(|c| (c.name, c.value))
                                            .collect(),
                                    });
                            (t.name, result)
                        })
                        .collect())
                }
            },
        )
        .await;
        if !validate_only {
            let created: Vec<String> = results
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(name, _)| name.clone())
                .collect();
            if !created.is_empty() {
                self.client().add_topics(&created);
                let waited = self.wait_for_leaders(created, deadline).await;
                for (name, outcome) in waited {
                    if let Err(error) = outcome {
                        results.insert(name, Err(error));
                    }
                }
            }
        }
        results
    }

    /// Polls the metadata until every partition of each of `topics` has a
    /// leader, or the deadline passes.
    async fn wait_for_leaders(
        &self,
        topics: Vec<String>,
        deadline: Instant,
    ) -> BTreeMap<String, Result<(), AdminError>> {
        each_until_deadline(
            "waiting for the leaders of topic",
            topics,
            deadline,
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| async move {
                let response = self.metadata(Some(&pending), false).await?;
                Ok(response
                    .topics
                    .into_iter()
                    .filter_map(|t| {
                        let name = t.name?;
                        let mut code = ErrorCode::from_code(t.error_code);
                        if code.is_ok()
                            && (t.partitions.is_empty()
                                || t.partitions.iter().any(|p| p.leader_id < 0))
                        {
                            code = ErrorCode::LeaderNotAvailable;
                        }
                        let result = check(format!("topic {name}"), code.code(), None);
                        Some((name, result))
                    })
                    .collect())
            },
        )
        .await
    }

    /// Deletes `topics` by name. A topic that does not exist is its own
    /// `UNKNOWN_TOPIC_OR_PARTITION` error.
    pub async fn delete_topics<S: AsRef<str>>(
        &self,
        topics: &[S],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<(), AdminError>> {
        let names: Vec<String> = topics.iter().map(|t| t.as_ref().to_string()).collect();
        let deadline = self.deadline(options);
        each_until_deadline(
            "deleting topic",
            names,
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| async move {
                let node = any_node(self)?;
                let response = self
                    .live()?
                    .send_built(node, Lane::Data, |version| {
                        if version >= DELETE_TOPICS_BY_STATE_VERSION {
                            DeleteTopicsRequest {
                                topics: pending
                                    .iter()
                                    .map(|name| DeleteTopicState {
                                        name: Some(name.clone()),
                                        topic_id: Uuid::ZERO,
                                        ..DeleteTopicState::default()
                                    })
                                    .collect(),
                                topic_names: Vec::new(),
                                timeout_ms: timeout_ms(deadline),
                                ..DeleteTopicsRequest::default()
                            }
                        } else {
                            DeleteTopicsRequest {
                                topics: Vec::new(),
                                topic_names: pending.clone(),
                                timeout_ms: timeout_ms(deadline),
                                ..DeleteTopicsRequest::default()
                            }
                        }
                    })
                    .await?;
                Ok(response
                    .responses
                    .into_iter()
                    .filter_map(|r| {
                        let name = r.name?;
                        let result = check(format!("topic {name}"), r.error_code, r.error_message);
                        Some((name, result))
                    })
                    .collect())
            },
        )
        .await
    }

    /// Deletes topics by id (KIP-516; brokers with DeleteTopics v6+). An
    /// unknown id is its own `UNKNOWN_TOPIC_ID` error.
    pub async fn delete_topics_by_id(
        &self,
        topic_ids: &[Uuid],
        options: &AdminOptions,
    ) -> BTreeMap<TopicId, Result<(), AdminError>> {
        let ids: Vec<TopicId> = topic_ids.iter().copied().map(TopicId).collect();
        let deadline = self.deadline(options);
        each_until_deadline(
            "deleting topic",
            ids,
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| async move {
                let node = any_node(self)?;
                let connection = self.live()?.connection(node, Lane::Data).await?;
                let version = connection.version(ferrokafka_protocol::ApiKey::DeleteTopics)?;
                if version < DELETE_TOPICS_BY_STATE_VERSION {
                    return Err(AdminError::Transport(TransportError::UnsupportedApi {
                        broker: connection.broker().to_string(),
                        api: "DeleteTopics by topic id".to_string(),
                        reason: format!(
                            "the broker offers DeleteTopics up to v{version}, ids need v6"
                        ),
                    }));
                }
                let request = DeleteTopicsRequest {
                    topics: pending
                        .iter()
                        .map(|id| DeleteTopicState {
                            name: None,
                            topic_id: id.0,
                            ..DeleteTopicState::default()
                        })
                        .collect(),
                    topic_names: Vec::new(),
                    timeout_ms: timeout_ms(deadline),
                    ..DeleteTopicsRequest::default()
                };
                let response = self.live()?.send(node, &request).await?;
                Ok(response
                    .responses
                    .into_iter()
                    .map(|r| {
                        let id = TopicId(r.topic_id);
                        let result = check(format!("topic id {id}"), r.error_code, r.error_message);
                        (id, result)
                    })
                    .collect())
            },
        )
        .await
    }

    /// Grows topics to new partition counts (or, with `validate_only`,
    /// only checks that they could be grown).
    pub async fn create_partitions(
        &self,
        increases: &BTreeMap<String, NewPartitions>,
        validate_only: bool,
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<(), AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "adding partitions to topic",
            increases.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| {
                let request = CreatePartitionsRequest {
                    topics: pending
                        .iter()
                        .filter_map(|name| increases.get_key_value(name))
                        .map(|(name, new)| CreatePartitionsTopic {
                            name: name.clone(),
                            count: new.total_count,
                            assignments: new.assignments.as_ref().map(|all| {
                                all.iter()
                                    .map(|brokers| CreatePartitionsAssignment {
                                        broker_ids: brokers.clone(),
                                        ..CreatePartitionsAssignment::default()
                                    })
                                    .collect()
                            }),
                            ..CreatePartitionsTopic::default()
                        })
                        .collect(),
                    timeout_ms: timeout_ms(deadline),
                    validate_only,
                    ..CreatePartitionsRequest::default()
                };
                async move {
                    let response = self.live()?.send_any(&request).await?;
                    Ok(response
                        .results
                        .into_iter()
                        .map(|r| {
                            let result =
                                check(format!("topic {}", r.name), r.error_code, r.error_message);
                            (r.name, result)
                        })
                        .collect())
                }
            },
        )
        .await
    }
}

fn sorted(mut partitions: Vec<PartitionDescription>) -> Vec<PartitionDescription> {
    partitions.sort_by_key(|p| p.partition);
    partitions.dedup_by_key(|p| p.partition);
    partitions
}

/// A topic id (KIP-516), shown as Kafka's tools show it: URL-safe base64
/// without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicId(pub Uuid);

impl std::fmt::Display for TopicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine as _;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0.0))
    }
}

impl std::str::FromStr for TopicId {
    type Err = AdminError;

    /// Parses Kafka's form of a topic id (22 characters of URL-safe base64).
    ///
    /// ```
    /// use ferrokafka_admin::topics::TopicId;
    /// let id: TopicId = "AAECAwQFBgcICQoLDA0ODw".parse().unwrap();
    /// assert_eq!(id.0.0[15], 15);
    /// assert_eq!(id.to_string(), "AAECAwQFBgcICQoLDA0ODw");
    /// assert!("not an id".parse::<TopicId>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or_else(|| AdminError::InvalidArgument(format!("{text:?} is not a topic id")))?;
        Ok(TopicId(Uuid(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use ferrokafka_protocol::ApiKey;
    use ferrokafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use ferrokafka_protocol::messages::describe_topic_partitions_response::{
        self as dtp, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
    };
    use ferrokafka_protocol::messages::{CreateTopicsResponse, DescribeTopicPartitionsResponse};
    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

    use super::*;

    async fn admin(cluster: &FakeCluster) -> Admin {
        let config = ClientConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("retry_backoff_ms", "10"),
        ])
        .unwrap();
        Admin::with_client(cluster.client(config).await.unwrap())
    }

    fn options() -> AdminOptions {
        AdminOptions::new().timeout(Duration::from_secs(5))
    }

    fn partition(index: i32) -> DescribeTopicPartitionsResponsePartition {
        DescribeTopicPartitionsResponsePartition {
            partition_index: index,
            leader_id: 1,
            leader_epoch: 3,
            replica_nodes: vec![1, 2],
            isr_nodes: vec![1],
            offline_replicas: vec![2],
            ..DescribeTopicPartitionsResponsePartition::default()
        }
    }

    fn topic(
        name: &str,
        partitions: Vec<DescribeTopicPartitionsResponsePartition>,
    ) -> DescribeTopicPartitionsResponseTopic {
        DescribeTopicPartitionsResponseTopic {
            name: Some(name.to_string()),
            partitions,
            topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            ..DescribeTopicPartitionsResponseTopic::default()
        }
    }

    /// Pages of DescribeTopicPartitions: `a` split over two pages by the
    /// cursor, `b` on the second, `c` unknown.
    fn paged(request: &FakeRequest) -> FakeReply {
        let asked: DescribeTopicPartitionsRequest = request.decode();
        let response = match asked.cursor {
            None => DescribeTopicPartitionsResponse {
                topics: vec![topic("a", vec![partition(1), partition(0)])],
                next_cursor: Some(dtp::Cursor {
                    topic_name: "a".into(),
                    partition_index: 2,
                    ..dtp::Cursor::default()
                }),
                ..DescribeTopicPartitionsResponse::default()
            },
            Some(cursor) => {
                assert_eq!(
                    (cursor.topic_name.as_str(), cursor.partition_index),
                    ("a", 2)
                );
                DescribeTopicPartitionsResponse {
                    topics: vec![
                        topic("a", vec![partition(2)]),
                        topic("b", vec![partition(0)]),
                        DescribeTopicPartitionsResponseTopic {
                            error_code: ErrorCode::UnknownTopicOrPartition.code(),
                            ..topic("c", Vec::new())
                        },
                    ],
                    next_cursor: None,
                    ..DescribeTopicPartitionsResponse::default()
                }
            }
        };
        FakeReply::with(request, &response)
    }

    #[tokio::test]
    async fn describe_follows_the_cursor_and_keeps_each_topic_s_error() {
        let cluster = FakeCluster::new(2, |request| {
            (request.key == ApiKey::DescribeTopicPartitions).then(|| paged(request))
        });
        let admin = admin(&cluster).await;
        let described = admin.describe_topics(&["a", "b", "c"], &options()).await;
        let a = described["a"].as_ref().unwrap();
        assert_eq!(
            a.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(a.partitions[2].leader_epoch, Some(3));
        assert_eq!(a.partitions[2].offline_replicas, [2]);
        assert_eq!(a.authorized_operations, None);
        assert_eq!(described["b"].as_ref().unwrap().partitions.len(), 1);
        assert_eq!(
            described["c"].as_ref().unwrap_err().code(),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        let pages = cluster
            .received()
            .iter()
            .filter(|(_, key)| *key == ApiKey::DescribeTopicPartitions)
            .count();
        assert_eq!(
            pages, 2,
            "one request per page, no retry of the unknown topic"
        );
    }

    #[tokio::test]
    async fn without_describe_topic_partitions_the_metadata_describes_topics() {
        let cluster = FakeCluster::new(2, |_| None);
        cluster.add_topic("a", &[2, 1]);
        let admin = admin(&cluster).await;
        let described = admin
            .describe_with_metadata(&["a".to_string(), "gone".to_string()])
            .await
            .unwrap();
        let a = described["a"].as_ref().unwrap();
        assert_eq!(
            a.partitions
                .iter()
                .map(|p| (p.partition, p.leader))
                .collect::<Vec<_>>(),
            [(0, Some(2)), (1, Some(1))]
        );
        assert_ne!(a.topic_id, Uuid::ZERO);
        assert!(
            !described.contains_key("gone"),
            "the fake does not answer for it"
        );
    }

    #[tokio::test]
    async fn create_retries_not_controller_then_waits_for_the_leaders() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let cluster_slot: Arc<OnceLock<FakeCluster>> = Arc::new(OnceLock::new());
        let (seen, slot) = (Arc::clone(&attempts), Arc::clone(&cluster_slot));
        let cluster = FakeCluster::new(2, move |request| {
            (request.key == ApiKey::CreateTopics).then(|| {
                let asked: CreateTopicsRequest = request.decode();
                let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
                let response = CreateTopicsResponse {
                    topics: asked
                        .topics
                        .iter()
                        .map(|t| {
                            let code = if first {
                                ErrorCode::NotController
                            } else if t.name == "taken" {
                                ErrorCode::TopicAlreadyExists
                            } else {
                                if let Some(cluster) = slot.get() {
                                    cluster.add_topic(&t.name, &[2, 1]);
                                }
                                ErrorCode::None
                            };
                            CreatableTopicResult {
                                name: t.name.clone(),
                                error_code: code.code(),
                                num_partitions: t.num_partitions,
                                replication_factor: t.replication_factor,
                                ..CreatableTopicResult::default()
                            }
                        })
                        .collect(),
                    ..CreateTopicsResponse::default()
                };
                FakeReply::with(request, &response)
            })
        });
        let _ = cluster_slot.set(cluster.clone());
        let admin = admin(&cluster).await;
        let created = admin
            .create_topics(
                &[NewTopic::new("fresh", 2, 1), NewTopic::new("taken", 1, 1)],
                false,
                &options(),
            )
            .await;
        assert_eq!(created["fresh"].as_ref().unwrap().partitions, 2);
        assert_eq!(
            created["taken"].as_ref().unwrap_err().code(),
            Some(ErrorCode::TopicAlreadyExists)
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        // The leaders were in the metadata before create_topics returned.
        assert_eq!(admin.client().leader("fresh", 0).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_topic_that_never_gets_leaders_times_out_naming_it() {
        let cluster = FakeCluster::new(1, |request| {
            (request.key == ApiKey::CreateTopics).then(|| {
                let asked: CreateTopicsRequest = request.decode();
                let response = CreateTopicsResponse {
                    topics: asked
                        .topics
                        .iter()
                        .map(|t| CreatableTopicResult {
                            name: t.name.clone(),
                            ..CreatableTopicResult::default()
                        })
                        .collect(),
                    ..CreateTopicsResponse::default()
                };
                FakeReply::with(request, &response)
            })
        });
        cluster.add_topic("leaderless", &[-1]);
        let admin = admin(&cluster).await;
        let created = admin
            .create_topics(
                &[NewTopic::new("leaderless", 1, 1)],
                false,
                &AdminOptions::new().timeout(Duration::from_millis(300)),
            )
            .await;
        let error = created["leaderless"].as_ref().unwrap_err();
        assert!(matches!(error, AdminError::TimedOut { .. }), "{error}");
        assert_eq!(error.code(), Some(ErrorCode::LeaderNotAvailable));
        assert!(error.to_string().contains("leaderless"), "{error}");
    }
}
