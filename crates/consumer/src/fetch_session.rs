//! An incremental fetch session with one broker (KIP-227), sans-I/O.
//!
//! The session remembers which partitions the broker already holds for this
//! consumer and with which parameters (fetch offset, log start offset,
//! maximum bytes, leader epochs, topic id). The first request of a session
//! is full (every partition); the next ones are incremental: only the
//! partitions added or changed since, plus the removed ones as forgotten
//! topics. A partition the broker leaves out of an incremental response
//! has nothing new.
//!
//! Errors that mean the broker lost track of the session
//! (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
//! FETCH_SESSION_TOPIC_ID_ERROR), and a request that failed on the way,
//! start a new full session. Closing sends the final epoch (-1).
//!
//! The driver calls [`FetchSession::build`] to get the next request,
//! sends it, and hands the answer (or the failure) back with
//! [`FetchSession::on_response`] or [`FetchSession::on_failure`].

use std::collections::{BTreeMap, HashMap};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_protocol::messages::FetchResponse;
use ferrokafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use ferrokafka_protocol::{ErrorCode, Uuid};

/// Fetch sessions exist from this version on.
pub(crate) const FIRST_SESSION_VERSION: i16 = 7;
/// Fetch names topics by id from this version on.
pub(crate) const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// The epoch that closes a session (and asks for none).
const FINAL_EPOCH: i32 = -1;

/// What the consumer wants fetched for one partition, as the broker would
/// hold it in its session cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionFetch {
    /// The topic's id (zero when unknown; needed from Fetch v13).
    pub(crate) topic_id: Uuid,
    /// The offset to fetch from.
    pub(crate) fetch_offset: i64,
    /// The leader epoch the consumer believes current (-1 unknown).
    pub(crate) current_leader_epoch: i32,
    /// The epoch of the last fetched record (-1 unknown).
    pub(crate) last_fetched_epoch: i32,
    /// The log start offset (-1 for consumers).
    pub(crate) log_start_offset: i64,
    /// `max_partition_fetch_bytes`.
    pub(crate) max_bytes: i32,
}

/// How the last request of the session ended, for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionOutcome {
    /// The response is usable: its partitions carry data and errors.
    Ok,
    /// The broker refused the request as a whole (a session error or
    /// another top-level error): no partition data; the next request is full.
    Reset(ErrorCode),
}

/// A request the session built, before the topic naming of a version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRequest {
    /// `session_id` to send.
    pub(crate) session_id: i32,
    /// `session_epoch` to send.
    pub(crate) session_epoch: i32,
    /// Whether this request lists every partition.
    pub(crate) full: bool,
    /// The partitions to send, by topic.
    pub(crate) topics: Vec<FetchTopic>,
    /// The partitions to drop from the session.
    pub(crate) forgotten: Vec<ForgottenTopic>,
}

/// One broker's fetch session.
#[derive(Debug, Clone)]
pub(crate) struct FetchSession {
    /// The session id the broker gave (0: none).
    id: i32,
    /// The epoch of the next request (0: full, asking for a new session).
    epoch: i32,
    /// What the broker holds, as of the last answered request.
    known: BTreeMap<TopicPartition, PartitionFetch>,
    /// What the broker will hold once the request in flight is answered.
    pending: Option<(bool, BTreeMap<TopicPartition, PartitionFetch>)>,
}

impl Default for FetchSession {
    fn default() -> Self {
        Self::new()
    }
}

impl FetchSession {
    /// No session yet: the first request is full.
    pub(crate) fn new() -> Self {
        FetchSession {
            id: 0,
            epoch: 0,
            known: BTreeMap::new(),
            pending: None,
        }
    }

    /// The session id (0: none).
    #[cfg(test)]
    pub(crate) fn id(&self) -> i32 {
        self.id
    }

    /// The partitions the broker holds in the session.
    #[cfg(test)]
    pub(crate) fn known(&self) -> &BTreeMap<TopicPartition, PartitionFetch> {
        &self.known
    }

