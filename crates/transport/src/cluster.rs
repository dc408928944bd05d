//! What the client knows of the cluster, sans-I/O: brokers, topics,
//! partition leaders with their epochs. Metadata responses update it; errors
//! that mean "your view is old" mark it stale; its age says when to refresh.
//! Lookups route requests to leaders.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::MetadataResponse;
use ferrokafka_protocol::{ErrorCode, Uuid};

/// A broker's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Node id.
    pub node_id: i32,
    /// Host clients connect to.
    pub host: String,
    /// Port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

impl BrokerAddress {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Produce and Fetch answers each carry their own (generated) copy of the
/// same two structures: the brokers they name and a partition's leader.
macro_rules! from_answer {
    ($($message:ident),*) => {$(
        impl From<&ferrokafka_protocol::messages::$message::NodeEndpoint> for BrokerAddress {
            fn from(node: &ferrokafka_protocol::messages::$message::NodeEndpoint) -> Self {
                BrokerAddress {
                    node_id: node.node_id,
                    host: node.host.clone(),
                    port: node.port,
                    rack: node.rack.clone(),
                }
            }
        }

        impl From<&ferrokafka_protocol::messages::$message::LeaderIdAndEpoch> for LeaderHint {
            fn from(leader: &ferrokafka_protocol::messages::$message::LeaderIdAndEpoch) -> Self {
                LeaderHint {
                    leader: leader.leader_id,
                    leader_epoch: leader.leader_epoch,
                }
            }
        }
    )*};
}

from_answer!(produce_response, fetch_response);

/// The leader a broker names for a partition it refused a request for
/// (`CurrentLeader` in Produce and Fetch answers, KIP-951); -1 for either
/// when it names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderHint {
    /// The leader's node id.
    pub leader: i32,
    /// Its leader epoch.
    pub leader_epoch: i32,
}

/// What a leader hint did to the view ([`ClusterView::note_leader`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hinted {
    /// The partition moved to the leader named.
    Moved,
    /// The view already knew as much: nothing to refresh.
    Unchanged,
    /// The hint did not settle it: the view is stale.
    Stale,
}

/// One partition as the last metadata described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// Partition index.
    pub index: i32,
    /// Leader node id (-1 when there is none).
    pub leader: i32,
    /// Leader epoch (-1 when the broker does not say).
    pub leader_epoch: i32,
    /// Replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The partition-level error the broker reported.
    pub error: ErrorCode,
}

/// One topic as the last metadata described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    /// Topic id (KIP-516).
    pub id: Uuid,
    /// Whether it is internal (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionView>,
}

impl TopicView {
    /// The partition with `index`, when known.
    pub fn partition(&self, index: i32) -> Option<&PartitionView> {
        self.position(index).map(|at| &self.partitions[at])
    }

    fn partition_mut(&mut self, index: i32) -> Option<&mut PartitionView> {
        self.position(index).map(|at| &mut self.partitions[at])
    }

    /// Where partition `index` is in `partitions`. Sorted by index, and a
    /// topic's indexes are 0..count: partition i is at i (callers ask per
    /// partition, so a scan would cost O(partitions) each time); a gap
    /// falls back to a search.
    fn position(&self, index: i32) -> Option<usize> {
        usize::try_from(index)
            .ok()
            .filter(|&at| self.partitions.get(at).is_some_and(|p| p.index == index))
            .or_else(|| {
                self.partitions
                    .binary_search_by_key(&index, |p| p.index)
                    .ok()
            })
    }
}

/// The client's view of the cluster.
#[derive(Debug, Clone)]
pub struct ClusterView {
    max_age: Duration,
    brokers: BTreeMap<i32, BrokerAddress>,
    topics: HashMap<String, TopicView>,
    topic_errors: HashMap<String, ErrorCode>,
    cluster_id: Option<String>,
    controller: Option<i32>,
    updated: Option<Instant>,
    changes: u64,
    stale: bool,
}

