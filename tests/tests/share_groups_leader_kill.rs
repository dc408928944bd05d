//! A share group's partition leader killed (SIGKILL) mid-consumption on a
//! 3-node cluster of the test's own, the topic replicated three times with
//! two replicas in sync required: two members in explicit acknowledgement
//! mode lose nothing. Every record ends accepted by some member with a
//! successful commit result, a record whose acceptance landed never comes
//! back, and one whose acknowledgement failed comes back and is accepted.
//! An acknowledgement that got no answer (the leader died with it) may have
//! landed or not: its records either come back and are accepted, or they
//! were the broker's for good, which the last record shows: produced once
//! every other record settled and any lock lapsed, it reaches a member, and
//! the broker hands out the lowest available offsets first.
//!
//! (The share-partition start offset DescribeShareGroupOffsets reports
//! cannot show it: with every record accepted it was seen to stay at 280 of
//! 300 for minutes, behind the last acknowledgements.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{AcknowledgeType, ShareConsumer, ShareRecord, TopicPartition};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::CreateTopicsRequest;
use ferrokafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use ferrokafka_transport::Client;
use ferrokafka_transport::config::ClientConfig;
use tokio::sync::watch;

use ferrokafka_tests::{start_cluster, unique_topic};

mod share_support;

use share_support::{member, produce, set_group_configs};

const COUNT: usize = 300;
/// The whole test's bound once the cluster runs (a loaded 2-core machine
/// takes tens of seconds to elect a new leader and move the share state).
const BOUND: Duration = Duration::from_secs(120);
/// The group's record lock (`share.record.lock.duration.ms`).
const LOCK: Duration = Duration::from_secs(6);
/// How many records are accepted before the leader is killed.
const KILL_AFTER: usize = COUNT / 3;

/// What became of each record, as the members saw it.
#[derive(Debug, Default)]
struct Fates {
    /// Offsets whose acceptance a commit confirmed, with the member.
    accepted: BTreeMap<i64, usize>,
    /// Offsets whose acknowledgement the broker refused and that have not
    /// come back.
    failed: BTreeSet<i64>,
    /// Every offset whose acknowledgement the broker ever refused.
    failed_ever: BTreeSet<i64>,
    /// Offsets whose acknowledgement got no answer and that have not come
    /// back: the broker may or may not have taken it.
    in_doubt: BTreeSet<i64>,
    /// Offsets that came back after a failed or unanswered
    /// acknowledgement, with their delivery count then.
    returned: BTreeMap<i64, i16>,
    /// Records that came back after their acceptance landed (none may).
    came_back_accepted: Vec<(i64, i16)>,
    /// Polls and commits that failed while the cluster moved on.
    errors: Vec<String>,
}

impl Fates {
    /// Every record accepted, or in doubt with nothing refused outstanding.
    fn settled(&self) -> usize {
        if self.failed.is_empty() {
            self.accepted.len() + self.in_doubt.len()
        } else {
            0
        }
    }
}

/// How an acceptance's commit ended.
enum Outcome {
    Accepted,
    /// The broker refused it: the records must come back.
    Refused(String),
    /// No answer: the broker may have taken it.
    Unanswered(String),
}

/// A topic of one partition, three replicas, two of them in sync required.
async fn create_replicated_topic(bootstrap: &str, topic: &str) {
    let client =
        Client::connect(ClientConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let response = client
        .send_any(&CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: topic.to_string(),
                num_partitions: 1,
                replication_factor: 3,
                configs: vec![CreatableTopicConfig {
                    name: "min.insync.replicas".into(),
                    value: Some("2".into()),
                    ..CreatableTopicConfig::default()
                }],
                ..CreatableTopic::default()
            }],
            timeout_ms: 30_000,
            ..CreateTopicsRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.topics[0].error_code, 0, "{response:?}");
    client.topic(topic).await.unwrap();
}

