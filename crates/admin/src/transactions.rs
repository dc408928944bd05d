//! Transactions: list, describe, the producers of partitions, and aborting
//! a hanging transaction.
//!
//! Listing asks every broker (each coordinates some transactional ids) and
//! merges the answers; describing goes to each transactional id's
//! coordinator; the producers of a partition are described by its leader.
//! A hanging transaction (one its producer will never end) is aborted by
//! writing an abort marker at the partition's leader with the producer id,
//! epoch and coordinator epoch that describing the producers gives, as
//! Kafka's own admin tool does.
//!
//! ```no_run
//! # async fn example() -> Result<(), ferrokafka_admin::AdminError> {
//! use ferrokafka_admin::transactions::ListTransactionsFilter;
//! use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
//!
//! let admin = Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?).await?;
//! let options = AdminOptions::new();
//! let filter = ListTransactionsFilter { states: vec!["Ongoing".into()], ..Default::default() };
//! for listing in admin.list_transactions(&filter, &options).await?.transactions {
//!     println!("{} {} {}", listing.transactional_id, listing.producer_id, listing.state);
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::describe_producers_request::TopicRequest;
use ferrokafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use ferrokafka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest,
    WriteTxnMarkersRequest,
};
use ferrokafka_transport::CoordinatorKind;

use crate::retry::{each_until_deadline, until_deadline};
use crate::{Admin, AdminError, AdminOptions};

/// Which transactions a listing returns; empty lists mean no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsFilter {
    /// Transaction states (`Ongoing`, `PrepareCommit`, `CompleteAbort`, ...).
    pub states: Vec<String>,
    /// Producer ids.
    pub producer_ids: Vec<i64>,
}

/// A transaction as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// Its current producer id.
    pub producer_id: i64,
    /// Its state (`Ongoing`, `Empty`, `CompleteCommit`, ...).
    pub state: String,
    /// The broker coordinating it.
    pub coordinator: i32,
}

/// The merged listing of every broker, and the brokers that could not
/// answer.
#[derive(Debug, Clone, Default)]
pub struct TransactionListings {
    /// The transactions, by transactional id.
    pub transactions: Vec<TransactionListing>,
    /// The brokers whose part failed, by node id.
    pub errors: BTreeMap<i32, AdminError>,
}

/// A described transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// Its state.
    pub state: String,
    /// The transaction timeout, in milliseconds.
    pub timeout_ms: i32,
    /// When the ongoing transaction started (ms since the epoch), `None`
    /// when none is ongoing.
    pub start_time_ms: Option<i64>,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The partitions in the transaction.
    pub partitions: Vec<TopicPartition>,
    /// The coordinator's node id.
    pub coordinator: i32,
}

/// A producer a partition's leader keeps state for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i32,
    /// The last sequence number written, `-1` when none.
    pub last_sequence: i32,
    /// The timestamp of its last write (ms since the epoch).
    pub last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker, when any.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of its open transaction, when one is open.
    pub current_txn_start_offset: Option<i64>,
}

/// A hanging transaction to abort on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    /// The partition.
    pub partition: TopicPartition,
    /// The producer id of the open transaction.
    pub producer_id: i64,
    /// Its producer epoch.
    pub producer_epoch: i16,
    /// The coordinator epoch to write the marker with.
    pub coordinator_epoch: i32,
}

fn code_error(what: &str, code: i16, message: Option<String>) -> Result<(), AdminError> {
    match AdminError::from_code(what, ErrorCode::from_code(code), message) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

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

/// A topic-partition as a result key (`topic-partition`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key(TopicPartition);

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0.topic, self.0.partition)
    }
}

impl Admin {
    /// The transactions every broker coordinates, filtered by state and
    /// producer id, merged.
    pub async fn list_transactions(
        &self,
        filter: &ListTransactionsFilter,
        options: &AdminOptions,
    ) -> Result<TransactionListings, AdminError> {
        let deadline = self.deadline(options);
        let backoff = self.retry_backoff();
        let nodes = until_deadline("listing brokers", deadline, backoff, || async {
            self.client().refresh_metadata().await?;
            Ok(self
                .client()
                .view(|v| v.brokers().map(|b| b.node_id).collect::<Vec<_>>()))
        })
        .await?;
        let request = ListTransactionsRequest {
            state_filters: filter.states.clone(),
            producer_id_filters: filter.producer_ids.clone(),
            duration_filter: -1,
            ..ListTransactionsRequest::default()
        };
        let mut merged = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for node in nodes {
            let what = format!("listing transactions at broker {node}");
            let answer = until_deadline(&what, deadline, backoff, || async {
                let response = self.client().send(node, &request).await?;
                code_error(&what, response.error_code, None)?;
                Ok(response.transaction_states)
            })
            .await;
            match answer {
                Ok(states) => {
                    for t in states {
                        merged.insert(
                            t.transactional_id.clone(),
                            TransactionListing {
                                transactional_id: t.transactional_id,
                                producer_id: t.producer_id,
                                state: t.transaction_state,
                                coordinator: node,
                            },
                        );
                    }
                }
                Err(error) => {
                    errors.insert(node, error);
                }
            }
        }
        Ok(TransactionListings {
            transactions: merged.into_values().collect(),
            errors,
        })
    }

