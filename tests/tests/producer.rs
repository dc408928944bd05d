//! The producer against a real broker: keyed records with headers in every
//! codec read back by kafka-python (same bytes, murmur2 partitions,
//! per-partition order), acks 0/1/all, idempotence on by default, the
//! metrics per topic and their rates, and back-pressure when the broker is
//! gone.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use ferrokafka_producer::partitioner::partition_for_key;
use ferrokafka_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, start_cluster, unique_topic};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

async fn producer(bootstrap: &str, pairs: &[(&str, &str)]) -> Producer {
    let mut all = vec![("bootstrap_servers", bootstrap)];
    all.extend_from_slice(pairs);
    Producer::new(ProducerConfig::from_pairs(all).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn keyed_records_with_headers_in_every_codec_read_back_by_kafka_python() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let producer = producer(
            bootstrap_servers(),
            &[("compression_type", codec), ("linger_ms", "20")],
        )
        .await;
        let topic = unique_topic(&format!("produce-{codec}"));
        create_topic(producer.client(), &topic, 3, 1).await;
        let mut deliveries = Vec::new();
        for i in 0..300u32 {
            let key = format!("key-{}", i % 17);
            let value = format!("value {i} {}", "x".repeat((i % 50) as usize));
            let record = ProducerRecord::new(&topic)
                .key(key.clone())
                .value(value.clone())
                .header("i", i.to_string())
                .header("codec", codec);
            deliveries.push((key, value, producer.send(record).await.unwrap()));
        }
        let mut sent: HashMap<(i64, i64), (String, String, u32)> = HashMap::new();
        let mut last_offset: HashMap<i32, i64> = HashMap::new();
        for (i, (key, value, delivery)) in deliveries.into_iter().enumerate() {
            let metadata = delivery.await.unwrap();
            assert_eq!(
                metadata.partition,
                partition_for_key(key.as_bytes(), 3),
                "{codec}: murmur2 partition"
            );
            // Per-partition order: offsets grow in the order of send.
            let previous = last_offset.insert(metadata.partition, metadata.offset);
            assert!(
                previous.is_none_or(|p| p < metadata.offset),
                "{codec}: order"
            );
            sent.insert(
                (i64::from(metadata.partition), metadata.offset),
                (key, value, u32::try_from(i).unwrap()),
            );
        }
        let metrics = producer.metrics();
        assert_eq!(metrics.record_send_total, 300, "{codec}");
        producer.close(Duration::from_secs(10)).await.unwrap();

        let read = xtask::python::run_interop_script_lines(
            "kafka_python_read.py",
            &[
                "--bootstrap",
                bootstrap_servers(),
                "--topic",
                &topic,
                "--count",
                "300",
            ],
        )
        .unwrap();
        assert_eq!(read.len(), 300, "{codec}");
        for got in read {
            let at = (
                got["partition"].as_i64().unwrap(),
                got["offset"].as_i64().unwrap(),
            );
            let (key, value, i) = sent
                .remove(&at)
                .unwrap_or_else(|| panic!("{codec}: {at:?}"));
            assert_eq!(got["key"], b64(key.as_bytes()), "{codec}");
            assert_eq!(got["value"], b64(value.as_bytes()), "{codec}");
            assert_eq!(
                got["headers"],
                serde_json::json!([
                    ["i", b64(i.to_string().as_bytes())],
                    ["codec", b64(codec.as_bytes())]
                ]),
                "{codec}"
            );
        }
        assert!(sent.is_empty(), "{codec}: not read back: {sent:?}");
    }
}

#[tokio::test]
async fn every_acks_setting_delivers() {
    for (acks, idempotence) in [("0", "false"), ("1", "false"), ("all", "true")] {
        let producer = producer(
            bootstrap_servers(),
            &[("acks", acks), ("enable_idempotence", idempotence)],
        )
        .await;
        let topic = unique_topic(&format!("acks-{acks}"));
        create_topic(producer.client(), &topic, 1, 1).await;
        let mut deliveries = Vec::new();
        for i in 0..50 {
            deliveries.push(
                producer
                    .send(ProducerRecord::new(&topic).value(format!("{i}")))
                    .await
                    .unwrap(),
            );
        }
        for (i, delivery) in (0i64..).zip(deliveries) {
            let metadata = delivery.await.unwrap();
            if acks == "0" {
                assert_eq!(metadata.offset, -1);
            } else {
                assert_eq!(metadata.offset, i, "acks={acks}");
            }
        }
        producer.flush().await;
        let metrics = producer.metrics();
        assert_eq!(metrics.record_send_total, 50, "acks={acks}");
        assert!(metrics.record_send_rate > 0.0, "acks={acks}: {metrics:?}");
        assert!(metrics.request_total >= 1 && metrics.request_rate > 0.0);
        assert_eq!(metrics.requests_in_flight, 0);
        assert_eq!(metrics.record_error_total, 0);
        assert_eq!(metrics.topics[&topic].record_send_total, 50);
        assert_eq!(metrics.topics[&topic].byte_total, metrics.byte_total);
        let end = producer
            .client()
            .send_any(&ferrokafka_protocol::messages::MetadataRequest::default())
            .await
            .unwrap();
        assert!(!end.brokers.is_empty());
        producer.close(Duration::from_secs(10)).await.unwrap();
    }
}

