//! Measures, against a running broker, the round-trip time of a Metadata
//! request and how many requests per second one pipelined connection
//! carries. Usage: `cargo run --release -p ferrokafka-transport --example
//! round_trips -- HOST:PORT`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use ferrokafka_transport::BrokerConnection;
use ferrokafka_transport::config::ClientConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let config = ClientConfig::from_pairs([
        ("bootstrap_servers", broker.as_str()),
        ("max_in_flight_requests_per_connection", "1000"),
    ])?;
    let connection = Arc::new(BrokerConnection::connect(&broker, &config).await?);

    let mut rtts = Vec::new();
    for _ in 0..2_000 {
        let started = Instant::now();
        connection
            .send(&MetadataRequest {
                topics: None,
                ..MetadataRequest::default()
            })
            .await?;
        rtts.push(started.elapsed());
    }
    rtts.sort();
    let at = |percent: usize| rtts[(rtts.len() - 1) * percent / 100];
    println!(
        "Metadata round trip: p50 {:?}, p99 {:?} over {} requests",
        at(50),
        at(99),
        rtts.len()
    );

    let total = 100_000;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..total {
        let connection = Arc::clone(&connection);
        tasks.spawn(async move {
            connection
                .send(&ApiVersionsRequest::default())
                .await
                .map(|_| ())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    println!(
        "pipelined ApiVersions on one connection: {total} in {elapsed:?} = {:.0} requests/s",
        f64::from(total) / elapsed.as_secs_f64()
    );
    Ok(())
}
