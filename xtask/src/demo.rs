//! `cargo xtask demo`: the main job on an embedded default. Starts a local
//! Apache Kafka, shows what ferrokafka does with it today (negotiates every
//! API's version, creates a topic, reads the cluster's metadata), and stops it.

use anyhow::Context;
use ferrokafka_protocol::messages::create_topics_request::CreatableTopic;
use ferrokafka_protocol::messages::{CreateTopicsRequest, MetadataRequest};
use ferrokafka_transport::BrokerConnection;
use ferrokafka_transport::config::ClientConfig;

use crate::broker;

/// Options of `cargo xtask demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Use this cluster instead of starting one.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
}

/// Runs the demo.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (cluster, bootstrap) = broker::given_or_started(args.bootstrap_servers.as_deref(), "demo")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(show(&bootstrap));
    if let Some(cluster) = cluster {
        eprintln!("stopping the broker");
        cluster.stop();
    }
    result?;
    eprintln!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn show(bootstrap: &str) -> anyhow::Result<()> {
    let config = ClientConfig::from_pairs([
        ("bootstrap_servers", bootstrap),
        ("client_id", "ferrokafka-demo"),
    ])?;
    let first = config
        .bootstrap_servers
        .first()
        .context("no bootstrap server")?;
    let connection = BrokerConnection::connect(first, &config).await?;

    let mut apis: Vec<_> = connection.broker_versions().iter().collect();
    apis.sort_by_key(|(key, _)| **key);
    println!(
        "{first} serves {} APIs; the versions ferrokafka negotiated:",
        apis.len()
    );
    println!("  {:<40} {:>9}  {:>6}", "API", "broker", "chosen");
    for (key, (lo, hi)) in apis {
        let chosen = connection
            .version(*key)
            .map_or_else(|_| "-".to_string(), |v| v.to_string());
        println!(
            "  {:<40} {:>9}  {:>6}",
            key.name(),
            format!("{lo}..{hi}"),
            chosen
        );
    }

    let topic = "ferrokafka-demo";
    let created = connection
        .send(&CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: topic.to_string(),
                num_partitions: 2,
                replication_factor: 1,
                ..CreatableTopic::default()
            }],
            timeout_ms: 10_000,
            ..CreateTopicsRequest::default()
        })
        .await?;
    for result in &created.topics {
        let outcome = match result.error_code {
            0 => "created".to_string(),
            36 => "already exists".to_string(),
            code => format!(
                "error {code}: {}",
                result.error_message.clone().unwrap_or_default()
            ),
        };
        println!("\ntopic {:?}: {outcome}", result.name);
    }

    let metadata = connection
        .send(&MetadataRequest {
            topics: None,
            ..MetadataRequest::default()
        })
        .await?;
    println!(
        "\ncluster {} (controller {}), {} broker(s):",
        metadata.cluster_id.as_deref().unwrap_or("?"),
        metadata.controller_id,
        metadata.brokers.len()
    );
    for broker in &metadata.brokers {
        println!(
            "  node {} at {}:{}",
            broker.node_id, broker.host, broker.port
        );
    }
    println!("{} topic(s):", metadata.topics.len());
    for t in &metadata.topics {
        let leaders: Vec<String> = t
            .partitions
            .iter()
            .map(|p| format!("{}→{}", p.partition_index, p.leader_id))
            .collect();
        println!(
            "  {} ({} partitions, leaders {})",
            t.name.as_deref().unwrap_or("?"),
            t.partitions.len(),
            leaders.join(" ")
        );
    }
    println!("\nProducing and consuming arrive with the producer and consumer issues.");
    Ok(())
}
