//! A share session with one broker (KIP-932), sans-I/O: the share
//! consumer's counterpart of the fetch session (`fetch_session.rs`).
//!
//! A share session is keyed by the group and the member id. Epoch 0 opens
//! it and lists every partition to fetch; each later request, ShareFetch or
//! ShareAcknowledge, carries the next epoch and only what changed: the
//! partitions added, those with acknowledgements, and the ones to forget.
//! Epoch -1 closes it. Acknowledgements cannot ride on the opening request
//! (the broker refuses them there) and ShareAcknowledge cannot open a
//! session, so pending acknowledgements wait until the session is open.
//! A session error (SHARE_SESSION_NOT_FOUND, INVALID_SHARE_SESSION_EPOCH)
//! or a request lost on the way opens a new one.

use std::collections::BTreeSet;

use ferrokafka_group::share_acks::{PartitionBatches, acknowledge_topics, fetch_topics};
use ferrokafka_protocol::messages::share_acknowledge_request::AcknowledgeTopic;
use ferrokafka_protocol::messages::share_fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

/// The epoch that opens a session.
const OPEN_EPOCH: i32 = 0;
/// The epoch that closes a session.
pub(crate) const CLOSE_EPOCH: i32 = -1;

/// A partition of a share session: topic id and partition index.
pub(crate) type SharePartition = (Uuid, i32);

/// The parts of a ShareFetch the session decides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShareFetchParts {
    /// `ShareSessionEpoch`.
    pub(crate) epoch: i32,
    /// The partitions to add, and those whose acknowledgements ride along.
    pub(crate) topics: Vec<FetchTopic>,
    /// The partitions to drop from the session.
    pub(crate) forgotten: Vec<ForgottenTopic>,
}

/// One broker's share session.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShareSession {
    /// The epoch the next request carries (0: the session is not open).
    epoch: i32,
    /// The partitions the broker holds in the session.
    partitions: BTreeSet<SharePartition>,
}

impl ShareSession {
    /// Whether the next request may carry acknowledgements (the session is
    /// open).
    pub(crate) fn is_open(&self) -> bool {
        self.epoch != OPEN_EPOCH
    }

    /// The partitions the broker holds for this session.
    pub(crate) fn partitions(&self) -> &BTreeSet<SharePartition> {
        &self.partitions
    }

