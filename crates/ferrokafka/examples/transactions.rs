//! Consume-transform-produce, exactly once: orders read from `<topic>` are
//! confirmed to `<topic>-confirmed` in transactions that also commit the
//! group's offsets, so each order is confirmed once even across crashes.
//!
//! `cargo run --example transactions -- [bootstrap_servers] [topic]`

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka::consumer::TopicPartition;
use ferrokafka::group::offsets::OffsetAndMetadata;
use ferrokafka::producer::ProducerRecord;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = common::topic();
    let confirmed = format!("{topic}-confirmed");
    let group = format!("{topic}-confirmer");
    let consumer = common::config(&[
        ("group_id", &group),
        ("enable_auto_commit", "false"),
        ("auto_offset_reset", "earliest"),
        // Only orders of committed transactions, if they come from one.
        ("isolation_level", "read_committed"),
    ])?
    .consumer()
    .await?;
    let transactional_id = format!("{group}-1");
    let producer = common::config(&[("transactional_id", &transactional_id)])?
        .producer()
        .await?;
    producer.init_transactions(WAIT).await?;
    consumer.subscribe(&[&topic]).await?;

    let deadline = Instant::now() + common::PATIENCE;
    let mut confirmed_count = 0;
    while confirmed_count < common::ORDERS && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction()?;
        let mut next_offsets = BTreeMap::new();
        for record in &records {
            let order = record.value.clone().unwrap_or_default();
            let confirmation = format!("confirmed: {}", String::from_utf8_lossy(&order));
            let mut out = ProducerRecord::new(&confirmed).value(confirmation);
            out.key = record.key.clone();
            producer.send(out).await?;
            next_offsets.insert(
                TopicPartition::new(&*record.topic, record.partition),
                OffsetAndMetadata::new(record.offset + 1),
            );
        }
        let group_metadata = consumer
            .group_metadata()
            .await
            .ok_or("the consumer left its group")?;
        producer
            .send_offsets_to_transaction(next_offsets, group_metadata)
            .await?;
        producer.commit_transaction(WAIT).await?;
        confirmed_count += records.len();
        println!("committed a transaction of {} confirmations", records.len());
    }
    consumer.close(Duration::from_secs(10)).await?;
    producer.close(Duration::from_secs(10)).await?;
    println!("confirmed {confirmed_count} orders");
    if confirmed_count < common::ORDERS {
        return Err(common::failure(format!(
            "confirmed {confirmed_count} of {} orders",
            common::ORDERS
        )));
    }
    Ok(())
}
