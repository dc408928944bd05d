//! What goes into one Produce request, against the in-memory cluster: a
//! request sent for a ready partition takes along the lingering batches of
//! the other partitions its broker leads, and only those.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::ProduceRequest;
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

/// A producer on `cluster` with `settings`.
async fn producer(cluster: &FakeCluster, settings: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![("bootstrap_servers", bootstrap.as_str())];
    pairs.extend_from_slice(settings);
    let config = ProducerConfig::from_pairs(pairs).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

/// Each Produce request as (node, the partitions it carries).
type Requests = Arc<Mutex<Vec<(i32, Vec<i32>)>>>;

#[tokio::test]
async fn a_ready_partition_s_request_takes_along_its_broker_s_lingering_batches() {
    let requests: Requests = Arc::default();
    let seen = Arc::clone(&requests);
    let cluster = FakeCluster::new(2, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let produce: ProduceRequest = request.decode();
            let mut partitions: Vec<i32> = produce
                .topic_data
                .iter()
                .flat_map(|t| t.partition_data.iter().map(|p| p.index))
                .collect();
            partitions.sort_unstable();
            seen.lock().unwrap().push((request.node, partitions));
            FakeReply::produce(request, ErrorCode::None, 0)
        })
    });
    // Partitions 0 and 1 on node 1, partition 2 on node 2.
    cluster.add_topic("t", &[1, 1, 2]);
    let producer = producer(&cluster, &[("linger_ms", "60000"), ("batch_size", "1000")]).await;

    let small = |partition| {
        ProducerRecord::new("t")
            .partition(partition)
            .value("lingering")
    };
    let waiting_1 = producer.send(small(1)).await.unwrap();
    let waiting_2 = producer.send(small(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(requests.lock().unwrap().is_empty(), "everything lingers");

    // A full batch on partition 0 makes node 1's request go.
    let full = producer
        .send(ProducerRecord::new("t").partition(0).value(vec![7u8; 1500]))
        .await
        .unwrap();
    full.await.unwrap();
    assert_eq!(*requests.lock().unwrap(), [(1, vec![0, 1])]);
    waiting_1.await.unwrap();

    // Node 2's partition still lingers, until a flush.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(requests.lock().unwrap().len(), 1);
    producer.flush().await;
    waiting_2.await.unwrap();
    assert_eq!(*requests.lock().unwrap(), [(1, vec![0, 1]), (2, vec![2])]);
}

#[tokio::test]
async fn a_lingering_batch_leaves_at_its_linger_deadline_not_before_the_tick_ahead_of_it() {
    let arrivals: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let seen = Arc::clone(&arrivals);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            seen.lock().unwrap().push(std::time::Instant::now());
            FakeReply::produce(request, ErrorCode::None, 0)
        })
    });
    cluster.add_topic("t", &[1]);
    let linger = Duration::from_millis(300);
    let producer = producer(&cluster, &[("linger_ms", "300")]).await;
    producer.partitions_for("t").await.unwrap();

    let sent = std::time::Instant::now();
    let delivery = producer
        .send(ProducerRecord::new("t").partition(0).value("v"))
        .await
        .unwrap();
    delivery.await.unwrap();
    let waited = arrivals.lock().unwrap()[0].duration_since(sent);
    // The sender judges readiness one timer tick (1 ms) ahead of the clock;
    // never more than that early.
    assert!(
        waited >= Duration::from_millis(299),
        "left after {waited:?}, linger is {linger:?}"
    );
    // Late only by scheduling, and a loaded machine may add some of that.
    assert!(
        waited < linger + Duration::from_millis(200),
        "left after {waited:?}"
    );
}

/// The sender keeps its deadlines on std's clock and waits on the
/// runtime's. With the runtime's clock paused, as tests have it, a linger
/// costs the runtime's clock about the linger: the wait runs to the deadline
/// itself, not for the time left to it begun again at each wake (which
/// added up to seconds per linger, and tests timed out in release builds).
#[tokio::test(start_paused = true)]
async fn a_linger_costs_a_paused_runtime_clock_about_the_linger() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce).then(|| FakeReply::produce(request, ErrorCode::None, 0))
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("linger_ms", "20")]).await;
    producer.partitions_for("t").await.unwrap();

    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        let delivery = producer
            .send(ProducerRecord::new("t").partition(0).value("v"))
            .await
            .unwrap();
        delivery.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "three lingers of 20 ms took {elapsed:?} of the runtime's clock"
    );
}
