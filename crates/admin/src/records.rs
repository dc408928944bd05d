//! Records: deleting records below an offset, and listing partition
//! offsets (earliest, latest, by timestamp, max timestamp).
//!
//! Both go to each partition's leader, one request per leader for all its
//! partitions; a leader that moved is found again and the partitions it
//! led are retried until the operation's timeout.
//!
//! ```no_run
//! # async fn example(admin: ferrokafka_admin::Admin) {
//! use std::collections::BTreeMap;
//! use ferrokafka_admin::AdminOptions;
//! use ferrokafka_admin::records::{OffsetSpec, TopicPartition};
//!
//! let partition = TopicPartition::new("events", 0);
//! let ends = admin
//!     .list_offsets(&BTreeMap::from([(partition.clone(), OffsetSpec::Latest)]), false, &AdminOptions::new())
//!     .await;
//! if let Ok(end) = &ends[&partition] {
//!     // Drop the first half of the partition.
//!     let low = admin
//!         .delete_records(&BTreeMap::from([(partition.clone(), end.offset / 2)]), &AdminOptions::new())
//!         .await;
//!     println!("{partition} now starts at {:?}", low[&partition]);
//! }
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use ferrokafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use ferrokafka_protocol::messages::{DeleteRecordsRequest, ListOffsetsRequest};

pub use ferrokafka_group::assignor::TopicPartition;

use crate::retry::{Round, each_until_deadline};
use crate::topics::{check, retriable_for_topics, timeout_ms};
use crate::{Admin, AdminError, AdminOptions};

/// Which offset of a partition to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The first offset still in the log (the log start offset).
    Earliest,
    /// The offset the next record will get (the high watermark, or the
    /// last stable offset when reading committed).
    Latest,
    /// The record with the largest timestamp (ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose record's timestamp is at or after this one
    /// (milliseconds since the epoch).
    Timestamp(i64),
    /// The first offset in the broker's local log, after tiered storage
    /// moved older segments away (ListOffsets v8+).
    EarliestLocal,
    /// The last offset moved to tiered storage (ListOffsets v9+).
    LatestTiered,
}

impl OffsetSpec {
    /// The `timestamp` field ListOffsets takes for this spec.
    fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(at) => at,
            OffsetSpec::EarliestLocal => -4,
            OffsetSpec::LatestTiered => -5,
        }
    }
}

/// What ListOffsets answered for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset; `-1` when no record matches (a timestamp after every
    /// record's).
    pub offset: i64,
    /// The record's timestamp, for timestamp look-ups (`-1` otherwise).
    pub timestamp: i64,
    /// The leader epoch of the record at that offset, when the broker says.
    pub leader_epoch: Option<i32>,
}

