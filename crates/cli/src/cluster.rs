//! `ferrokafka cluster`: the cluster's brokers and controller, its feature
//! levels, the KRaft quorum, and each broker's API versions.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::topics::{AdminArgs, Outcome, print_table, with_admin};

/// The `cluster` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ClusterCommand {
    /// The cluster id, controller and brokers.
    Describe {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Supported and finalized feature levels (`metadata.version`, ...).
    Features {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// The KRaft metadata quorum: leader, voters, observers and their lag.
    Quorum {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// The API versions each broker offers, and the one this client uses.
    ApiVersions {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

pub(crate) fn run(command: &ClusterCommand) -> ExitCode {
    match command {
        ClusterCommand::Describe { admin: args } => {
            with_admin("cluster describe", args, |admin| async move {
                let cluster = admin.describe_cluster(&args.options()).await?;
                if args.json {
                    println!(
                        "{}",
                        json!({
                            "cluster_id": cluster.cluster_id,
                            "controller": cluster.controller,
                            "brokers": cluster.brokers.iter().map(|b| json!({
                                "id": b.id, "host": b.host, "port": b.port, "rack": b.rack, "fenced": b.fenced,
                            })).collect::<Vec<_>>(),
                        })
                    );
                } else {
                    println!("Cluster id: {}", cluster.cluster_id);
                    println!(
                        "Controller: {}",
                        cluster
                            .controller
                            .map_or_else(|| "unknown".to_string(), |c| c.to_string())
                    );
                    let rows: Vec<Vec<String>> = cluster
                        .brokers
                        .iter()
                        .map(|b| {
                            vec![
                                b.id.to_string(),
                                format!("{}:{}", b.host, b.port),
                                b.rack.clone().unwrap_or_default(),
                                if b.fenced { "yes" } else { "no" }.to_string(),
                            ]
                        })
                        .collect();
                    print_table(&["ID", "ADDRESS", "RACK", "FENCED"], &rows);
                }
                Ok(Outcome::default())
            })
        }
        ClusterCommand::Features { admin: args } => {
            with_admin("cluster features", args, |admin| async move {
                let features = admin.describe_features(&args.options()).await?;
                if args.json {
                    let range = |r: &ferrokafka::admin::cluster::VersionRange| json!({"min": r.min, "max": r.max});
                    println!(
                        "{}",
                        json!({
                            "finalized_epoch": features.finalized_epoch,
                            "finalized": features.finalized.iter().map(|(k, r)| (k.clone(), range(r))).collect::<serde_json::Map<_, _>>(),
                            "supported": features.supported.iter().map(|(k, r)| (k.clone(), range(r))).collect::<serde_json::Map<_, _>>(),
                        })
                    );
                } else {
                    let rows: Vec<Vec<String>> = features
                        .supported
                        .iter()
                        .map(|(name, supported)| {
                            vec![
                                name.clone(),
                                format!("{}-{}", supported.min, supported.max),
                                features
                                    .finalized
                                    .get(name)
                                    .map_or_else(String::new, |f| f.max.to_string()),
                            ]
                        })
                        .collect();
                    print_table(&["FEATURE", "SUPPORTED", "FINALIZED"], &rows);
                }
                Ok(Outcome::default())
            })
        }
        ClusterCommand::Quorum { admin: args } => {
            with_admin("cluster quorum", args, |admin| async move {
                let quorum = admin.describe_quorum(&args.options()).await?;
                let replica = |r: &ferrokafka::admin::cluster::QuorumReplica| {
                    json!({
                        "id": r.id,
                        "log_end_offset": r.log_end_offset,
                        "lag": quorum.high_watermark - r.log_end_offset,
                        "last_fetch_timestamp": r.last_fetch_timestamp,
                        "last_caught_up_timestamp": r.last_caught_up_timestamp,
                    })
                };
                if args.json {
                    println!(
                        "{}",
                        json!({
                            "leader_id": quorum.leader_id,
                            "leader_epoch": quorum.leader_epoch,
                            "high_watermark": quorum.high_watermark,
                            "voters": quorum.voters.iter().map(replica).collect::<Vec<Value>>(),
                            "observers": quorum.observers.iter().map(replica).collect::<Vec<Value>>(),
                        })
                    );
                } else {
                    println!(
                        "Leader: {} (epoch {}), high watermark {}",
                        quorum.leader_id, quorum.leader_epoch, quorum.high_watermark
                    );
                    let rows: Vec<Vec<String>> = quorum
                        .voters
                        .iter()
                        .map(|r| (r, "voter"))
                        .chain(quorum.observers.iter().map(|r| (r, "observer")))
                        .map(|(r, role)| {
                            vec![
                                r.id.to_string(),
                                role.to_string(),
                                r.log_end_offset.to_string(),
                                (quorum.high_watermark - r.log_end_offset).to_string(),
                            ]
                        })
                        .collect();
                    print_table(&["NODE", "ROLE", "LOG-END-OFFSET", "LAG"], &rows);
                }
                Ok(Outcome::default())
            })
        }
        ClusterCommand::ApiVersions { admin: args } => {
            with_admin("cluster api-versions", args, |admin| async move {
                let versions = admin.api_versions(None, &args.options()).await;
                let mut outcome = Outcome::default();
                outcome.note(&versions);
                if args.json {
                    let all: serde_json::Map<String, Value> = versions
                        .iter()
                        .filter_map(|(node, r)| r.as_ref().ok().map(|apis| (node, apis)))
                        .map(|(node, apis)| {
                            let list: Vec<Value> = apis
                                .iter()
                                .map(|a| json!({"api_key": a.api_key, "name": a.name, "min": a.min, "max": a.max, "usable": a.usable}))
                                .collect();
                            (node.to_string(), Value::Array(list))
                        })
                        .collect();
                    println!("{}", Value::Object(all));
                } else {
                    let mut rows = Vec::new();
                    for (node, apis) in versions
                        .iter()
                        .filter_map(|(n, r)| r.as_ref().ok().map(|a| (n, a)))
                    {
                        for a in apis {
                            rows.push(vec![
                                node.to_string(),
                                a.name.unwrap_or("?").to_string(),
                                format!("{}-{}", a.min, a.max),
                                a.usable
                                    .map_or_else(|| "none".to_string(), |u| u.to_string()),
                            ]);
                        }
                    }
                    print_table(&["BROKER", "API", "VERSIONS", "USED"], &rows);
                }
                Ok(outcome)
            })
        }
    }
}
