//! Partition assignors: the group leader's choice of who consumes what,
//! behind one trait, with the Java client's names so a ferrokafka member and
//! a Java or kafka-python member agree on the protocol.

mod range;
mod round_robin;
mod sticky;

use std::collections::BTreeMap;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};

/// A topic and one of its partitions (the one type every client crate
/// shares, from `ferrokafka-protocol`).
pub use ferrokafka_protocol::TopicPartition;

/// What one member told the leader in its JoinGroup metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its static `group_instance_id`, if any (KIP-345).
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it owns now (cooperative protocol, KIP-429).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it last got an assignment, if known.
    pub generation: Option<i32>,
    /// Its `client_rack`.
    pub rack: Option<String>,
}

impl Subscription {
    /// The key members are ordered by, as the Java client orders them:
    /// static members by instance id, then dynamic ones by member id.
    pub(crate) fn order_key(&self) -> (bool, &str, &str) {
        (
            self.group_instance_id.is_none(),
            self.group_instance_id.as_deref().unwrap_or(""),
            &self.member_id,
        )
    }
}

/// Eager protocols revoke everything before each rebalance; cooperative ones
/// only what moves (KIP-429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Revoke all, then assign.
    Eager,
    /// Revoke only partitions that change owner, in a second rebalance.
    Cooperative,
}

/// Member id → the partitions it is assigned.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// A partition assignment strategy (`partition_assignment_strategy`).
pub trait Assignor: Send + Sync {
    /// The protocol name members advertise (`range`, `roundrobin`, `sticky`,
    /// `cooperative-sticky`), the same as the Java client's.
    fn name(&self) -> &'static str;

    /// Eager or cooperative.
    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    /// Assigns the partitions of `partitions_per_topic` (topic → partition
    /// count) to `members`. Every member appears in the result, possibly
    /// with nothing; topics missing from `partitions_per_topic` are skipped.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> Assignment;
}

/// The assignor called `name`, as `partition_assignment_strategy` names it
/// (Java class names are accepted too).
///
/// ```
/// use ferrokafka_group::assignor::by_name;
/// assert_eq!(by_name("cooperative-sticky").unwrap().name(), "cooperative-sticky");
/// assert_eq!(by_name("org.apache.kafka.clients.consumer.RangeAssignor").unwrap().name(), "range");
/// assert!(by_name("fastest").is_none());
/// ```
pub fn by_name(name: &str) -> Option<Box<dyn Assignor>> {
    let short = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    match short.as_str() {
        "range" | "rangeassignor" | "rangepartitionassignor" => Some(Box::new(RangeAssignor)),
        "roundrobin" | "round-robin" | "roundrobinassignor" | "roundrobinpartitionassignor" => {
            Some(Box::new(RoundRobinAssignor))
        }
        "sticky" | "stickyassignor" | "stickypartitionassignor" => Some(Box::new(StickyAssignor)),
        "cooperative-sticky" | "cooperativestickyassignor" => {
            Some(Box::new(CooperativeStickyAssignor))
        }
        _ => None,
    }
}

/// An assignment with an empty list for every member.
pub(crate) fn empty_assignment(members: &[Subscription]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

/// Members ordered as the Java client orders them.
pub(crate) fn sorted_members(members: &[Subscription]) -> Vec<&Subscription> {
    let mut sorted: Vec<&Subscription> = members.iter().collect();
    sorted.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    sorted
}
