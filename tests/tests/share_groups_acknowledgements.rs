//! How a share consumer's acknowledgements leave it, against a real
//! broker: `commit_async` sends them at once (as the Java client's
//! `commitAsync`), without waiting for a poll or a close, and reports them
//! to the acknowledgement-commit callback; the share consumer's metrics
//! count what was fetched and acknowledged, and the membership's
//! heartbeats and rebalances.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_consumer::{AcknowledgeType, AcknowledgementResults, ShareConsumer, TopicPartition};
use ferrokafka_tests::bootstrap_servers;

mod share_support;

use share_support::{PATIENCE, poll_some};

async fn member(group: &str, topic: &str, extra: &[(&str, &str)]) -> ShareConsumer {
    share_support::member(bootstrap_servers(), group, topic, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_async_sends_the_acknowledgements_at_once() {
    // A lock far longer than the test waits: the record can only come back
    // sooner if the release reached the broker.
    const LOCK: Duration = Duration::from_secs(60);
    let (topic, group) = share_support::setup(
        bootstrap_servers(),
        "share-commit-async",
        1,
        &[("share.record.lock.duration.ms", "60000")],
    )
    .await;
    let first = member(
        &group,
        &topic,
        &[("share_acknowledgement_mode", "explicit")],
    )
    .await;
    let reported: Arc<Mutex<Vec<AcknowledgementResults>>> = Arc::default();
    let sink = Arc::clone(&reported);
    first
        .set_acknowledgement_commit_callback(Box::new(move |results| {
            sink.lock().unwrap().push(results.clone());
        }))
        .await;
    let records = poll_some(&first).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].delivery_count, 1);
    assert_eq!(first.acquisition_lock_timeout(), Some(LOCK));
    first
        .acknowledge(&records[0], AcknowledgeType::Release)
        .unwrap();
    first.commit_async().await.unwrap();

    // The first member neither polls nor closes: only the commit_async
    // could have released the record.
    let released_at = Instant::now();
    let second = member(&group, &topic, &[]).await;
    let again = poll_some(&second).await;
    let waited = released_at.elapsed();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].offset, records[0].offset);
    assert_eq!(again[0].delivery_count, 2, "released once");
    assert!(
        waited < LOCK / 2,
        "redelivered after {waited:?}: the release waited for the lock to lapse"
    );

    // The answer reaches the callback by the next call.
    first.commit_sync(Duration::from_secs(10)).await.unwrap();
    let tp = TopicPartition::new(&*topic, 0);
    let reported = reported.lock().unwrap().clone();
    assert!(
        reported
            .iter()
            .any(|results| results.get(&tp) == Some(&Ok(()))),
        "{reported:?}"
    );
    let metrics = first.metrics();
    assert_eq!(metrics.acknowledgements_send_total, 1);
    assert_eq!(metrics.acknowledgements_error_total, 0);
    second.close(Duration::from_secs(10)).await.unwrap();
    first.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_records_fetched_and_acknowledged() {
    const COUNT: u64 = 25;
    let (topic, group) = share_support::setup(
        bootstrap_servers(),
        "share-metrics",
        usize::try_from(COUNT).unwrap(),
        &[],
    )
    .await;
    let consumer = member(&group, &topic, &[]).await;
    assert_eq!(consumer.metrics().records_fetched_total, 0);
    let (mut records, mut bytes) = (0u64, 0u64);
    let deadline = Instant::now() + PATIENCE;
    while records < COUNT {
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            records += 1;
            bytes += record.value.as_ref().map_or(0, |v| v.len() as u64);
        }
        assert!(Instant::now() < deadline, "read {records} of {COUNT}");
    }
    assert_eq!(records, COUNT, "each record once");
    // Implicit mode: the commit accepts what the polls handed out.
    let results = consumer.commit_sync(Duration::from_secs(10)).await.unwrap();
    assert!(results.values().all(Result::is_ok), "{results:?}");
    let m = consumer.metrics();
    assert_eq!(m.records_fetched_total, COUNT);
    assert_eq!(m.bytes_consumed_total, bytes);
    assert_eq!(m.acknowledgements_send_total, COUNT);
    assert_eq!(m.acknowledgements_error_total, 0);
    assert!(m.fetch_total >= 1, "{m:?}");
    assert!(m.fetch_latency_max_ms > 0.0, "{m:?}");
    assert!(
        m.records_per_request_max >= 1.0 && m.fetch_size_max > 0.0,
        "{m:?}"
    );
    // Records came, so the join was answered with an assignment that the
    // member acknowledged.
    let c = &m.coordinator;
    assert!(c.heartbeat_total >= 1, "{c:?}");
    assert!(c.heartbeat_response_time_max_ms > 0.0, "{c:?}");
    assert!(c.last_heartbeat_seconds_ago >= 0, "{c:?}");
    assert!(c.rebalance_total >= 1, "{c:?}");
    // Its requests went through its cluster client's connections.
    assert!(m.network.connection_count >= 1, "{:?}", m.network);
    assert!(
        m.network.request_total > m.fetch_total && m.network.response_total > 0,
        "{:?}",
        m.network
    );
    // And heartbeats go on at the coordinator's interval: the count moves.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = consumer.metrics().coordinator;
        if now.heartbeat_total > c.heartbeat_total {
            assert!(now.heartbeat_rate > 0.0, "{now:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no heartbeat answered after {c:?} within {PATIENCE:?}: {now:?}"
        );
        // Nothing to await from outside the membership task: look again
        // shortly, within the bound.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.close(Duration::from_secs(10)).await.unwrap();
}