    /// The request for `wanted` (every partition the consumer wants from
    /// this broker now) at Fetch `version`.
    pub(crate) fn build(
        &mut self,
        wanted: &BTreeMap<TopicPartition, PartitionFetch>,
        version: i16,
    ) -> SessionRequest {
        let by_id = version >= FIRST_TOPIC_ID_VERSION;
        if version < FIRST_SESSION_VERSION {
            // No sessions: a full, sessionless request each time.
            self.id = 0;
            self.epoch = 0;
            self.pending = Some((true, wanted.clone()));
            return SessionRequest {
                session_id: 0,
                session_epoch: FINAL_EPOCH,
                full: true,
                topics: group(wanted.iter(), by_id),
                forgotten: Vec::new(),
            };
        }
        if self.epoch == 0 {
            self.pending = Some((true, wanted.clone()));
            return SessionRequest {
                session_id: self.id,
                session_epoch: 0,
                full: true,
                topics: group(wanted.iter(), by_id),
                forgotten: Vec::new(),
            };
        }
        let mut sent = Vec::new();
        let mut forgotten: Vec<(&TopicPartition, Uuid)> = Vec::new();
        // Both maps are in partition order: one walk of each compares them.
        let mut known = self.known.iter().peekable();
        for (tp, want) in wanted {
            while let Some((gone, fetch)) = known.next_if(|(k, _)| *k < tp) {
                forgotten.push((gone, fetch.topic_id));
            }
            match known.next_if(|(k, _)| *k == tp) {
                // The topic was recreated: drop the old one, add the new.
                Some((old, fetch)) if by_id && want.topic_id != fetch.topic_id => {
                    forgotten.push((old, fetch.topic_id));
                    sent.push((tp, want));
                }
                Some((_, fetch)) if fetch == want => {}
                _ => sent.push((tp, want)),
            }
        }
        forgotten.extend(known.map(|(gone, fetch)| (gone, fetch.topic_id)));
        self.pending = Some((false, wanted.clone()));
        SessionRequest {
            session_id: self.id,
            session_epoch: self.epoch,
            full: false,
            topics: group(sent.into_iter(), by_id),
            forgotten: forgotten_topics(&forgotten, by_id),
        }
    }

    /// The request closing the session (final epoch, no partitions), if
    /// there is one to close; the session starts over afterwards.
    pub(crate) fn close(&mut self) -> Option<SessionRequest> {
        let id = self.id;
        *self = FetchSession::new();
        (id != 0).then(|| SessionRequest {
            session_id: id,
            session_epoch: FINAL_EPOCH,
            full: true,
            topics: Vec::new(),
            forgotten: Vec::new(),
        })
    }

    /// The request built last was not answered (connection lost, timed
    /// out): the broker may or may not have moved the session on, so the
    /// next request replaces it with a new full one.
    pub(crate) fn on_failure(&mut self) {
        self.pending = None;
        self.known.clear();
        // Epoch 0 with the old id asks the broker to drop that session.
        self.epoch = 0;
    }

    /// Applies the answer to the request built last.
    pub(crate) fn on_response(&mut self, response: &FetchResponse) -> SessionOutcome {
        let Some((full, after)) = self.pending.take() else {
            return SessionOutcome::Reset(ErrorCode::Unknown(-1));
        };
        let error = ErrorCode::from_code(response.error_code);
        if !error.is_ok() {
            self.known.clear();
            self.epoch = 0;
            if matches!(
                error,
                ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
            ) {
                // The broker does not know the session (any more).
                self.id = 0;
            }
            return SessionOutcome::Reset(error);
        }
        if full {
            self.id = response.session_id;
            // No session (id 0): keep sending full requests asking for one.
            self.epoch = i32::from(self.id != 0);
        } else {
            self.epoch = next_epoch(self.epoch);
        }
        self.known = if self.id == 0 { BTreeMap::new() } else { after };
        SessionOutcome::Ok
    }

    /// The name of the topic with `id` among those in the session or sent.
    pub(crate) fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.known
            .iter()
            .chain(self.pending.iter().flat_map(|(_, p)| p.iter()))
            .find(|(_, p)| p.topic_id == id)
            .map(|(tp, _)| tp.topic())
    }

    /// Drops a partition from the session's memory so that the next
    /// request sends it again (its answer carried an error).
    pub(crate) fn resend(&mut self, tp: &TopicPartition) {
        if let Some(known) = self.known.get_mut(tp) {
            // An impossible offset differs from whatever is wanted next.
            known.fetch_offset = i64::MIN;
        }
    }
}

/// The epoch after `epoch`: wraps to 1, never to 0 (full) or -1 (final).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

fn group<'a>(
    partitions: impl Iterator<Item = (&'a TopicPartition, &'a PartitionFetch)>,
    by_id: bool,
) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (tp, fetch) in partitions {
        let at = *index.entry(tp.topic()).or_insert_with(|| {
            topics.push(FetchTopic {
                topic: if by_id {
                    String::new()
                } else {
                    tp.topic.to_string()
                },
                topic_id: if by_id {
                    fetch.topic_id
                } else {
                    Uuid::default()
                },
                ..FetchTopic::default()
            });
            topics.len() - 1
        });
        topics[at].partitions.push(FetchPartition {
            partition: tp.partition,
            current_leader_epoch: fetch.current_leader_epoch,
            fetch_offset: fetch.fetch_offset,
            last_fetched_epoch: fetch.last_fetched_epoch,
            log_start_offset: fetch.log_start_offset,
            partition_max_bytes: fetch.max_bytes,
            ..FetchPartition::default()
        });
    }
    topics
}

