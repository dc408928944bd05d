//! `Producer::metrics` against the in-memory cluster: after records to two
//! topics, some refused and some retried, the totals, the per-topic totals
//! and the windowed rates agree with each other and with what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrokafka_producer::{Producer, ProducerConfig, ProducerMetrics, ProducerRecord};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

/// Sends `count` records of 100 bytes to `topic`-`partition`.
async fn send(producer: &Producer, topic: &str, partition: i32, count: usize) {
    for _ in 0..count {
        producer
            .send_with_callback(
                ProducerRecord::new(topic)
                    .partition(partition)
                    .value(vec![b'x'; 100]),
                |_| {},
            )
            .await
            .unwrap();
    }
}

#[track_caller]
fn assert_rate(rate: f64, total: u64, window: Duration, elapsed: Duration) {
    // The windows began with the first batch settled, at most `elapsed`
    // ago, and one empty window stands for the one not yet seen.
    #[allow(clippy::cast_precision_loss)]
    let total = total as f64;
    let lowest = total / (window + elapsed).as_secs_f64();
    let highest = total / window.as_secs_f64();
    assert!(
        rate > 0.0 && lowest <= rate && rate <= highest,
        "{rate} not in {lowest}..={highest}"
    );
}

#[tokio::test]
async fn totals_topics_and_rates_agree() {
    // Partition 1 refuses every batch for good; partition 2's first
    // answer is retriable, so its batch is sent again.
    let refused_once = Arc::new(AtomicBool::new(false));
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            FakeReply::produce_per_partition(request, |partition| match partition {
                1 => (ErrorCode::InvalidRecord, -1),
                2 if !refused_once.swap(true, Ordering::SeqCst) => {
                    (ErrorCode::NotEnoughReplicas, -1)
                }
                _ => (ErrorCode::None, 0),
            })
        })
    });
    cluster.add_topic("a", &[1, 1, 1]);
    cluster.add_topic("b", &[1]);
    let window = Duration::from_secs(60);
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("linger_ms", "20"),
        ("batch_size", "2000"),
        ("retry_backoff_ms", "10"),
        ("metrics_sample_window_ms", "60000"),
        ("metrics_num_samples", "2"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let producer = Producer::with_client(client, config);
    let started = Instant::now();
    send(&producer, "a", 0, 40).await;
    send(&producer, "a", 1, 10).await;
    send(&producer, "a", 2, 5).await;
    send(&producer, "b", 0, 30).await;
    producer.flush().await;
    let metrics: ProducerMetrics = producer.metrics();
    let elapsed = started.elapsed();

    assert_eq!(metrics.record_send_total, 75, "{metrics:#?}");
    assert_eq!(metrics.record_error_total, 10);
    assert!(
        (1..=5).contains(&metrics.record_retry_total),
        "{metrics:#?}"
    );
    assert_eq!(metrics.requests_in_flight, 0);
    assert!(metrics.request_total >= 2);
    assert!(metrics.byte_total > 75 * 100);
    assert!(metrics.batch_size_max >= 2000 / 2);
    assert!(metrics.record_size_max > 100 && metrics.record_size_avg > 100.0);
    assert!(metrics.record_queue_time_max_ms >= metrics.record_queue_time_avg_ms);
    assert!(metrics.record_queue_time_max_ms <= elapsed.as_secs_f64() * 1000.0);
    assert_rate(metrics.record_send_rate, 75, window, elapsed);
    assert_rate(metrics.byte_rate, metrics.byte_total, window, elapsed);
    assert_rate(metrics.record_error_rate, 10, window, elapsed);
    assert_rate(
        metrics.record_retry_rate,
        metrics.record_retry_total,
        window,
        elapsed,
    );
    assert_rate(metrics.request_rate, metrics.request_total, window, elapsed);

    assert_eq!(
        metrics
            .topics
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    let (a, b) = (&metrics.topics["a"], &metrics.topics["b"]);
    assert_eq!((a.record_send_total, b.record_send_total), (45, 30));
    assert_eq!((a.record_error_total, b.record_error_total), (10, 0));
    assert_eq!(a.record_retry_total, metrics.record_retry_total);
    assert_eq!(b.record_retry_total, 0);
    assert_eq!(a.byte_total + b.byte_total, metrics.byte_total);
    for (topic, total, rate) in [
        (a, a.record_send_total, a.record_send_rate),
        (b, b.record_send_total, b.record_send_rate),
        (a, a.byte_total, a.byte_rate),
        (b, b.byte_total, b.byte_rate),
    ] {
        assert_rate(rate, total, window, elapsed);
        // Uncompressed: what was sent is the size before compression.
        assert!((topic.compression_rate - 1.0).abs() < 0.2, "{topic:?}");
    }
    assert_eq!((b.record_error_rate, b.record_retry_rate), (0.0, 0.0));
    let summed = a.record_send_rate + b.record_send_rate;
    assert!(
        (summed - metrics.record_send_rate).abs() <= metrics.record_send_rate * 0.05,
        "{summed} vs {}",
        metrics.record_send_rate
    );
}

#[test]
fn the_window_keys_are_read_and_checked() {
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", "h:1"),
        ("metrics.sample.window.ms", "5000"),
        ("metrics_num_samples", "3"),
    ])
    .unwrap();
    assert_eq!(config.metrics_window.window, Duration::from_secs(5));
    assert_eq!(config.metrics_window.samples, 3);
    let defaults = ProducerConfig::default().metrics_window;
    assert_eq!(
        (defaults.window, defaults.samples),
        (Duration::from_secs(30), 2)
    );
    for (key, value) in [
        ("metrics_sample_window_ms", "0"),
        ("metrics_num_samples", "0"),
        ("metrics_sample_window_ms", "x"),
    ] {
        let error =
            ProducerConfig::from_pairs([("bootstrap_servers", "h:1"), (key, value)]).unwrap_err();
        assert_eq!(error.key, key);
    }
}
