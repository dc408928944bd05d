//! Transactions: list them (at every broker), describe them (at their
//! coordinator), describe the producers writing to a partition (at its
//! leader), and abort a hanging transaction on a partition by writing its
//! abort marker (WriteTxnMarkers at the leader), as an operator does when a
//! producer vanished and left the partition's last stable offset stuck.
//!
//! ```no_run
//! # async fn example(admin: ferrokafka_admin::Admin) {
//! use ferrokafka_admin::AdminOptions;
//! use ferrokafka_admin::records::TopicPartition;
//! use ferrokafka_admin::transactions::AbortTransactionSpec;
//!
//! let options = AdminOptions::new();
//! let partition = TopicPartition::new("events", 0);
//! let producers = admin.describe_producers(std::slice::from_ref(&partition), &options).await;
//! for producer in producers[&partition].iter().flatten() {
//!     // A producer whose transaction has been open on the partition for too long.
//!     if let Some(spec) = AbortTransactionSpec::for_producer(&partition, producer) {
//!         admin.abort_transaction(&spec, &options).await.unwrap();
//!     }
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use ferrokafka_group::offsets::partitions_by_topic;
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

use crate::records::TopicPartition;
use crate::retry::{Round, each_until_deadline, until_deadline};
use crate::topics::check;
use crate::{Admin, AdminError, AdminOptions};

/// The state of a transaction, as the coordinator names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionState {
    /// A producer id is assigned, no transaction is open.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// Committing: markers being written.
    PrepareCommit,
    /// Aborting: markers being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
    /// The transactional id expired.
    Dead,
    /// A newer producer fenced the transaction, which is being aborted.
    PrepareEpochFence,
    /// A state this client does not know.
    Other(String),
}

impl TransactionState {
    const KNOWN: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// The coordinator's name for the state (`Ongoing`, ...).
    pub fn name(&self) -> &str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
            TransactionState::Other(name) => name,
        }
    }

    /// The state of the coordinator's `name` (any case).
    ///
    /// ```
    /// use ferrokafka_admin::transactions::TransactionState;
    /// assert_eq!(TransactionState::parse("ongoing"), TransactionState::Ongoing);
    /// assert_eq!(TransactionState::parse("Later").name(), "Later");
    /// ```
    pub fn parse(name: &str) -> Self {
        TransactionState::KNOWN
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
            .unwrap_or_else(|| TransactionState::Other(name.to_string()))
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which transactions to list: empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsFilter {
    /// Only transactions in one of these states.
    pub states: Vec<TransactionState>,
    /// Only transactions of one of these producer ids.
    pub producer_ids: Vec<i64>,
}

/// A transaction as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The state.
    pub state: TransactionState,
    /// The coordinator that answered for it.
    pub coordinator: i32,
}

/// The transactions every broker (as a transaction coordinator) knows.
#[derive(Debug, Clone, Default)]
pub struct TransactionListings {
    /// The transactions, by transactional id.
    pub transactions: Vec<TransactionListing>,
    /// The brokers that could not answer, and why.
    pub errors: BTreeMap<i32, AdminError>,
}

/// A transaction as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// The coordinator's node id.
    pub coordinator: i32,
    /// The state.
    pub state: TransactionState,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The transaction timeout, in milliseconds.
    pub transaction_timeout_ms: i32,
    /// When the open transaction started (milliseconds since the epoch),
    /// if one is open.
    pub transaction_start_time_ms: Option<i64>,
    /// The partitions the open transaction wrote to.
    pub partitions: Vec<TopicPartition>,
}

/// A producer that wrote to a partition, as its leader describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// The producer's epoch.
    pub producer_epoch: i32,
    /// The last sequence number it wrote.
    pub last_sequence: i32,
    /// The timestamp of its last write.
    pub last_timestamp: i64,
    /// The epoch of the transaction coordinator that wrote its last
    /// marker, if any.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction on the partition, if one
    /// is open.
    pub current_txn_start_offset: Option<i64>,
}

/// An open transaction to abort on one partition: the producer, its epoch
/// and the coordinator epoch, as [`Admin::describe_producers`] tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    /// The partition.
    pub partition: TopicPartition,
    /// The producer id.
    pub producer_id: i64,
    /// The producer's epoch.
    pub producer_epoch: i16,
    /// The coordinator epoch the marker claims.
    pub coordinator_epoch: i32,
}

