//! Kafka as users run it: a broker with Kafka's own settings (automatic
//! topic creation on, a 3 s initial rebalance delay, default session and
//! replica timeouts), as `cargo xtask broker start --defaults` starts it.
//! `cargo xtask test` runs this file against the newest 4.x and the newest
//! 3.9.x; elsewhere it starts its own node of the newest release.
//!
//! The README's example, the demo's workload, and produce / consume /
//! commit / rebalance basics, on topics nobody created first where that is
//! what users do; and what automatic creation does and does not do.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{create_topic, defaults_bootstrap_servers, unique_topic};

/// Every wait on the broker here ends by then, so a failure cannot hang.
const PATIENCE: Duration = Duration::from_secs(60);

fn producer_config(extra: &[(&str, &str)]) -> ProducerConfig {
    let mut pairs = vec![("bootstrap_servers", defaults_bootstrap_servers())];
    pairs.extend_from_slice(extra);
    ProducerConfig::from_pairs(pairs).unwrap()
}

/// A consumer with the client's defaults (45 s sessions and all), as a
/// user's consumer would be.
fn consumer_config(group: Option<&str>, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut pairs = vec![
        ("bootstrap_servers", defaults_bootstrap_servers()),
        ("auto_offset_reset", "earliest"),
    ];
    if let Some(group) = group {
        pairs.push(("group_id", group));
    }
    pairs.extend_from_slice(extra);
    ConsumerConfig::from_pairs(pairs).unwrap()
}

async fn admin() -> Admin {
    Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", defaults_bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap()
}

async fn topic_exists(admin: &Admin, topic: &str) -> bool {
    let listed = admin
        .list_topics(false, &AdminOptions::default())
        .await
        .unwrap();
    listed.iter().any(|t| t.name == topic)
}

/// Polls the consumers in turn until `done` says enough arrived, for at
/// most [`PATIENCE`]; returns what each read.
async fn read_until(
    consumers: &[&Consumer],
    what: &str,
    mut done: impl FnMut(&[Vec<ConsumerRecord>]) -> bool,
) -> Vec<Vec<ConsumerRecord>> {
    let deadline = Instant::now() + PATIENCE;
    let mut read: Vec<Vec<ConsumerRecord>> = vec![Vec::new(); consumers.len()];
    while !done(&read) {
        for (i, consumer) in consumers.iter().enumerate() {
            read[i].extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {PATIENCE:?}"
        );
    }
    read
}

fn value(record: &ConsumerRecord) -> String {
    String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned()
}