    /// The next ShareFetch: fetching `wanted` from now on, carrying `acks`
    /// (which must be empty while the session is not open). A partition
    /// with acknowledgements is forgotten only by the request after them.
    pub(crate) fn fetch(
        &mut self,
        wanted: &BTreeSet<SharePartition>,
        acks: &[PartitionBatches],
    ) -> ShareFetchParts {
        debug_assert!(self.is_open() || acks.is_empty());
        let acked: BTreeSet<SharePartition> =
            acks.iter().map(|p| (p.topic_id, p.partition)).collect();
        let mut topics = fetch_topics(acks);
        let added: Vec<SharePartition> = if self.is_open() {
            wanted.difference(&self.partitions).copied().collect()
        } else {
            wanted.iter().copied().collect()
        };
        for (topic_id, partition) in added.iter().filter(|p| !acked.contains(p)) {
            add_partition(&mut topics, *topic_id, *partition);
        }
        let forgotten: Vec<SharePartition> = if self.is_open() {
            self.partitions
                .iter()
                .filter(|p| !wanted.contains(p) && !acked.contains(p))
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        if !self.is_open() {
            self.partitions.clear();
        }
        self.partitions.extend(added);
        self.partitions.extend(acked);
        for p in &forgotten {
            self.partitions.remove(p);
        }
        ShareFetchParts {
            epoch: self.advance(),
            topics,
            forgotten: forgotten_topics(&forgotten),
        }
    }

    /// The next ShareAcknowledge, carrying `acks`; `None` while the session
    /// is not open (ShareAcknowledge cannot open one).
    pub(crate) fn acknowledge(
        &mut self,
        acks: &[PartitionBatches],
    ) -> Option<(i32, Vec<AcknowledgeTopic>)> {
        if !self.is_open() {
            return None;
        }
        Some((self.advance(), acknowledge_topics(acks)))
    }

    /// Closes the session: the epoch a last ShareAcknowledge (or ShareFetch)
    /// carries, or `None` when no session is open.
    pub(crate) fn close(&mut self) -> Option<i32> {
        let open = self.is_open();
        self.reset();
        open.then_some(CLOSE_EPOCH)
    }

    /// Reads a response's top-level error: a session error opens a new
    /// session with the next request. Returns whether the session survived.
    pub(crate) fn on_error(&mut self, error: ErrorCode) -> bool {
        if matches!(
            error,
            ErrorCode::ShareSessionNotFound | ErrorCode::InvalidShareSessionEpoch
        ) {
            self.reset();
            return false;
        }
        true
    }

    /// The request never got an answer: the broker may or may not have
    /// moved the epoch on, so start again.
    pub(crate) fn on_failure(&mut self) {
        self.reset();
    }

    fn reset(&mut self) {
        self.epoch = OPEN_EPOCH;
        self.partitions.clear();
    }

    /// The epoch to send now; moves the next one on (wrapping to 1, as 0
    /// would reopen).
    fn advance(&mut self) -> i32 {
        let epoch = self.epoch;
        self.epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        epoch
    }
}

fn add_partition(topics: &mut Vec<FetchTopic>, topic_id: Uuid, partition: i32) {
    let entry = FetchPartition {
        partition_index: partition,
        ..FetchPartition::default()
    };
    match topics.iter_mut().find(|t| t.topic_id == topic_id) {
        Some(topic) => topic.partitions.push(entry),
        None => topics.push(FetchTopic {
            topic_id,
            partitions: vec![entry],
            ..FetchTopic::default()
        }),
    }
}

fn forgotten_topics(partitions: &[SharePartition]) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for (topic_id, partition) in partitions {
        match topics.last_mut() {
            Some(topic) if topic.topic_id == *topic_id => topic.partitions.push(*partition),
            _ => topics.push(ForgottenTopic {
                topic_id: *topic_id,
                partitions: vec![*partition],
                ..ForgottenTopic::default()
            }),
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use ferrokafka_group::share_acks::AckBatch;

    use super::*;

    const A: Uuid = Uuid([1; 16]);
    const B: Uuid = Uuid([2; 16]);

    fn set(partitions: &[SharePartition]) -> BTreeSet<SharePartition> {
        partitions.iter().copied().collect()
    }

    fn listed(parts: &ShareFetchParts) -> Vec<SharePartition> {
        parts
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, p.partition_index)))
            .collect()
    }

    fn forgotten(parts: &ShareFetchParts) -> Vec<SharePartition> {
        parts
            .forgotten
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, *p)))
            .collect()
    }

    fn accept(topic_id: Uuid, partition: i32, offset: i64) -> PartitionBatches {
        PartitionBatches {
            topic_id,
            partition,
            batches: vec![AckBatch {
                first_offset: offset,
                last_offset: offset,
                acknowledge_types: vec![1],
            }],
        }
    }

    #[test]
    fn the_first_request_opens_with_every_partition_then_only_changes_go() {
        let mut session = ShareSession::default();
        assert!(!session.is_open());
        assert_eq!(session.acknowledge(&[accept(A, 0, 1)]), None);
        let wanted = set(&[(A, 0), (A, 1)]);
        let open = session.fetch(&wanted, &[]);
        assert_eq!(open.epoch, 0);
        assert_eq!(listed(&open), vec![(A, 0), (A, 1)]);
        assert!(session.is_open());

        let same = session.fetch(&wanted, &[]);
        assert_eq!(same.epoch, 1);
        assert!(listed(&same).is_empty(), "the broker holds them");
        assert!(forgotten(&same).is_empty());

        let moved = session.fetch(&set(&[(A, 1), (B, 0)]), &[]);
        assert_eq!(moved.epoch, 2);
        assert_eq!(listed(&moved), vec![(B, 0)]);
        assert_eq!(forgotten(&moved), vec![(A, 0)]);
        assert_eq!(session.partitions(), &set(&[(A, 1), (B, 0)]));
    }

    #[test]
    fn acknowledgements_ride_on_fetches_and_delay_forgetting() {
        let mut session = ShareSession::default();
        session.fetch(&set(&[(A, 0)]), &[]);
        // The partition was revoked with an acknowledgement still to send.
        let parts = session.fetch(&set(&[(B, 0)]), &[accept(A, 0, 7)]);
        let a0 = &parts
            .topics
            .iter()
            .find(|t| t.topic_id == A)
            .unwrap()
            .partitions[0];
        assert_eq!(a0.acknowledgement_batches[0].first_offset, 7);
        assert!(forgotten(&parts).is_empty(), "acknowledged first");
        let next = session.fetch(&set(&[(B, 0)]), &[]);
        assert_eq!(forgotten(&next), vec![(A, 0)]);
        assert!(listed(&next).is_empty());
    }

    #[test]
    fn acknowledge_moves_the_epoch_and_close_ends_the_session() {
        let mut session = ShareSession::default();
        session.fetch(&set(&[(A, 0)]), &[]);
        let (epoch, topics) = session.acknowledge(&[accept(A, 0, 3)]).unwrap();
        assert_eq!(epoch, 1);
        assert_eq!(topics[0].partitions[0].acknowledgement_batches.len(), 1);
        assert_eq!(session.fetch(&set(&[(A, 0)]), &[]).epoch, 2);
        assert_eq!(session.close(), Some(CLOSE_EPOCH));
        assert_eq!(session.close(), None, "closed already");
        assert_eq!(session.fetch(&set(&[(A, 0)]), &[]).epoch, 0);
    }

    #[test]
    fn session_errors_and_lost_requests_reopen_with_every_partition() {
        let mut session = ShareSession::default();
        let wanted = set(&[(A, 0), (B, 3)]);
        session.fetch(&wanted, &[]);
        session.fetch(&wanted, &[]);
        assert!(session.on_error(ErrorCode::None));
        assert!(session.on_error(ErrorCode::NotLeaderOrFollower));
        assert!(!session.on_error(ErrorCode::InvalidShareSessionEpoch));
        let reopened = session.fetch(&wanted, &[]);
        assert_eq!((reopened.epoch, listed(&reopened).len()), (0, 2));
        session.on_failure();
        assert_eq!(session.fetch(&wanted, &[]).epoch, 0);
        assert!(!session.on_error(ErrorCode::ShareSessionNotFound));
        assert!(!session.is_open());
    }

    #[test]
    fn the_epoch_wraps_past_the_largest_to_one() {
        let mut session = ShareSession {
            epoch: i32::MAX,
            partitions: BTreeSet::new(),
        };
        assert_eq!(session.fetch(&BTreeSet::new(), &[]).epoch, i32::MAX);
        assert_eq!(session.fetch(&BTreeSet::new(), &[]).epoch, 1);
    }
}
