//! `ferrokafka acls`: list, create and delete ACLs with the admin client.
//! Tables by default, `--json` for scripts; exit code 1 when any ACL
//! failed (each failure named on stderr), 2 for usage errors.

use std::collections::BTreeSet;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferrokafka::admin::acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourcePattern,
    ResourceType,
};
use serde_json::{Value, json};

use crate::topics::{AdminArgs, Outcome, error_json, print_table, with_admin};

/// Exit code of a usage error (as clap's own).
const USAGE: u8 = 2;

fn operation(text: &str) -> Result<AclOperation, String> {
    AclOperation::parse(text)
        .filter(|op| *op != AclOperation::Unknown)
        .ok_or_else(|| {
            format!(
                "unknown operation {text:?}; use Read, Write, Create, Delete, Alter, Describe, \
                 ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, \
                 DescribeTokens, TwoPhaseCommit, All or Any"
            )
        })
}

fn pattern_type(text: &str) -> Result<PatternType, String> {
    PatternType::parse(text).ok_or_else(|| {
        format!("unknown resource pattern type {text:?}; use literal, prefixed, any or match")
    })
}

/// The resource an ACL is about, and how its name matches.
#[derive(Args, Debug)]
pub(crate) struct ResourceArgs {
    /// A topic (`*` for every topic).
    #[arg(long, group = "resource")]
    topic: Option<String>,
    /// A consumer group (`*` for every group).
    #[arg(long, group = "resource")]
    group: Option<String>,
    /// The cluster.
    #[arg(long, group = "resource")]
    cluster: bool,
    /// A transactional id (`*` for every one).
    #[arg(long, group = "resource")]
    transactional_id: Option<String>,
    /// How the name matches: literal or prefixed (and, for list and delete,
    /// any or match). Default: literal.
    #[arg(long, value_name = "TYPE", value_parser = pattern_type)]
    resource_pattern_type: Option<PatternType>,
}

impl ResourceArgs {
    /// The resource type and name given, if any.
    fn resource(&self) -> Option<(ResourceType, String)> {
        if let Some(topic) = &self.topic {
            Some((ResourceType::Topic, topic.clone()))
        } else if let Some(group) = &self.group {
            Some((ResourceType::Group, group.clone()))
        } else if let Some(id) = &self.transactional_id {
            Some((ResourceType::TransactionalId, id.clone()))
        } else if self.cluster {
            let cluster = ResourcePattern::cluster();
            Some((cluster.resource_type, cluster.name))
        } else {
            None
        }
    }
}

/// Who, doing what, from where.
#[derive(Args, Debug)]
pub(crate) struct EntryArgs {
    /// A principal to allow, `User:name` (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    allow_principal: Vec<String>,
    /// A principal to deny, `User:name` (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    deny_principal: Vec<String>,
    /// An operation: Read, Write, Describe, ... (repeatable).
    #[arg(long, value_name = "OPERATION", value_parser = operation)]
    operation: Vec<AclOperation>,
    /// The host the principals connect from (default: any, `*`).
    #[arg(long)]
    host: Option<String>,
}

impl EntryArgs {
    /// The principals with their permissions.
    fn principals(&self) -> Vec<(String, AclPermission)> {
        self.allow_principal
            .iter()
            .map(|p| (p.clone(), AclPermission::Allow))
            .chain(
                self.deny_principal
                    .iter()
                    .map(|p| (p.clone(), AclPermission::Deny)),
            )
            .collect()
    }
}

/// The `acls` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum AclsCommand {
    /// List the ACLs matching the filters (every ACL without any).
    List {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        resource: ResourceArgs,
        #[command(flatten)]
        entry: EntryArgs,
    },
    /// Create ACLs: each principal, each operation, on the resource.
    Create {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        resource: ResourceArgs,
        #[command(flatten)]
        entry: EntryArgs,
    },
    /// Delete the ACLs matching the filters (a resource is required).
    Delete {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        resource: ResourceArgs,
        #[command(flatten)]
        entry: EntryArgs,
    },
}

/// The filters the arguments describe: one per principal and operation
/// given (any principal, any operation when none is).
fn filters(resource: &ResourceArgs, entry: &EntryArgs) -> Vec<AclBindingFilter> {
    let (resource_type, name) = resource
        .resource()
        .map_or((ResourceType::Any, None), |(t, n)| (t, Some(n)));
    let pattern_type = resource.resource_pattern_type.unwrap_or(if name.is_some() {
        PatternType::Literal
    } else {
        PatternType::Any
    });
    let principals: Vec<(Option<String>, AclPermission)> = if entry.principals().is_empty() {
        vec![(None, AclPermission::Any)]
    } else {
        entry
            .principals()
            .into_iter()
            .map(|(p, permission)| (Some(p), permission))
            .collect()
    };
    let operations = if entry.operation.is_empty() {
        vec![AclOperation::Any]
    } else {
        entry.operation.clone()
    };
    let mut all = Vec::new();
    for (principal, permission) in &principals {
        for operation in &operations {
            all.push(AclBindingFilter {
                resource_type,
                name: name.clone(),
                pattern_type,
                principal: principal.clone(),
                host: entry.host.clone(),
                operation: *operation,
                permission: *permission,
            });
        }
    }
    all
}

