//! Round-robin: all partitions in topic order, dealt to members in turn,
//! skipping members not subscribed to a partition's topic.

use std::collections::BTreeMap;

use super::{Assignment, Assignor, Subscription, TopicPartition, empty_assignment, sorted_members};

/// The `roundrobin` assignor (the Java client's `RoundRobinAssignor`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> Assignment {
        let mut assignment = empty_assignment(members);
        let members = sorted_members(members);
        if members.is_empty() {
            return assignment;
        }
        let mut turn = 0usize;
        for (topic, &count) in partitions_per_topic {
            if !members.iter().any(|m| m.topics.contains(topic)) {
                continue;
            }
            for partition in 0..count.max(0) {
                // Advance the circle to the next member subscribed to this topic.
                while !members[turn % members.len()].topics.contains(topic) {
                    turn += 1;
                }
                let member = members[turn % members.len()];
                assignment
                    .get_mut(&member.member_id)
                    .expect("every member has an entry")
                    .push(TopicPartition::new(topic.clone(), partition));
                turn += 1;
            }
        }
        assignment
    }
}
