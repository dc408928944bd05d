//! `ferrokafka metadata`: the cluster's brokers, topics and partitions, in
//! kcat's `-L` style or as JSON, over any security protocol.

use std::process::ExitCode;

use clap::Args;
use ferrokafka::protocol::messages::MetadataRequest;
use ferrokafka::protocol::messages::metadata_request::MetadataRequestTopic;
use ferrokafka::protocol::{ErrorCode, messages::MetadataResponse};
use ferrokafka::transport::BrokerConnection;
use ferrokafka::transport::config::ClientConfig;

use crate::connection_args::ConnectionArgs;

/// Options of `ferrokafka metadata`.
#[derive(Args, Debug)]
pub(crate) struct MetadataArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Only these topics (repeatable); default: all.
    #[arg(short = 't', long = "topic")]
    topics: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub(crate) fn run(args: &MetadataArgs) -> ExitCode {
    match fetch(args) {
        Ok(metadata) => {
            if args.json {
                println!("{}", to_json(&metadata));
            } else {
                print_text(&metadata);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrokafka metadata: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(args: &MetadataArgs) -> anyhow::Result<ClientConfig> {
    let pairs = args.connection.pairs()?;
    Ok(ClientConfig::from_pairs(pairs)?)
}

fn fetch(args: &MetadataArgs) -> anyhow::Result<MetadataResponse> {
    let config = config(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut failures = Vec::new();
        for server in &config.bootstrap_servers {
            match BrokerConnection::connect(server, &config).await {
                Ok(connection) => {
                    let topics = (!args.topics.is_empty()).then(|| {
                        args.topics
                            .iter()
                            .map(|t| MetadataRequestTopic {
                                name: Some(t.clone()),
                                ..MetadataRequestTopic::default()
                            })
                            .collect()
                    });
                    return Ok(connection
                        .send(&MetadataRequest {
                            topics,
                            ..MetadataRequest::default()
                        })
                        .await?);
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        anyhow::bail!("no bootstrap server answered:\n  {}", failures.join("\n  "))
    })
}

fn print_text(metadata: &MetadataResponse) {
    println!(
        "Metadata for {} (cluster {}, controller {}):",
        if metadata.topics.len() == 1 {
            "1 topic"
        } else {
            "all topics"
        },
        metadata.cluster_id.as_deref().unwrap_or("?"),
        metadata.controller_id
    );
    println!(" {} brokers:", metadata.brokers.len());
    for broker in &metadata.brokers {
        let rack = broker
            .rack
            .as_deref()
            .map(|r| format!(" rack {r}"))
            .unwrap_or_default();
        println!(
            "  broker {} at {}:{}{rack}",
            broker.node_id, broker.host, broker.port
        );
    }
    println!(" {} topics:", metadata.topics.len());
    for topic in &metadata.topics {
        let error = ErrorCode::from_code(topic.error_code);
        let error = if error.is_ok() {
            String::new()
        } else {
            format!(": {error}")
        };
        println!(
            "  topic \"{}\" with {} partitions{error}",
            topic.name.as_deref().unwrap_or("?"),
            topic.partitions.len()
        );
        for p in &topic.partitions {
            println!(
                "    partition {}, leader {}, replicas: {}, isrs: {}",
                p.partition_index,
                p.leader_id,
                join(&p.replica_nodes),
                join(&p.isr_nodes)
            );
        }
    }
}

fn join(ids: &[i32]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn to_json(metadata: &MetadataResponse) -> serde_json::Value {
    serde_json::json!({
        "cluster_id": metadata.cluster_id,
        "controller_id": metadata.controller_id,
        "brokers": metadata.brokers.iter().map(|b| serde_json::json!({
            "id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack,
        })).collect::<Vec<_>>(),
        "topics": metadata.topics.iter().map(|t| serde_json::json!({
            "name": t.name,
            "error": ErrorCode::from_code(t.error_code).name(),
            "internal": t.is_internal,
            "partitions": t.partitions.iter().map(|p| serde_json::json!({
                "partition": p.partition_index,
                "leader": p.leader_id,
                "leader_epoch": p.leader_epoch,
                "replicas": p.replica_nodes,
                "isrs": p.isr_nodes,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
