//! Share groups (KIP-932) against a real broker: members sharing one
//! partition receive every record once between them; a released record
//! comes back with its delivery count raised; a rejected one never does;
//! the delivery count limit archives a record; a member that stalls past
//! the record lock loses its records to another member; a member killed
//! with SIGKILL loses none (its records come back when their locks lapse).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{AcknowledgeType, ShareConsumer, ShareRecord};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::bootstrap_servers;

mod share_support;

use share_support::{PATIENCE, poll_some};

async fn setup(test: &str, count: usize, configs: &[(&str, &str)]) -> (String, String) {
    share_support::setup(bootstrap_servers(), test, count, configs).await
}

async fn member(group: &str, topic: &str, extra: &[(&str, &str)]) -> ShareConsumer {
    share_support::member(bootstrap_servers(), group, topic, extra).await
}

/// Polls for `how_long`, acknowledging as `kind` (explicit mode), and
/// returns what came.
async fn poll_for(
    consumer: &ShareConsumer,
    how_long: Duration,
    kind: AcknowledgeType,
) -> Vec<ShareRecord> {
    let deadline = Instant::now() + how_long;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(300)).await.unwrap() {
            consumer.acknowledge(&record, kind).unwrap();
            seen.push(record);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_a_partition_and_accept_every_record_once() {
    const COUNT: usize = 300;
    let (topic, group) = setup("share-three", 0, &[]).await;
    // Small acquisitions, so that every member gets a share.
    let extra = [
        ("max_poll_records", "10"),
        ("share_acquire_mode", "record_limit"),
    ];
    let members = [
        member(&group, &topic, &extra).await,
        member(&group, &topic, &extra).await,
        member(&group, &topic, &extra).await,
    ];
    // Every member is assigned the partition before any record exists.
    let deadline = Instant::now() + PATIENCE;
    while members.iter().any(|m| m.assignment().is_empty()) {
        for m in &members {
            assert!(m.poll(Duration::from_millis(200)).await.unwrap().is_empty());
        }
        assert!(Instant::now() < deadline, "members never assigned");
    }
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    for i in 0..COUNT {
        producer
            .send(
                ProducerRecord::new(&topic)
                    .partition(0)
                    .value(i.to_string()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();

    let mut by_member: Vec<Vec<i64>> = vec![Vec::new(); members.len()];
    let deadline = Instant::now() + PATIENCE;
    while by_member.iter().map(Vec::len).sum::<usize>() < COUNT {
        for (i, m) in members.iter().enumerate() {
            for record in m.poll(Duration::from_millis(200)).await.unwrap() {
                assert_eq!(record.delivery_count, 1, "no record comes twice");
                by_member[i].push(record.offset);
            }
        }
        assert!(
            Instant::now() < deadline,
            "only {by_member:?} within {PATIENCE:?}"
        );
    }
    for m in &members {
        // Accepts the last poll's records, then releases nothing.
        m.commit_sync(Duration::from_secs(10)).await.unwrap();
    }
    let all: BTreeSet<i64> = by_member.iter().flatten().copied().collect();
    let count = by_member.iter().map(Vec::len).sum::<usize>();
    assert_eq!(count, COUNT, "each record once: {by_member:?}");
    assert_eq!(all, (0..COUNT as i64).collect(), "every record");
    for (i, offsets) in by_member.iter().enumerate() {
        assert!(!offsets.is_empty(), "member {i} received nothing");
    }
    // Accepted for good: a new member of the group gets nothing.
    let late = member(&group, &topic, &[]).await;
    let mut again = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        again.extend(late.poll(Duration::from_millis(500)).await.unwrap());
    }
    assert!(again.is_empty(), "{again:?}");
    for m in members.iter().chain([&late]) {
        m.close(Duration::from_secs(10)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_record_comes_back_with_delivery_count_two_and_a_rejected_one_never() {
    let (topic, group) = setup("share-release", 2, &[]).await;
    let consumer = member(
        &group,
        &topic,
        &[("share_acknowledgement_mode", "explicit")],
    )
    .await;
    let mut first = poll_some(&consumer).await;
    while first.len() < 2 {
        for record in &first {
            consumer
                .acknowledge(record, AcknowledgeType::Renew)
                .unwrap();
        }
        first.extend(poll_some(&consumer).await);
    }
    let offsets: Vec<i64> = first.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![0, 1]);
    assert!(first.iter().all(|r| r.delivery_count == 1));
    // Explicit mode: a poll with records unacknowledged is refused.
    consumer
        .acknowledge(&first[0], AcknowledgeType::Release)
        .unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).await.is_err());
    consumer
        .acknowledge(&first[1], AcknowledgeType::Reject)
        .unwrap();
    let results = consumer.commit_sync(Duration::from_secs(10)).await.unwrap();
    assert!(results.values().all(Result::is_ok), "{results:?}");

    let again = poll_some(&consumer).await;
    let got: Vec<(i64, i16)> = again.iter().map(|r| (r.offset, r.delivery_count)).collect();
    assert_eq!(got, vec![(0, 2)], "released comes back; rejected does not");
    consumer
        .acknowledge(&again[0], AcknowledgeType::Accept)
        .unwrap();
    let after = poll_for(&consumer, Duration::from_secs(3), AcknowledgeType::Accept).await;
    assert!(after.is_empty(), "{after:?}");
    consumer.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_count_limit_archives_a_record() {
    let (topic, group) = setup("share-limit", 1, &[("share.delivery.count.limit", "2")]).await;
    let consumer = member(
        &group,
        &topic,
        &[("share_acknowledgement_mode", "explicit")],
    )
    .await;
    let mut counts = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while counts.len() < 2 {
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            counts.push(record.delivery_count);
            consumer
                .acknowledge(&record, AcknowledgeType::Release)
                .unwrap();
        }
        assert!(Instant::now() < deadline, "only {counts:?}");
    }
    assert_eq!(counts, vec![1, 2]);
    let after = poll_for(&consumer, Duration::from_secs(3), AcknowledgeType::Release).await;
    assert!(after.is_empty(), "archived after two deliveries: {after:?}");
    consumer.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_members_records_go_to_another_after_the_lock_lapses() {
    let (topic, group) = setup(
        "share-stall",
        5,
        &[("share.record.lock.duration.ms", "1000")],
    )
    .await;
    let explicit = [("share_acknowledgement_mode", "explicit")];
    let stalled = member(&group, &topic, &explicit).await;
    let held = poll_some(&stalled).await;
    assert_eq!(
        stalled.acquisition_lock_timeout(),
        Some(Duration::from_secs(1))
    );
    // The stalled member neither acknowledges nor polls again.
    let other = member(&group, &topic, &explicit).await;
    let mut taken: BTreeMap<i64, i16> = BTreeMap::new();
    let deadline = Instant::now() + PATIENCE;
    while held.iter().any(|r| !taken.contains_key(&r.offset)) {
        for record in other.poll(Duration::from_millis(500)).await.unwrap() {
            other.acknowledge(&record, AcknowledgeType::Accept).unwrap();
            taken.insert(record.offset, record.delivery_count);
        }
        assert!(Instant::now() < deadline, "took only {taken:?} of {held:?}");
    }
    for record in &held {
        assert_eq!(taken[&record.offset], 2, "redelivered: {taken:?}");
    }
    other.close(Duration::from_secs(10)).await.unwrap();
    stalled.close(Duration::from_secs(10)).await.unwrap();
}

/// Set in the environment of the process
/// [`a_member_killed_with_sigkill_loses_nothing`] starts as its victim.
const VICTIM_ENV: &str = "FERROKAFKA_SHARE_VICTIM";

/// The victim's part (does nothing in a normal run): joins the group named
/// in [`VICTIM_ENV`] (`topic group`), prints the offsets it acquired, and
/// hangs without acknowledging until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_victim_process() {
    let Ok(spec) = std::env::var(VICTIM_ENV) else {
        return;
    };
    let (topic, group) = spec.split_once(' ').unwrap();
    let consumer = member(group, topic, &[("share_acknowledgement_mode", "explicit")]).await;
    let held = poll_some(&consumer).await;
    let offsets: Vec<String> = held.iter().map(|r| r.offset.to_string()).collect();
    println!("HELD {}", offsets.join(","));
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_with_sigkill_loses_nothing() {
    use std::io::BufRead as _;

    const COUNT: i64 = 20;
    let (topic, group) = setup(
        "share-killed",
        COUNT as usize,
        &[("share.record.lock.duration.ms", "2000")],
    )
    .await;
    let mut victim = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "share_victim_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(VICTIM_ENV, format!("{topic} {group}"))
        // This test's broker, not one of its own.
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = victim.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // libtest prints the test's name on the same line first.
            if let Some((_, held)) = line.split_once("HELD ") {
                let _ = line_tx.send(held.to_string());
            }
        }
    });
    let held = line_rx.recv_timeout(PATIENCE);
    // Child::kill is SIGKILL: no close, no acknowledgement, no leave.
    victim.kill().unwrap();
    victim.wait().unwrap();
    let held: BTreeSet<i64> = held
        .expect("the victim acquired records")
        .split(',')
        .map(|o| o.parse().unwrap())
        .collect();
    assert!(!held.is_empty());

    let survivor = member(&group, &topic, &[]).await;
    let mut seen: BTreeMap<i64, i16> = BTreeMap::new();
    let deadline = Instant::now() + PATIENCE;
    while seen.len() < COUNT as usize {
        for record in survivor.poll(Duration::from_millis(500)).await.unwrap() {
            assert!(
                seen.insert(record.offset, record.delivery_count).is_none(),
                "{} twice",
                record.offset
            );
        }
        assert!(Instant::now() < deadline, "only {seen:?}");
    }
    assert_eq!(
        seen.keys().copied().collect::<BTreeSet<_>>(),
        (0..COUNT).collect()
    );
    for offset in &held {
        assert_eq!(seen[offset], 2, "held by the killed member: {seen:?}");
    }
    survivor.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakeup_interrupts_a_poll_and_unsubscribe_empties_the_subscription() {
    let (topic, group) = setup("share-wakeup", 0, &[]).await;
    let consumer = std::sync::Arc::new(member(&group, &topic, &[]).await);
    assert_eq!(consumer.subscription().await, vec![topic.clone()]);
    let polling = {
        let consumer = std::sync::Arc::clone(&consumer);
        tokio::spawn(async move { consumer.poll(PATIENCE).await })
    };
    consumer.wakeup();
    let woken = tokio::time::timeout(Duration::from_secs(10), polling)
        .await
        .expect("the poll ends at once")
        .unwrap();
    assert!(
        matches!(woken, Err(ferrokafka_consumer::ConsumeError::Wakeup)),
        "{woken:?}"
    );
    // Woken once: the next poll is an ordinary one.
    assert!(consumer.poll(Duration::from_millis(100)).await.is_ok());
    consumer.unsubscribe().await.unwrap();
    assert!(consumer.subscription().await.is_empty());
    consumer.close(Duration::from_secs(10)).await.unwrap();
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)).await,
        Err(ferrokafka_consumer::ConsumeError::Closed)
    ));
}
