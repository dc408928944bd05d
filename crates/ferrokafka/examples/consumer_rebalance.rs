//! A typed consumer in a group, with a rebalance listener that says which
//! partitions it gains and loses; it reads the producer example's orders.
//!
//! `cargo run --example consumer_rebalance -- [bootstrap_servers] [topic]`

mod common;

use std::time::{Duration, Instant};

use ferrokafka::consumer::{RebalanceContext, RebalanceListener, TopicPartition};
use ferrokafka::serde::{Json, Utf8};

#[derive(Debug, serde::Deserialize)]
struct Order {
    id: usize,
    item: String,
}

/// Reports every change of assignment.
struct Reporting;

impl RebalanceListener for Reporting {
    fn on_partitions_assigned(
        &mut self,
        _consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        println!("assigned {partitions:?}");
    }

    fn on_partitions_revoked(
        &mut self,
        _consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        println!("revoked {partitions:?}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = common::topic();
    let group = format!("{topic}-billing");
    let config = common::config(&[("group_id", &group), ("auto_offset_reset", "earliest")])?;
    let consumer = config.typed_consumer::<String, Order>(Utf8, Json).await?;
    consumer
        .consumer()
        .subscribe_with(&[&topic], Some(Box::new(Reporting)))
        .await?;

    let deadline = Instant::now() + common::PATIENCE;
    let mut read = 0;
    while read < common::ORDERS && Instant::now() < deadline {
        for outcome in consumer.poll(Duration::from_millis(500)).await? {
            match outcome {
                Ok(record) => {
                    read += 1;
                    let order = record.value.ok_or("a tombstone among the orders")?;
                    println!(
                        "{:?} ordered {} (order {})",
                        record.key, order.item, order.id
                    );
                }
                // One bad record is reported and skipped; the rest go on.
                Err(bad) => eprintln!("skipping {bad}"),
            }
        }
    }
    consumer.consumer().close(Duration::from_secs(10)).await?;
    println!("consumed {read} orders");
    if read < common::ORDERS {
        return Err(common::failure(format!(
            "read {read} of {} orders",
            common::ORDERS
        )));
    }
    Ok(())
}
