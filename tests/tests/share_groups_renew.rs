//! KIP-1222 against a real broker: a member renewing a slow record's lock
//! (`AcknowledgeType::Renew`) before it lapses keeps the record from the
//! group's other member for several lock durations, and accepts it at the
//! end, once.

use std::time::{Duration, Instant};

use ferrokafka_consumer::AcknowledgeType;
use ferrokafka_tests::bootstrap_servers;

mod share_support;

use share_support::{member, poll_some, setup};

/// The record lock; the slow record is held for several of these.
const LOCK: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lock_keeps_a_slow_record_from_the_other_member() {
    let bootstrap = bootstrap_servers();
    let (topic, group) = setup(
        bootstrap,
        "share-renew",
        1,
        &[("share.record.lock.duration.ms", "2000")],
    )
    .await;
    let explicit = [("share_acknowledgement_mode", "explicit")];
    let slow = member(bootstrap, &group, &topic, &explicit).await;
    let held = poll_some(&slow).await;
    assert_eq!(held.len(), 1);
    assert_eq!(slow.acquisition_lock_timeout(), Some(LOCK));
    let other = member(bootstrap, &group, &topic, &[]).await;

    // Three lock durations, renewing every third of one, while the other
    // member polls.
    let until = Instant::now() + LOCK * 3;
    let mut stolen = Vec::new();
    let mut renewals = 0;
    while Instant::now() < until {
        slow.acknowledge(&held[0], AcknowledgeType::Renew).unwrap();
        let results = slow.commit_sync(Duration::from_secs(10)).await.unwrap();
        assert!(
            results.values().all(Result::is_ok),
            "the broker took the renewal: {results:?}"
        );
        assert!(!results.is_empty(), "a renewal was sent");
        renewals += 1;
        let next_renewal = Instant::now() + LOCK / 3;
        while Instant::now() < next_renewal {
            stolen.extend(other.poll(Duration::from_millis(200)).await.unwrap());
        }
    }
    assert!(renewals >= 6, "renewed {renewals} times");
    assert!(stolen.is_empty(), "a renewed record moved: {stolen:?}");

    slow.acknowledge(&held[0], AcknowledgeType::Accept).unwrap();
    let results = slow.commit_sync(Duration::from_secs(10)).await.unwrap();
    assert!(results.values().all(Result::is_ok), "{results:?}");
    // Accepted: it never comes to anyone, even after a lock duration.
    let until = Instant::now() + LOCK * 2;
    while Instant::now() < until {
        stolen.extend(other.poll(Duration::from_millis(300)).await.unwrap());
        assert!(
            slow.poll(Duration::from_millis(100))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        stolen.is_empty(),
        "an accepted record came back: {stolen:?}"
    );
    assert_eq!(held[0].delivery_count, 1);
    other.close(Duration::from_secs(10)).await.unwrap();
    slow.close(Duration::from_secs(10)).await.unwrap();
}
