//! What `send` allocates per record, counted by a global allocator: the
//! producer is benchmarked against librdkafka, and a stray allocation (or
//! lock) per record is the first thing that costs it. Appending to a batch
//! that is already open must allocate nothing but the record's own delivery
//! notice.

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::ApiKey;
use ferrokafka_transport::fake::FakeCluster;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made while `f` runs, by any thread: the
/// test's runtime has one, and this binary runs one test.
async fn allocations_in<F: Future<Output = ()>>(f: F) -> usize {
    let region = Region::new(ALLOCATOR);
    f.await;
    let change = region.change();
    change.allocations + change.reallocations
}

// One thread: the producer's own tasks run on it too, and are counted.
#[tokio::test(flavor = "current_thread")]
async fn appending_to_an_open_batch_allocates_only_the_delivery_notice() {
    let produce_requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&produce_requests);
    let cluster = FakeCluster::new(1, move |request| {
        if request.key == ApiKey::Produce {
            seen.fetch_add(1, Ordering::Relaxed);
        }
        None // the default answers: metadata, and acknowledgements on close
    });
    cluster.add_topic("t", &[1, 1]);
    let bootstrap = cluster.bootstrap();
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("linger_ms", "600000"),
        ("batch_size", "1000000"),
        ("compression_type", "lz4"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let producer = Producer::with_client(client, config);
    let value = Bytes::from(vec![b'x'; 100]);
    let record = |i: usize| {
        let record = ProducerRecord::new("t").value(value.clone());
        // Keyed and keyless, fixed partition and partitioner: every path.
        match i % 3 {
            0 => record.key(Bytes::from_static(b"key")),
            1 => record.partition(1),
            _ => record,
        }
    };
    // Opens both partitions' batches and lets the builders grow: the
    // counted records then append to what exists.
    let mut deliveries = Vec::with_capacity(5000);
    for i in 0..4000 {
        deliveries.push(producer.send(record(i)).await.unwrap());
    }

    let records: Vec<ProducerRecord> = (0..1000).map(record).collect();
    deliveries.reserve(records.len());
    let mut callbacks = 0;
    let sends = allocations_in(async {
        for record in records {
            deliveries.push(producer.send(record).await.unwrap());
        }
    })
    .await;
    let records: Vec<ProducerRecord> = (0..1000).map(record).collect();
    let with_callback = allocations_in(async {
        for (i, record) in records.into_iter().enumerate() {
            // Capturing makes the callback a value the box must hold, as
            // real callbacks are.
            producer
                .send_with_callback(record, move |_| assert!(i < 1000))
                .await
                .unwrap();
            callbacks += 1;
        }
    })
    .await;

    // A batch buffer grows now and then (doubling, so a handful of times);
    // everything else is per record.
    let growth = 16;
    // `send`: the one-shot channel behind its DeliveryFuture.
    assert!(sends <= 1000 + growth, "{sends} allocations for 1000 sends");
    // `send_with_callback`: the boxed callback.
    assert!(
        with_callback <= 1000 + growth,
        "{with_callback} allocations for {callbacks} sends with a callback"
    );
    assert_eq!(
        produce_requests.load(Ordering::Relaxed),
        0,
        "everything lingers, so only appends were counted"
    );
    drop(deliveries);
    producer.close(Duration::ZERO).await.ok();
}
