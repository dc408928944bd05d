//! The share consumer's requests: one ShareFetch round to every leader
//! involved (carrying the acknowledgements due to it), ShareAcknowledge
//! for a commit or a close, and reading their answers into the
//! acknowledgement bookkeeping, the record buffer and the share sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_group::share_acks::{PartitionBatches, renews};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::{
    ShareAcknowledgeRequest, ShareAcknowledgeResponse, ShareFetchRequest, ShareFetchResponse,
};
use ferrokafka_transport::TransportError;
use tokio::task::JoinSet;
use tracing::debug;

use super::{AcknowledgementResults, PollState, ShareConsumer, lock, millis};
use crate::error::ConsumeError;
use crate::share_metrics::{ShareFetchAnswer, acknowledgement_count};
use crate::share_record::read_acquired;
use crate::share_session::SharePartition;

impl ShareConsumer {
    /// The leader of each partition, by node: those assigned, and those
    /// with acknowledgements to send.
    async fn leaders(
        &self,
        partitions: Vec<(SharePartition, Arc<str>)>,
    ) -> BTreeMap<SharePartition, i32> {
        let asked: Vec<(&str, i32)> = partitions
            .iter()
            .map(|(id, topic)| (&**topic, id.1))
            .collect();
        let found = self.client.leaders(&asked).await;
        let mut leaders = BTreeMap::new();
        for ((id, topic), leader) in partitions.iter().zip(found) {
            match leader {
                Ok(node) => {
                    leaders.insert(*id, node);
                }
                Err(error) => debug!(%error, topic = &**topic, partition = id.1, "no leader"),
            }
        }
        leaders
    }

    fn pending_partitions(&self) -> Vec<(SharePartition, Arc<str>)> {
        let acks = lock(&self.acks);
        let mut pending = Vec::new();
        for (id, name) in &acks.names {
            for partition in acks.acks.pending_partitions(*id) {
                pending.push(((*id, partition), Arc::clone(name)));
            }
        }
        pending
    }

    /// One ShareFetch to each leader involved; true when any was sent.
    pub(super) async fn fetch_round(
        &self,
        state: &mut PollState,
        deadline: Instant,
    ) -> Result<bool, ConsumeError> {
        // Acknowledgements sent by `commit_async` come first, in epoch order.
        let earlier = self.collect_acknowledgements(state).await;
        Self::report(state, &earlier);
        let assigned: Vec<(SharePartition, Arc<str>)> = self
            .membership
            .shared
            .lock()
            .partitions
            .iter()
            .map(|(id, tp)| (*id, Arc::clone(&tp.topic)))
            .collect();
        let wanted_ids: BTreeSet<SharePartition> = assigned.iter().map(|(id, _)| *id).collect();
        let mut involved = assigned;
        involved.extend(self.pending_partitions());
        let leaders = self.leaders(involved).await;
        let mut nodes: BTreeSet<i32> = leaders.values().copied().collect();
        nodes.extend(
            state
                .sessions
                .iter()
                .filter(|(_, s)| !s.partitions().is_empty())
                .map(|(node, _)| *node),
        );
        let member_id = self.membership.shared.lock().member_id.clone();
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(self.config.consumer.fetch_max_wait);
        let max_records = i32::try_from(self.config.consumer.max_poll_records).unwrap_or(i32::MAX);
        let mut requests = JoinSet::new();
        for node in nodes {
            let session = state.sessions.entry(node).or_default();
            let wanted: BTreeSet<SharePartition> = wanted_ids
                .iter()
                .filter(|id| leaders.get(id) == Some(&node))
                .copied()
                .collect();
            if wanted.is_empty() && session.partitions().is_empty() {
                continue;
            }
            let acks = if session.is_open() {
                lock(&self.acks)
                    .acks
                    .take_pending(|id, p| leaders.get(&(id, p)) == Some(&node))
            } else {
                Vec::new()
            };
            let parts = session.fetch(&wanted, &acks);
            let request = ShareFetchRequest {
                group_id: Some(self.group_id.clone()),
                member_id: Some(member_id.clone()),
                share_session_epoch: parts.epoch,
                max_wait_ms: millis(wait),
                min_bytes: self.config.consumer.fetch_min_bytes,
                max_bytes: self.config.consumer.fetch_max_bytes,
                max_records,
                batch_size: max_records,
                share_acquire_mode: self.config.acquire_mode.id(),
                is_renew_ack: renews(&acks),
                topics: parts.topics,
                forgotten_topics_data: parts.forgotten,
                ..ShareFetchRequest::default()
            };
            let client = self.client.clone();
            let sent_at = Instant::now();
            self.metrics.record_fetch_sent(sent_at);
            requests.spawn(async move {
                let result = client.send(node, &request).await;
                (node, acks, sent_at, result)
            });
        }
        if requests.is_empty() {
            return Ok(false);
        }
        let mut results = AcknowledgementResults::new();
        let mut failure = None;
        while let Some(joined) = requests.join_next().await {
            let Ok((node, acks, sent_at, result)) = joined else {
                continue;
            };
            if let Ok(response) = &result {
                self.record_fetch_answer(response, sent_at);
            }
            if let Err(error) = self.read_fetch(state, node, &acks, result, &mut results) {
                failure.get_or_insert(error);
            }
            self.record_acknowledgements(&acks, &results);
        }
        Self::report(state, &results);
        match failure {
            Some(error) => Err(error),
            None => Ok(true),
        }
    }

