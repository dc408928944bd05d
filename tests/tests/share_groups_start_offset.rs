//! Where a share group starts, against a real broker: as its
//! `share.auto.offset.reset` says (latest by default: only records written
//! after the group's first fetch of the partition; earliest: from the log
//! start), and what the broker then reports as the share-partition start
//! offset and lag once every record is accepted.
//!
//! The start offset is not "the next record to deliver": it is the
//! earliest offset still tracked as in flight *as last written to the
//! share coordinator* (Kafka's documentation of share-group offsets says
//! records after it may have completed delivery; the lag leaves those
//! out). Kafka 4.4 writes the state of an acknowledgement with the start
//! offset from before that acknowledgement moved it, so a group that
//! accepted everything in one go reports its old start offset with lag 0,
//! and the start offset catches up at the next write. This is the "start
//! offset 0 after every record was accepted" seen on earliest groups: the
//! broker's bookkeeping, the same for the Java client.

use std::time::{Duration, Instant};

use ferrokafka_admin::share_groups::ShareOffset;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{ShareConsumer, TopicPartition};
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

mod share_support;

use share_support::PATIENCE;

/// Polls until `count` records came (and a little longer, to catch any
/// extra), returning their offsets.
async fn offsets_read(consumer: &ShareConsumer, count: usize) -> Vec<i64> {
    let deadline = Instant::now() + PATIENCE;
    let mut offsets = Vec::new();
    while offsets.len() < count {
        offsets.extend(
            consumer
                .poll(Duration::from_millis(500))
                .await
                .unwrap()
                .iter()
                .map(|r| r.offset),
        );
        assert!(
            Instant::now() < deadline,
            "read {offsets:?}, wanted {count}"
        );
    }
    offsets.extend(
        consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .iter()
            .map(|r| r.offset),
    );
    offsets.sort_unstable();
    offsets
}

async fn share_offset(admin: &Admin, group: &str, tp: &TopicPartition) -> Option<ShareOffset> {
    let options = AdminOptions::default();
    let offsets = admin
        .list_share_group_offsets(group, &options)
        .await
        .unwrap();
    offsets.get(tp).and_then(|o| o.as_ref().ok()).copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_starts_where_share_auto_offset_reset_says() {
    let bootstrap = bootstrap_servers();
    let admin =
        Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let topic = unique_topic("share-start");
    create_topic(admin.client(), &topic, 1, 1).await;
    let tp = TopicPartition::new(&*topic, 0);
    share_support::produce(bootstrap, &topic, 0..5).await;

    let latest_group = format!("{topic}-latest");
    let earliest_group = format!("{topic}-earliest");
    share_support::set_group_configs(
        bootstrap,
        &earliest_group,
        &[("share.auto.offset.reset", "earliest")],
    )
    .await;
    // The default: nothing written before the group first fetches.
    let latest = share_support::member(bootstrap, &latest_group, &topic, &[]).await;
    // The share partition takes its start offset when its leader first
    // serves the group: wait for the member's assignment and two ShareFetch
    // answers for it.
    let deadline = Instant::now() + PATIENCE;
    while latest.assignment().is_empty() {
        assert!(
            latest
                .poll(Duration::from_millis(300))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(Instant::now() < deadline, "never assigned");
    }
    let fetched = latest.metrics().fetch_total;
    while latest.metrics().fetch_total < fetched + 2 {
        assert!(
            latest
                .poll(Duration::from_millis(300))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Nothing is written for the group before its first acknowledgement.
    let before = share_offset(&admin, &latest_group, &tp).await;
    assert!(
        before.is_none_or(|o| o.start_offset.is_none()),
        "{before:?}"
    );
    share_support::produce(bootstrap, &topic, 5..8).await;
    assert_eq!(offsets_read(&latest, 3).await, vec![5, 6, 7]);

    let earliest = share_support::member(bootstrap, &earliest_group, &topic, &[]).await;
    assert_eq!(
        offsets_read(&earliest, 8).await,
        (0..8).collect::<Vec<i64>>()
    );
    // Everything accepted in one acknowledgement: no lag, and the start
    // offset written is where each group started.
    for (group, member, first) in [(&latest_group, &latest, 5), (&earliest_group, &earliest, 0)] {
        member.commit_sync(Duration::from_secs(10)).await.unwrap();
        let offset = share_offset(&admin, group, &tp).await.unwrap();
        assert_eq!(offset.lag, Some(0), "{group}: {offset:?}");
        assert_eq!(offset.start_offset, Some(first), "{group}: {offset:?}");
    }
    // The next acknowledgement writes the start offset the previous one
    // reached.
    share_support::produce(bootstrap, &topic, 8..9).await;
    for (group, member) in [(&latest_group, &latest), (&earliest_group, &earliest)] {
        assert_eq!(offsets_read(member, 1).await, vec![8]);
        member.commit_sync(Duration::from_secs(10)).await.unwrap();
        let offset = share_offset(&admin, group, &tp).await.unwrap();
        assert_eq!(offset.lag, Some(0), "{group}: {offset:?}");
        assert_eq!(offset.start_offset, Some(8), "{group}: {offset:?}");
    }
    for member in [&latest, &earliest] {
        member.close(Duration::from_secs(10)).await.unwrap();
    }
}