impl AbortTransactionSpec {
    /// The abort of `producer`'s open transaction on `partition`; `None`
    /// when it has none open there (or an epoch out of range).
    pub fn for_producer(partition: &TopicPartition, producer: &ProducerState) -> Option<Self> {
        producer.current_txn_start_offset?;
        Some(AbortTransactionSpec {
            partition: partition.clone(),
            producer_id: producer.producer_id,
            producer_epoch: i16::try_from(producer.producer_epoch).ok()?,
            coordinator_epoch: producer.coordinator_epoch,
        })
    }
}

/// Optional `-1`-means-none values.
fn known(value: i64) -> Option<i64> {
    (value >= 0).then_some(value)
}

/// The partition's `UNKNOWN_TOPIC_OR_PARTITION`.
fn unknown_partition(partition: &TopicPartition) -> AdminError {
    AdminError::from_code(
        format!("partition {partition}"),
        ErrorCode::UnknownTopicOrPartition,
        None,
    )
    .unwrap_or_else(|| AdminError::InvalidArgument(format!("no partition {partition}")))
}

/// Whether a coordinator's error means asking FindCoordinator again.
fn coordinator_moved(error: &AdminError) -> bool {
    matches!(
        error.code(),
        Some(ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable)
    ) || matches!(error, AdminError::Transport(e) if e.is_retriable())
}

