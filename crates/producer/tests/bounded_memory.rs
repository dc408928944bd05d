//! Bounded memory with the broker down, in a test binary of its own so
//! that the process's peak RSS is this test's: the application sends 64
//! KiB records as fast as it can while the only broker is down. `send`
//! waits `max_block_ms` once `buffer_memory` (8 MiB) is full and then
//! fails naming `max_block_ms`; the peak RSS grows by no more than
//! `buffer_memory` plus a fixed overhead; once the broker is back, every
//! record accepted is delivered, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

const BUFFER_MEMORY: usize = 8 << 20;
const VALUE: usize = 64 << 10;
/// What the process may grow by beyond `buffer_memory`: the allocator's
/// slack, the batches being encoded, the test's own bookkeeping.
const OVERHEAD: usize = 16 << 20;
/// Refusals to wait for before the broker comes back (each one waited
/// `max_block_ms`).
const REFUSALS: usize = 10;
const MAX_SENDS: usize = 2_000;

/// A `Vm*` line of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn with_the_broker_down_memory_stays_within_buffer_memory_and_every_accepted_record_arrives()
{
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce).then(|| FakeReply::produce(request, ErrorCode::None, 0))
    });
    cluster.add_topic("t", &[1]);
    let bootstrap = cluster.bootstrap();
    let buffer_memory = BUFFER_MEMORY.to_string();
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("buffer_memory", buffer_memory.as_str()),
        ("max_block_ms", "100"),
        ("delivery_timeout_ms", "120000"),
        ("retry_backoff_ms", "20"),
        ("reconnect_backoff_ms", "20"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let producer = Producer::with_client(client, config);
    // Metadata known before the broker goes down, so sends fill the
    // buffer instead of waiting for the topic.
    producer.client().topic("t").await.unwrap();
    cluster.set_down(1, true);

    let before = status_bytes("VmHWM:");
    let delivered = Arc::new(AtomicUsize::new(0));
    let (mut accepted, mut refusals) = (0, 0);
    for _ in 0..MAX_SENDS {
        let counted = Arc::clone(&delivered);
        let record = ProducerRecord::new("t")
            .partition(0)
            .value(vec![7_u8; VALUE]);
        match producer
            .send_with_callback(record, move |outcome| {
                assert!(outcome.is_ok(), "{outcome:?}");
                counted.fetch_add(1, Ordering::SeqCst);
            })
            .await
        {
            Ok(()) => accepted += 1,
            Err(error @ ProduceError::Blocked { .. }) => {
                assert!(error.to_string().contains("max_block_ms"), "{error}");
                refusals += 1;
                if refusals == REFUSALS {
                    break;
                }
            }
            Err(error) => panic!("{error:?}"),
        }
    }
    let peak = status_bytes("VmHWM:");
    assert_eq!(refusals, REFUSALS, "buffer_memory never filled");
    assert!(
        (BUFFER_MEMORY / 2..=BUFFER_MEMORY).contains(&(accepted * VALUE)),
        "{accepted} records of {VALUE} bytes accepted into {BUFFER_MEMORY}"
    );
    assert!(
        peak.saturating_sub(before) <= BUFFER_MEMORY + OVERHEAD,
        "peak RSS grew by {} bytes, past buffer_memory {BUFFER_MEMORY} + {OVERHEAD}",
        peak - before
    );

    cluster.set_down(1, false);
    tokio::time::timeout(Duration::from_secs(60), producer.flush())
        .await
        .expect("flush after the broker came back hung");
    assert_eq!(delivered.load(Ordering::SeqCst), accepted);
    producer.close(Duration::from_secs(5)).await.unwrap();
}
