//! What wakes a task waiting on the producer, against the in-memory
//! cluster. A flush waits for every record sent before it; it is woken when
//! they are all settled, not once for every batch settled on the way: a
//! flush behind thousands of batches (a producer's whole buffer) was woken,
//! and took the producer's lock, thousands of times, each time a hand-off
//! between threads where the flush runs on another.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

/// `future`, counting the times it is polled.
struct Polls<F> {
    future: Pin<Box<F>>,
    count: usize,
}

impl<F: Future> Future for Polls<F> {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.count += 1;
        match self.future.as_mut().poll(cx) {
            Poll::Ready(_) => Poll::Ready(self.count),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[tokio::test]
async fn a_flush_is_woken_when_its_records_are_settled_not_at_every_batch() {
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            seen.fetch_add(1, Ordering::Relaxed);
            FakeReply::produce(request, ErrorCode::None, 0)
        })
    });
    cluster.add_topic("t", &[1]);
    let bootstrap = cluster.bootstrap();
    // One record per batch, and one partition: a request per record.
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap.as_str()),
        ("batch_size", "600"),
        ("linger_ms", "0"),
    ])
    .unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    let producer = Producer::with_client(client, config);
    let records = 200;
    let mut deliveries = Vec::with_capacity(records);
    for _ in 0..records {
        let record = ProducerRecord::new("t").partition(0).value(vec![b'v'; 500]);
        deliveries.push(producer.send(record).await.unwrap());
    }

    let polls = Polls {
        future: Box::pin(producer.flush()),
        count: 0,
    }
    .await;

    let sent = requests.load(Ordering::Relaxed);
    assert!(
        sent >= records / 2,
        "{sent} requests: the records were meant to settle batch by batch"
    );
    for delivery in deliveries {
        delivery.await.expect("every record was acknowledged");
    }
    // Polled first, then woken once its records were settled; a few more
    // for anything else sharing its wake-ups, never one per batch.
    assert!(
        polls <= 5,
        "the flush was polled {polls} times while {sent} batches settled"
    );
}
