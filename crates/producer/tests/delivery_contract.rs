//! The delivery contract on the in-memory cluster: every record `send`
//! accepted gets exactly one outcome, through its future or its callback,
//! in send order per partition, and all of them before `flush()` or
//! `close()` returns. Answers are held back and reordered, connections
//! drop, batches are retried, and close comes at any point.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};
use proptest::prelude::*;

async fn producer(cluster: &FakeCluster, extra: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![("bootstrap_servers", bootstrap.as_str())];
    pairs.extend_from_slice(extra);
    let config = ProducerConfig::from_pairs(pairs).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

/// What the callbacks saw: per partition, the numbers of the records whose
/// outcome arrived, in the order it arrived, and each record's outcome count.
#[derive(Default)]
struct Seen {
    order: HashMap<i32, Vec<u64>>,
    outcomes: HashMap<u64, (usize, Outcome)>,
}

/// A record's offset, or its error in words.
type Outcome = Result<i64, String>;

/// A cheap pseudo-random sequence (xorshift), seeded per test case.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// Answers every Produce request after a delay of up to `max_delay_ms`
/// drawn from `seed` (answers come back in another order than asked).
fn delaying_cluster(brokers: i32, partitions: usize, seed: u64, max_delay_ms: u64) -> FakeCluster {
    let dice = Mutex::new(Dice(seed | 1));
    let cluster = FakeCluster::new(brokers, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let delay = dice.lock().unwrap().roll(max_delay_ms + 1);
            FakeReply::After(
                Duration::from_millis(delay),
                Box::new(FakeReply::produce(request, ErrorCode::None, 0)),
            )
        })
    });
    let leaders: Vec<i32> = (0..partitions)
        .map(|p| i32::try_from(p).unwrap() % brokers + 1)
        .collect();
    cluster.add_topic("t", &leaders);
    cluster
}

/// The bug this file was written for: the sender took a request's batches
/// off its in-flight count before it ran their callbacks, so a `flush()`
/// on another thread could return with callbacks of the last response
/// still to run. Many partitions make many batches per response, and the
/// callbacks take a little time each, which widens that window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_returns_only_after_every_callback_ran() {
    let cluster = delaying_cluster(1, 200, 7, 2);
    let producer = producer(&cluster, &[("linger_ms", "1"), ("batch_size", "256")]).await;
    let called = Arc::new(AtomicU64::new(0));
    let mut sent = 0u64;
    for round in 0..30u64 {
        for i in 0..2_000u64 {
            let called = Arc::clone(&called);
            let partition = i32::try_from(i % 200).unwrap();
            producer
                .send_with_callback(
                    ProducerRecord::new("t")
                        .partition(partition)
                        .value(vec![0u8; 20]),
                    move |outcome| {
                        assert!(outcome.is_ok(), "{outcome:?}");
                        // A callback that does a little work, as callbacks do.
                        std::hint::black_box((0..200u64).sum::<u64>());
                        called.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .await
                .unwrap();
            sent += 1;
        }
        producer.flush().await;
        assert_eq!(
            called.load(Ordering::SeqCst),
            sent,
            "round {round}: flush returned before every callback ran"
        );
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(called.load(Ordering::SeqCst), sent);
}

/// The same for futures: when `flush()` returns, every future of a record
/// sent before it is resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_returns_only_after_every_future_resolved() {
    let cluster = delaying_cluster(2, 100, 11, 3);
    let producer = producer(&cluster, &[("linger_ms", "1"), ("batch_size", "256")]).await;
    for round in 0..10 {
        let mut deliveries = Vec::new();
        for i in 0..2_000i32 {
            let delivery = producer
                .send(ProducerRecord::new("t").partition(i % 100).value("v"))
                .await
                .unwrap();
            deliveries.push(delivery);
        }
        producer.flush().await;
        for (i, mut delivery) in deliveries.into_iter().enumerate() {
            let polled = ready_now(&mut delivery).await;
            assert!(
                matches!(polled, Some(Ok(_))),
                "round {round}: record {i} not resolved after flush: {polled:?}"
            );
        }
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// The output of `future` if it is ready now: polled once, outside the
/// runtime's cooperative budget (which would otherwise say "not yet" to the
/// 129th of many ready futures polled in one task).
async fn ready_now<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    tokio::task::unconstrained(std::future::poll_fn(|context| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(context) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    }))
    .await
}

/// One case of the property: records spread over partitions and brokers,
/// answers delayed and reordered, some requests failed retriably or cut
/// off, flushes between bursts, and a close with a timeout at the end
/// (short enough, sometimes, to leave records on the wire).
#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    brokers: i32,
    partitions: usize,
    bursts: Vec<u16>,
    max_delay_ms: u64,
    /// Out of 100 Produce requests, how many get a retriable error.
    retriable_percent: u64,
    /// Out of 100 Produce requests, how many lose their connection.
    disconnect_percent: u64,
    idempotent: bool,
    close_after_ms: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        1i32..=3,
        1usize..=40,
        proptest::collection::vec(1u16..400, 1..5),
        0u64..=20,
        0u64..=20,
        0u64..=10,
        any::<bool>(),
        0u64..=60,
    )
        .prop_map(
            |(
                seed,
                brokers,
                partitions,
                bursts,
                max_delay_ms,
                retriable_percent,
                disconnect_percent,
                idempotent,
                close_after_ms,
            )| Case {
                seed,
                brokers,
                partitions,
                bursts,
                max_delay_ms,
                retriable_percent,
                disconnect_percent,
                idempotent,
                close_after_ms,
            },
        )
}

