//! `ferrokafka configs`: describe and alter the configs of topics, brokers
//! and broker loggers. `describe` shows the values set on the entity
//! (`--all` for every key with its source); `alter` changes keys one by one.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferrokafka::admin::configs::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, DescribeConfigsOptions, ResourceType,
};
use serde_json::{Value, json};

use crate::topics::{AdminArgs, Outcome, error_json, key_value, print_table, with_admin};

/// Which entity's configs.
#[derive(Args, Debug)]
pub(crate) struct Entity {
    /// topic, broker, broker-logger, client-metrics or group (a consumer
    /// or share group: `share.auto.offset.reset`, `share.record.lock.duration.ms`, ...).
    #[arg(long, value_parser = parse_type)]
    entity_type: ResourceType,
    /// The topic name or broker id (an empty name with `broker`: the
    /// cluster-wide default).
    #[arg(long)]
    entity_name: String,
}

fn parse_type(text: &str) -> Result<ResourceType, String> {
    text.parse()
        .map_err(|e: ferrokafka::admin::AdminError| e.to_string())
}

/// The `configs` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ConfigsCommand {
    /// Describe an entity's configs.
    Describe {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        entity: Entity,
        /// Every key, defaults included (default: only values set on the entity).
        #[arg(long)]
        all: bool,
        /// Show where else each value is set.
        #[arg(long)]
        synonyms: bool,
        /// Include each key's documentation (JSON only).
        #[arg(long)]
        documentation: bool,
    },
    /// Change an entity's configs key by key.
    Alter {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        entity: Entity,
        /// Set a key (repeatable).
        #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
        add_config: Vec<(String, String)>,
        /// Remove a key, back to its default (repeatable).
        #[arg(long, value_name = "KEY")]
        delete_config: Vec<String>,
        /// Add an item to a list key (repeatable).
        #[arg(long, value_name = "KEY=ITEM", value_parser = key_value)]
        append_config: Vec<(String, String)>,
        /// Remove an item from a list key (repeatable).
        #[arg(long, value_name = "KEY=ITEM", value_parser = key_value)]
        subtract_config: Vec<(String, String)>,
        /// Only check the changes.
        #[arg(long)]
        validate_only: bool,
    },
}

/// Whether `entry` is set on the entity itself rather than inherited.
fn set_on_entity(resource: &ConfigResource, entry: &ConfigEntry) -> bool {
    match entry.source {
        ConfigSource::DynamicDefaultBrokerConfig => {
            resource.resource_type == ResourceType::Broker && resource.name.is_empty()
        }
        ConfigSource::DefaultConfig
        | ConfigSource::StaticBrokerConfig
        | ConfigSource::Unknown(_) => false,
        _ => true,
    }
}

fn entry_json(entry: &ConfigEntry) -> Value {
    json!({
        "name": entry.name,
        "value": entry.value,
        "source": entry.source.name(),
        "sensitive": entry.sensitive,
        "read_only": entry.read_only,
        "synonyms": entry.synonyms.iter().map(|s| json!({
            "name": s.name, "value": s.value, "source": s.source.name(),
        })).collect::<Vec<_>>(),
        "documentation": entry.documentation,
    })
}

pub(crate) fn run(command: &ConfigsCommand) -> ExitCode {
    match command {
        ConfigsCommand::Describe {
            admin: args,
            entity,
            all,
            synonyms,
            documentation,
        } => with_admin("configs describe", args, |admin| async move {
            let resource = ConfigResource::new(entity.entity_type, entity.entity_name.clone());
            let described = admin
                .describe_configs(
                    std::slice::from_ref(&resource),
                    DescribeConfigsOptions {
                        include_synonyms: *synonyms,
                        include_documentation: *documentation,
                    },
                    &args.options(),
                )
                .await;
            let mut outcome = Outcome::default();
            outcome.note(&described);
            let Some(Ok(entries)) = described.get(&resource) else {
                return Ok(outcome);
            };
            let shown: Vec<&ConfigEntry> = entries
                .iter()
                .filter(|e| *all || set_on_entity(&resource, e))
                .collect();
            if args.json {
                println!(
                    "{}",
                    json!({
                        "entity_type": entity.entity_type.to_string(),
                        "entity_name": entity.entity_name,
                        "configs": shown.iter().map(|e| entry_json(e)).collect::<Vec<_>>(),
                    })
                );
            } else {
                let rows: Vec<Vec<String>> = shown
                    .iter()
                    .map(|e| {
                        let mut row = vec![
                            e.name.clone(),
                            if e.sensitive {
                                "(sensitive)".to_string()
                            } else {
                                e.value.clone().unwrap_or_else(|| "(null)".to_string())
                            },
                            e.source.name().to_string(),
                            if e.read_only { "yes" } else { "no" }.to_string(),
                        ];
                        if *synonyms {
                            row.push(
                                e.synonyms
                                    .iter()
                                    .map(|s| {
                                        format!(
                                            "{}:{}={}",
                                            s.source.name(),
                                            s.name,
                                            s.value.as_deref().unwrap_or("")
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join(" "),
                            );
                        }
                        row
                    })
                    .collect();
                let mut header = vec!["NAME", "VALUE", "SOURCE", "READ-ONLY"];
                if *synonyms {
                    header.push("SYNONYMS");
                }
                print_table(&header, &rows);
            }
            Ok(outcome)
        }),
        ConfigsCommand::Alter {
            admin: args,
            entity,
            add_config,
            delete_config,
            append_config,
            subtract_config,
            validate_only,
        } => with_admin("configs alter", args, |admin| async move {
            let ops: Vec<AlterConfigOp> = add_config
                .iter()
                .map(|(k, v)| AlterConfigOp::set(k, v))
                .chain(delete_config.iter().map(AlterConfigOp::delete))
                .chain(
                    append_config
                        .iter()
                        .map(|(k, v)| AlterConfigOp::append(k, v)),
                )
                .chain(
                    subtract_config
                        .iter()
                        .map(|(k, v)| AlterConfigOp::subtract(k, v)),
                )
                .collect();
            if ops.is_empty() {
                anyhow::bail!(
                    "nothing to change: give --add-config, --delete-config, --append-config or --subtract-config"
                );
            }
            let resource = ConfigResource::new(entity.entity_type, entity.entity_name.clone());
            let altered = admin
                .incremental_alter_configs(
                    &BTreeMap::from([(resource.clone(), ops)]),
                    *validate_only,
                    &args.options(),
                )
                .await;
            let mut outcome = Outcome::default();
            outcome.note(&altered);
            let ok = altered.get(&resource).is_some_and(Result::is_ok);
            if args.json {
                let error = altered
                    .get(&resource)
                    .and_then(|r| r.as_ref().err())
                    .map(error_json);
                println!("{}", json!({"ok": ok, "error": error}));
            } else if ok {
                let verb = if *validate_only {
                    "Validated"
                } else {
                    "Completed"
                };
                println!("{verb} the changes to {resource}.");
            }
            Ok(outcome)
        }),
    }
}