fn forgotten_topics(partitions: &[(&TopicPartition, Uuid)], by_id: bool) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for (tp, id) in partitions {
        let same = |t: &ForgottenTopic| {
            if by_id {
                t.topic_id == *id
            } else {
                *t.topic == *tp.topic
            }
        };
        if let Some(topic) = topics.iter_mut().find(|t| same(t)) {
            topic.partitions.push(tp.partition);
        } else {
            topics.push(ForgottenTopic {
                topic: if by_id {
                    String::new()
                } else {
                    tp.topic.to_string()
                },
                topic_id: if by_id { *id } else { Uuid::default() },
                partitions: vec![tp.partition],
                ..ForgottenTopic::default()
            });
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use ferrokafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};

    use super::*;

    const V: i16 = 13;

    fn id(n: u8) -> Uuid {
        Uuid([n; 16])
    }

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic.to_string(), partition)
    }

    fn want(topic_id: Uuid, offset: i64) -> PartitionFetch {
        PartitionFetch {
            topic_id,
            fetch_offset: offset,
            current_leader_epoch: 0,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            max_bytes: 1 << 20,
        }
    }

    fn response(error: ErrorCode, session_id: i32) -> FetchResponse {
        FetchResponse {
            error_code: error.code(),
            session_id,
            responses: vec![FetchableTopicResponse {
                topic_id: id(1),
                partitions: vec![PartitionData {
                    partition_index: 0,
                    ..PartitionData::default()
                }],
                ..FetchableTopicResponse::default()
            }],
            ..FetchResponse::default()
        }
    }

    fn sent(request: &SessionRequest) -> Vec<(Uuid, i32, i64)> {
        request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic_id, p.partition, p.fetch_offset))
            })
            .collect()
    }

    fn forgotten(request: &SessionRequest) -> Vec<(Uuid, i32)> {
        request
            .forgotten
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, *p)))
            .collect()
    }

    fn wanted(parts: &[(&str, i32, Uuid, i64)]) -> BTreeMap<TopicPartition, PartitionFetch> {
        parts
            .iter()
            .map(|(t, p, i, o)| (tp(t, *p), want(*i, *o)))
            .collect()
    }

    #[test]
    fn full_then_incremental_sends_only_changes_and_forgets_removed() {
        let mut session = FetchSession::new();
        let all = wanted(&[("a", 0, id(1), 0), ("a", 1, id(1), 0), ("b", 0, id(2), 5)]);
        let first = session.build(&all, V);
        assert!(first.full);
        assert_eq!((first.session_id, first.session_epoch), (0, 0));
        assert_eq!(sent(&first).len(), 3);
        assert_eq!(first.topics.len(), 2, "grouped by topic");
        assert_eq!(
            session.on_response(&response(ErrorCode::None, 77)),
            SessionOutcome::Ok
        );
        assert_eq!(session.id(), 77);

        // Nothing changed: an empty incremental request (a long poll).
        let second = session.build(&all, V);
        assert!(!second.full);
        assert_eq!((second.session_id, second.session_epoch), (77, 1));
        assert!(sent(&second).is_empty() && forgotten(&second).is_empty());
        session.on_response(&response(ErrorCode::None, 77));

        // a-0 moved on, b-0 was dropped, c-0 added.
        let next = wanted(&[("a", 0, id(1), 10), ("a", 1, id(1), 0), ("c", 0, id(3), 0)]);
        let third = session.build(&next, V);
        assert_eq!(third.session_epoch, 2);
        assert_eq!(sent(&third), [(id(1), 0, 10), (id(3), 0, 0)]);
        assert_eq!(forgotten(&third), [(id(2), 0)]);
        session.on_response(&response(ErrorCode::None, 77));
        assert_eq!(session.known().len(), 3);
        assert!(!session.known().contains_key(&tp("b", 0)));
        assert_eq!(session.topic_name(id(3)), Some("c"));

        // The last partitions dropped, and one before the first kept.
        let fourth = session.build(&wanted(&[("a", 1, id(1), 0)]), V);
        assert!(sent(&fourth).is_empty());
        assert_eq!(forgotten(&fourth), [(id(1), 0), (id(3), 0)]);
    }

    #[test]
    fn session_errors_start_a_new_full_session() {
        for error in [
            ErrorCode::FetchSessionIdNotFound,
            ErrorCode::InvalidFetchSessionEpoch,
        ] {
            let mut session = FetchSession::new();
            let all = wanted(&[("a", 0, id(1), 0), ("a", 1, id(1), 3)]);
            session.build(&all, V);
            session.on_response(&response(ErrorCode::None, 9));
            session.build(&all, V);
            assert_eq!(
                session.on_response(&response(error, 0)),
                SessionOutcome::Reset(error)
            );
            let again = session.build(&all, V);
            assert!(again.full);
            assert_eq!((again.session_id, again.session_epoch), (0, 0), "{error:?}");
            assert_eq!(sent(&again).len(), 2);
        }
    }

    #[test]
    fn topic_id_errors_and_failures_resend_everything() {
        let mut session = FetchSession::new();
        let all = wanted(&[("a", 0, id(1), 0)]);
        session.build(&all, V);
        session.on_response(&response(ErrorCode::None, 5));
        session.build(&all, V);
        assert_eq!(
            session.on_response(&response(ErrorCode::FetchSessionTopicIdError, 5)),
            SessionOutcome::Reset(ErrorCode::FetchSessionTopicIdError)
        );
        let again = session.build(&all, V);
        // Epoch 0 under the old id: the broker replaces that session.
        assert_eq!((again.session_id, again.session_epoch), (5, 0));
        assert!(again.full);
        session.on_response(&response(ErrorCode::None, 6));
        session.build(&all, V);
        session.on_failure();
        let after_failure = session.build(&all, V);
        assert!(after_failure.full);
        assert_eq!(after_failure.session_epoch, 0);
    }

    #[test]
    fn a_recreated_topic_is_forgotten_under_its_old_id_and_added_under_the_new() {
        let mut session = FetchSession::new();
        session.build(&wanted(&[("a", 0, id(1), 4)]), V);
        session.on_response(&response(ErrorCode::None, 5));
        let request = session.build(&wanted(&[("a", 0, id(8), 0)]), V);
        assert_eq!(forgotten(&request), [(id(1), 0)]);
        assert_eq!(sent(&request), [(id(8), 0, 0)]);
    }

    #[test]
    fn changed_epochs_or_sizes_are_sent_and_a_resend_is_forced() {
        let mut session = FetchSession::new();
        let all = wanted(&[("a", 0, id(1), 4), ("a", 1, id(1), 4)]);
        session.build(&all, V);
        session.on_response(&response(ErrorCode::None, 5));
        let mut changed = all.clone();
        changed.get_mut(&tp("a", 1)).unwrap().current_leader_epoch = 3;
        let request = session.build(&changed, V);
        assert_eq!(sent(&request), [(id(1), 1, 4)]);
        session.on_response(&response(ErrorCode::None, 5));
        session.resend(&tp("a", 0));
        let request = session.build(&changed, V);
        assert_eq!(sent(&request), [(id(1), 0, 4)]);
    }

    #[test]
    fn no_session_from_the_broker_or_an_old_version_means_full_requests() {
        let mut session = FetchSession::new();
        let all = wanted(&[("a", 0, Uuid::default(), 0)]);
        session.build(&all, V);
        session.on_response(&response(ErrorCode::None, 0));
        let again = session.build(&all, V);
        assert!(again.full && again.session_epoch == 0 && again.session_id == 0);

        let old = session.build(&all, 6);
        assert_eq!((old.session_id, old.session_epoch), (0, -1));
        assert_eq!(old.topics[0].topic, "a", "named before v13");
        assert!(old.full);
    }

    #[test]
    fn close_sends_the_final_epoch_once() {
        let mut session = FetchSession::new();
        assert!(session.close().is_none(), "nothing to close");
        session.build(&wanted(&[("a", 0, id(1), 0)]), V);
        session.on_response(&response(ErrorCode::None, 42));
        let close = session.close().unwrap();
        assert_eq!((close.session_id, close.session_epoch), (42, -1));
        assert!(close.topics.is_empty());
        assert!(session.close().is_none());
        assert_eq!(session.build(&wanted(&[]), V).session_epoch, 0);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(1), 2);
    }

    #[test]
    fn an_unexpected_response_resets() {
        let mut session = FetchSession::new();
        assert!(matches!(
            session.on_response(&response(ErrorCode::None, 3)),
            SessionOutcome::Reset(_)
        ));
    }
}
