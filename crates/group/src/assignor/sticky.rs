//! Sticky: as balanced as round-robin, while moving as few partitions as
//! possible from the members that own them. The cooperative variant takes a
//! partition that changes owner out of this round, so its old owner revokes
//! it first and a follow-up rebalance hands it over (KIP-429).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    Assignment, Assignor, RebalanceProtocol, Subscription, TopicPartition, empty_assignment,
    sorted_members,
};

/// The `sticky` assignor (eager).
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

/// The `cooperative-sticky` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> Assignment {
        sticky_assignment(partitions_per_topic, members)
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> Assignment {
        let mut assignment = sticky_assignment(partitions_per_topic, members);
        let mut owners: HashMap<&TopicPartition, Vec<&str>> = HashMap::new();
        for m in members {
            for tp in &m.owned_partitions {
                owners.entry(tp).or_default().push(m.member_id.as_str());
            }
        }
        // A partition another member owns moves only after that member
        // revoked it; one the assignee already (co-)owns stays with it.
        for (member, partitions) in &mut assignment {
            partitions.retain(|tp| {
                owners
                    .get(tp)
                    .is_none_or(|claimants| claimants.contains(&member.as_str()))
            });
        }
        assignment
    }
}

fn sticky_assignment(
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &[Subscription],
) -> Assignment {
    let mut assignment = empty_assignment(members);
    let members = sorted_members(members);
    let subscribed =
        |member: &Subscription, tp: &TopicPartition| member.topics.iter().any(|t| **t == *tp.topic);
    let exists = |tp: &TopicPartition| {
        partitions_per_topic
            .get(tp.topic())
            .is_some_and(|&n| tp.partition >= 0 && tp.partition < n)
    };

    // Keep what members own and may still own. When two claim one
    // partition, the newer generation wins, then the member order.
    let mut claimants: Vec<&Subscription> = members.clone();
    claimants.sort_by_key(|m| std::cmp::Reverse(m.generation.unwrap_or(-1)));
    let mut taken = BTreeSet::new();
    let mut kept: HashMap<&str, BTreeSet<TopicPartition>> = HashMap::new();
    for member in &claimants {
        for tp in &member.owned_partitions {
            if exists(tp) && subscribed(member, tp) && taken.insert(tp.clone()) {
                kept.entry(member.member_id.as_str())
                    .or_default()
                    .insert(tp.clone());
            }
        }
    }

    let mut load: BTreeMap<&str, BTreeSet<TopicPartition>> = members
        .iter()
        .map(|m| {
            (
                m.member_id.as_str(),
                kept.remove(m.member_id.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    let by_id: HashMap<&str, &Subscription> =
        members.iter().map(|m| (m.member_id.as_str(), *m)).collect();

    // Hand out the rest, partitions with the fewest candidates first, each
    // to the least-loaded member that can take it.
    let mut unassigned: Vec<(usize, TopicPartition)> = partitions_per_topic
        .iter()
        .flat_map(|(topic, &count)| {
            (0..count.max(0)).map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .filter(|tp| !taken.contains(tp))
        .map(|tp| (members.iter().filter(|m| subscribed(m, &tp)).count(), tp))
        .filter(|(candidates, _)| *candidates > 0)
        .collect();
    unassigned.sort();
    let mut newly_assigned = BTreeSet::new();
    for (_, tp) in unassigned {
        let target = members
            .iter()
            .filter(|m| subscribed(m, &tp))
            .min_by_key(|m| load[m.member_id.as_str()].len())
            .expect("only partitions with candidates are left");
        load.get_mut(target.member_id.as_str())
            .expect("member")
            .insert(tp.clone());
        newly_assigned.insert(tp);
    }

    // Balance: move from the most to the least loaded member that can take
    // a partition, while they differ by more than one. Each move lowers the
    // spread, so this ends; moving newly assigned partitions first keeps
    // owned ones where they are.
    let total: usize = load.values().map(BTreeSet::len).sum();
    for _ in 0..=total * members.len() {
        let mut order: Vec<&str> = load.keys().copied().collect();
        order.sort_by_key(|id| load[id].len());
        let mut moved = false;
        'search: for &heavy in order.iter().rev() {
            for &light in &order {
                if load[heavy].len() <= load[light].len() + 1 {
                    break;
                }
                let light_member = by_id[light];
                let candidate = load[heavy]
                    .iter()
                    .filter(|tp| subscribed(light_member, tp))
                    .min_by_key(|tp| (!newly_assigned.contains(*tp), (*tp).clone()))
                    .cloned();
                if let Some(tp) = candidate {
                    load.get_mut(heavy).expect("member").remove(&tp);
                    load.get_mut(light).expect("member").insert(tp);
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }

    for (member, partitions) in load {
        assignment.insert(member.to_string(), partitions.into_iter().collect());
    }
    assignment
}
