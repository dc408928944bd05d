//! Back-pressure when the broker stays down past the delivery timeout
//! (the other half of bounded memory; `bounded_memory.rs` has the broker
//! come back in time and measures RSS): `send` blocks `max_block_ms` once
//! `buffer_memory` is full and fails naming it; every record it accepted
//! fails with the delivery timeout, once, never dropped in silence; that
//! frees the buffer, so sends are accepted again at once, and those are
//! delivered when the broker returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

const BUFFER_MEMORY: usize = 256 << 10;
const VALUE: usize = 16 << 10;
/// Real time: the producer's deadlines are `std::time::Instant`s, which
/// paused tokio time does not move.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Each accepted record's outcomes: delivered, timed out, anything else.
#[derive(Default)]
struct Outcomes {
    delivered: AtomicUsize,
    timed_out: AtomicUsize,
    other: AtomicUsize,
}

impl Outcomes {
    /// Waits (a few delivery timeouts at most) until the counts are
    /// `expected`; they are what they are then.
    async fn settle_to(&self, expected: (usize, usize, usize)) -> (usize, usize, usize) {
        let _ = tokio::time::timeout(DELIVERY_TIMEOUT * 5, async {
            while self.counts() != expected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.counts()
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.delivered.load(Ordering::SeqCst),
            self.timed_out.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst),
        )
    }
}

/// Sends until `send` refuses (the buffer full past `max_block_ms`):
/// how many it accepted. The refusal names `max_block_ms`.
async fn fill(producer: &Producer, outcomes: &Arc<Outcomes>) -> usize {
    for accepted in 0..10_000 {
        let outcomes = Arc::clone(outcomes);
        let sent = producer
            .send_with_callback(
                ProducerRecord::new("t").value(vec![7u8; VALUE]),
                move |outcome| {
                    let counter = match outcome {
                        Ok(_) => &outcomes.delivered,
                        Err(ProduceError::DeliveryTimeout { .. }) => &outcomes.timed_out,
                        Err(_) => &outcomes.other,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await;
        if let Err(error) = sent {
            assert!(error.to_string().contains("max_block_ms"), "{error}");
            return accepted;
        }
    }
    panic!("send never blocked with the broker down");
}

#[tokio::test]
async fn records_outliving_the_delivery_timeout_fail_once_and_free_the_buffer() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&produced);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            counted.fetch_add(1, Ordering::SeqCst);
            FakeReply::produce(request, ErrorCode::None, 0)
        })
    });
    cluster.add_topic("t", &[1]);
    let buffer_memory = BUFFER_MEMORY.to_string();
    let delivery_timeout = DELIVERY_TIMEOUT.as_millis().to_string();
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("buffer_memory", buffer_memory.as_str()),
        ("max_block_ms", "100"),
        ("linger_ms", "5"),
        ("request_timeout_ms", "500"),
        ("delivery_timeout_ms", delivery_timeout.as_str()),
        ("retry_backoff_ms", "20"),
        ("reconnect_backoff_ms", "20"),
        // The broker is down for seconds; at the default 1 s ceiling the
        // reconnect after it returns could wait out the second fill's
        // delivery timeout.
        ("reconnect_backoff_max_ms", "50"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let producer = Producer::with_client(client, config);
    // Metadata and producer id in hand, then the broker goes down.
    producer
        .send(ProducerRecord::new("t").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    cluster.set_down(1, true);

    let outcomes = Arc::new(Outcomes::default());
    let accepted = fill(&producer, &outcomes).await;
    assert!(
        accepted * VALUE <= BUFFER_MEMORY && accepted * VALUE >= BUFFER_MEMORY / 2,
        "{accepted} records of {VALUE} bytes accepted into {BUFFER_MEMORY}"
    );
    // Past the delivery timeout every accepted record has failed with it,
    // once; none was delivered or dropped without a word.
    let started = std::time::Instant::now();
    assert_eq!(outcomes.settle_to((0, accepted, 0)).await, (0, accepted, 0));
    assert!(started.elapsed() < DELIVERY_TIMEOUT * 2);

    // The buffer is free again: as many records are accepted once more,
    // without the broker.
    let again = Arc::new(Outcomes::default());
    let accepted_again = fill(&producer, &again).await;
    assert_eq!(accepted_again, accepted);

    // The broker returns: those are delivered, each once.
    cluster.set_down(1, false);
    tokio::time::timeout(DELIVERY_TIMEOUT, producer.flush())
        .await
        .expect("flush with the broker back");
    assert_eq!(again.counts(), (accepted_again, 0, 0));
    assert!(produced.load(Ordering::SeqCst) > 1);
    // A record settled once stays settled.
    assert_eq!(outcomes.counts(), (0, accepted, 0));
    producer.close(Duration::from_secs(5)).await.unwrap();
}
