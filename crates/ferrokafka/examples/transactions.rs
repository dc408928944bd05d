//! Consume-transform-produce, exactly once: orders read from `<topic>` are
//! confirmed to `<topic>-confirmed` in transactions that also commit the
//! group's offsets, so each order is confirmed once even across crashes.
//!
//! A failed transaction is handled by its KIP-1050 category
//! ([`ErrorCategory`]): a timed-out commit is called again, an abortable
//! error aborts and rewinds the consumer to the group's committed offsets,
//! and a fenced or fatal producer ends the example (a real service would
//! start a new producer, or stop).
//!
//! `cargo run --example transactions -- [bootstrap_servers] [topic]`

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka::consumer::{Consumer, ConsumerRecord, TopicPartition};
use ferrokafka::group::offsets::OffsetAndMetadata;
use ferrokafka::producer::{ErrorCategory, Producer, ProducerRecord};

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
        match confirm(&producer, &consumer, &records, &confirmed).await {
            Ok(()) => {
                confirmed_count += records.len();
                println!("committed a transaction of {} confirmations", records.len());
            }
            Err(Failed {
                category: ErrorCategory::Abortable,
                reason,
            }) => {
                // Nothing of this transaction counts: abort it and read
                // its orders again from the group's committed offsets.
                println!("aborting: {reason}");
                producer.abort_transaction(WAIT).await?;
                rewind(&consumer, &records).await?;
            }
            Err(Failed { category, reason }) => {
                // Fenced (ApplicationRecoverable): a newer instance took
                // over, so this one steps down; a configuration error or a
                // fatal one: nothing done here helps.
                let _ = producer.close(Duration::from_secs(10)).await;
                return Err(common::failure(format!("{category:?}: {reason}")));
            }
        }
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

/// A transaction that did not commit, by what it calls for.
struct Failed {
    category: ErrorCategory,
    reason: String,
}

impl Failed {
    fn from<E: std::fmt::Display>(category: ErrorCategory, error: E) -> Failed {
        Failed {
            category,
            reason: error.to_string(),
        }
    }
}

/// Confirms `records` in one transaction with the offsets after them.
async fn confirm(
    producer: &Producer,
    consumer: &Consumer,
    records: &[ConsumerRecord],
    confirmed: &str,
) -> Result<(), Failed> {
    producer
        .begin_transaction()
        .map_err(|e| Failed::from(e.category(), e))?;
    let mut next_offsets = BTreeMap::new();
    for record in records {
        let order = record.value.clone().unwrap_or_default();
        let confirmation = format!("confirmed: {}", String::from_utf8_lossy(&order));
        let mut out = ProducerRecord::new(confirmed).value(confirmation);
        out.key = record.key.clone();
        producer
            .send(out)
            .await
            .map_err(|e| Failed::from(e.category(), e))?;
        next_offsets.insert(
            TopicPartition::new(&*record.topic, record.partition),
            OffsetAndMetadata::new(record.offset + 1),
        );
    }
    // A member that left its group cannot commit offsets in its name.
    let group_metadata = consumer
        .group_metadata()
        .await
        .ok_or_else(|| Failed::from(ErrorCategory::Abortable, "the consumer left its group"))?;
    producer
        .send_offsets_to_transaction(next_offsets, group_metadata)
        .await
        .map_err(|e| Failed::from(e.category(), e))?;
    loop {
        match producer.commit_transaction(WAIT).await {
            Ok(()) => return Ok(()),
            // The commit goes on past the time given: calling it again
            // waits for the same outcome.
            Err(e)
                if matches!(
                    e.category(),
                    ErrorCategory::Retriable | ErrorCategory::RefreshRetriable
                ) =>
            {
                println!("commit not done yet ({e}); waiting again");
            }
            Err(e) => return Err(Failed::from(e.category(), e)),
        }
    }
}

/// Moves the consumer back to the group's committed offsets of the
/// partitions `records` came from (the start, where none is committed).
async fn rewind(
    consumer: &Consumer,
    records: &[ConsumerRecord],
) -> Result<(), Box<dyn std::error::Error>> {
    let partitions: Vec<TopicPartition> = records
        .iter()
        .map(|r| TopicPartition::new(&*r.topic, r.partition))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for (partition, committed) in consumer.committed(&partitions).await? {
        match committed {
            Some(offset) => consumer.seek(&partition, offset.offset).await?,
            None => consumer.seek_to_beginning(&[partition]).await?,
        }
    }
    Ok(())
}