    fn read_fetch(
        &self,
        state: &mut PollState,
        node: i32,
        sent: &[PartitionBatches],
        result: Result<ShareFetchResponse, TransportError>,
        results: &mut AcknowledgementResults,
    ) -> Result<(), ConsumeError> {
        let session = state.sessions.entry(node).or_default();
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                debug!(%error, node, "share fetch not answered");
                session.on_failure();
                self.fail_all(sent, ErrorCode::NetworkException, results);
                return Ok(());
            }
        };
        let error = ErrorCode::from_code(response.error_code);
        if error != ErrorCode::None {
            debug!(%error, node, "share fetch refused");
            session.on_error(error);
            self.fail_all(sent, error, results);
            return match error {
                ErrorCode::GroupAuthorizationFailed | ErrorCode::TopicAuthorizationFailed => {
                    Err(ConsumeError::Broker {
                        topic: String::new(),
                        partition: -1,
                        error,
                    })
                }
                _ => Ok(()),
            };
        }
        let acked: BTreeSet<SharePartition> =
            sent.iter().map(|p| (p.topic_id, p.partition)).collect();
        let mut acks = lock(&self.acks);
        if let Ok(ms) = u64::try_from(response.acquisition_lock_timeout_ms)
            && ms > 0
        {
            acks.lock_timeout = Some(Duration::from_millis(ms));
        }
        let mut refresh = false;
        let mut failure = None;
        for topic in &response.responses {
            let Some(name) = acks.names.get(&topic.topic_id).cloned() else {
                continue;
            };
            for data in &topic.partitions {
                let tp = TopicPartition::new(&*name, data.partition_index);
                if acked.contains(&(topic.topic_id, data.partition_index)) {
                    let code = ErrorCode::from_code(data.acknowledge_error_code);
                    results.insert(
                        tp.clone(),
                        if code == ErrorCode::None {
                            Ok(())
                        } else {
                            Err(code)
                        },
                    );
                }
                let code = ErrorCode::from_code(data.error_code);
                if code != ErrorCode::None {
                    debug!(%code, %tp, "share fetch partition error");
                    if code.is_retriable() {
                        refresh = true;
                    } else {
                        failure.get_or_insert(ConsumeError::Broker {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            error: code,
                        });
                    }
                    continue;
                }
                let held = acks.acks.partition(topic.topic_id, data.partition_index);
                match read_acquired(held, &name, data, self.config.consumer.check_crcs) {
                    Ok(records) => state.buffer.extend(records),
                    Err(reason) => {
                        failure.get_or_insert(ConsumeError::Corrupt {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            offset: data.acquired_records.first().map_or(-1, |r| r.first_offset),
                            reason,
                        });
                    }
                }
            }
        }
        drop(acks);
        if refresh {
            self.client.note_error(ErrorCode::NotLeaderOrFollower);
        }
        failure.map_or(Ok(()), Err)
    }

    /// The metrics of one ShareFetch answer: its records (those acquired
    /// for this member), their batches' bytes and the throttle time.
    fn record_fetch_answer(&self, response: &ShareFetchResponse, sent_at: Instant) {
        let mut answer = ShareFetchAnswer {
            throttle_ms: response.throttle_time_ms,
            ..ShareFetchAnswer::default()
        };
        for data in response.responses.iter().flat_map(|t| &t.partitions) {
            answer.bytes += data.records.as_ref().map_or(0, |b| b.len() as u64);
            answer.records += data
                .acquired_records
                .iter()
                .map(|r| u64::try_from(r.last_offset - r.first_offset + 1).unwrap_or(0))
                .sum::<u64>();
        }
        let now = Instant::now();
        self.metrics
            .record_fetch_answer(now, now.saturating_duration_since(sent_at), answer);
    }

    /// The metrics of acknowledgements `sent` once `results` tells how
    /// their partitions' ended.
    fn record_acknowledgements(&self, sent: &[PartitionBatches], results: &AcknowledgementResults) {
        if sent.is_empty() {
            return;
        }
        let failed: Vec<PartitionBatches> = {
            let acks = lock(&self.acks);
            sent.iter()
                .filter(|p| {
                    acks.names.get(&p.topic_id).is_some_and(|name| {
                        results
                            .get(&TopicPartition::new(&**name, p.partition))
                            .is_some_and(Result::is_err)
                    })
                })
                .cloned()
                .collect()
        };
        self.metrics.record_acknowledgements(
            Instant::now(),
            acknowledgement_count(sent),
            acknowledgement_count(&failed),
        );
    }

    fn fail_all(
        &self,
        sent: &[PartitionBatches],
        error: ErrorCode,
        results: &mut AcknowledgementResults,
    ) {
        let acks = lock(&self.acks);
        for p in sent {
            if let Some(name) = acks.names.get(&p.topic_id) {
                results.insert(TopicPartition::new(&**name, p.partition), Err(error));
            }
        }
    }

    /// Sends every pending acknowledgement with ShareAcknowledge to the
    /// leaders whose sessions are open and waits for the answers (those of
    /// earlier requests still in flight included); `closing` closes those
    /// sessions (epoch -1), acknowledgements or not.
    pub(super) async fn acknowledge_pending(
        &self,
        state: &mut PollState,
        closing: bool,
    ) -> AcknowledgementResults {
        self.send_acknowledgements(state, closing).await;
        self.collect_acknowledgements(state).await
    }

    /// Sends every pending acknowledgement with ShareAcknowledge to the
    /// leaders whose sessions are open, without waiting: the requests go
    /// out from tasks of their own, whose answers
    /// [`collect_acknowledgements`](Self::collect_acknowledgements) reads.
    pub(super) async fn send_acknowledgements(&self, state: &mut PollState, closing: bool) {
        // A session's requests must reach its broker in epoch order.
        let earlier = self.collect_acknowledgements(state).await;
        Self::report(state, &earlier);
        let leaders = self.leaders(self.pending_partitions()).await;
        let member_id = self.membership.shared.lock().member_id.clone();
        for (node, session) in &mut state.sessions {
            if !session.is_open() {
                continue;
            }
            let node = *node;
            let acks = lock(&self.acks)
                .acks
                .take_pending(|id, p| leaders.get(&(id, p)) == Some(&node));
            if acks.is_empty() && !closing {
                continue;
            }
            let Some((mut epoch, topics)) = session.acknowledge(&acks) else {
                continue;
            };
            if closing {
                epoch = session.close().unwrap_or(epoch);
            }
            let request = ShareAcknowledgeRequest {
                group_id: Some(self.group_id.clone()),
                member_id: Some(member_id.clone()),
                share_session_epoch: epoch,
                is_renew_ack: renews(&acks),
                topics,
                ..ShareAcknowledgeRequest::default()
            };
            let client = self.client.clone();
            state.in_flight.spawn(async move {
                let result = client.send(node, &request).await;
                (node, acks, result)
            });
        }
    }

    /// Waits for the answers of every ShareAcknowledge in flight and reads
    /// them (cancel-safe: an answer not read yet stays for the next call).
    pub(super) async fn collect_acknowledgements(
        &self,
        state: &mut PollState,
    ) -> AcknowledgementResults {
        let mut results = AcknowledgementResults::new();
        while let Some(joined) = state.in_flight.join_next().await {
            let Ok((node, acks, result)) = joined else {
                continue;
            };
            self.read_acknowledge(state, node, &acks, result, &mut results);
            self.record_acknowledgements(&acks, &results);
        }
        results
    }

    fn read_acknowledge(
        &self,
        state: &mut PollState,
        node: i32,
        sent: &[PartitionBatches],
        result: Result<ShareAcknowledgeResponse, TransportError>,
        results: &mut AcknowledgementResults,
    ) {
        let session = state.sessions.entry(node).or_default();
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                debug!(%error, node, "share acknowledge not answered");
                session.on_failure();
                return self.fail_all(sent, ErrorCode::NetworkException, results);
            }
        };
        let error = ErrorCode::from_code(response.error_code);
        if error != ErrorCode::None {
            session.on_error(error);
            return self.fail_all(sent, error, results);
        }
        let mut acks = lock(&self.acks);
        if let Ok(ms) = u64::try_from(response.acquisition_lock_timeout_ms)
            && ms > 0
        {
            acks.lock_timeout = Some(Duration::from_millis(ms));
        }
        for topic in &response.responses {
            let Some(name) = acks.names.get(&topic.topic_id) else {
                continue;
            };
            for data in &topic.partitions {
                let code = ErrorCode::from_code(data.error_code);
                results.insert(
                    TopicPartition::new(&**name, data.partition_index),
                    if code == ErrorCode::None {
                        Ok(())
                    } else {
                        Err(code)
                    },
                );
            }
        }
    }
}
