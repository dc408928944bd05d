//! `ferrokafka metadata`: the cluster's brokers, topics and partitions, in
//! kcat's `-L` style or as JSON, over any security protocol.

use std::process::ExitCode;

use clap::Args;
use ferrokafka::protocol::messages::MetadataRequest;
use ferrokafka::protocol::messages::metadata_request::MetadataRequestTopic;
use ferrokafka::protocol::{ErrorCode, messages::MetadataResponse};
use ferrokafka::transport::BrokerConnection;
use ferrokafka::transport::config::ClientConfig;

/// Options of `ferrokafka metadata`.
#[derive(Args, Debug)]
pub(crate) struct MetadataArgs {
    /// Bootstrap servers, `host:port[,host:port...]`; the first that answers is used.
    #[arg(short = 'b', long = "bootstrap-servers")]
    bootstrap: String,
    /// Only these topics (repeatable); default: all.
    #[arg(short = 't', long = "topic")]
    topics: Vec<String>,
    /// `security_protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long)]
    security_protocol: Option<String>,
    /// `sasl_mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long)]
    sasl_mechanism: Option<String>,
    /// `sasl_plain_username`.
    #[arg(long)]
    sasl_username: Option<String>,
    /// `sasl_plain_password`.
    #[arg(long)]
    sasl_password: Option<String>,
    /// `ssl_cafile`: PEM file of the CAs to trust.
    #[arg(long)]
    ssl_cafile: Option<String>,
    /// Any client setting, Java or kafka-python spelling (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    settings: Vec<String>,
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
    let mut pairs: Vec<(String, String)> =
        vec![("bootstrap_servers".into(), args.bootstrap.clone())];
    let flags = [
        ("security_protocol", &args.security_protocol),
        ("sasl_mechanism", &args.sasl_mechanism),
        ("sasl_plain_username", &args.sasl_username),
        ("sasl_plain_password", &args.sasl_password),
        ("ssl_cafile", &args.ssl_cafile),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            pairs.push((key.to_string(), value.clone()));
        }
    }
    for setting in &args.settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("-X takes KEY=VALUE, not {setting:?}"))?;
        pairs.push((key.to_string(), value.to_string()));
    }
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