/// One member's loop: poll, accept what came, commit, and note each
/// record's fate, until every record is accepted or `stop` says so.
async fn consume(
    index: usize,
    consumer: ShareConsumer,
    fates: Arc<Mutex<Fates>>,
    progress: watch::Sender<usize>,
    mut stop: watch::Receiver<bool>,
) -> ShareConsumer {
    while !*stop.borrow() {
        let records = tokio::select! {
            polled = consumer.poll(Duration::from_millis(500)) => polled,
            _ = stop.changed() => break,
        };
        let records = match records {
            Ok(records) => records,
            // The leader or the coordinator is moving; the next poll retries.
            Err(error) => {
                fates
                    .lock()
                    .unwrap()
                    .errors
                    .push(format!("{index} poll: {error}"));
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        note_delivered(&fates, &records);
        let outcome = accept(&consumer, &records).await;
        let mut f = fates.lock().unwrap();
        match outcome {
            Outcome::Accepted => {
                for r in &records {
                    f.accepted.insert(r.offset, index);
                }
            }
            Outcome::Refused(why) => {
                f.errors.push(format!("{index} commit refused: {why}"));
                for r in &records {
                    f.failed.insert(r.offset);
                    f.failed_ever.insert(r.offset);
                }
            }
            Outcome::Unanswered(why) => {
                f.errors.push(format!("{index} commit unanswered: {why}"));
                for r in &records {
                    f.in_doubt.insert(r.offset);
                }
            }
        }
        let _ = progress.send(f.settled());
    }
    consumer
}

/// Notes records handed out: one already accepted must not come back; one
/// whose acknowledgement failed has come back.
fn note_delivered(fates: &Mutex<Fates>, records: &[ShareRecord]) {
    let mut f = fates.lock().unwrap();
    for r in records {
        if f.accepted.contains_key(&r.offset) {
            f.came_back_accepted.push((r.offset, r.delivery_count));
        }
        if f.failed.remove(&r.offset) | f.in_doubt.remove(&r.offset) {
            f.returned.insert(r.offset, r.delivery_count);
        }
    }
}

/// Accepts `records` and commits: accepted only when the commit result for
/// their partition says the broker took them.
async fn accept(consumer: &ShareConsumer, records: &[ShareRecord]) -> Outcome {
    for record in records {
        if let Err(e) = consumer.acknowledge(record, AcknowledgeType::Accept) {
            return Outcome::Refused(format!("acknowledge {}: {e}", record.offset));
        }
    }
    let tp = TopicPartition::new(&*records[0].topic, records[0].partition);
    match consumer.commit_sync(Duration::from_secs(30)).await {
        Ok(results) => match results.get(&tp) {
            Some(Ok(())) => Outcome::Accepted,
            // The request (or its answer) was lost with the connection.
            Some(Err(ErrorCode::NetworkException)) => Outcome::Unanswered("no answer".into()),
            Some(Err(code)) => Outcome::Refused(format!("{code}")),
            None => Outcome::Unanswered(format!("no result for {tp}: {results:?}")),
        },
        Err(error) => Outcome::Unanswered(error.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_partition_leader_loses_no_record_of_a_share_group() {
    let mut cluster = tokio::task::spawn_blocking(|| start_cluster(3))
        .await
        .unwrap();
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let topic = unique_topic("share-leader-kill");
    let group = format!("{topic}-group");
    create_replicated_topic(&bootstrap, &topic).await;
    set_group_configs(
        &bootstrap,
        &group,
        &[
            ("share.auto.offset.reset", "earliest"),
            // Locks that lapse well within the bound, should a record be
            // held by a member that can no longer acknowledge it.
            (
                "share.record.lock.duration.ms",
                &LOCK.as_millis().to_string(),
            ),
        ],
    )
    .await;
    produce(&bootstrap, &topic, 0..COUNT).await;

    let extra = [
        ("share_acknowledgement_mode", "explicit"),
        ("max_poll_records", "10"),
        ("share_acquire_mode", "record_limit"),
        ("request_timeout_ms", "15000"),
    ];
    let fates = Arc::new(Mutex::new(Fates::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (progress_tx, mut progress) = watch::channel(0usize);
    let mut members = tokio::task::JoinSet::new();
    for index in 0..2 {
        let consumer = member(&bootstrap, &group, &topic, &extra).await;
        members.spawn(consume(
            index,
            consumer,
            Arc::clone(&fates),
            progress_tx.clone(),
            stop_rx.clone(),
        ));
    }
    drop(progress_tx);

    let started = Instant::now();
    let watched = Arc::clone(&fates);
    let outcome = tokio::time::timeout(BOUND, async move {
        // Some records accepted, then the leader dies mid-consumption.
        progress
            .wait_for(|settled| *settled >= KILL_AFTER)
            .await
            .unwrap();
        let probe = Client::connect(
            ClientConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap(),
        )
        .await
        .unwrap();
        let leader = probe.leader(&topic, 0).await.unwrap();
        let accepted_at_kill = watched.lock().unwrap().accepted.len();
        cluster.kill_node(u32::try_from(leader).unwrap()).unwrap();
        let killed_at = started.elapsed();
        progress
            .wait_for(|settled| *settled >= COUNT)
            .await
            .unwrap();
        // A record not yet the broker's for good is available again once
        // any lock on it lapsed (no event says so: wait out one lock and a
        // half while the members go on polling). Then one more record: the
        // broker hands out the lowest available offsets first, so when the
        // members get it, nothing older was left to give them.
        tokio::time::sleep(LOCK.mul_f32(1.5)).await;
        produce(&bootstrap, &topic, COUNT..COUNT + 1).await;
        progress.wait_for(|settled| *settled > COUNT).await.unwrap();
        (cluster, leader, accepted_at_kill, killed_at)
    })
    .await;
    let _ = stop_tx.send(true);
    let mut consumers = Vec::new();
    while let Some(joined) = members.join_next().await {
        consumers.push(joined.unwrap());
    }
    let f = std::mem::take(&mut *fates.lock().unwrap());
    let Ok((cluster, leader, accepted_at_kill, killed_at)) = outcome else {
        panic!(
            "within {BOUND:?}: {} of {COUNT} accepted; refused and not back: {:?}; in doubt: \
             {:?}; came back: {:?}; {:?}",
            f.accepted.len(),
            f.failed,
            f.in_doubt,
            f.returned,
            f.errors
        );
    };
    eprintln!(
        "killed node {leader} at {killed_at:?} after {accepted_at_kill} accepted; settled in \
         {:?}; refused: {:?}; unanswered and never back: {:?}; came back (with their delivery \
         counts): {:?}; errors: {:?}",
        started.elapsed(),
        f.failed_ever,
        f.in_doubt,
        f.returned,
        f.errors
    );
    assert!(accepted_at_kill < COUNT, "killed mid-consumption");
    // Each record accepted, or taken by the broker with an answer lost,
    // and the last one (produced once the others settled) accepted.
    let mut fates_of_all: Vec<i64> = f.accepted.keys().chain(&f.in_doubt).copied().collect();
    fates_of_all.sort_unstable();
    assert_eq!(fates_of_all, (0..=COUNT as i64).collect::<Vec<_>>());
    assert!(f.accepted.contains_key(&(COUNT as i64)));
    assert!(
        f.came_back_accepted.is_empty(),
        "came back after their acceptance landed: {:?}",
        f.came_back_accepted
    );
    // Every refused acknowledgement's record came back, and every record
    // that came back was then accepted. Its delivery count is not
    // necessarily above 1: the broker persists a record's state when it is
    // acknowledged, not when it is acquired, so a new leader hands out a
    // record the old one had handed out as if for the first time.
    assert!(f.failed.is_empty(), "never came back: {:?}", f.failed);
    for offset in f.failed_ever.iter().chain(f.returned.keys()) {
        let count = f.returned.get(offset).copied();
        assert!(
            count.is_some_and(|c| c >= 1),
            "{offset} failed, came back with delivery count {count:?}"
        );
        assert!(
            f.accepted.contains_key(offset),
            "{offset} came back and was accepted"
        );
    }
    for consumer in consumers {
        // Best effort: the killed node may have been the coordinator.
        let _ = consumer.close(Duration::from_secs(10)).await;
    }
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
}