impl Admin {
    /// Runs `send` once per leader with the partitions it leads, after
    /// finding the leaders of `pending` in fresh metadata. A partition with
    /// no leader is `LEADER_NOT_AVAILABLE` (retried), one that does not
    /// exist `UNKNOWN_TOPIC_OR_PARTITION`.
    async fn per_leader<T, F, Fut>(
        &self,
        pending: Vec<TopicPartition>,
        send: F,
    ) -> Round<TopicPartition, T>
    where
        F: Fn(i32, Vec<TopicPartition>) -> Fut,
        Fut: Future<Output = Round<TopicPartition, T>>,
    {
        let topics: Vec<String> = pending
            .iter()
            .map(|tp| tp.topic.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let metadata = self.metadata(Some(&topics), false).await?;
        let mut answers = BTreeMap::new();
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in pending {
            let topic = metadata
                .topics
                .iter()
                .find(|t| t.name.as_deref() == Some(tp.topic()));
            let code = match topic {
                None => ErrorCode::UnknownTopicOrPartition,
                Some(t) if t.error_code != 0 => ErrorCode::from_code(t.error_code),
                Some(t) => match t
                    .partitions
                    .iter()
                    .find(|p| p.partition_index == tp.partition)
                {
                    None => ErrorCode::UnknownTopicOrPartition,
                    Some(p) if p.leader_id < 0 => ErrorCode::LeaderNotAvailable,
                    Some(p) => {
                        by_leader.entry(p.leader_id).or_default().push(tp);
                        continue;
                    }
                },
            };
            let error = AdminError::from_code(format!("partition {tp}"), code, None)
                .unwrap_or_else(|| AdminError::UnexpectedResponse(format!("no leader for {tp}")));
            answers.insert(tp, Err(error));
        }
        for (leader, partitions) in by_leader {
            match send(leader, partitions.clone()).await {
                Ok(found) => {
                    for (tp, result) in found {
                        if let Err(error) = &result
                            && let Some(code) = error.code()
                        {
                            self.live()?.note_error(code);
                        }
                        answers.insert(tp, result);
                    }
                }
                Err(error) => {
                    for tp in partitions {
                        answers.insert(tp, Err(error.clone()));
                    }
                }
            }
        }
        Ok(answers)
    }

    /// Deletes the records of each partition below the given offset (`-1`
    /// for the high watermark: everything). Answers the partition's new
    /// low watermark; an offset beyond the high watermark is that
    /// partition's `OFFSET_OUT_OF_RANGE`.
    pub async fn delete_records(
        &self,
        before: &BTreeMap<TopicPartition, i64>,
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<i64, AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "deleting records of",
            before.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| {
                self.per_leader(pending, move |leader, partitions| async move {
                    let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
                    for tp in &partitions {
                        topics
                            .entry(tp.topic())
                            .or_default()
                            .push(DeleteRecordsPartition {
                                partition_index: tp.partition,
                                offset: before.get(tp).copied().unwrap_or(-1),
                                ..DeleteRecordsPartition::default()
                            });
                    }
                    let request = DeleteRecordsRequest {
                        topics: topics
                            .into_iter()
                            .map(|(name, partitions)| DeleteRecordsTopic {
                                name: name.to_string(),
                                partitions,
                                ..DeleteRecordsTopic::default()
                            })
                            .collect(),
                        timeout_ms: timeout_ms(deadline),
                        ..DeleteRecordsRequest::default()
                    };
                    let response = self.live()?.send(leader, &request).await?;
                    let mut answers = BTreeMap::new();
                    for topic in response.topics {
                        for p in topic.partitions {
                            let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                            let result = check(format!("partition {tp}"), p.error_code, None)
                                .map(|()| p.low_watermark);
                            answers.insert(tp, result);
                        }
                    }
                    Ok(answers)
                })
            },
        )
        .await
    }