#[tokio::test]
async fn metrics_count_per_topic_and_show_compression() {
    let producer = producer(
        bootstrap_servers(),
        &[("compression_type", "lz4"), ("linger_ms", "10")],
    )
    .await;
    let topics = [unique_topic("metrics-a"), unique_topic("metrics-b")];
    for topic in &topics {
        create_topic(producer.client(), topic, 2, 1).await;
    }
    let started = std::time::Instant::now();
    for i in 0..400u32 {
        let topic = &topics[usize::from(i % 4 == 0)];
        let record = ProducerRecord::new(topic).value(format!("{i:>8} {}", "abc".repeat(60)));
        producer.send_with_callback(record, |_| {}).await.unwrap();
    }
    producer.flush().await;
    let metrics = producer.metrics();
    let elapsed = started.elapsed();
    assert_eq!(metrics.record_send_total, 400, "{metrics:#?}");
    let (a, b) = (&metrics.topics[&topics[0]], &metrics.topics[&topics[1]]);
    assert_eq!((a.record_send_total, b.record_send_total), (300, 100));
    assert_eq!(a.byte_total + b.byte_total, metrics.byte_total);
    // Repetitive values: lz4 shrinks every batch well below its records.
    assert!(metrics.compression_rate_avg < 0.5, "{metrics:#?}");
    assert!(a.compression_rate < 0.5 && b.compression_rate < 0.5);
    // Default windows (30 s, 2 samples): the rate is the total over the
    // time since the first acknowledgement plus one window.
    let window = Duration::from_secs(30);
    for (total, rate) in [
        (metrics.record_send_total, metrics.record_send_rate),
        (a.record_send_total, a.record_send_rate),
        (b.byte_total, b.byte_rate),
    ] {
        #[allow(clippy::cast_precision_loss)]
        let total = total as f64;
        let (lowest, highest) = (
            total / (window + elapsed).as_secs_f64(),
            total / window.as_secs_f64(),
        );
        assert!(
            lowest <= rate && rate <= highest,
            "{rate} {lowest} {highest}"
        );
    }
    assert!(metrics.record_size_max > 180 && metrics.record_size_avg > 180.0);
    assert!(metrics.record_queue_time_max_ms <= elapsed.as_secs_f64() * 1000.0);
    assert!(metrics.request_latency_max_ms > 0.0);
    assert_eq!(metrics.requests_in_flight, 0);
    producer.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn a_full_buffer_with_the_broker_gone_blocks_then_fails_and_delivers_the_rest_when_it_returns()
 {
    let mut cluster = start_cluster(1);
    let producer = producer(
        &cluster.info.bootstrap_servers,
        &[
            ("buffer_memory", "65536"),
            ("batch_size", "16384"),
            ("max_block_ms", "1500"),
            ("delivery_timeout_ms", "60000"),
            ("request_timeout_ms", "2000"),
        ],
    )
    .await;
    let topic = unique_topic("backpressure");
    create_topic(producer.client(), &topic, 1, 1).await;
    producer
        .send(ProducerRecord::new(&topic).value("before"))
        .await
        .unwrap()
        .await
        .unwrap();
    cluster.kill_node(1).unwrap();
    let value = vec![b'x'; 10_000];
    let mut queued = Vec::new();
    let error = loop {
        match producer
            .send(ProducerRecord::new(&topic).value(value.clone()))
            .await
        {
            Ok(delivery) => queued.push(delivery),
            Err(error) => break error,
        }
        assert!(queued.len() < 100, "buffer_memory never filled");
    };
    assert!(matches!(error, ProduceError::Blocked { .. }), "{error:?}");
    let said = error.to_string();
    assert!(
        said.contains("buffer_memory") && said.contains("max_block_ms"),
        "{said}"
    );
    // What was queued is still there, bounded by buffer_memory, to be
    // delivered when the broker returns.
    assert!(!queued.is_empty());
    assert!(producer.metrics().buffer_available_bytes < 16_384);
    cluster.restart_node(1).unwrap();
    let accepted = queued.len();
    for (i, delivery) in queued.into_iter().enumerate() {
        let delivered = tokio::time::timeout(Duration::from_secs(90), delivery)
            .await
            .unwrap_or_else(|_| panic!("record {i} of {accepted}: no outcome"));
        assert!(delivered.is_ok(), "record {i} of {accepted}: {delivered:?}");
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop();
}

#[test]
fn the_blocking_producer_sends_and_waits_like_kafka_python() {
    let producer = ferrokafka_producer::BlockingProducer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .unwrap();
    let topic = unique_topic("blocking");
    // Its own client: connections opened on another runtime would stop
    // when that runtime ends.
    ferrokafka_tests::create_topic_blocking(&topic, 2);
    assert_eq!(producer.partitions_for(&topic).unwrap(), [0, 1]);
    let first = producer
        .send(ProducerRecord::new(&topic).key("a").value("1"))
        .unwrap()
        .get(Some(Duration::from_secs(30)))
        .unwrap();
    let second = producer
        .send(ProducerRecord::new(&topic).key("a").value("2"))
        .unwrap()
        .get(None)
        .unwrap();
    assert_eq!(first.partition, second.partition);
    assert_eq!(second.offset, first.offset + 1);
    producer.flush();
    producer.close(Duration::from_secs(5)).unwrap();
    assert!(matches!(
        producer.send(ProducerRecord::new(&topic).value("late")),
        Err(ProduceError::Closed)
    ));
}

/// Values from a few bytes to over a MiB, on both sides of the size from
/// which an uncompressed batch keeps them by reference, go out in requests
/// of several batches, idempotent, with keys and headers: the broker, which
/// checks each batch's CRC, takes them, and they read back byte for byte.
#[tokio::test]
async fn large_values_kept_by_reference_arrive_whole() {
    use ferrokafka_admin::topics::NewTopic;
    use ferrokafka_admin::{Admin, AdminOptions};
    use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
    use ferrokafka_records::SHARED_VALUE_FROM;

    const MAX: usize = 3 << 20;
    let max = MAX.to_string();
    for codec in ["none", "lz4"] {
        let producer = producer(
            bootstrap_servers(),
            &[
                ("compression_type", codec),
                ("linger_ms", "20"),
                ("max_request_size", max.as_str()),
            ],
        )
        .await;
        let topic = unique_topic(&format!("large-values-{codec}"));
        let admin = Admin::with_client(producer.client().clone());
        let created = admin
            .create_topics(
                &[NewTopic::new(&topic, 1, 1).config("max.message.bytes", &max)],
                false,
                &AdminOptions::new().timeout(Duration::from_secs(30)),
            )
            .await;
        created[&topic].as_ref().unwrap();
        let sizes = [
            0,
            10,
            SHARED_VALUE_FROM - 1,
            SHARED_VALUE_FROM,
            SHARED_VALUE_FROM + 1,
            20_000,
            300_000,
            1_500_000,
            7,
            SHARED_VALUE_FROM * 2,
        ];
        let values: Vec<bytes::Bytes> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                (0..len)
                    .map(|j| (i * 31 + j * 7) as u8)
                    .collect::<Vec<u8>>()
                    .into()
            })
            .collect();
        let mut deliveries = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let record = ProducerRecord::new(&topic)
                .key(format!("k{i}"))
                .value(value.clone())
                .header("i", i.to_string());
            deliveries.push(producer.send(record).await.unwrap());
        }
        for (i, delivery) in deliveries.into_iter().enumerate() {
            let metadata = delivery
                .await
                .unwrap_or_else(|e| panic!("{codec} {i}: {e}"));
            assert_eq!(metadata.offset, i64::try_from(i).unwrap(), "{codec}");
        }
        producer.close(Duration::from_secs(10)).await.unwrap();

        let consumer = Consumer::new(
            ConsumerConfig::from_pairs([
                ("bootstrap_servers", bootstrap_servers()),
                ("auto_offset_reset", "earliest"),
                ("max_partition_fetch_bytes", max.as_str()),
                ("fetch_max_bytes", max.as_str()),
            ])
            .unwrap(),
        )
        .await
        .unwrap();
        consumer
            .assign(&[TopicPartition::new(topic.as_str(), 0)])
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut read = Vec::new();
        while read.len() < values.len() && std::time::Instant::now() < deadline {
            read.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
        }
        assert_eq!(read.len(), values.len(), "{codec}");
        for (i, (record, value)) in read.iter().zip(&values).enumerate() {
            assert_eq!(record.offset, i64::try_from(i).unwrap(), "{codec}");
            assert_eq!(record.key.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(
                record.value.as_ref().map(bytes::Bytes::len),
                Some(value.len()),
                "{codec} {i}"
            );
            assert!(
                record.value.as_ref() == Some(value),
                "{codec} {i}: the bytes differ"
            );
            assert_eq!(record.headers.len(), 1, "{codec} {i}");
        }
        consumer.close(Duration::from_secs(5)).await.unwrap();
    }
}