impl ClusterView {
    /// An empty view refreshed at least every `metadata_max_age_ms`.
    pub fn new(max_age: Duration) -> Self {
        ClusterView {
            max_age,
            brokers: BTreeMap::new(),
            topics: HashMap::new(),
            topic_errors: HashMap::new(),
            cluster_id: None,
            controller: None,
            updated: None,
            changes: 0,
            stale: true,
        }
    }

    /// Forgets the brokers (and controller) the metadata named and marks the
    /// view stale: for a rebootstrap, after which only the bootstrap
    /// servers are asked. Topics stay until the next metadata replaces them;
    /// their leaders resolve to no broker meanwhile.
    pub fn forget_brokers(&mut self) {
        self.brokers.clear();
        self.controller = None;
        self.stale = true;
    }

    /// Takes in a Metadata response. Brokers and cluster facts are replaced;
    /// topics in the response are replaced, except that a partition whose
    /// leader epoch went backwards (an older broker's answer, KIP-320) keeps
    /// what the view had and the view stays stale.
    pub fn update(&mut self, now: Instant, response: &MetadataResponse) {
        self.brokers = response
            .brokers
            .iter()
            .map(|b| {
                let address = BrokerAddress {
                    node_id: b.node_id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: b.rack.clone(),
                };
                (b.node_id, address)
            })
            .collect();
        self.cluster_id.clone_from(&response.cluster_id);
        self.controller = (response.controller_id >= 0).then_some(response.controller_id);
        let mut went_backwards = false;
        for topic in &response.topics {
            let Some(name) = topic.name.clone() else {
                continue;
            };
            let error = ErrorCode::from_code(topic.error_code);
            if error.is_ok() {
                self.topic_errors.remove(&name);
            } else {
                self.topic_errors.insert(name.clone(), error);
            }
            // A topic the broker is still creating (LEADER_NOT_AVAILABLE
            // with no partitions, after a request asking for automatic
            // creation) is not known yet: a view with no partitions would
            // read as a topic that has none.
            if error == ErrorCode::UnknownTopicOrPartition
                || (!error.is_ok() && topic.partitions.is_empty())
            {
                self.topics.remove(&name);
                continue;
            }
            let previous = self.topics.get(&name);
            let mut partitions: Vec<PartitionView> = topic
                .partitions
                .iter()
                .map(|p| {
                    let fresh = PartitionView {
                        index: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        error: ErrorCode::from_code(p.error_code),
                    };
                    match previous.and_then(|t| t.partition(p.partition_index)) {
                        Some(old)
                            if fresh.leader_epoch >= 0 && fresh.leader_epoch < old.leader_epoch =>
                        {
                            went_backwards = true;
                            old.clone()
                        }
                        _ => fresh,
                    }
                })
                .collect();
            partitions.sort_by_key(|p| p.index);
            self.topics.insert(
                name,
                TopicView {
                    id: topic.topic_id,
                    internal: topic.is_internal,
                    partitions,
                },
            );
        }
        self.updated = Some(now);
        self.changes += 1;
        self.stale = went_backwards;
    }

    /// Marks the view stale if `error` means a request went to the wrong
    /// place or a topic changed (returns whether it did).
    pub fn note_error(&mut self, error: ErrorCode) -> bool {
        let stale = matches!(
            error,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::KafkaStorageError
                | ErrorCode::UnknownTopicId
                | ErrorCode::InconsistentTopicId
        );
        self.stale |= stale;
        stale
    }

