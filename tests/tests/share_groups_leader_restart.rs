//! A share group's partition leader restarted during consumption, on a
//! one-node cluster of the test's own: nothing is lost, an acknowledgement
//! either lands (the record never comes back) or fails (the record comes
//! back), and in the end every record is accepted.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrokafka_consumer::{AcknowledgeType, ShareConsumer, ShareRecord};
use ferrokafka_tests::start_cluster;

mod share_support;

use share_support::{PATIENCE, member, poll_some, setup};

const COUNT: i64 = 40;

/// Accepts `records` and commits; returns the offsets whose acceptance the
/// broker confirmed.
async fn accept(consumer: &ShareConsumer, records: &[ShareRecord]) -> BTreeSet<i64> {
    for record in records {
        if consumer
            .acknowledge(record, AcknowledgeType::Accept)
            .is_err()
        {
            return BTreeSet::new();
        }
    }
    match consumer.commit_sync(Duration::from_secs(15)).await {
        Ok(results) if !results.is_empty() && results.values().all(Result::is_ok) => {
            records.iter().map(|r| r.offset).collect()
        }
        _ => BTreeSet::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_loses_nothing_and_acknowledgements_land_or_records_return() {
    let mut cluster = start_cluster(1);
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let node = cluster.info.brokers[0].node_id;
    let (topic, group) = setup(
        &bootstrap,
        "share-restart",
        COUNT as usize,
        &[("share.record.lock.duration.ms", "5000")],
    )
    .await;
    let consumer = member(
        &bootstrap,
        &group,
        &topic,
        &[
            ("share_acknowledgement_mode", "explicit"),
            ("max_poll_records", "10"),
            ("share_acquire_mode", "record_limit"),
        ],
    )
    .await;

    // Some records accepted before the restart, some held across it.
    let first = poll_some(&consumer).await;
    let mut landed = accept(&consumer, &first).await;
    assert_eq!(landed.len(), first.len(), "accepted before the restart");
    let held = poll_some(&consumer).await;
    assert!(held.iter().all(|r| !landed.contains(&r.offset)));

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart_node(node).unwrap();
        cluster
    })
    .await
    .unwrap();
    let held_landed = accept(&consumer, &held).await;
    landed.extend(&held_landed);

    // Every record not accepted for certain comes back, and none that was.
    let deadline = Instant::now() + PATIENCE * 2;
    let mut poll_errors = 0;
    while landed.len() < COUNT as usize {
        match consumer.poll(Duration::from_millis(500)).await {
            Ok(records) => {
                for record in &records {
                    assert!(
                        !landed.contains(&record.offset),
                        "{} came back after its acceptance landed",
                        record.offset
                    );
                }
                landed.extend(accept(&consumer, &records).await);
            }
            // The broker is coming back; the consumer retries.
            Err(_) => poll_errors += 1,
        }
        assert!(
            Instant::now() < deadline,
            "accepted only {landed:?} ({poll_errors} failed polls)"
        );
    }
    assert_eq!(landed, (0..COUNT).collect());

    // Accepted for good: a new member of the group gets nothing.
    let late = member(&bootstrap, &group, &topic, &[]).await;
    let mut again = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        again.extend(late.poll(Duration::from_millis(500)).await.unwrap());
    }
    assert!(again.is_empty(), "{again:?}");
    late.close(Duration::from_secs(10)).await.unwrap();
    consumer.close(Duration::from_secs(10)).await.unwrap();
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
}