impl Admin {
    /// The leader of `partition`, from fresh metadata: a topic or
    /// partition the broker does not have is its
    /// `UNKNOWN_TOPIC_OR_PARTITION`, one without a leader
    /// `LEADER_NOT_AVAILABLE` (retried).
    async fn partition_leader(&self, partition: &TopicPartition) -> Result<i32, AdminError> {
        let metadata = self
            .metadata(
                Some(std::slice::from_ref(&partition.topic.to_string())),
                false,
            )
            .await?;
        let what = format!("partition {partition}");
        let topic = metadata
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(partition.topic()))
            .ok_or_else(|| unknown_partition(partition))?;
        check(&what, topic.error_code, None)?;
        let found = topic
            .partitions
            .iter()
            .find(|p| p.partition_index == partition.partition)
            .ok_or_else(|| unknown_partition(partition))?;
        if found.leader_id < 0 {
            check(&what, ErrorCode::LeaderNotAvailable.code(), None)?;
        }
        Ok(found.leader_id)
    }

    /// The transactions the coordinators on every broker know, filtered by
    /// state and producer id. A broker that cannot answer is named in
    /// [`TransactionListings::errors`]; the listing fails as a whole only
    /// when the brokers cannot be found.
    pub async fn list_transactions(
        &self,
        filter: &ListTransactionsFilter,
        options: &AdminOptions,
    ) -> Result<TransactionListings, AdminError> {
        let deadline = self.deadline(options);
        let backoff = self.retry_backoff();
        let nodes = until_deadline("listing brokers", deadline, backoff, || async {
            self.live()?.refresh_metadata().await?;
            Ok(self
                .live()?
                .view(|v| v.brokers().map(|b| b.node_id).collect::<Vec<_>>()))
        })
        .await?;
        let request = ListTransactionsRequest {
            state_filters: filter.states.iter().map(|s| s.name().to_string()).collect(),
            producer_id_filters: filter.producer_ids.clone(),
            duration_filter: -1,
            transactional_id_pattern: None,
            ..ListTransactionsRequest::default()
        };
        let mut listings = TransactionListings::default();
        for node in nodes {
            let what = format!("listing transactions at broker {node}");
            let answer = until_deadline(&what, deadline, backoff, || async {
                let response = self.live()?.send(node, &request).await?;
                check(&what, response.error_code, None)?;
                Ok(response.transaction_states)
            })
            .await;
            match answer {
                Ok(states) => {
                    listings
                        .transactions
                        .extend(states.into_iter().map(|t| TransactionListing {
                            transactional_id: t.transactional_id,
                            producer_id: t.producer_id,
                            state: TransactionState::parse(&t.transaction_state),
                            coordinator: node,
                        }));
                }
                Err(error) => {
                    listings.errors.insert(node, error);
                }
            }
        }
        listings
            .transactions
            .sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(listings)
    }

    /// Describes `transactional_ids` at their coordinators: state,
    /// producer id and epoch, timeout, start time and the partitions of
    /// the open transaction. An unknown id is its own
    /// `TRANSACTIONAL_ID_NOT_FOUND`.
    pub async fn describe_transactions<S: AsRef<str>>(
        &self,
        transactional_ids: &[S],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<TransactionDescription, AdminError>> {
        let ids: Vec<String> = transactional_ids
            .iter()
            .map(|id| id.as_ref().to_string())
            .collect();
        each_until_deadline(
            "describing transaction",
            ids,
            self.deadline(options),
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| self.describe_transactions_once(pending),
        )
        .await
    }

    async fn describe_transactions_once(
        &self,
        pending: Vec<String>,
    ) -> Round<String, TransactionDescription> {
        let keys: Vec<&str> = pending.iter().map(String::as_str).collect();
        let coordinators = self
            .live()?
            .coordinators(CoordinatorKind::Transaction, &keys)
            .await?;
        let mut by_node: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for id in &pending {
            if let Some(&node) = coordinators.get(id) {
                by_node.entry(node).or_default().push(id.clone());
            }
        }
        let mut answers = BTreeMap::new();
        for (node, ids) in by_node {
            let request = DescribeTransactionsRequest {
                transactional_ids: ids.clone(),
                ..DescribeTransactionsRequest::default()
            };
            let results: Vec<(String, Result<TransactionDescription, AdminError>)> =
                match self.live()?.send(node, &request).await {
                    Ok(response) => response
                        .transaction_states
                        .into_iter()
                        .map(|t| {
                            let what = format!("transactional id {}", t.transactional_id);
                            let result = check(what, t.error_code, None).map(|()| {
                                let mut partitions: Vec<TopicPartition> =
                                    t.topics
                                        .iter()
                                        .flat_map(|topic| {
                                            topic.partitions.iter().map(|&p| {
                                                TopicPartition::new(topic.topic.clone(), p)
                                            })
                                        })
                                        .collect();
                                partitions.sort();
                                TransactionDescription {
                                    transactional_id: t.transactional_id.clone(),
                                    coordinator: node,
                                    state: TransactionState::parse(&t.transaction_state),
                                    producer_id: t.producer_id,
                                    producer_epoch: t.producer_epoch,
                                    transaction_timeout_ms: t.transaction_timeout_ms,
                                    transaction_start_time_ms: known(t.transaction_start_time_ms),
                                    partitions,
                                }
                            });
                            (t.transactional_id, result)
                        })
                        .collect(),
                    Err(error) => {
                        let error = AdminError::Transport(error);
                        ids.into_iter().map(|id| (id, Err(error.clone()))).collect()
                    }
                };
            for (id, result) in results {
                if let Err(error) = &result
                    && coordinator_moved(error)
                {
                    self.live()?
                        .forget_coordinator(CoordinatorKind::Transaction, &id);
                }
                answers.insert(id, result);
            }
        }
        Ok(answers)
    }

    /// The producers with state on each partition (those that wrote to it
    /// recently, or have a transaction open on it), from its leader.
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<Vec<ProducerState>, AdminError>> {
        each_until_deadline(
            "describing the producers of",
            partitions.to_vec(),
            self.deadline(options),
            self.retry_backoff(),
            crate::topics::retriable_for_topics,
            |pending| self.describe_producers_once(pending),
        )
        .await
    }

    async fn describe_producers_once(
        &self,
        pending: Vec<TopicPartition>,
    ) -> Round<TopicPartition, Vec<ProducerState>> {
        let mut answers = BTreeMap::new();
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in pending {
            match self.partition_leader(&tp).await {
                Ok(leader) => by_leader.entry(leader).or_default().push(tp),
                Err(error) => {
                    answers.insert(tp, Err(error));
                }
            }
        }
        for (leader, partitions) in by_leader {
            let request = DescribeProducersRequest {
                topics: partitions_by_topic(&partitions)
                    .into_iter()
                    .map(|(name, partition_indexes)| TopicRequest {
                        name,
                        partition_indexes,
                        ..TopicRequest::default()
                    })
                    .collect(),
                ..DescribeProducersRequest::default()
            };
            let response = match self.live()?.send(leader, &request).await {
                Ok(response) => response,
                Err(error) => {
                    let error = AdminError::Transport(error);
                    for tp in partitions {
                        answers.insert(tp, Err(error.clone()));
                    }
                    continue;
                }
            };
            for topic in response.topics {
                for p in topic.partitions {
                    let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                    let result = check(format!("partition {tp}"), p.error_code, p.error_message)
                        .map(|()| {
                            p.active_producers
                                .iter()
                                .map(|s| ProducerState {
                                    producer_id: s.producer_id,
                                    producer_epoch: s.producer_epoch,
                                    last_sequence: s.last_sequence,
                                    last_timestamp: s.last_timestamp,
                                    coordinator_epoch: s.coordinator_epoch,
                                    current_txn_start_offset: known(s.current_txn_start_offset),
                                })
                                .collect()
                        });
                    if let Err(error) = &result
                        && let Some(code) = error.code()
                    {
                        self.live()?.note_error(code);
                    }
                    answers.insert(tp, result);
                }
            }
        }
        Ok(answers)
    }

    /// Aborts a hanging transaction on one partition: writes the abort
    /// marker of `spec`'s producer at the partition's leader, which ends
    /// the transaction there (its records become aborted, the last stable
    /// offset moves past them). The coordinator is not told: use it for a
    /// transaction whose producer is gone. The caller needs the
    /// CLUSTER_ACTION permission on the cluster.
    pub async fn abort_transaction(
        &self,
        spec: &AbortTransactionSpec,
        options: &AdminOptions,
    ) -> Result<(), AdminError> {
        let tp = &spec.partition;
        let what = format!(
            "aborting the transaction of producer {} on partition {tp}",
            spec.producer_id
        );
        let request = WriteTxnMarkersRequest {
            markers: vec![WritableTxnMarker {
                producer_id: spec.producer_id,
                producer_epoch: spec.producer_epoch,
                transaction_result: false,
                topics: vec![WritableTxnMarkerTopic {
                    name: tp.topic.to_string(),
                    partition_indexes: vec![tp.partition],
                    ..WritableTxnMarkerTopic::default()
                }],
                coordinator_epoch: spec.coordinator_epoch,
                ..WritableTxnMarker::default()
            }],
            ..WriteTxnMarkersRequest::default()
        };
        until_deadline(
            &what,
            self.deadline(options),
            self.retry_backoff(),
            || async {
                let leader = self.partition_leader(tp).await?;
                let response = self.live()?.send(leader, &request).await?;
                let code = response
                    .markers
                    .iter()
                    .filter(|m| m.producer_id == spec.producer_id)
                    .flat_map(|m| &m.topics)
                    .filter(|t| *t.name == *tp.topic)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == tp.partition)
                    .map(|p| p.error_code)
                    .ok_or_else(|| {
                        AdminError::UnexpectedResponse(format!(
                            "WriteTxnMarkers did not answer for partition {tp}"
                        ))
                    })?;
                let result = check(&what, code, None);
                if let Err(error) = &result
                    && let Some(code) = error.code()
                {
                    self.live()?.note_error(code);
                }
                result
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use ferrokafka_protocol::ApiKey;
    use ferrokafka_protocol::messages::describe_producers_response::{
        PartitionResponse, ProducerState as WireProducer, TopicResponse,
    };
    use ferrokafka_protocol::messages::describe_transactions_response::{
        TopicData, TransactionState as WireState,
    };
    use ferrokafka_protocol::messages::{DescribeProducersResponse, DescribeTransactionsResponse};
    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::{FakeCluster, FakeReply};

    use super::*;

    /// A request as the fake saw it: the node, and the partitions asked.
    type Sent = (i32, Vec<i32>);

    async fn admin(cluster: &FakeCluster) -> Admin {
        let config = ClientConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("retry_backoff_ms", "10"),
            ("default_api_timeout_ms", "2000"),
        ])
        .unwrap();
        Admin::with_client(cluster.client(config).await.unwrap())
    }

    #[tokio::test]
    async fn a_moved_coordinator_is_found_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let cluster = FakeCluster::new(2, move |request| {
            (request.key == ApiKey::DescribeTransactions).then(|| {
                let asked: DescribeTransactionsRequest = request.decode();
                let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
                let response = DescribeTransactionsResponse {
                    transaction_states: asked
                        .transactional_ids
                        .iter()
                        .map(|id| WireState {
                            error_code: if first {
                                ErrorCode::NotCoordinator.code()
                            } else if id == "gone" {
                                ErrorCode::TransactionalIdNotFound.code()
                            } else {
                                0
                            },
                            transactional_id: id.clone(),
                            transaction_state: "Ongoing".to_string(),
                            transaction_timeout_ms: 60_000,
                            transaction_start_time_ms: 5,
                            producer_id: 42,
                            producer_epoch: 3,
                            topics: vec![TopicData {
                                topic: "t".to_string(),
                                partitions: vec![1, 0],
                                ..TopicData::default()
                            }],
                            ..WireState::default()
                        })
                        .collect(),
                    ..DescribeTransactionsResponse::default()
                };
                FakeReply::with(request, &response)
            })
        });
        let admin = admin(&cluster).await;
        let described = admin
            .describe_transactions(&["txn", "gone"], &AdminOptions::new())
            .await;
        let txn = described["txn"].as_ref().unwrap();
        assert_eq!(txn.state, TransactionState::Ongoing);
        assert_eq!(
            (txn.producer_id, txn.producer_epoch, txn.coordinator),
            (42, 3, 1)
        );
        assert_eq!(
            txn.partitions,
            [TopicPartition::new("t", 0), TopicPartition::new("t", 1)]
        );
        assert_eq!(
            described["gone"].as_ref().unwrap_err().code(),
            Some(ErrorCode::TransactionalIdNotFound)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let lookups = cluster
            .received()
            .iter()
            .filter(|(_, key)| *key == ApiKey::FindCoordinator)
            .count();
        assert_eq!(
            lookups, 2,
            "the coordinator is looked up again after NOT_COORDINATOR"
        );
    }

    #[tokio::test]
    async fn producers_are_asked_of_each_leader_and_unknown_partitions_fail_alone() {
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let log = Arc::clone(&sent);
        let cluster = FakeCluster::new(2, move |request| {
            (request.key == ApiKey::DescribeProducers).then(|| {
                let asked: DescribeProducersRequest = request.decode();
                let partitions: Vec<i32> = asked
                    .topics
                    .iter()
                    .flat_map(|t| t.partition_indexes.clone())
                    .collect();
                log.lock().unwrap().push((request.node, partitions));
                let response = DescribeProducersResponse {
                    topics: asked
                        .topics
                        .iter()
                        .map(|t| TopicResponse {
                            name: t.name.clone(),
                            partitions: t
                                .partition_indexes
                                .iter()
                                .map(|&p| PartitionResponse {
                                    partition_index: p,
                                    active_producers: vec![WireProducer {
                                        producer_id: i64::from(p) + 100,
                                        producer_epoch: 1,
                                        coordinator_epoch: -1,
                                        current_txn_start_offset: -1,
                                        ..WireProducer::default()
                                    }],
                                    ..PartitionResponse::default()
                                })
                                .collect(),
                            ..TopicResponse::default()
                        })
                        .collect(),
                    ..DescribeProducersResponse::default()
                };
                FakeReply::with(request, &response)
            })
        });
        cluster.add_topic("t", &[1, 2, 1]);
        let admin = admin(&cluster).await;
        let beyond = TopicPartition::new("t", 7);
        let missing = TopicPartition::new("missing", 0);
        let asked = [
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1),
            TopicPartition::new("t", 2),
            beyond.clone(),
            missing.clone(),
        ];
        let described = admin
            .describe_producers(&asked, &AdminOptions::new().timeout(Duration::from_secs(5)))
            .await;
        for p in 0..3 {
            let producers = described[&TopicPartition::new("t", p)].as_ref().unwrap();
            assert_eq!(producers.len(), 1);
            assert_eq!(producers[0].producer_id, i64::from(p) + 100);
            assert_eq!(producers[0].current_txn_start_offset, None);
        }
        for unknown in [&beyond, &missing] {
            assert_eq!(
                described[unknown].as_ref().unwrap_err().code(),
                Some(ErrorCode::UnknownTopicOrPartition),
                "{unknown}"
            );
        }
        let mut sent = sent.lock().unwrap().clone();
        sent.sort();
        assert_eq!(sent, [(1, vec![0, 2]), (2, vec![1])]);
    }

    #[test]
    fn an_abort_needs_an_open_transaction() {
        let tp = TopicPartition::new("t", 1);
        let mut producer = ProducerState {
            producer_id: 7,
            producer_epoch: 3,
            last_sequence: 9,
            last_timestamp: 0,
            coordinator_epoch: 2,
            current_txn_start_offset: None,
        };
        assert_eq!(AbortTransactionSpec::for_producer(&tp, &producer), None);
        producer.current_txn_start_offset = Some(40);
        let spec = AbortTransactionSpec::for_producer(&tp, &producer).unwrap();
        assert_eq!(
            (
                spec.producer_id,
                spec.producer_epoch,
                spec.coordinator_epoch
            ),
            (7, 3, 2)
        );
        producer.producer_epoch = 70_000;
        assert_eq!(AbortTransactionSpec::for_producer(&tp, &producer), None);
    }

    #[test]
    fn states_parse_by_name() {
        for state in TransactionState::KNOWN {
            assert_eq!(TransactionState::parse(state.name()), state);
        }
        assert_eq!(
            TransactionState::parse("Bogus"),
            TransactionState::Other("Bogus".to_string())
        );
    }
}
