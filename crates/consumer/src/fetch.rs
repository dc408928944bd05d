//! One round of fetching: a Fetch request to each leader for the
//! partitions it leads, and the answers turned into records, watermarks and
//! position changes. Records are handed out by the consumer, which moves
//! the positions as it does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use ferrokafka_protocol::messages::{FetchRequest, FetchResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};
use ferrokafka_records::{BatchReader, ReadOptions};
use ferrokafka_transport::{Client, Lane};
use tracing::debug;

use crate::error::ConsumeError;
use crate::positions::{Position, Positions};
use crate::read_committed::{AbortedTransaction, TransactionFilter};
use crate::{ConsumerConfig, ConsumerRecord, IsolationLevel};

/// Fetch names topics by id from v13.
const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// Records fetched for one partition, not yet all handed out.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) partition: TopicPartition,
    /// The position the records continue from (moves as they are handed out).
    pub(crate) position: i64,
    pub(crate) records: std::collections::VecDeque<ConsumerRecord>,
    /// Where the position goes once every record is handed out (past
    /// control batches and aborted records at the end).
    pub(crate) next: Position,
}

type Shared = Arc<Mutex<Positions<TopicPartition>>>;

fn lock(positions: &Shared) -> std::sync::MutexGuard<'_, Positions<TopicPartition>> {
    positions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Fetches once from every leader of a fetchable partition (skipping those
/// in `skip`), waiting at most `max_wait` for data.
pub(crate) async fn fetch_once(
    client: &Client,
    config: &ConsumerConfig,
    positions: &Shared,
    skip: &[TopicPartition],
    max_wait: Duration,
) -> Result<Vec<Fetched>, ConsumeError> {
    let fetchable: Vec<(TopicPartition, Position)> = lock(positions)
        .fetchable()
        .into_iter()
        .filter(|(tp, _)| !skip.contains(tp))
        .collect();
    if fetchable.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, Position)>> = BTreeMap::new();
    for (tp, position) in fetchable {
        let leader = client.leader(&tp.topic, tp.partition).await?;
        by_leader.entry(leader).or_default().push((tp, position));
    }
    let mut requests = tokio::task::JoinSet::new();
    for (leader, partitions) in by_leader {
        let client = client.clone();
        let config = config.clone();
        requests.spawn(async move {
            let result = fetch_from(&client, &config, leader, &partitions, max_wait).await;
            (partitions, result)
        });
    }
    let mut fetched = Vec::new();
    let mut first_error = None;
    while let Some(joined) = requests.join_next().await {
        let Ok((partitions, result)) = joined else {
            continue;
        };
        match result {
            Ok(response) => {
                match read_response(client, config, positions, &partitions, &response) {
                    Ok(mut more) => fetched.append(&mut more),
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
            }
            Err(error) => {
                debug!(%error, "fetch failed");
                if !error.is_retriable() {
                    first_error.get_or_insert(ConsumeError::Transport(error));
                }
            }
        }
    }
    match first_error {
        Some(error) if fetched.is_empty() => Err(error),
        _ => Ok(fetched),
    }
}

async fn fetch_from(
    client: &Client,
    config: &ConsumerConfig,
    leader: i32,
    partitions: &[(TopicPartition, Position)],
    max_wait: Duration,
) -> Result<FetchResponse, ferrokafka_transport::TransportError> {
    let ids: HashMap<String, Uuid> = client.view(|v| {
        partitions
            .iter()
            .filter_map(|(tp, _)| v.topic(&tp.topic).map(|t| (tp.topic.clone(), t.id)))
            .collect()
    });
    let mut by_topic: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for (tp, position) in partitions {
        by_topic.entry(&tp.topic).or_default().push(FetchPartition {
            partition: tp.partition,
            current_leader_epoch: -1,
            fetch_offset: position.offset,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: config.max_partition_fetch_bytes,
            ..FetchPartition::default()
        });
    }
    let wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
    client
        .send_built(leader, Lane::Data, |version| FetchRequest {
            max_wait_ms: wait_ms,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            isolation_level: match config.isolation_level {
                IsolationLevel::ReadUncommitted => 0,
                IsolationLevel::ReadCommitted => 1,
            },
            // A full fetch each time: no incremental session.
            session_id: 0,
            session_epoch: -1,
            topics: by_topic
                .iter()
                .map(|(topic, partitions)| {
                    let by_id = version >= FIRST_TOPIC_ID_VERSION;
                    FetchTopic {
                        topic: if by_id {
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
                        ..FetchTopic::default()
                    }
                })
                .collect(),
            rack_id: if version >= 11 {
                config.client_rack.clone().unwrap_or_default()
            } else {
                String::new()
            },
            ..FetchRequest::default()
        })
        .await
}

fn read_response(
    client: &Client,
    config: &ConsumerConfig,
    positions: &Shared,
    asked: &[(TopicPartition, Position)],
    response: &FetchResponse,
) -> Result<Vec<Fetched>, ConsumeError> {
    let top = ErrorCode::from_code(response.error_code);
    if !top.is_ok() {
        client.note_error(top);
        return Ok(Vec::new());
    }
    let names: HashMap<Uuid, String> = client.view(|v| {
        asked
            .iter()
            .filter_map(|(tp, _)| v.topic(&tp.topic).map(|t| (t.id, tp.topic.clone())))
            .collect()
    });
    let mut fetched = Vec::new();
    for topic in &response.responses {
        let name = if topic.topic.is_empty() {
            names.get(&topic.topic_id).cloned().unwrap_or_default()
        } else {
            topic.topic.clone()
        };
        for data in &topic.partitions {
            let tp = TopicPartition::new(name.clone(), data.partition_index);
            let Some((_, position)) = asked.iter().find(|(asked, _)| *asked == tp) else {
                continue;
            };
            let error = ErrorCode::from_code(data.error_code);
            match error {
                ErrorCode::None => {}
                ErrorCode::OffsetOutOfRange => {
                    lock(positions).out_of_range(&tp, position.offset);
                    continue;
                }
                error if error.is_retriable() => {
                    client.note_error(error);
                    continue;
                }
                error => {
                    return Err(ConsumeError::Broker {
                        topic: tp.topic,
                        partition: tp.partition,
                        error,
                    });
                }
            }
            lock(positions).update_watermarks(
                &tp,
                data.high_watermark,
                (data.last_stable_offset >= 0).then_some(data.last_stable_offset),
                (data.log_start_offset >= 0).then_some(data.log_start_offset),
            );
            if let Some(chunk) = records_of(config, &tp, *position, data)? {
                fetched.push(chunk);
            }
        }
    }
    Ok(fetched)
}

/// The records of one partition's answer at or after `position`.
fn records_of(
    config: &ConsumerConfig,
    tp: &TopicPartition,
    position: Position,
    data: &ferrokafka_protocol::messages::fetch_response::PartitionData,
) -> Result<Option<Fetched>, ConsumeError> {
    let Some(bytes) = data.records.clone().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let corrupt = |reason: String| ConsumeError::Corrupt {
        topic: tp.topic.clone(),
        partition: tp.partition,
        offset: position.offset,
        reason,
    };
    let mut filter = (config.isolation_level == IsolationLevel::ReadCommitted).then(|| {
        TransactionFilter::new(data.aborted_transactions.iter().flatten().map(|a| {
            AbortedTransaction {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
            }
        }))
    });
    let options = ReadOptions {
        verify_crc: config.check_crcs,
        ..ReadOptions::default()
    };
    let mut records = std::collections::VecDeque::new();
    let mut next = position;
    for batch in BatchReader::with_options(bytes, options) {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        if batch.last_offset() < position.offset {
            continue;
        }
        let leader_epoch = batch
            .header()
            .map(|h| h.partition_leader_epoch)
            .filter(|&e| e >= 0);
        let delivered = match &mut filter {
            Some(filter) => filter.accept(&batch),
            None => !batch.is_control(),
        };
        if delivered {
            for record in batch.records() {
                let record = record.map_err(|e| corrupt(e.to_string()))?;
                if record.offset < position.offset {
                    continue;
                }
                records.push_back(ConsumerRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: record.offset,
                    timestamp: record.timestamp,
                    timestamp_type: record.timestamp_type,
                    key: record.key,
                    value: record.value,
                    headers: record.headers,
                    leader_epoch,
                });
            }
        }
        next = Position {
            offset: batch.last_offset() + 1,
            leader_epoch: leader_epoch.or(next.leader_epoch),
        };
    }
    if records.is_empty() && next == position {
        return Ok(None);
    }
    Ok(Some(Fetched {
        partition: tp.clone(),
        position: position.offset,
        records,
        next,
    }))
}
