//! On a broker with `auto.create.topics.enable=false` (the harness's tuned
//! broker), sending to a topic that does not exist fails after
//! `max_block_ms` with an error a person can act on: it names the topic
//! and the broker setting, and the topic is still not there.

use std::time::{Duration, Instant};

use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, unique_topic};

#[tokio::test]
async fn sending_to_a_missing_topic_names_the_broker_setting() {
    let topic = unique_topic("never-created");
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("max_block_ms", "3000"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let error = match producer.send(ProducerRecord::new(&topic).value("v")).await {
        Ok(delivery) => delivery.await.map(|_| ()).unwrap_err(),
        Err(error) => error,
    };
    let message = error.to_string();
    eprintln!("after {:?}: {message}", started.elapsed());
    assert!(message.contains(&topic), "{message}");
    assert!(message.contains("auto.create.topics.enable"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by max_block_ms"
    );

    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topics = admin
        .list_topics(false, &AdminOptions::default())
        .await
        .unwrap();
    assert!(topics.iter().all(|t| t.name != topic));
    producer.close(Duration::from_secs(5)).await.unwrap();
}