/// The bindings `acls create` makes, or what is wrong with the arguments.
fn bindings(resource: &ResourceArgs, entry: &EntryArgs) -> Result<Vec<AclBinding>, String> {
    let (resource_type, name) = resource
        .resource()
        .ok_or("give the resource: --topic, --group, --cluster or --transactional-id")?;
    let pattern_type = resource
        .resource_pattern_type
        .unwrap_or(PatternType::Literal);
    if !matches!(pattern_type, PatternType::Literal | PatternType::Prefixed) {
        return Err(format!(
            "--resource-pattern-type {pattern_type} only filters; create literal or prefixed ACLs"
        ));
    }
    if entry.principals().is_empty() {
        return Err("give --allow-principal or --deny-principal".to_string());
    }
    if entry.operation.is_empty() {
        return Err("give at least one --operation".to_string());
    }
    let mut all = Vec::new();
    for (principal, permission) in entry.principals() {
        for operation in &entry.operation {
            all.push(AclBinding {
                pattern: ResourcePattern {
                    resource_type,
                    name: name.clone(),
                    pattern_type,
                },
                principal: principal.clone(),
                host: entry.host.clone().unwrap_or_else(|| "*".to_string()),
                operation: *operation,
                permission,
            });
        }
    }
    Ok(all)
}

fn binding_json(b: &AclBinding) -> Value {
    json!({
        "resource_type": b.pattern.resource_type.name(),
        "name": b.pattern.name,
        "pattern_type": b.pattern.pattern_type.name(),
        "principal": b.principal,
        "host": b.host,
        "operation": b.operation.name(),
        "permission": b.permission.name(),
    })
}

fn filter_json(f: &AclBindingFilter) -> Value {
    json!({
        "resource_type": f.resource_type.name(),
        "name": f.name,
        "pattern_type": f.pattern_type.name(),
        "principal": f.principal,
        "host": f.host,
        "operation": f.operation.name(),
        "permission": f.permission.name(),
    })
}

fn print_bindings<'a>(bindings: impl IntoIterator<Item = &'a AclBinding>) {
    let rows: Vec<Vec<String>> = bindings
        .into_iter()
        .map(|b| {
            vec![
                b.principal.clone(),
                b.permission.to_string(),
                b.operation.to_string(),
                b.host.clone(),
                b.pattern.resource_type.to_string(),
                b.pattern.name.clone(),
                b.pattern.pattern_type.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "PRINCIPAL",
            "PERMISSION",
            "OPERATION",
            "HOST",
            "RESOURCE",
            "NAME",
            "PATTERN",
        ],
        &rows,
    );
}

fn usage(command: &str, message: &str) -> ExitCode {
    eprintln!("ferrokafka {command}: {message}");
    ExitCode::from(USAGE)
}

pub(crate) fn run(command: &AclsCommand) -> ExitCode {
    match command {
        AclsCommand::List {
            admin: args,
            resource,
            entry,
        } => {
            let filters = filters(resource, entry);
            with_admin("acls list", args, |admin| async move {
                let mut found: BTreeSet<AclBinding> = BTreeSet::new();
                for filter in &filters {
                    found.extend(admin.describe_acls(filter, &args.options()).await?);
                }
                if args.json {
                    println!("{}", Value::Array(found.iter().map(binding_json).collect()));
                } else {
                    print_bindings(&found);
                }
                Ok(Outcome::default())
            })
        }
        AclsCommand::Create {
            admin: args,
            resource,
            entry,
        } => {
            let bindings = match bindings(resource, entry) {
                Ok(bindings) => bindings,
                Err(message) => return usage("acls create", &message),
            };
            with_admin("acls create", args, |admin| async move {
                let created = admin.create_acls(&bindings, &args.options()).await;
                let mut outcome = Outcome::default();
                outcome.note(&created);
                if args.json {
                    let all: Vec<Value> = created
                        .iter()
                        .map(|(b, result)| {
                            let mut value = binding_json(b);
                            value["created"] = json!(result.is_ok());
                            if let Err(e) = result {
                                value["error"] = error_json(e);
                            }
                            value
                        })
                        .collect();
                    println!("{}", Value::Array(all));
                } else {
                    for (b, result) in &created {
                        if result.is_ok() {
                            println!("Created {b}.");
                        }
                    }
                }
                Ok(outcome)
            })
        }
        AclsCommand::Delete {
            admin: args,
            resource,
            entry,
        } => {
            if resource.resource().is_none() {
                return usage(
                    "acls delete",
                    "give the resource: --topic, --group, --cluster or --transactional-id",
                );
            }
            let filters = filters(resource, entry);
            with_admin("acls delete", args, |admin| async move {
                let deleted = admin.delete_acls(&filters, &args.options()).await;
                let mut outcome = Outcome::default();
                outcome.note(&deleted);
                if args.json {
                    let all: Vec<Value> = deleted
                        .iter()
                        .map(|(f, result)| {
                            let mut value = json!({"filter": filter_json(f)});
                            match result {
                                Ok(bindings) => {
                                    value["deleted"] =
                                        Value::Array(bindings.iter().map(binding_json).collect());
                                }
                                Err(e) => value["error"] = error_json(e),
                            }
                            value
                        })
                        .collect();
                    println!("{}", Value::Array(all));
                } else {
                    for b in deleted.values().flat_map(|r| r.iter().flatten()) {
                        println!("Deleted {b}.");
                    }
                }
                Ok(outcome)
            })
        }
    }
}
