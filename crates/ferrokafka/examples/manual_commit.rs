//! Manual commits: auto-commit off, and the group's offsets committed only
//! after each poll's records are processed, so a crash re-reads at most one
//! poll. Uses the untyped consumer: records are bytes.
//!
//! `cargo run --example manual_commit -- [bootstrap_servers] [topic]`

mod common;

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = common::topic();
    let group = format!("{topic}-audit");
    let config = common::config(&[
        ("group_id", &group),
        ("enable_auto_commit", "false"),
        ("auto_offset_reset", "earliest"),
    ])?;
    let consumer = config.consumer().await?;
    consumer.subscribe(&[&topic]).await?;

    let deadline = Instant::now() + common::PATIENCE;
    let mut processed = 0;
    while processed < common::ORDERS && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        if records.is_empty() {
            continue;
        }
        for record in &records {
            let bytes = record.serialized_value_size();
            println!(
                "audited {}-{}@{} ({bytes} bytes)",
                record.topic, record.partition, record.offset
            );
        }
        processed += records.len();
        // Every record of the poll is processed: now its offsets may go.
        consumer.commit().await?;
    }

    let assignment = consumer.assignment();
    let committed = consumer.committed(&assignment).await?;
    let total: i64 = committed.values().flatten().map(|o| o.offset).sum();
    consumer.close(Duration::from_secs(10)).await?;
    println!("processed {processed} records, committed offsets sum to {total}");
    if processed < common::ORDERS || total < i64::try_from(common::ORDERS)? {
        return Err(common::failure(format!(
            "processed {processed}, committed {total}"
        )));
    }
    Ok(())
}
