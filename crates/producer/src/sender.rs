//! The sender task: each wave it asks the accumulator which partitions are
//! ready, groups them by leader, drains one Produce request per broker, and
//! settles each batch from the response: delivered, retried (same bytes,
//! same sequence numbers, so an idempotent broker drops a duplicate), or
//! failed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use ferrokafka_transport::{Lane, TransportError};
use tracing::{debug, warn};

use crate::accumulator::ProducerBatch;
use crate::config::Acks;
use crate::producer::{Completion, Inner, TopicPartition};
use crate::{ProduceError, RecordMetadata};

type Batch = ProducerBatch<TopicPartition, Completion>;

/// Produce v13 names topics by id instead of by name.
const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// Runs until the producer is closed and everything it held is settled.
pub(crate) async fn run(inner: Arc<Inner>) {
    let idle = Duration::from_millis(100);
    loop {
        let needs_producer_id = inner.config.idempotent() && inner.state().producer_id.is_none();
        if needs_producer_id && let Err(error) = init_producer_id(&inner).await {
            warn!(%error, "InitProducerId failed; retrying");
            tokio::time::sleep(inner.config.batching.retry_backoff).await;
            continue;
        }
        // After an error that made the view stale (a moved leader), learn
        // the new leaders before sending again, not after.
        if inner.client.view(|v| v.needs_refresh(Instant::now()))
            && let Err(error) = inner.client.refresh_metadata().await
        {
            debug!(%error, "metadata refresh before sending failed");
        }
        let waiting = inner.wake.notified();
        let next = send_ready(&inner);
        if inner.closed.load(Ordering::Acquire) {
            let state = inner.state();
            if state.in_flight.is_empty() && state.accumulator.queued_batches() == 0 {
                return;
            }
        }
        let until = next.map_or(idle, |at| at.saturating_duration_since(Instant::now()));
        let _ = tokio::time::timeout(until.min(idle), waiting).await;
    }
}

async fn init_producer_id(inner: &Inner) -> Result<(), ProduceError> {
    let response = inner
        .client
        .send_any(&InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::try_from(inner.config.transaction_timeout.as_millis())
                .unwrap_or(i32::MAX),
            producer_id: -1,
            producer_epoch: -1,
            ..InitProducerIdRequest::default()
        })
        .await?;
    let error = ErrorCode::from_code(response.error_code);
    if !error.is_ok() {
        return Err(ProduceError::Broker {
            topic: String::new(),
            partition: -1,
            error,
            message: Some("InitProducerId".to_string()),
        });
    }
    debug!(
        producer_id = response.producer_id,
        epoch = response.producer_epoch,
        "idempotent producer id"
    );
    inner.state().producer_id = Some((response.producer_id, response.producer_epoch));
    Ok(())
}

/// Drains and sends what is ready; returns when to look again.
fn send_ready(inner: &Arc<Inner>) -> Option<Instant> {
    let now = Instant::now();
    let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
    let mut leaderless = false;
    let (expired, next) = {
        let mut state = inner.state();
        let expired = state.accumulator.expire(now);
        let (ready, next) = state.accumulator.ready(now);
        for partition in ready {
            if state.in_flight.contains(&partition) {
                continue;
            }
            let leader = inner.client.view(|v| {
                v.leader(&partition.topic, partition.partition)
                    .map(|b| b.node_id)
            });
            match leader {
                Some(node) => by_leader.entry(node).or_default().push(partition),
                None => leaderless = true,
            }
        }
        (expired, next)
    };
    for batch in expired {
        fail(
            inner,
            batch,
            &ProduceError::DeliveryTimeout {
                topic: String::new(),
                partition: -1,
                timeout: inner.config.batching.delivery_timeout,
                last_error: None,
            },
        );
    }
    if leaderless {
        inner.client.note_error(ErrorCode::LeaderNotAvailable);
        let client = inner.client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.refresh_metadata().await {
                debug!(%error, "metadata refresh for leaderless partitions failed");
            }
        });
    }
    for (node, partitions) in by_leader {
        let batches = {
            let mut state = inner.state();
            if state.requests_in_flight.get(&node).copied().unwrap_or(0)
                >= inner.config.max_in_flight
            {
                continue;
            }
            let crate::producer::State {
                accumulator,
                producer_id,
                next_sequence,
                ..
            } = &mut *state;
            let ids = *producer_id;
            let drained = accumulator.drain(
                now,
                &partitions,
                inner.config.batching.max_request_size,
                |partition, records| {
                    let (id, epoch) = ids?;
                    let sequence = next_sequence.entry(partition.clone()).or_insert(0);
                    let base = *sequence;
                    // Sequences wrap to 0 after i32::MAX, as the broker expects.
                    *sequence = sequence.checked_add(records).unwrap_or(records - 1);
                    Some((id, epoch, base))
                },
            );
            match drained {
                Ok(batches) => {
                    for batch in &batches {
                        state.in_flight.insert(batch.partition.clone());
                    }
                    if !batches.is_empty() {
                        *state.requests_in_flight.entry(node).or_insert(0) += 1;
                    }
                    batches
                }
                Err(error) => {
                    warn!(%error, "encoding a batch failed");
                    continue;
                }
            }
        };
        if batches.is_empty() {
            continue;
        }
        tokio::spawn(produce(Arc::clone(inner), node, batches));
    }
    next
}