/// The README's example as it stands: send to a topic that does not
/// exist, then read it back in a group.
#[tokio::test]
async fn the_readmes_example_creates_its_topic_and_reads_it_back() {
    let topic = unique_topic("readme-events");
    let producer = Producer::new(producer_config(&[])).await.unwrap();
    let started = Instant::now();
    let metadata = producer
        .send(ProducerRecord::new(&topic).key("k").value("v"))
        .await
        .unwrap()
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("first record to a new topic delivered in {took:?}");
    // Delivered as soon as the new partition has a leader, not after a
    // metadata timeout.
    assert!(
        took < Duration::from_secs(10),
        "the first send took {took:?}"
    );
    assert_eq!((metadata.partition, metadata.offset), (0, 0));

    let group = unique_topic("readers");
    let consumer = Consumer::new(consumer_config(Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let read = read_until(&[&consumer], "reading the record", |r| !r[0].is_empty()).await;
    assert_eq!(value(&read[0][0]), "v");
    assert_eq!(read[0][0].key.as_deref(), Some(&b"k"[..]));
    consumer.close(Duration::from_secs(10)).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// A consumer may start before anything was written: subscribing by name
/// creates the topic, and what a producer writes next is read.
#[tokio::test]
async fn a_consumer_subscribed_to_a_missing_topic_gets_it_created_and_reads_it() {
    let topic = unique_topic("subscribed-first");
    let admin = admin().await;
    assert!(!topic_exists(&admin, &topic).await);
    let group = unique_topic("subscribed-first-group");
    let consumer = Consumer::new(consumer_config(Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    read_until(&[&consumer], "the topic's partition being assigned", |_| {
        !consumer.assignment().is_empty()
    })
    .await;
    assert!(
        topic_exists(&admin, &topic).await,
        "the consumer created the topic"
    );

    let producer = Producer::new(producer_config(&[])).await.unwrap();
    for i in 0..10 {
        producer
            .send(ProducerRecord::new(&topic).value(i.to_string()))
            .await
            .unwrap();
    }
    producer.flush().await;
    let read = read_until(&[&consumer], "reading ten records", |r| r[0].len() >= 10).await;
    let values: Vec<String> = read[0].iter().map(value).collect();
    assert_eq!(values, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    consumer.close(Duration::from_secs(10)).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// With `allow_auto_create_topics=false` the consumer creates nothing: it
/// waits, and reads once someone creates the topic (the group's leader
/// sees it appear and the group is assigned anew).
#[tokio::test]
async fn a_consumer_that_may_not_create_topics_waits_for_one() {
    let topic = unique_topic("not-created");
    let group = unique_topic("not-created-group");
    // Lookups give up after 2 s, before the topic exists: the consumer
    // must notice the topic appearing later, not only while it looks.
    let consumer = Consumer::new(consumer_config(
        Some(&group),
        &[
            ("allow_auto_create_topics", "false"),
            ("default_api_timeout_ms", "2000"),
        ],
    ))
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    // Until the group is stable, with nothing assigned: the leader has
    // looked the topic up (and given up, after 2 s) by then.
    let admin = admin().await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            consumer
                .poll(Duration::from_millis(200))
                .await
                .unwrap()
                .is_empty()
        );
        let described = admin
            .describe_groups(&[group.as_str()], &AdminOptions::default())
            .await;
        if described[&group]
            .as_ref()
            .is_ok_and(|g| g.state == "Stable")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the group never became stable");
    }
    assert!(consumer.assignment().is_empty());
    assert!(
        !topic_exists(&admin, &topic).await,
        "a consumer with allow_auto_create_topics=false created {topic}"
    );

    let client = admin.client().clone();
    create_topic(&client, &topic, 1, 1).await;
    let producer = Producer::new(producer_config(&[])).await.unwrap();
    producer
        .send(ProducerRecord::new(&topic).value("late"))
        .await
        .unwrap()
        .await
        .unwrap();
    let read = read_until(&[&consumer], "reading the topic once created", |r| {
        !r[0].is_empty()
    })
    .await;
    assert_eq!(value(&read[0][0]), "late");
    consumer.close(Duration::from_secs(10)).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// Describing a topic that does not exist, on a broker that creates
/// topics, does not create it.
#[tokio::test]
async fn the_admin_client_never_creates_a_topic() {
    let topic = unique_topic("admin-only-looks");
    let admin = admin().await;
    let described = admin
        .describe_topics(&[topic.as_str()], &AdminOptions::default())
        .await;
    assert!(described[&topic].is_err(), "{described:?}");
    assert!(!topic_exists(&admin, &topic).await);
}

/// The demo's workload, smaller: JSON integers through an idempotent
/// producer (acks=all) into a topic nobody created, each read back once
/// in a group.
#[tokio::test]
async fn the_demos_workload_arrives_once_each() {
    const RECORDS: u64 = 20_000;
    let topic = unique_topic("demo");
    let producer = Producer::new(producer_config(&[("linger_ms", "5")]))
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        deliveries.push(
            producer
                .send(ProducerRecord::new(&topic).value(serde_json::to_vec(&i).unwrap()))
                .await
                .unwrap(),
        );
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }

    let group = unique_topic("demo-group");
    let consumer = Consumer::new(consumer_config(Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let read = read_until(&[&consumer], "reading the workload back", |r| {
        r[0].len() as u64 >= RECORDS
    })
    .await;
    let seen: BTreeSet<u64> = read[0]
        .iter()
        .map(|r| serde_json::from_slice(r.value.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(read[0].len() as u64, RECORDS, "no record twice");
    assert_eq!(seen, (0..RECORDS).collect(), "every record once");
    consumer.close(Duration::from_secs(10)).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// Commit and rebalance with the broker's default group settings: a
/// second member joining takes half the partitions, the first leaving
/// hands its half over (LeaveGroup), and what the first committed is
/// never read again.
#[tokio::test]
async fn members_share_partitions_and_pick_up_from_commits() {
    let topic = unique_topic("basics");
    let admin = admin().await;
    create_topic(admin.client(), &topic, 4, 1).await;
    let producer = Producer::new(producer_config(&[])).await.unwrap();
    let send = |from: u32, to: u32| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            for i in from..to {
                producer
                    .send(
                        ProducerRecord::new(&topic)
                            .key(i.to_string())
                            .value(i.to_string()),
                    )
                    .await
                    .unwrap();
            }
            producer.flush().await;
        }
    };
    send(0, 100).await;

    let group = unique_topic("basics-group");
    let manual = [("enable_auto_commit", "false")];
    let first = Consumer::new(consumer_config(Some(&group), &manual))
        .await
        .unwrap();
    first.subscribe(&[topic.as_str()]).await.unwrap();
    let read = read_until(&[&first], "the first member reading everything", |r| {
        r[0].len() >= 100
    })
    .await;
    first.commit().await.unwrap();
    let mut by_first: BTreeSet<String> = read[0].iter().map(value).collect();

    let second = Consumer::new(consumer_config(Some(&group), &manual))
        .await
        .unwrap();
    second.subscribe(&[topic.as_str()]).await.unwrap();
    read_until(&[&first, &second], "a two-member split", |_| {
        first.assignment().len() == 2 && second.assignment().len() == 2
    })
    .await;
    send(100, 200).await;
    let read = read_until(&[&first, &second], "both reading the new records", |r| {
        r[0].len() + r[1].len() >= 100
    })
    .await;
    first.commit().await.unwrap();
    second.commit().await.unwrap();
    by_first.extend(read[0].iter().map(value));
    let mut by_second: BTreeSet<String> = read[1].iter().map(value).collect();

    first.close(Duration::from_secs(10)).await.unwrap();
    send(200, 300).await;
    let read = read_until(&[&second], "the survivor reading the rest", |r| {
        second.assignment().len() == 4 && r[0].len() >= 100
    })
    .await;
    by_second.extend(read[0].iter().map(value));
    assert!(by_first.is_disjoint(&by_second), "a record read twice");
    let all: BTreeSet<String> = by_first.union(&by_second).cloned().collect();
    assert_eq!(
        all,
        (0..300).map(|i| i.to_string()).collect::<BTreeSet<_>>()
    );

    let committed = second
        .committed(&second.assignment())
        .await
        .unwrap()
        .into_values()
        .flatten()
        .map(|o| o.offset)
        .sum::<i64>();
    assert!(
        committed >= 200,
        "commits before the last batch: {committed}"
    );
    second.close(Duration::from_secs(10)).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
}