    /// Takes in what a broker said of a partition when it refused a Produce
    /// or Fetch as no longer (or not yet) its leader: the leader and epoch
    /// its own metadata names, and the addresses of the brokers it named
    /// (KIP-951).
    ///
    /// - A newer epoch than the view's moves the partition to the named
    ///   leader at once, without a metadata request, when its address is
    ///   known (from the view or from `endpoints`): [`Hinted::Moved`].
    /// - The view's own leader at the view's epoch, or an older epoch, says
    ///   nothing a metadata request would improve on: the broker has not
    ///   taken up the leadership the metadata gives it yet (a partition
    ///   just created), or it lags. The view stays fresh and the request is
    ///   retried after its backoff: [`Hinted::Unchanged`].
    /// - No leader named (-1), another leader at the same epoch, a newer
    ///   leader with no known address, or a partition the view does not
    ///   know: the view is stale, as without a hint: [`Hinted::Stale`].
    pub fn note_leader(
        &mut self,
        topic: &str,
        partition: i32,
        hint: LeaderHint,
        endpoints: impl IntoIterator<Item = BrokerAddress>,
    ) -> Hinted {
        for endpoint in endpoints {
            self.brokers.entry(endpoint.node_id).or_insert(endpoint);
        }
        let known = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partition_mut(partition));
        let hinted = match known {
            Some(_) if hint.leader < 0 || hint.leader_epoch < 0 => Hinted::Stale,
            Some(known) if hint.leader_epoch > known.leader_epoch => {
                if self.brokers.contains_key(&hint.leader) {
                    known.leader = hint.leader;
                    known.leader_epoch = hint.leader_epoch;
                    self.changes += 1;
                    Hinted::Moved
                } else {
                    Hinted::Stale
                }
            }
            Some(known)
                if hint.leader_epoch < known.leader_epoch || hint.leader == known.leader =>
            {
                Hinted::Unchanged
            }
            _ => Hinted::Stale,
        };
        self.stale |= hinted == Hinted::Stale;
        hinted
    }

    /// Marks the view stale, to be refreshed before its next use.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// How many times leaders may have moved in the view: metadata taken
    /// in, and leaders taken from refusals ([`ClusterView::note_leader`]).
    /// A reader that acts on leader changes (KIP-320's validation) looks
    /// again when it grows.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// When the view was last updated.
    pub fn updated(&self) -> Option<Instant> {
        self.updated
    }

    /// The error the last metadata response gave for `topic`, if any
    /// (UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED, ...).
    pub fn topic_error(&self, topic: &str) -> Option<ErrorCode> {
        self.topic_errors.get(topic).copied()
    }

    /// Whether to fetch metadata now: never fetched, stale, or older than
    /// `metadata_max_age_ms`.
    pub fn needs_refresh(&self, now: Instant) -> bool {
        self.stale || self.updated.is_none_or(|at| now >= at + self.max_age)
    }

    /// When the view reaches its maximum age.
    pub fn next_refresh(&self) -> Option<Instant> {
        self.updated.map(|at| at + self.max_age)
    }

    /// The leader of `topic`/`partition`, when known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<&BrokerAddress> {
        self.leader_in(self.topics.get(topic)?, partition)
    }

    /// [`ClusterView::leader`] of a partition of `topic`, a view already
    /// looked up (as when walking many partitions of one topic).
    pub fn leader_in(&self, topic: &TopicView, partition: i32) -> Option<&BrokerAddress> {
        self.brokers.get(&topic.partition(partition)?.leader)
    }

    /// The partitions of `topic`, when known.
    pub fn topic(&self, topic: &str) -> Option<&TopicView> {
        self.topics.get(topic)
    }

    /// Partitions of `topic` with a known leader, ascending (where keyless
    /// records may go).
    pub fn available_partitions(&self, topic: &str) -> Vec<i32> {
        self.topics.get(topic).map_or_else(Vec::new, |t| {
            t.partitions
                .iter()
                .filter(|p| self.brokers.contains_key(&p.leader))
                .map(|p| p.index)
                .collect()
        })
    }

    /// The names of the topics the view holds.
    pub fn topic_names(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(String::as_str)
    }

    /// A broker by id.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerAddress> {
        self.brokers.get(&node_id)
    }

    /// Every known broker, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerAddress> {
        self.brokers.values()
    }

    /// Whether `busy` holds for every known broker (false when none is
    /// known). A client whose every broker has all the requests in flight
    /// it allows can send nothing, and need not walk its partitions to
    /// find that out: at thousands of partitions that walk, made at each
    /// wake-up, cost more than the records.
    pub fn every_broker(&self, mut busy: impl FnMut(i32) -> bool) -> bool {
        !self.brokers.is_empty() && self.brokers.keys().all(|&node| busy(node))
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The controller's node id, when the broker says.
    pub fn controller(&self) -> Option<i32> {
        self.controller
    }
}

