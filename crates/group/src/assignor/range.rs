//! Range: per topic, consecutive partitions to members in order, the first
//! `partitions % members` members getting one more.

use std::collections::BTreeMap;

use super::{Assignment, Assignor, Subscription, TopicPartition, empty_assignment, sorted_members};

/// The `range` assignor (the Java client's `RangeAssignor`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> Assignment {
        let mut assignment = empty_assignment(members);
        let members = sorted_members(members);
        for (topic, &count) in partitions_per_topic {
            let subscribers: Vec<&&Subscription> = members
                .iter()
                .filter(|m| m.topics.contains(topic))
                .collect();
            if subscribers.is_empty() || count <= 0 {
                continue;
            }
            let n = subscribers.len() as i32;
            let (per_member, extra) = (count / n, count % n);
            for (i, member) in subscribers.iter().enumerate() {
                let i = i as i32;
                let start = per_member * i + i.min(extra);
                let len = per_member + i32::from(i < extra);
                let owned = assignment
                    .get_mut(&member.member_id)
                    .expect("every member has an entry");
                owned.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p)));
            }
        }
        assignment
    }
}