    /// Looks up an offset of each partition as its [`OffsetSpec`] says;
    /// `read_committed` makes `Latest` the last stable offset (records of
    /// open transactions excluded).
    pub async fn list_offsets(
        &self,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
        read_committed: bool,
        options: &AdminOptions,
    ) -> BTreeMap<TopicPartition, Result<ListedOffset, AdminError>> {
        let deadline = self.deadline(options);
        each_until_deadline(
            "listing offsets of",
            specs.keys().cloned().collect(),
            deadline,
            self.retry_backoff(),
            retriable_for_topics,
            |pending| {
                self.per_leader(pending, move |leader, partitions| async move {
                    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                    for tp in &partitions {
                        let spec = specs.get(tp).copied().unwrap_or(OffsetSpec::Latest);
                        topics
                            .entry(tp.topic())
                            .or_default()
                            .push(ListOffsetsPartition {
                                partition_index: tp.partition,
                                current_leader_epoch: -1,
                                timestamp: spec.timestamp(),
                                ..ListOffsetsPartition::default()
                            });
                    }
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
                        timeout_ms: timeout_ms(deadline),
                        ..ListOffsetsRequest::default()
                    };
                    let response = self.live()?.send(leader, &request).await?;
                    let mut answers = BTreeMap::new();
                    for topic in response.topics {
                        for p in topic.partitions {
                            let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                            let result =
                                check(format!("partition {tp}"), p.error_code, None).map(|()| {
                                    ListedOffset {
                                        offset: p.offset,
                                        timestamp: p.timestamp,
                                        leader_epoch: (p.leader_epoch >= 0)
                                            .then_some(p.leader_epoch),
                                    }
                                });
                            answers.insert(tp, result);
                        }
                    }
                    Ok(answers)
                })
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
    use ferrokafka_protocol::messages::DeleteRecordsResponse;
    use ferrokafka_protocol::messages::delete_records_response::{
        DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
    };
    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::{FakeCluster, FakeReply};

    use super::*;

    /// A request as the fake saw it: the node, and the partitions asked.
    type Sent = (i32, Vec<i32>);

    #[tokio::test]
    async fn delete_records_goes_to_each_leader_and_retries_the_one_that_moved() {
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let node_two_calls = Arc::new(AtomicUsize::new(0));
        let (log, calls) = (Arc::clone(&sent), Arc::clone(&node_two_calls));
        let cluster = FakeCluster::new(2, move |request| {
            (request.key == ApiKey::DeleteRecords).then(|| {
                let asked: DeleteRecordsRequest = request.decode();
                let partitions: Vec<i32> = asked
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
                    .collect();
                log.lock().unwrap().push((request.node, partitions));
                let moved = request.node == 2 && calls.fetch_add(1, Ordering::SeqCst) == 0;
                let response = DeleteRecordsResponse {
                    topics: asked
                        .topics
                        .iter()
                        .map(|t| DeleteRecordsTopicResult {
                            name: t.name.clone(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| DeleteRecordsPartitionResult {
                                    partition_index: p.partition_index,
                                    low_watermark: if moved { -1 } else { p.offset },
                                    error_code: if moved {
                                        ErrorCode::NotLeaderOrFollower.code()
                                    } else {
                                        0
                                    },
                                    ..DeleteRecordsPartitionResult::default()
                                })
                                .collect(),
                            ..DeleteRecordsTopicResult::default()
                        })
                        .collect(),
                    ..DeleteRecordsResponse::default()
                };
                FakeReply::with(request, &response)
            })
        });
        cluster.add_topic("t", &[1, 2, 1]);
        let config = ClientConfig::from_pairs([
            ("bootstrap_servers", cluster.bootstrap().as_str()),
            ("retry_backoff_ms", "10"),
        ])
        .unwrap();
        let admin = Admin::with_client(cluster.client(config).await.unwrap());
        let missing = TopicPartition::new("missing", 0);
        let beyond = TopicPartition::new("t", 9);
        let deleted = admin
            .delete_records(
                &BTreeMap::from([
                    (TopicPartition::new("t", 0), 5),
                    (TopicPartition::new("t", 1), 6),
                    (TopicPartition::new("t", 2), 7),
                    (missing.clone(), 1),
                    (beyond.clone(), 1),
                ]),
                &AdminOptions::new().timeout(Duration::from_secs(5)),
            )
            .await;
        assert_eq!(*deleted[&TopicPartition::new("t", 0)].as_ref().unwrap(), 5);
        assert_eq!(*deleted[&TopicPartition::new("t", 1)].as_ref().unwrap(), 6);
        assert_eq!(*deleted[&TopicPartition::new("t", 2)].as_ref().unwrap(), 7);
        for unknown in [&missing, &beyond] {
            assert_eq!(
                deleted[unknown].as_ref().unwrap_err().code(),
                Some(ErrorCode::UnknownTopicOrPartition)
            );
        }
        let sent = sent.lock().unwrap().clone();
        assert_eq!(sent, [(1, vec![0, 2]), (2, vec![1]), (2, vec![1])]);
    }
}