/// Sends one Produce request and settles its batches.
async fn produce(inner: Arc<Inner>, node: i32, batches: Vec<Batch>) {
    let acks = inner.config.acks;
    let timeout_ms = i32::try_from(inner.config.client.connection.request_timeout.as_millis())
        .unwrap_or(i32::MAX);
    let topic_ids: HashMap<Arc<str>, ferrokafka_protocol::Uuid> = inner.client.view(|v| {
        batches
            .iter()
            .filter_map(|b| {
                v.topic(&b.partition.topic)
                    .map(|t| (Arc::clone(&b.partition.topic), t.id))
            })
            .collect()
    });
    let build = |version: i16| {
        let mut topics: BTreeMap<Arc<str>, Vec<PartitionProduceData>> = BTreeMap::new();
        for batch in &batches {
            topics
                .entry(Arc::clone(&batch.partition.topic))
                .or_default()
                .push(PartitionProduceData {
                    index: batch.partition.partition,
                    records: batch.encoded().cloned().or(Some(Bytes::new())),
                    ..PartitionProduceData::default()
                });
        }
        ProduceRequest {
            transactional_id: None,
            acks: acks.wire(),
            timeout_ms,
            topic_data: topics
                .into_iter()
                .map(|(topic, partition_data)| {
                    let by_id = version >= FIRST_TOPIC_ID_VERSION;
                    TopicProduceData {
                        name: if by_id {
                            String::new()
                        } else {
                            topic.to_string()
                        },
                        topic_id: if by_id {
                            topic_ids.get(&topic).copied().unwrap_or_default()
                        } else {
                            ferrokafka_protocol::Uuid::default()
                        },
                        partition_data,
                        ..TopicProduceData::default()
                    }
                })
                .collect(),
            ..ProduceRequest::default()
        }
    };
    let started = Instant::now();
    let outcome: Result<Option<ProduceResponse>, TransportError> = if acks == Acks::None {
        let request = match inner.client.connection(node, Lane::Data).await {
            Ok(connection) => match connection.version(ferrokafka_protocol::ApiKey::Produce) {
                Ok(version) => Ok(build(version)),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match request {
            Ok(request) => inner
                .client
                .send_without_response(node, &request)
                .await
                .map(|()| None),
            Err(error) => Err(error),
        }
    } else {
        inner
            .client
            .send_built(node, Lane::Data, build)
            .await
            .map(Some)
    };
    record_latency(&inner, started.elapsed());
    {
        let mut state = inner.state();
        if let Some(count) = state.requests_in_flight.get_mut(&node) {
            *count = count.saturating_sub(1);
        }
        for batch in &batches {
            state.in_flight.remove(&batch.partition);
        }
    }
    match outcome {
        Ok(response) => {
            for batch in batches {
                settle(&inner, batch, response.as_ref(), &topic_ids);
            }
        }
        Err(error) => {
            debug!(node, %error, "produce request failed");
            for batch in batches {
                retry_or_fail(&inner, batch, ProduceError::Transport(error.clone()), true);
            }
        }
    }
    inner.wake.notify_one();
    inner.progress.notify_waiters();
}

fn record_latency(inner: &Inner, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let m = &inner.metrics;
    m.requests_sent.fetch_add(1, Ordering::Relaxed);
    m.request_latency_total_us
        .fetch_add(micros, Ordering::Relaxed);
    m.request_latency_max_us
        .fetch_max(micros, Ordering::Relaxed);
}

/// Settles one batch from the broker's answer for its partition.
fn settle(
    inner: &Inner,
    batch: Batch,
    response: Option<&ProduceResponse>,
    topic_ids: &HashMap<Arc<str>, ferrokafka_protocol::Uuid>,
) {
    let Some(response) = response else {
        // acks=0: written is all anyone will know.
        deliver(inner, batch, -1, -1);
        return;
    };
    let topic = &batch.partition.topic;
    let id = topic_ids.get(topic).copied().unwrap_or_default();
    let answer = response
        .responses
        .iter()
        .filter(|t| {
            t.name == **topic || (id != ferrokafka_protocol::Uuid::default() && t.topic_id == id)
        })
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == batch.partition.partition);
    let Some(answer) = answer else {
        let error = ProduceError::Transport(TransportError::Protocol {
            broker: String::new(),
            reason: format!(
                "the Produce response has no answer for {topic}-{}",
                batch.partition.partition
            ),
        });
        retry_or_fail(inner, batch, error, true);
        return;
    };
    let error = ErrorCode::from_code(answer.error_code);
    // A duplicate means an earlier attempt of this very batch was written.
    if error.is_ok() || error == ErrorCode::DuplicateSequenceNumber {
        deliver(inner, batch, answer.base_offset, answer.log_append_time_ms);
        return;
    }
    inner.client.note_error(error);
    let failure = ProduceError::Broker {
        topic: topic.to_string(),
        partition: batch.partition.partition,
        error,
        message: answer.error_message.clone(),
    };
    retry_or_fail(inner, batch, failure, error.is_retriable());
}

fn deliver(inner: &Inner, batch: Batch, base_offset: i64, log_append_time: i64) {
    let topic = batch.partition.topic.to_string();
    let partition = batch.partition.partition;
    let size = batch.encoded().map_or(0, Bytes::len) as u64;
    let uncompressed = batch.uncompressed_bytes as u64;
    let completions = inner.state().accumulator.complete(batch);
    let m = &inner.metrics;
    m.records_sent
        .fetch_add(completions.len() as u64, Ordering::Relaxed);
    m.bytes_sent.fetch_add(size, Ordering::Relaxed);
    m.uncompressed_bytes
        .fetch_add(uncompressed, Ordering::Relaxed);
    m.batches_sent.fetch_add(1, Ordering::Relaxed);
    m.batch_size_max.fetch_max(size, Ordering::Relaxed);
    for (delta, completion) in (0i64..).zip(completions) {
        let metadata = RecordMetadata {
            topic: topic.clone(),
            partition,
            offset: if base_offset < 0 {
                -1
            } else {
                base_offset + delta
            },
            timestamp: if log_append_time >= 0 {
                log_append_time
            } else {
                completion.timestamp
            },
            serialized_key_size: completion.key_size,
            serialized_value_size: completion.value_size,
            serialized_header_size: completion.header_size,
        };
        let _ = completion.sender.send(Ok(metadata));
    }
}

/// Puts a batch back for another attempt when the error allows it and
/// time remains; fails its records otherwise.
fn retry_or_fail(inner: &Inner, batch: Batch, error: ProduceError, retriable: bool) {
    let now = Instant::now();
    let in_time = now < batch.created + inner.config.batching.delivery_timeout;
    let attempts_left = batch.attempts <= inner.config.retries;
    if retriable && in_time && attempts_left && !inner.closed.load(Ordering::Acquire) {
        inner.metrics.record_retries.fetch_add(
            u64::try_from(batch.record_count()).unwrap_or(0),
            Ordering::Relaxed,
        );
        debug!(partition = ?batch.partition, attempts = batch.attempts, %error, "retrying batch");
        inner.state().accumulator.reenqueue(now, batch);
        return;
    }
    let error = if retriable && !in_time {
        ProduceError::DeliveryTimeout {
            topic: batch.partition.topic.to_string(),
            partition: batch.partition.partition,
            timeout: inner.config.batching.delivery_timeout,
            last_error: Some(Box::new(error)),
        }
    } else {
        error
    };
    fail(inner, batch, &error);
}

fn fail(inner: &Inner, batch: Batch, error: &ProduceError) {
    let error = match error {
        ProduceError::DeliveryTimeout {
            timeout,
            last_error,
            ..
        } => ProduceError::DeliveryTimeout {
            topic: batch.partition.topic.to_string(),
            partition: batch.partition.partition,
            timeout: *timeout,
            last_error: last_error.clone(),
        },
        other => other.clone(),
    };
    let sequenced = batch.producer.is_some();
    let completions = {
        let mut state = inner.state();
        if sequenced {
            // The partition's sequence now has a gap the broker would
            // refuse; a new producer id starts every partition at 0 again.
            state.producer_id = None;
            state.next_sequence.clear();
        }
        state.accumulator.complete(batch)
    };
    inner
        .metrics
        .record_errors
        .fetch_add(completions.len() as u64, Ordering::Relaxed);
    for completion in completions {
        let _ = completion.sender.send(Err(error.clone()));
    }
    inner.progress.notify_waiters();
}
