//! `ferrokafka topics`: list, describe, create, delete and alter topics
//! with the admin client. Tables by default, `--json` for scripts; exit
//! code 1 when any topic failed (each failure named on stderr).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use ferrokafka::admin::configs::{AlterConfigOp, ConfigResource};
use ferrokafka::admin::topics::{NewPartitions, NewTopic, TopicDescription, TopicId};
use ferrokafka::admin::{Admin, AdminConfig, AdminError, AdminOptions};
use serde_json::{Value, json};

use crate::connection_args::ConnectionArgs;

/// The flags every admin command takes besides the connection.
#[derive(Args, Debug)]
pub(crate) struct AdminArgs {
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    /// How long the operation may take, retries included, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) timeout: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

impl AdminArgs {
    pub(crate) fn options(&self) -> AdminOptions {
        AdminOptions::new().timeout(Duration::from_secs(self.timeout))
    }
}

/// How long a command waits, after its work, for the admin client's
/// terminating telemetry push.
const TELEMETRY_CLOSE: Duration = Duration::from_secs(5);

/// Runs `work` with an admin client on a runtime of its own; a failure to
/// connect (or any error `work` returns) is printed and exits with 1.
pub(crate) fn with_admin<F, Fut>(command: &str, args: &AdminArgs, work: F) -> ExitCode
where
    F: FnOnce(Admin) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let result = (|| {
        let config = AdminConfig::from_pairs(args.connection.pairs()?)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let admin = Admin::connect(config).await?;
            let outcome = work(admin.clone()).await;
            // The last telemetry push, if the brokers subscribed to the
            // admin client's metrics, as Java's tools send it on close;
            // bounded, so that an unreachable broker does not hold the exit.
            admin.close(TELEMETRY_CLOSE).await;
            outcome
        })
    })();
    match result {
        Ok(outcome) => outcome.finish(command),
        Err(error) => {
            eprintln!("ferrokafka {command}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a command printed, and which of its items failed.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    failures: Vec<String>,
}

impl Outcome {
    /// Notes that `item` failed with `error`.
    pub(crate) fn failed(&mut self, item: impl std::fmt::Display, error: &AdminError) {
        let (item, error) = (item.to_string(), error.to_string());
        // Broker errors already name their item.
        self.failures.push(if error.contains(&item) {
            error
        } else {
            format!("{item}: {error}")
        });
    }

    /// Notes each failed item of `results`.
    pub(crate) fn note<K: std::fmt::Display, T>(
        &mut self,
        results: &BTreeMap<K, Result<T, AdminError>>,
    ) {
        for (item, result) in results {
            if let Err(error) = result {
                self.failed(item, error);
            }
        }
    }

    fn finish(self, command: &str) -> ExitCode {
        for failure in &self.failures {
            eprintln!("ferrokafka {command}: {failure}");
        }
        if self.failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The error of an item as JSON: Kafka's error name when the broker gave one.
pub(crate) fn error_json(error: &AdminError) -> Value {
    json!({
        "code": error.code().map(ferrokafka::protocol::ErrorCode::name),
        "message": error.to_string(),
    })
}

/// Prints `rows` as a table with `header`, columns padded to their widest
/// cell. Stops quietly when standard output closes (`| head`).
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    use std::io::Write as _;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = std::io::stdout().lock();
    let header: Vec<String> = header.iter().map(ToString::to_string).collect();
    for cells in std::iter::once(&header).chain(rows) {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        if writeln!(out, "{}", padded.join("  ").trim_end()).is_err() {
            return;
        }
    }
}

/// A `KEY=VALUE` argument.
pub(crate) fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, not {text:?}"))
}

fn ids(list: &[i32]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The `topics` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum TopicsCommand {
    /// List the cluster's topics.
    List {
        #[command(flatten)]
        admin: AdminArgs,
        /// Include internal topics (`__consumer_offsets`, ...).
        #[arg(long)]
        include_internal: bool,
    },
    /// Describe topics: partitions, leaders, replicas, ISR.
    Describe {
        #[command(flatten)]
        admin: AdminArgs,
        /// The topics (default: every non-internal topic).
        topics: Vec<String>,
    },
    /// Create topics.
    Create {
        #[command(flatten)]
        admin: AdminArgs,
        /// The topics to create, all alike.
        #[arg(required = true)]
        topics: Vec<String>,
        /// Partitions (default: the broker's `num.partitions`).
        #[arg(short = 'p', long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's `default.replication.factor`).
        #[arg(short = 'r', long)]
        replication_factor: Option<i16>,
        /// Explicit replicas: brokers of partition 0, then 1, ...
        /// (`1:2,2:3` is two partitions); overrides the two above.
        #[arg(long, value_name = "B:B,B:B")]
        replica_assignment: Option<String>,
        /// A topic config (repeatable).
        #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        /// Only check that the topics could be created.
        #[arg(long)]
        validate_only: bool,
    },
    /// Delete topics.
    Delete {
        #[command(flatten)]
        admin: AdminArgs,
        /// The topics (or, with `--id`, their ids).
        #[arg(required = true)]
        topics: Vec<String>,
        /// The arguments are topic ids (22-character base64) instead of names.
        #[arg(long)]
        id: bool,
    },
    /// Add partitions and/or change configs of a topic.
    Alter {
        #[command(flatten)]
        admin: AdminArgs,
        /// The topic.
        topic: String,
        /// The new partition count (only grows).
        #[arg(short = 'p', long)]
        partitions: Option<i32>,
        /// Set a config (repeatable).
        #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
        add_config: Vec<(String, String)>,
        /// Remove a config, back to its default (repeatable).
        #[arg(long, value_name = "KEY")]
        delete_config: Vec<String>,
    },
}

pub(crate) fn run(command: &TopicsCommand) -> ExitCode {
    match command {
        TopicsCommand::List {
            admin: args,
            include_internal,
        } => with_admin("topics list", args, |admin| async move {
            let topics = admin
                .list_topics(*include_internal, &args.options())
                .await?;
            if args.json {
                let rows: Vec<Value> = topics
                    .iter()
                    .map(|t| {
                        json!({"name": t.name, "topic_id": TopicId(t.topic_id).to_string(), "internal": t.internal})
                    })
                    .collect();
                println!("{}", Value::Array(rows));
            } else {
                for topic in &topics {
                    println!("{}", topic.name);
                }
            }
            Ok(Outcome::default())
        }),
        TopicsCommand::Describe {
            admin: args,
            topics,
        } => with_admin("topics describe", args, |admin| async move {
            let options = args.options();
            let names: Vec<String> = if topics.is_empty() {
                admin
                    .list_topics(false, &options)
                    .await?
                    .into_iter()
                    .map(|t| t.name)
                    .collect()
            } else {
                topics.clone()
            };
            let described = admin.describe_topics(&names, &options).await;
            let mut outcome = Outcome::default();
            outcome.note(&described);
            if args.json {
                let all: Vec<Value> = described
                    .iter()
                    .map(|(name, result)| match result {
                        Ok(d) => description_json(d),
                        Err(e) => json!({"name": name, "error": error_json(e)}),
                    })
                    .collect();
                println!("{}", Value::Array(all));
            } else {
                let mut rows = Vec::new();
                for d in described.values().flatten() {
                    for p in &d.partitions {
                        rows.push(vec![
                            d.name.clone(),
                            p.partition.to_string(),
                            p.leader
                                .map_or_else(|| "none".to_string(), |l| l.to_string()),
                            p.leader_epoch.map_or_else(String::new, |e| e.to_string()),
                            ids(&p.replicas),
                            ids(&p.isr),
                            ids(&p.offline_replicas),
                        ]);
                    }
                }
                print_table(
                    &[
                        "TOPIC",
                        "PARTITION",
                        "LEADER",
                        "EPOCH",
                        "REPLICAS",
                        "ISR",
                        "OFFLINE",
                    ],
                    &rows,
                );
            }
            Ok(outcome)
        }),
        TopicsCommand::Create {
            admin: args,
            topics,
            partitions,
            replication_factor,
            replica_assignment,
            configs,
            validate_only,
        } => with_admin("topics create", args, |admin| async move {
            let assignment = replica_assignment
                .as_deref()
                .map(parse_assignment)
                .transpose()?;
            let new: Vec<NewTopic> = topics
                .iter()
                .map(|name| {
                    let mut topic = match &assignment {
                        Some(replicas) => NewTopic::with_assignments(name, replicas.clone()),
                        None => NewTopic {
                            partitions: *partitions,
                            replication_factor: *replication_factor,
                            ..NewTopic::with_defaults(name)
                        },
                    };
                    for (key, value) in configs {
                        topic = topic.config(key, value);
                    }
                    topic
                })
                .collect();
            let created = admin
                .create_topics(&new, *validate_only, &args.options())
                .await;
            let mut outcome = Outcome::default();
            outcome.note(&created);
            if args.json {
                let all: BTreeMap<&String, Value> = created
                    .iter()
                    .map(|(name, result)| {
                        let value = match result {
                            Ok(t) => json!({
                                "topic_id": TopicId(t.topic_id).to_string(),
                                "partitions": t.partitions,
                                "replication_factor": t.replication_factor,
                            }),
                            Err(e) => json!({"error": error_json(e)}),
                        };
                        (name, value)
                    })
                    .collect();
                println!("{}", json!(all));
            } else {
                for (name, result) in &created {
                    if let Ok(t) = result {
                        let verb = if *validate_only {
                            "Validated"
                        } else {
                            "Created"
                        };
                        println!(
                            "{verb} topic {name} ({} partitions, replication factor {}).",
                            t.partitions, t.replication_factor
                        );
                    }
                }
            }
            Ok(outcome)
        }),
        TopicsCommand::Delete {
            admin: args,
            topics,
            id,
        } => with_admin("topics delete", args, |admin| async move {
            let mut outcome = Outcome::default();
            let deleted: BTreeMap<String, Result<(), AdminError>> = if *id {
                let ids = topics
                    .iter()
                    .map(|t| t.parse::<TopicId>().map(|id| id.0))
                    .collect::<Result<Vec<_>, _>>()?;
                admin
                    .delete_topics_by_id(&ids, &args.options())
                    .await
                    .into_iter()
                    .map(|(id, r)| (id.to_string(), r))
                    .collect()
            } else {
                admin.delete_topics(topics, &args.options()).await
            };
            outcome.note(&deleted);
            if args.json {
                let all: BTreeMap<&String, Value> = deleted
                    .iter()
                    .map(|(name, r)| {
                        let value = match r {
                            Ok(()) => json!({"deleted": true}),
                            Err(e) => json!({"deleted": false, "error": error_json(e)}),
                        };
                        (name, value)
                    })
                    .collect();
                println!("{}", json!(all));
            } else {
                for (name, result) in &deleted {
                    if result.is_ok() {
                        println!("Deleted topic {name}.");
                    }
                }
            }
            Ok(outcome)
        }),
        TopicsCommand::Alter {
            admin: args,
            topic,
            partitions,
            add_config,
            delete_config,
        } => with_admin("topics alter", args, |admin| async move {
            if partitions.is_none() && add_config.is_empty() && delete_config.is_empty() {
                anyhow::bail!(
                    "nothing to change: give --partitions, --add-config or --delete-config"
                );
            }
            let options = args.options();
            let mut outcome = Outcome::default();
            let mut report = serde_json::Map::new();
            if let Some(count) = partitions {
                let grown = admin
                    .create_partitions(
                        &BTreeMap::from([(topic.clone(), NewPartitions::increase_to(*count))]),
                        false,
                        &options,
                    )
                    .await;
                outcome.note(&grown);
                report.insert("partitions".into(), result_json(grown.get(topic)));
                if !args.json && grown.get(topic).is_some_and(Result::is_ok) {
                    println!("Topic {topic} now has {count} partitions.");
                }
            }
            if !add_config.is_empty() || !delete_config.is_empty() {
                let ops: Vec<AlterConfigOp> = add_config
                    .iter()
                    .map(|(k, v)| AlterConfigOp::set(k, v))
                    .chain(delete_config.iter().map(AlterConfigOp::delete))
                    .collect();
                let resource = ConfigResource::topic(topic);
                let altered = admin
                    .incremental_alter_configs(
                        &BTreeMap::from([(resource.clone(), ops)]),
                        false,
                        &options,
                    )
                    .await;
                outcome.note(&altered);
                report.insert("configs".into(), result_json(altered.get(&resource)));
                if !args.json && altered.get(&resource).is_some_and(Result::is_ok) {
                    println!("Changed the configs of topic {topic}.");
                }
            }
            if args.json {
                println!("{}", Value::Object(report));
            }
            Ok(outcome)
        }),
    }
}

fn result_json(result: Option<&Result<(), AdminError>>) -> Value {
    match result {
        Some(Ok(())) => json!({"ok": true}),
        Some(Err(e)) => json!({"ok": false, "error": error_json(e)}),
        None => json!({"ok": false}),
    }
}

fn description_json(d: &TopicDescription) -> Value {
    json!({
        "name": d.name,
        "topic_id": TopicId(d.topic_id).to_string(),
        "internal": d.internal,
        "authorized_operations": d.authorized_operations,
        "partitions": d.partitions.iter().map(|p| json!({
            "partition": p.partition,
            "leader": p.leader,
            "leader_epoch": p.leader_epoch,
            "replicas": p.replicas,
            "isr": p.isr,
            "offline_replicas": p.offline_replicas,
            "error": p.error.map(ferrokafka::protocol::ErrorCode::name),
        })).collect::<Vec<_>>(),
    })
}

/// `1:2,2:3` as the replicas of partitions 0 and 1.
fn parse_assignment(text: &str) -> anyhow::Result<Vec<Vec<i32>>> {
    text.split(',')
        .map(|partition| {
            partition
                .split(':')
                .map(|b| {
                    b.trim().parse::<i32>().map_err(|_| {
                        anyhow::anyhow!("--replica-assignment: {b:?} is not a broker id")
                    })
                })
                .collect()
        })
        .collect()
}