fn faulty_cluster(case: &Case) -> FakeCluster {
    let dice = Mutex::new(Dice(case.seed | 1));
    let (max_delay, retriable, disconnect) = (
        case.max_delay_ms,
        case.retriable_percent,
        case.disconnect_percent,
    );
    let cluster = FakeCluster::new(case.brokers, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            let mut dice = dice.lock().unwrap();
            let delay = Duration::from_millis(dice.roll(max_delay + 1));
            let fault = dice.roll(100);
            let reply = if fault < disconnect {
                FakeReply::Disconnect
            } else if fault < disconnect + retriable {
                FakeReply::produce(request, ErrorCode::NotEnoughReplicas, -1)
            } else {
                FakeReply::produce(request, ErrorCode::None, 0)
            };
            FakeReply::After(delay, Box::new(reply))
        })
    });
    let leaders: Vec<i32> = (0..case.partitions)
        .map(|p| i32::try_from(p).unwrap() % case.brokers + 1)
        .collect();
    cluster.add_topic("t", &leaders);
    cluster
}

/// Runs one case and checks the contract; returns what went wrong.
async fn run_case(case: Case) -> Result<(), String> {
    let cluster = faulty_cluster(&case);
    let idempotent = if case.idempotent { "true" } else { "false" };
    let producer = producer(
        &cluster,
        &[
            ("linger_ms", "2"),
            ("batch_size", "512"),
            ("retry_backoff_ms", "1"),
            ("enable_idempotence", idempotent),
            ("acks", "all"),
            ("max_in_flight_requests_per_connection", "5"),
        ],
    )
    .await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut number = 0u64;
    let mut futures = Vec::new();
    let partitions = i32::try_from(case.partitions).unwrap();
    for (burst, &count) in case.bursts.iter().enumerate() {
        let before = number;
        for _ in 0..count {
            let partition = i32::try_from(number % u64::from(partitions.unsigned_abs())).unwrap();
            let record = ProducerRecord::new("t")
                .partition(partition)
                .value(number.to_be_bytes().to_vec());
            if number.is_multiple_of(3) {
                // Every third record through a future, polled afterwards.
                let delivery = producer.send(record).await.map_err(|e| e.to_string())?;
                futures.push((number, delivery));
            } else {
                let seen = Arc::clone(&seen);
                let n = number;
                producer
                    .send_with_callback(record, move |outcome| {
                        let mut seen = seen.lock().unwrap();
                        seen.order.entry(partition).or_default().push(n);
                        let entry = seen.outcomes.entry(n).or_insert((0, Ok(-1)));
                        entry.0 += 1;
                        entry.1 = outcome.map(|m| m.offset).map_err(ToString::to_string);
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            number += 1;
        }
        if burst + 1 < case.bursts.len() {
            producer.flush().await;
            let seen = seen.lock().unwrap();
            for n in before..number {
                if !n.is_multiple_of(3) && !seen.outcomes.contains_key(&n) {
                    return Err(format!("record {n} had no outcome when flush returned"));
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(case.close_after_ms / 2)).await;
    // Errors are allowed here (the timeout may leave records failed with
    // Closed); what matters is what the records learned.
    let _ = producer
        .close(Duration::from_millis(case.close_after_ms))
        .await;
    // The futures: every one resolved by now, with no wait.
    for (n, mut delivery) in futures {
        if ready_now(&mut delivery).await.is_none() {
            return Err(format!("record {n}'s future unresolved after close"));
        }
    }
    let seen = seen.lock().unwrap();
    for n in (0..number).filter(|n| !n.is_multiple_of(3)) {
        match seen.outcomes.get(&n) {
            None => return Err(format!("record {n} had no outcome when close returned")),
            Some((calls, _)) if *calls != 1 => {
                return Err(format!("record {n} had {calls} outcomes"));
            }
            Some(_) => {}
        }
    }
    // Without retries every batch is answered once, so however the answers
    // are reordered, each partition's callbacks run in send order. (The fake
    // broker checks no sequence numbers, so a retried batch could land
    // behind a later one it accepted; a real broker refuses that later one.)
    let retried = case.retriable_percent > 0 || case.disconnect_percent > 0;
    for (partition, order) in &seen.order {
        if !retried && order.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!(
                "partition {partition}: callbacks out of send order: {order:?}"
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_send_has_exactly_one_outcome_before_flush_and_close_return(case in cases()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), run_case(case.clone())).await
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => prop_assert!(false, "{problem} in {case:?}"),
            Err(_) => prop_assert!(false, "the case did not finish in 60 s: {case:?}"),
        }
    }
}

/// A close out of time fails the records still on the wire with `Closed`,
/// each once and before it returns; the answer that comes later calls
/// nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_out_of_time_fails_what_is_on_the_wire_once() {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce).then(|| {
            FakeReply::After(
                Duration::from_millis(600),
                Box::new(FakeReply::produce(request, ErrorCode::None, 0)),
            )
        })
    });
    cluster.add_topic("t", &[1, 1, 1]);
    let producer = producer(&cluster, &[("linger_ms", "0")]).await;
    let outcomes: Arc<Mutex<Vec<(i32, Outcome)>>> = Arc::default();
    for i in 0..30 {
        let outcomes = Arc::clone(&outcomes);
        producer
            .send_with_callback(
                ProducerRecord::new("t").partition(i % 3).value("v"),
                move |outcome| {
                    let outcome = outcome.map(|m| m.offset).map_err(ToString::to_string);
                    outcomes.lock().unwrap().push((i, outcome));
                },
            )
            .await
            .unwrap();
    }
    let mut late = producer
        .send(ProducerRecord::new("t").partition(0).value("v"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let closed = producer.close(Duration::from_millis(100)).await;
    let took = started.elapsed();
    assert!(
        matches!(
            closed,
            Err(ferrokafka_producer::ProduceError::Blocked { .. })
        ),
        "{closed:?}"
    );
    assert!(took < Duration::from_millis(500), "close took {took:?}");
    let seen = outcomes.lock().unwrap().clone();
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, outcome)| outcome.as_ref().is_err_and(|e| e.contains("closed"))),
        "{seen:?}"
    );
    assert!(matches!(
        ready_now(&mut late).await,
        Some(Err(ferrokafka_producer::ProduceError::Closed))
    ));
    // Past the held answers' delay, they have arrived: nothing was called
    // a second time (an absence, so there is no event to wait for).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(outcomes.lock().unwrap().len(), 30);
    // And a send after close is refused at once.
    assert!(matches!(
        producer.send(ProducerRecord::new("t").value("v")).await,
        Err(ferrokafka_producer::ProduceError::Closed)
    ));
}