#[cfg(test)]
mod tests {
    use ferrokafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    use super::*;

    fn response(leader_of_0: i32, epoch: i32) -> MetadataResponse {
        MetadataResponse {
            brokers: (1..=3)
                .map(|id| MetadataResponseBroker {
                    node_id: id,
                    host: "127.0.0.1".into(),
                    port: 9090 + id,
                    ..Default::default()
                })
                .collect(),
            cluster_id: Some("c".into()),
            controller_id: 1,
            topics: vec![MetadataResponseTopic {
                name: Some("orders".into()),
                partitions: vec![
                    MetadataResponsePartition {
                        partition_index: 1,
                        leader_id: -1,
                        leader_epoch: 0,
                        ..Default::default()
                    },
                    MetadataResponsePartition {
                        partition_index: 0,
                        leader_id: leader_of_0,
                        leader_epoch: epoch,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..MetadataResponse::default()
        }
    }

    #[test]
    fn routes_to_leaders_and_lists_available_partitions() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        assert!(view.needs_refresh(now));
        view.update(now, &response(2, 5));
        assert!(!view.needs_refresh(now));
        assert_eq!(
            view.leader("orders", 0)
                .map(BrokerAddress::address)
                .as_deref(),
            Some("127.0.0.1:9092")
        );
        assert!(view.leader("orders", 1).is_none(), "no leader");
        assert_eq!(view.available_partitions("orders"), [0]);
        assert_eq!(
            view.topic("orders")
                .unwrap()
                .partitions
                .iter()
                .map(|p| p.index)
                .collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!((view.cluster_id(), view.controller()), (Some("c"), Some(1)));
    }

    fn hint(leader: i32, leader_epoch: i32) -> LeaderHint {
        LeaderHint {
            leader,
            leader_epoch,
        }
    }

    #[test]
    fn a_newer_leader_named_by_a_refusal_is_taken_without_a_refresh() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        view.update(now, &response(2, 5));
        assert_eq!(view.note_leader("orders", 0, hint(3, 6), []), Hinted::Moved);
        assert!(!view.needs_refresh(now));
        assert_eq!(view.leader("orders", 0).map(|b| b.node_id), Some(3));
        assert_eq!(
            view.topic("orders")
                .unwrap()
                .partition(0)
                .unwrap()
                .leader_epoch,
            6
        );
        assert_eq!(view.changes(), 2, "readers of leader epochs look again");
    }

    #[test]
    fn a_leader_at_an_address_the_view_lacks_is_taken_from_the_endpoints() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        view.update(now, &response(2, 5));
        let new_broker = BrokerAddress {
            node_id: 7,
            host: "127.0.0.7".into(),
            port: 9097,
            rack: None,
        };
        assert_eq!(
            view.note_leader("orders", 0, hint(7, 6), []),
            Hinted::Stale,
            "address unknown"
        );
        view.update(now, &response(2, 5));
        assert_eq!(
            view.note_leader("orders", 0, hint(7, 6), [new_broker]),
            Hinted::Moved
        );
        assert_eq!(
            view.leader("orders", 0)
                .map(BrokerAddress::address)
                .as_deref(),
            Some("127.0.0.7:9097")
        );
    }

    #[test]
    fn the_known_leader_or_an_older_epoch_needs_no_refresh() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        view.update(now, &response(2, 5));
        assert_eq!(
            view.note_leader("orders", 0, hint(2, 5), []),
            Hinted::Unchanged,
            "not ready yet"
        );
        assert_eq!(
            view.note_leader("orders", 0, hint(3, 4), []),
            Hinted::Unchanged,
            "the broker lags"
        );
        assert!(!view.needs_refresh(now));
        assert_eq!(view.leader("orders", 0).map(|b| b.node_id), Some(2));
        assert_eq!(view.changes(), 1, "nothing moved");
    }

    #[test]
    fn a_hint_that_names_no_leader_or_contradicts_the_view_marks_it_stale() {
        let now = Instant::now();
        for (partition, given) in [(0, hint(-1, -1)), (0, hint(3, 5)), (9, hint(2, 5))] {
            let mut view = ClusterView::new(Duration::from_secs(300));
            view.update(now, &response(2, 5));
            assert_eq!(
                view.note_leader("orders", partition, given, []),
                Hinted::Stale,
                "{given:?}"
            );
            assert!(view.needs_refresh(now));
            assert_eq!(view.leader("orders", 0).map(|b| b.node_id), Some(2));
        }
    }

    #[test]
    fn every_broker_asks_each_known_broker_and_none_of_an_empty_view() {
        let mut view = ClusterView::new(Duration::from_secs(300));
        assert!(!view.every_broker(|_| true), "no broker known yet");
        view.update(Instant::now(), &response(2, 5));
        let mut asked = Vec::new();
        assert!(view.every_broker(|node| {
            asked.push(node);
            true
        }));
        assert_eq!(asked, [1, 2, 3]);
        assert!(!view.every_broker(|node| node != 3));
    }

    #[test]
    fn leaders_are_found_by_index_even_past_a_gap_in_the_partitions() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        let mut answer = response(2, 5);
        // Partition 1 missing from the answer: 0 and 2 only.
        answer.topics[0].partitions = vec![
            MetadataResponsePartition {
                partition_index: 2,
                leader_id: 3,
                ..Default::default()
            },
            MetadataResponsePartition {
                partition_index: 0,
                leader_id: 1,
                ..Default::default()
            },
        ];
        view.update(now, &answer);
        let leader = |p| view.leader("orders", p).map(|b| b.node_id);
        assert_eq!(leader(0), Some(1));
        assert_eq!(leader(1), None);
        assert_eq!(leader(2), Some(3));
        assert_eq!(leader(-1), None);
        assert_eq!(leader(3), None);
        let topic = view.topic("orders").unwrap();
        let index = |p| topic.partition(p).map(|p| p.index);
        assert_eq!((index(0), index(1), index(2)), (Some(0), None, Some(2)));
    }

