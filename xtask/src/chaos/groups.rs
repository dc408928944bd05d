//! The consumer-group workload: members of one group (classic or KIP-848)
//! read the idempotent producer's topic, commit after each poll, and are
//! killed (dropped without leaving) and replaced on a seeded schedule while
//! the faults run; and its checker: no committed offset skips a record,
//! duplicate deliveries counted.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig};

use super::checker::Found;

/// Members of the group at any time.
const MEMBERS: usize = 2;

/// Which group protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// JoinGroup/SyncGroup, client-side assignment.
    Classic,
    /// KIP-848's ConsumerGroupHeartbeat, broker-side assignment.
    Consumer,
}

impl Protocol {
    /// The scenario's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Classic => "consumer group, classic protocol, members killed and added",
            Protocol::Consumer => "consumer group, KIP-848 protocol, members killed and added",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Protocol::Classic => "classic",
            Protocol::Consumer => "consumer",
        }
    }
}

/// What the group's members did.
#[derive(Debug, Clone, Default)]
pub struct GroupLog {
    /// `(partition, offset)` of every record handed to a member, duplicates
    /// included.
    pub consumed: Vec<(i32, i64)>,
    /// The group's committed offsets at the end, by partition.
    pub committed: BTreeMap<i32, i64>,
    /// Members killed.
    pub killed: u64,
}

/// The group's fates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupVerdict {
    /// Records below the committed offsets (what the group claims done).
    pub covered: u64,
    /// Records below a committed offset no member was handed.
    pub skipped: u64,
    /// Deliveries beyond the first of a record.
    pub duplicated: u64,
    /// Members killed.
    pub killed: u64,
}

/// Judges the group against the topic as the independent reader found it.
pub fn judge(log: &GroupLog, found: &[Found]) -> GroupVerdict {
    let distinct: HashSet<(i32, i64)> = log.consumed.iter().copied().collect();
    let mut verdict = GroupVerdict {
        duplicated: (log.consumed.len() - distinct.len()) as u64,
        killed: log.killed,
        ..GroupVerdict::default()
    };
    for record in found {
        let committed = log.committed.get(&record.partition).copied().unwrap_or(0);
        if record.offset < committed {
            verdict.covered += 1;
            if !distinct.contains(&(record.partition, record.offset)) {
                verdict.skipped += 1;
            }
        }
    }
    verdict
}

/// One member: polls, tells `handed` what each poll returned, then
/// commits; a poll's records are committed only once `handed` has them, so
/// the checker knows of every record a committed offset covers. Runs until
/// its task is dropped or `handed` fails.
pub async fn member(
    protocol: Protocol,
    bootstrap: String,
    topic: String,
    group: String,
    mut handed: impl FnMut(Vec<(i32, i64)>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut settings = vec![
        ("bootstrap_servers", bootstrap.as_str()),
        ("group_id", group.as_str()),
        ("group_protocol", protocol.setting()),
        ("auto_offset_reset", "earliest"),
        ("enable_auto_commit", "false"),
        ("request_timeout_ms", "10000"),
    ];
    if protocol == Protocol::Classic {
        settings.push(("session_timeout_ms", "10000"));
        settings.push(("heartbeat_interval_ms", "1000"));
    }
    let consumer = Consumer::new(ConsumerConfig::from_pairs(settings)?).await?;
    consumer.subscribe(&[topic.as_str()]).await?;
    loop {
        // Errors under faults are expected: the member keeps polling, after
        // a pause so an error that repeats at once does not spin.
        let Ok(records) = consumer.poll(Duration::from_millis(500)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if records.is_empty() {
            continue;
        }
        handed(records.iter().map(|r| (r.partition, r.offset)).collect())?;
        let _ = consumer.commit().await;
    }
}

/// Runs the group until `stop` is set: two members, one killed and
/// replaced every `churn` (the `pick`s choose which).
pub async fn run(
    protocol: Protocol,
    bootstrap: String,
    topic: String,
    group: String,
    churn: Duration,
    picks: Vec<u64>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<GroupLog> {
    let consumed = Arc::new(Mutex::new(Vec::new()));
    let start = || {
        let consumed = consumed.clone();
        tokio::spawn(member(
            protocol,
            bootstrap.clone(),
            topic.clone(),
            group.clone(),
            move |handed| {
                consumed
                    .lock()
                    .expect("no member panics holding the log")
                    .extend(handed);
                Ok(())
            },
        ))
    };
    let mut members: Vec<_> = (0..MEMBERS).map(|_| start()).collect();
    let mut killed = 0;
    let mut picks = picks.into_iter().cycle();
    while !stop.load(Ordering::Relaxed) {
        // The stop flag is checked once a second between churns.
        for _ in 0..churn.as_secs().max(1) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let victim = (picks.next().unwrap_or(0) % MEMBERS as u64) as usize;
        // Aborting the task drops the consumer wherever it is: a crash,
        // not a clean leave.
        members[victim].abort();
        members[victim] = start();
        killed += 1;
    }
    for m in &members {
        m.abort();
    }
    for m in members {
        if let Ok(Err(e)) = m.await {
            eprintln!("chaos: a group member ended with {e}");
        }
    }
    let admin = Admin::connect(AdminConfig::from_pairs([(
        "bootstrap_servers",
        bootstrap.as_str(),
    )])?)
    .await?;
    let mut offsets = admin
        .list_group_offsets(
            &[group.as_str()],
            None,
            &AdminOptions::new().timeout(Duration::from_secs(60)),
        )
        .await;
    let committed = offsets
        .remove(&group)
        .ok_or_else(|| anyhow::anyhow!("no offsets for {group}"))??
        .into_iter()
        .filter(|(tp, _)| *tp.topic == *topic)
        .map(|(tp, o)| (tp.partition, o.offset))
        .collect();
    let consumed = std::mem::take(&mut *consumed.lock().expect("no member panics holding the log"));
    Ok(GroupLog {
        consumed,
        committed,
        killed,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{GroupLog, judge};
    use crate::chaos::checker::Found;

    fn topic(offsets: &[(i32, i64)]) -> Vec<Found> {
        offsets
            .iter()
            .map(|&(partition, offset)| Found {
                partition,
                offset,
                value: String::new(),
            })
            .collect()
    }

    #[test]
    fn a_committed_offset_past_an_unread_record_is_a_skip() {
        let log = GroupLog {
            consumed: vec![(0, 0), (0, 2), (0, 2), (1, 0)],
            committed: BTreeMap::from([(0, 3), (1, 1)]),
            killed: 1,
        };
        let verdict = judge(
            &log,
            &topic(&[(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]),
        );
        assert_eq!(verdict.covered, 4);
        assert_eq!(verdict.skipped, 1, "offset 1 of partition 0");
        assert_eq!(verdict.duplicated, 1, "offset 2 of partition 0 twice");
    }
}
