//! TLS and SCRAM: every setting comes from a Java `.properties` file, as a
//! Java client's would (`security.protocol=SASL_SSL`,
//! `sasl.mechanism=SCRAM-SHA-512`, `ssl.ca.location=...`, user, password).
//! Creates `<topic>`, writes one record and reads it back over SASL_SSL.
//!
//! `cargo run --example tls_scram -- <client.properties> [topic]`

mod common;

use std::time::{Duration, Instant};

use ferrokafka::Config;
use ferrokafka::admin::AdminOptions;
use ferrokafka::admin::topics::NewTopic;
use ferrokafka::producer::ProducerRecord;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: tls_scram <client.properties> [topic]")?;
    let topic = common::topic();
    let mut config = Config::from_properties_file(&path)?;

    let admin = config.admin().await?;
    let options = AdminOptions::new().timeout(Duration::from_secs(30));
    for (name, outcome) in admin
        .create_topics(&[NewTopic::new(&topic, 1, 1)], false, &options)
        .await
    {
        outcome?;
        println!("created {name} over SASL_SSL");
    }

    let producer = config.producer().await?;
    let sent = producer
        .send(
            ProducerRecord::new(&topic)
                .key("k")
                .value("over TLS, as a SCRAM user"),
        )
        .await?
        .await?;
    println!("written at offset {}", sent.offset);
    producer.close(Duration::from_secs(10)).await?;

    config.extend_pairs([
        ("group_id", format!("{topic}-reader")),
        ("auto_offset_reset", "earliest".to_string()),
    ])?;
    let consumer = config.consumer().await?;
    consumer.subscribe(&[&topic]).await?;
    let deadline = Instant::now() + common::PATIENCE;
    let mut read = Vec::new();
    while read.is_empty() && Instant::now() < deadline {
        read = consumer.poll(Duration::from_millis(500)).await?;
    }
    consumer.close(Duration::from_secs(10)).await?;
    let value = read
        .first()
        .and_then(|r| r.value.clone())
        .ok_or("nothing read back")?;
    println!("read back {:?}", String::from_utf8_lossy(&value));
    Ok(())
}