    /// Describes `transactional_ids` at their coordinators.
    pub async fn describe_transactions(
        &self,
        transactional_ids: &[&str],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<TransactionDescription, AdminError>> {
        let ids = transactional_ids.iter().map(|t| (*t).to_string()).collect();
        each_until_deadline(
            "describing transaction",
            ids,
            self.deadline(options),
            self.retry_backoff(),
            coordinator_error,
            |pending: Vec<String>| async move {
                let keys: Vec<&str> = pending.iter().map(String::as_str).collect();
                let found = self
                    .client()
                    .coordinators(CoordinatorKind::Transaction, &keys)
                    .await?;
                let mut by_node: BTreeMap<i32, Vec<String>> = BTreeMap::new();
                for id in &pending {
                    if let Some(&node) = found.get(id) {
                        by_node.entry(node).or_default().push(id.clone());
                    }
                }
                let mut answers = BTreeMap::new();
                for (node, ids) in by_node {
                    let request = DescribeTransactionsRequest {
                        transactional_ids: ids.clone(),
                        ..DescribeTransactionsRequest::default()
                    };
                    let response = match self.client().send(node, &request).await {
                        Ok(response) => response,
                        Err(error) => {
                            for id in ids {
                                self.client()
                                    .forget_coordinator(CoordinatorKind::Transaction, &id);
                                answers.insert(id, Err(AdminError::from(error.clone())));
                            }
                            continue;
                        }
                    };
                    for t in response.transaction_states {
                        let what = format!("transactional id {}", t.transactional_id);
                        let answer = code_error(&what, t.error_code, None).map(|()| {
                            TransactionDescription {
                                transactional_id: t.transactional_id.clone(),
                                state: t.transaction_state,
                                timeout_ms: t.transaction_timeout_ms,
                                start_time_ms: (t.transaction_start_time_ms >= 0)
                                    .then_some(t.transaction_start_time_ms),
                                producer_id: t.producer_id,
                                producer_epoch: t.producer_epoch,
                                partitions: t
                                    .topics
                                    .into_iter()
                                    .flat_map(|topic| {
                                        let name = topic.topic;
                                        topic.partitions.into_iter().map(move |partition| {
                                            TopicPartition {
                                                topic: name.clone(),
                                                partition,
                                            }
                                        })
                                    })
                                    .collect(),
                                coordinator: node,
                            }
                        });
                        if let Err(error) = &answer
                            && coordinator_error(error)
                        {
                            self.client().forget_coordinator(
                                CoordinatorKind::Transaction,
                                &t.transactional_id,
                            );
                        }
                        answers.insert(t.transactional_id, answer);
                    }
                }
                Ok(answers)
            },
        )
        .await
    }

    /// The producers each partition's leader keeps state for.
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<Vec<ProducerState>, AdminError>> {
        let keys = partitions.iter().cloned().map(Key).collect();
        let answers = each_until_deadline(
            "describing the producers of",
            keys,
            self.deadline(options),
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending: Vec<Key>| async move {
                let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
                let mut answers = BTreeMap::new();
                for key in pending {
                    match self.client().leader(&key.0.topic, key.0.partition).await {
                        Ok(leader) => by_leader
                            .entry(leader)
                            .or_default()
                            .entry(key.0.topic.clone())
                            .or_default()
                            .push(key.0.partition),
                        Err(error) => {
                            answers.insert(key, Err(error.into()));
                        }
                    }
                }
                for (leader, topics) in by_leader {
                    let request = DescribeProducersRequest {
                        topics: topics
                            .iter()
                            .map(|(name, partitions)| TopicRequest {
                                name: name.clone(),
                                partition_indexes: partitions.clone(),
                                ..TopicRequest::default()
                            })
                            .collect(),
                        ..DescribeProducersRequest::default()
                    };
                    let response = match self.client().send(leader, &request).await {
                        Ok(response) => response,
                        Err(error) => {
                            for (name, partitions) in topics {
                                for partition in partitions {
                                    let key = Key(TopicPartition {
                                        topic: name.clone(),
                                        partition,
                                    });
                                    answers.insert(key, Err(AdminError::from(error.clone())));
                                }
                            }
                            continue;
                        }
                    };
                    for t in response.topics {
                        for p in t.partitions {
                            let key = Key(TopicPartition {
                                topic: t.name.clone(),
                                partition: p.partition_index,
                            });
                            let answer = code_error(
                                &key.to_string(),
                                p.error_code,
                                p.error_message,
                            )
                            .map(|()| {
                                p.active_producers
                                    .into_iter()
                                    .map(|s| ProducerState {
                                        producer_id: s.producer_id,
                                        producer_epoch: s.producer_epoch,
                                        last_sequence: s.last_sequence,
                                        last_timestamp: s.last_timestamp,
                                        coordinator_epoch: (s.coordinator_epoch >= 0)
                                            .then_some(s.coordinator_epoch),
                                        current_txn_start_offset: (s.current_txn_start_offset >= 0)
                                            .then_some(s.current_txn_start_offset),
                                    })
                                    .collect()
                            });
                            if matches!(&answer, Err(e) if e.is_retriable()) {
                                self.client().note_error(ErrorCode::NotLeaderOrFollower);
                            }
                            answers.insert(key, answer);
                        }
                    }
                }
                Ok(answers)
            },
        )
        .await;
        answers.into_iter().map(|(k, v)| (k.0, v)).collect()
    }

    /// The abort of the transaction `producer_id` left open on
    /// `partition`, with the epochs its leader reports (from
    /// [`Admin::describe_producers`]); an error when the leader knows no
    /// open transaction of that producer there.
    pub async fn hanging_transaction(
        &self,
        partition: &TopicPartition,
        producer_id: i64,
        options: &AdminOptions,
    ) -> Result<AbortTransactionSpec, AdminError> {
        let mut described = self
            .describe_producers(std::slice::from_ref(partition), options)
            .await;
        let producers = described.remove(partition).unwrap_or_else(|| {
            Err(AdminError::UnexpectedResponse(format!(
                "{}-{} was not described",
                partition.topic, partition.partition
            )))
        })?;
        let state = producers
            .into_iter()
            .find(|s| s.producer_id == producer_id && s.current_txn_start_offset.is_some())
            .ok_or_else(|| {
                AdminError::InvalidArgument(format!(
                    "producer {producer_id} has no open transaction on {}-{}",
                    partition.topic, partition.partition
                ))
            })?;
        Ok(AbortTransactionSpec {
            partition: partition.clone(),
            producer_id,
            producer_epoch: i16::try_from(state.producer_epoch).map_err(|_| {
                AdminError::UnexpectedResponse(format!(
                    "producer epoch {} out of range",
                    state.producer_epoch
                ))
            })?,
            coordinator_epoch: state.coordinator_epoch.unwrap_or(0),
        })
    }

    /// Aborts a hanging transaction on one partition by writing an abort
    /// marker at its leader (WriteTxnMarkers), which lets the partition's
    /// last stable offset move past it.
    pub async fn abort_transaction(
        &self,
        spec: &AbortTransactionSpec,
        options: &AdminOptions,
    ) -> Result<(), AdminError> {
        let what = format!(
            "aborting producer {}'s transaction on {}-{}",
            spec.producer_id, spec.partition.topic, spec.partition.partition
        );
        until_deadline(
            &what,
            self.deadline(options),
            self.retry_backoff(),
            || async {
                let leader = self
                    .client()
                    .leader(&spec.partition.topic, spec.partition.partition)
                    .await?;
                let request = WriteTxnMarkersRequest {
                    markers: vec![WritableTxnMarker {
                        producer_id: spec.producer_id,
                        producer_epoch: spec.producer_epoch,
                        transaction_result: false,
                        topics: vec![WritableTxnMarkerTopic {
                            name: spec.partition.topic.clone(),
                            partition_indexes: vec![spec.partition.partition],
                            ..WritableTxnMarkerTopic::default()
                        }],
                        coordinator_epoch: spec.coordinator_epoch,
                        ..WritableTxnMarker::default()
                    }],
                    ..WriteTxnMarkersRequest::default()
                };
                let response = self.client().send(leader, &request).await?;
                let mut answered = false;
                for marker in response.markers {
                    for topic in marker.topics {
                        for p in topic.partitions {
                            answered = true;
                            let result = code_error(&what, p.error_code, None);
                            if matches!(&result, Err(e) if e.is_retriable()) {
                                self.client().note_error(ErrorCode::NotLeaderOrFollower);
                            }
                            result?;
                        }
                    }
                }
                if answered {
                    Ok(())
                } else {
                    Err(AdminError::UnexpectedResponse(format!(
                        "{what}: the leader did not answer for the partition"
                    )))
                }
            },
        )
        .await
    }
}
