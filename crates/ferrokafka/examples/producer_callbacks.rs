//! A typed producer (string keys, JSON values) that learns each record's
//! fate in a callback instead of awaiting a future per record.
//!
//! `cargo run --example producer_callbacks -- [bootstrap_servers] [topic]`

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka::producer::{ProduceError, RecordMetadata, TypedRecord};
use ferrokafka::serde::{Json, Utf8};

#[derive(serde::Serialize)]
struct Order {
    id: usize,
    item: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = common::topic();
    let config = common::config(&[("linger_ms", "5"), ("acks", "all")])?;
    let producer = config.typed_producer::<str, Order>(Utf8, Json).await?;

    let delivered = Arc::new(AtomicUsize::new(0));
    for id in 0..common::ORDERS {
        let order = Order {
            id,
            item: format!("item-{id}"),
        };
        let customer = format!("customer-{}", id % 3);
        let delivered = Arc::clone(&delivered);
        // The callback runs on the producer's I/O task: keep it short.
        let callback = move |outcome: Result<&RecordMetadata, &ProduceError>| match outcome {
            Ok(metadata) => {
                println!(
                    "order {id} written to {}-{} at offset {}",
                    metadata.topic, metadata.partition, metadata.offset
                );
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => eprintln!("order {id} failed: {error}"),
        };
        producer
            .send_with_callback(TypedRecord::new(&topic, &order).key(&customer), callback)
            .await?;
    }
    producer.flush().await;
    producer.close(Duration::from_secs(10)).await?;

    let delivered = delivered.load(Ordering::Relaxed);
    println!("delivered {delivered} orders");
    if delivered != common::ORDERS {
        return Err(common::failure(format!(
            "{delivered} of {} orders delivered",
            common::ORDERS
        )));
    }
    Ok(())
}