    #[test]
    fn an_older_leader_epoch_does_not_overwrite_a_newer_one() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        view.update(now, &response(2, 5));
        view.update(now, &response(3, 4));
        assert_eq!(view.leader("orders", 0).unwrap().node_id, 2);
        assert!(
            view.needs_refresh(now),
            "a backwards answer leaves the view stale"
        );
        view.update(now, &response(3, 6));
        assert_eq!(view.leader("orders", 0).unwrap().node_id, 3);
        assert!(!view.needs_refresh(now));
    }

    #[test]
    fn stale_errors_and_age_ask_for_a_refresh() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        view.update(now, &response(2, 5));
        assert!(!view.note_error(ErrorCode::MessageTooLarge));
        assert!(!view.needs_refresh(now));
        assert!(view.note_error(ErrorCode::NotLeaderOrFollower));
        assert!(view.needs_refresh(now));
        view.update(now, &response(2, 5));
        assert!(!view.needs_refresh(now + Duration::from_secs(299)));
        assert!(view.needs_refresh(now + Duration::from_secs(300)));
        assert_eq!(view.next_refresh(), Some(now + Duration::from_secs(300)));
    }

    #[test]
    fn a_deleted_topic_disappears() {
        let now = Instant::now();
        let mut view = ClusterView::new(Duration::from_secs(300));
        view.update(now, &response(2, 5));
        let mut gone = response(2, 5);
        gone.topics[0].error_code = ErrorCode::UnknownTopicOrPartition.code();
        view.update(now, &gone);
        assert!(view.topic("orders").is_none());
    }
}
