//! The producer on a 3-node cluster under faults: a leader killed and
//! restarted during an idempotent run loses and duplicates nothing, and a
//! partition short of in-sync replicas surfaces NOT_ENOUGH_REPLICAS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{create_topic, start_cluster, unique_topic};

const RECORDS: u32 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_and_restarted_mid_run_loses_and_duplicates_nothing() {
    let mut cluster = start_cluster(3);
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap.as_str()),
            ("linger_ms", "5"),
            ("request_timeout_ms", "5000"),
            ("reconnect_backoff_max_ms", "500"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("idempotent-failover");
    create_topic(producer.client(), &topic, 3, 3).await;
    let victim = producer.client().leader(&topic, 0).await.unwrap();

    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(RECORDS as usize);
    for i in 0..RECORDS {
        if i == RECORDS / 4 {
            cluster.kill_node(u32::try_from(victim).unwrap()).unwrap();
        }
        if i == RECORDS / 2 {
            // Restarting waits for the node to serve: off the async workers.
            tokio::task::block_in_place(|| {
                cluster
                    .restart_node(u32::try_from(victim).unwrap())
                    .unwrap();
            });
        }
        let record = ProducerRecord::new(&topic)
            .key(format!("k{}", i % 64))
            .value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut offsets: HashMap<(i32, i64), u32> = HashMap::new();
    for (i, delivery) in (0..RECORDS).zip(deliveries) {
        let metadata = delivery
            .await
            .unwrap_or_else(|e| panic!("record {i} failed: {e}"));
        assert!(
            offsets
                .insert((metadata.partition, metadata.offset), i)
                .is_none(),
            "two records at {}-{}",
            metadata.partition,
            metadata.offset
        );
    }
    assert!(started.elapsed() < Duration::from_secs(150));
    assert!(
        producer.metrics().record_retry_total > 0,
        "the kill caused no retry"
    );
    producer.close(Duration::from_secs(10)).await.unwrap();

    // Read everything back: each value exactly once, and per partition in
    // the order sent.
    let read = xtask::python::run_interop_script_lines(
        "kafka_python_read.py",
        &[
            "--bootstrap",
            &bootstrap,
            "--topic",
            &topic,
            "--count",
            &RECORDS.to_string(),
            "--timeout",
            "120",
        ],
    )
    .unwrap();
    assert_eq!(read.len(), RECORDS as usize, "records in the topic");
    let mut seen = vec![false; RECORDS as usize];
    let mut last_in_partition: HashMap<i64, u32> = HashMap::new();
    for record in &read {
        let partition = record["partition"].as_i64().unwrap();
        let offset = record["offset"].as_i64().unwrap();
        let value = offsets[&(i32::try_from(partition).unwrap(), offset)];
        assert!(!seen[value as usize], "value {value} twice");
        seen[value as usize] = true;
        if let Some(previous) = last_in_partition.insert(partition, value) {
            assert!(
                previous < value,
                "partition {partition}: {value} after {previous}"
            );
        }
    }
    assert!(seen.iter().all(|&s| s));
    cluster.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_in_sync_replicas_surface_not_enough_replicas() {
    let mut cluster = start_cluster(3);
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let client_config = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![
            ("bootstrap_servers", bootstrap.as_str()),
            ("request_timeout_ms", "5000"),
        ];
        pairs.extend_from_slice(extra);
        ProducerConfig::from_pairs(pairs).unwrap()
    };
    let producer = Producer::new(client_config(&[("retries", "0")]))
        .await
        .unwrap();
    // Two replicas and min.insync.replicas=2: losing the follower leaves
    // the leader alone in the ISR (the quorum of three voters survives).
    let topic = unique_topic("not-enough-replicas");
    create_topic(producer.client(), &topic, 1, 2).await;
    // retries=0: a first send while the new topic's leadership settles
    // may be refused (NOT_LEADER_OR_FOLLOWER); the test is about later.
    let settle_deadline = Instant::now() + Duration::from_secs(30);
    while let Err(error) = producer
        .send(ProducerRecord::new(&topic).value("before"))
        .await
        .unwrap()
        .await
    {
        assert!(
            error.to_string().contains("NOT_LEADER_OR_FOLLOWER")
                || error.to_string().contains("LEADER_NOT_AVAILABLE"),
            "{error}"
        );
        assert!(
            Instant::now() < settle_deadline,
            "the topic never settled: {error}"
        );
        producer.client().refresh_metadata().await.unwrap();
    }
    let (leader, follower) = producer.client().view(|v| {
        let partition = &v.topic(&topic).unwrap().partitions[0];
        let follower = *partition
            .replicas
            .iter()
            .find(|&&r| r != partition.leader)
            .unwrap();
        (partition.leader, follower)
    });
    cluster.kill_node(u32::try_from(follower).unwrap()).unwrap();

    // The ISR shrinks once the controller fences the dead node; until then
    // acks=all waits and times out. Each attempt is one record.
    let deadline = Instant::now() + Duration::from_secs(60);
    let error = loop {
        let result = producer
            .send(ProducerRecord::new(&topic).value("during"))
            .await
            .unwrap()
            .await;
        match result {
            Err(ProduceError::Broker {
                error: ErrorCode::NotEnoughReplicas,
                ..
            }) => break result.unwrap_err(),
            // acks=all waiting for the dead follower: the broker's own
            // timeout and the client's are the same setting, so either
            // side may give up first.
            Err(
                ProduceError::Broker {
                    error: ErrorCode::RequestTimedOut | ErrorCode::NotEnoughReplicasAfterAppend,
                    ..
                }
                | ProduceError::Transport(ferrokafka_transport::TransportError::Timeout { .. }),
            ) => {}
            other => panic!("unexpected outcome while the ISR shrinks: {other:?}"),
        }
        assert!(Instant::now() < deadline, "NOT_ENOUGH_REPLICAS never came");
    };
    assert!(error.to_string().contains("NOT_ENOUGH_REPLICAS"), "{error}");
    assert_eq!(
        producer.client().leader(&topic, 0).await.unwrap(),
        leader,
        "the leader stayed"
    );
    producer.close(Duration::from_secs(5)).await.unwrap();
    cluster.stop();
}