/// Dropping every handle without `close` still delivers what was sent:
/// the futures resolve with their metadata, the callbacks are called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_producer_still_delivers_every_record() {
    let cluster = delaying_cluster(1, 10, 5, 20);
    let producer = producer(&cluster, &[("linger_ms", "50")]).await;
    let (called, mut calls) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut deliveries = Vec::new();
    for i in 0..100i32 {
        let record = ProducerRecord::new("t").partition(i % 10).value("v");
        if i % 2 == 0 {
            deliveries.push(producer.send(record).await.unwrap());
        } else {
            let called = called.clone();
            producer
                .send_with_callback(record, move |outcome| {
                    assert!(outcome.is_ok(), "{outcome:?}");
                    called.send(()).unwrap();
                })
                .await
                .unwrap();
        }
    }
    let clone = producer.clone();
    drop(producer);
    drop(clone);
    for delivery in deliveries {
        let metadata = tokio::time::timeout(Duration::from_secs(10), delivery)
            .await
            .expect("a future of a dropped producer still resolves");
        assert!(metadata.is_ok(), "{metadata:?}");
    }
    drop(called);
    let mut count = 0;
    while tokio::time::timeout(Duration::from_secs(10), calls.recv())
        .await
        .expect("every callback of a dropped producer is called")
        .is_some()
    {
        count += 1;
    }
    // The channel closed: every callback ran (or was dropped uncalled).
    assert_eq!(count, 50);
}

/// A close goes on retrying what the broker refused for now: a record sent
/// to a topic whose leader is not ready yet, then closed at once, is
/// delivered, not failed with the retriable error (as the Java client's
/// close sends everything buffered, retries included, within its timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_right_after_send_still_retries_a_refused_batch() {
    let answered = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&answered);
    let cluster = FakeCluster::new(1, move |request| {
        (request.key == ApiKey::Produce).then(|| {
            if count.fetch_add(1, Ordering::SeqCst) < 2 {
                FakeReply::produce(request, ErrorCode::NotLeaderOrFollower, -1)
            } else {
                FakeReply::produce(request, ErrorCode::None, 7)
            }
        })
    });
    cluster.add_topic("t", &[1]);
    let producer = producer(&cluster, &[("linger_ms", "0"), ("retry_backoff_ms", "5")]).await;
    let delivery = producer
        .send(ProducerRecord::new("t").value("v"))
        .await
        .unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
    let metadata = ready_now(&mut { delivery }).await;
    assert!(
        matches!(&metadata, Some(Ok(m)) if m.offset == 7),
        "{metadata:?}"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 3);
}
