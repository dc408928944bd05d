//! `ferrokafka groups`: list, describe (members, assignments, committed
//! offsets and lag), delete, and reset the offsets of consumer groups with
//! the admin client. Resetting is a dry run that prints the planned offsets
//! unless `--execute` is given. Tables by default, `--json` for scripts;
//! exit code 1 when any item failed (each failure named on stderr).

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use ferrokafka::admin::groups::{GroupDescription, GroupKind, ListGroupsFilter, OffsetAndMetadata};
use ferrokafka::admin::records::{ListedOffset, OffsetSpec, TopicPartition};
use ferrokafka::admin::{Admin, AdminError, AdminOptions};
use serde_json::{Value, json};

use crate::topics::{AdminArgs, Outcome, error_json, print_table, with_admin};

/// The `groups` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum GroupsCommand {
    /// List the groups every broker knows.
    List {
        #[command(flatten)]
        admin: AdminArgs,
        /// Only groups in this state (`Stable`, `Empty`, ...; repeatable).
        #[arg(long)]
        state: Vec<String>,
        /// Only groups of this type (`classic`, `consumer`, `share`; repeatable).
        #[arg(long = "type")]
        group_type: Vec<String>,
    },
    /// Describe groups: members, assignments, committed offsets and lag.
    Describe {
        #[command(flatten)]
        admin: AdminArgs,
        /// The groups.
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Delete groups (only groups without members can be deleted).
    Delete {
        #[command(flatten)]
        admin: AdminArgs,
        /// The groups.
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Plan (or, with `--execute`, commit) new offsets for a group that
    /// has no active members.
    ResetOffsets(ResetArgs),
}

/// The arguments of `groups reset-offsets`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args([
    "to_earliest", "to_latest", "to_datetime", "shift_by", "to_offset",
])))]
pub(crate) struct ResetArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// The group.
    #[arg(long)]
    group: String,
    /// A topic, or `topic:0,1,2` for some of its partitions (repeatable).
    #[arg(long = "topic", required = true, value_name = "TOPIC[:PARTITIONS]", value_parser = topic_partitions)]
    topics: Vec<(String, Option<Vec<i32>>)>,
    /// The log start offset.
    #[arg(long)]
    to_earliest: bool,
    /// The end of the log.
    #[arg(long)]
    to_latest: bool,
    /// The first offset at or after this time (`2026-01-31T12:00:00Z`,
    /// `...+02:00`, or with no zone for UTC).
    #[arg(long, value_name = "ISO-8601", value_parser = parse_datetime)]
    to_datetime: Option<i64>,
    /// The committed offset moved by N (negative moves back), within the log.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// This offset, within the log.
    #[arg(long, value_name = "N")]
    to_offset: Option<i64>,
    /// Commit the planned offsets (without it, only print them).
    #[arg(long)]
    execute: bool,
}

/// `topic` or `topic:0,1,2`.
fn topic_partitions(text: &str) -> Result<(String, Option<Vec<i32>>), String> {
    match text.rsplit_once(':') {
        None if !text.is_empty() => Ok((text.to_string(), None)),
        Some((topic, list)) if !topic.is_empty() => {
            let partitions = list
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| format!("{p:?} is not a partition number"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((topic.to_string(), Some(partitions)))
        }
        _ => Err(format!("expected TOPIC or TOPIC:PARTITIONS, not {text:?}")),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`
/// (no zone: UTC).
fn parse_datetime(text: &str) -> Result<i64, String> {
    let bad = || format!("expected YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM], not {text:?}");
    let number = |s: &str| -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (date, rest) = text.split_once('T').ok_or_else(bad)?;
    let mut date_parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) = (
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
    ) else {
        return Err(bad());
    };
    let (year, month, day) = (number(y)?, number(mo)?, number(d)?);
    let (time, offset_minutes) = if let Some(time) = rest.strip_suffix('Z') {
        (time, 0)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        let (time, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':').ok_or_else(bad)?;
        (time, sign * (number(h)? * 60 + number(m)?))
    } else {
        (rest, 0)
    };
    let (clock, millis) = match time.split_once('.') {
        Some((clock, fraction)) => {
            let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
            (clock, number(&digits)?)
        }
        None => (time, 0),
    };
    let mut clock_parts = clock.split(':');
    let (Some(h), Some(mi), s, None) = (
        clock_parts.next(),
        clock_parts.next(),
        clock_parts.next(),
        clock_parts.next(),
    ) else {
        return Err(bad());
    };
    let (hour, minute, second) = (number(h)?, number(mi)?, s.map_or(Ok(0), number)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

fn members_json(description: &GroupDescription) -> Value {
    Value::Array(
        description
            .members
            .iter()
            .map(|m| {
                json!({
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "subscribed_topics": m.subscribed_topics,
                    "assignment": m.assignment.iter().map(|p| json!({"topic": p.topic(), "partition": p.partition})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// One row of a group's offsets: committed, end, lag, owner.
struct OffsetRow {
    partition: TopicPartition,
    committed: Option<i64>,
    end: Option<i64>,
    member: Option<String>,
}

/// The committed offsets, end offsets and owners of every partition the
/// group committed or is assigned.
async fn offset_rows(
    admin: &Admin,
    group: &str,
    description: &GroupDescription,
    options: &AdminOptions,
    outcome: &mut Outcome,
) -> Vec<OffsetRow> {
    let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
    for m in &description.members {
        for p in &m.assignment {
            owners.insert(p.clone(), m.member_id.clone());
        }
    }
    let committed = if description.kind == GroupKind::Share {
        share_start_offsets(admin, group, options, outcome).await
    } else {
        match admin
            .list_group_offsets(&[group], None, options)
            .await
            .remove(group)
        {
            Some(Ok(committed)) => committed.into_iter().map(|(p, c)| (p, c.offset)).collect(),
            Some(Err(error)) => {
                outcome.failed(format!("offsets of group {group}"), &error);
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        }
    };
    let mut partitions: Vec<TopicPartition> = committed.keys().cloned().collect();
    partitions.extend(owners.keys().cloned());
    partitions.sort();
    partitions.dedup();
    let specs: BTreeMap<TopicPartition, OffsetSpec> = partitions
        .iter()
        .map(|p| (p.clone(), OffsetSpec::Latest))
        .collect();
    let ends = admin.list_offsets(&specs, false, options).await;
    partitions
        .into_iter()
        .map(|p| OffsetRow {
            committed: committed.get(&p).copied(),
            end: match ends.get(&p) {
                Some(Ok(listed)) => Some(listed.offset),
                Some(Err(error)) => {
                    outcome.failed(&p, error);
                    None
                }
                None => None,
            },
            member: owners.get(&p).cloned(),
            partition: p,
        })
        .collect()
}

/// A share group's start offsets (where its members read from), which
/// `groups describe` shows as what the group committed.
async fn share_start_offsets(
    admin: &Admin,
    group: &str,
    options: &AdminOptions,
    outcome: &mut Outcome,
) -> BTreeMap<TopicPartition, i64> {
    match admin.list_share_group_offsets(group, options).await {
        Ok(offsets) => offsets
            .into_iter()
            .filter_map(|(p, o)| Some((p, o.ok()?.start_offset?)))
            .collect(),
        Err(error) => {
            outcome.failed(format!("offsets of share group {group}"), &error);
            BTreeMap::new()
        }
    }
}

fn lag(row: &OffsetRow) -> Option<i64> {
    Some((row.end? - row.committed?).max(0))
}

fn cell(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

pub(crate) fn run(command: &GroupsCommand) -> ExitCode {
    match command {
        GroupsCommand::List {
            admin: args,
            state,
            group_type,
        } => with_admin("groups list", args, |admin| async move {
            let filter = ListGroupsFilter {
                states: state.clone(),
                types: group_type.clone(),
            };
            let listed = admin.list_groups(&filter, &args.options()).await?;
            let mut outcome = Outcome::default();
            for (node, error) in &listed.errors {
                outcome.failed(format!("broker {node}"), error);
            }
            if args.json {
                let rows: Vec<Value> = listed
                    .groups
                    .iter()
                    .map(|g| json!({"group_id": g.group_id, "protocol_type": g.protocol_type, "state": g.state, "type": g.group_type}))
                    .collect();
                println!("{}", Value::Array(rows));
            } else {
                let rows: Vec<Vec<String>> = listed
                    .groups
                    .iter()
                    .map(|g| {
                        vec![
                            g.group_id.clone(),
                            g.group_type.clone().unwrap_or_default(),
                            g.state.clone().unwrap_or_default(),
                            g.protocol_type.clone(),
                        ]
                    })
                    .collect();
                print_table(&["GROUP", "TYPE", "STATE", "PROTOCOL-TYPE"], &rows);
            }
            Ok(outcome)
        }),
        GroupsCommand::Describe {
            admin: args,
            groups,
        } => with_admin("groups describe", args, |admin| async move {
            let options = args.options();
            let ids: Vec<&str> = groups.iter().map(String::as_str).collect();
            let described = admin.describe_groups(&ids, &options).await;
            let mut outcome = Outcome::default();
            let mut out = Vec::new();
            for (group, result) in &described {
                let description = match result {
                    Ok(description) => description,
                    Err(error) => {
                        outcome.failed(group, error);
                        out.push(json!({"group_id": group, "error": error_json(error)}));
                        continue;
                    }
                };
                let rows = offset_rows(&admin, group, description, &options, &mut outcome).await;
                if args.json {
                    let offsets: Vec<Value> = rows
                        .iter()
                        .map(|r| {
                            json!({
                                "topic": r.partition.topic(),
                                "partition": r.partition.partition,
                                "committed": r.committed,
                                "end": r.end,
                                "lag": lag(r),
                                "member_id": r.member,
                            })
                        })
                        .collect();
                    out.push(json!({
                        "group_id": group,
                        "state": description.state,
                        "kind": format!("{:?}", description.kind).to_lowercase(),
                        "protocol_type": description.protocol_type,
                        "protocol": description.protocol,
                        "coordinator": description.coordinator,
                        "members": members_json(description),
                        "offsets": offsets,
                    }));
                } else {
                    println!(
                        "group {group}: {} ({}, {} members, assignor {}, coordinator {})",
                        description.state,
                        description.protocol_type,
                        description.members.len(),
                        description.protocol,
                        description.coordinator
                    );
                    let members: Vec<Vec<String>> = description
                        .members
                        .iter()
                        .map(|m| {
                            vec![
                                m.member_id.clone(),
                                m.group_instance_id.clone().unwrap_or_else(|| "-".into()),
                                m.client_id.clone(),
                                m.host.clone(),
                                m.assignment
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(","),
                            ]
                        })
                        .collect();
                    print_table(
                        &["MEMBER", "INSTANCE", "CLIENT-ID", "HOST", "ASSIGNMENT"],
                        &members,
                    );
                    println!();
                    let offsets: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.partition.topic.to_string(),
                                r.partition.partition.to_string(),
                                cell(r.committed),
                                cell(r.end),
                                cell(lag(r)),
                                r.member.clone().unwrap_or_else(|| "-".into()),
                            ]
                        })
                        .collect();
                    print_table(
                        &["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"],
                        &offsets,
                    );
                    println!();
                }
            }
            if args.json {
                println!("{}", Value::Array(out));
            }
            Ok(outcome)
        }),
        GroupsCommand::Delete {
            admin: args,
            groups,
        } => {
            with_admin("groups delete", args, |admin| async move {
                let ids: Vec<&str> = groups.iter().map(String::as_str).collect();
                let deleted = admin.delete_groups(&ids, &args.options()).await;
                let mut outcome = Outcome::default();
                outcome.note(&deleted);
                if args.json {
                    let rows: Vec<Value> = deleted
                    .iter()
                    .map(|(group, result)| match result {
                        Ok(()) => json!({"group_id": group, "deleted": true}),
                        Err(error) => json!({"group_id": group, "deleted": false, "error": error_json(error)}),
                    })
                    .collect();
                    println!("{}", Value::Array(rows));
                } else {
                    for (group, result) in &deleted {
                        if result.is_ok() {
                            println!("deleted {group}");
                        }
                    }
                }
                Ok(outcome)
            })
        }
        GroupsCommand::ResetOffsets(args) => {
            with_admin("groups reset-offsets", &args.admin, |admin| {
                reset(admin, args)
            })
        }
    }
}

/// What `reset-offsets` asks for, per partition.
enum Target {
    Earliest,
    Latest,
    Timestamp(i64),
    Shift(i64),
    Offset(i64),
}

impl ResetArgs {
    fn target(&self) -> Target {
        if self.to_earliest {
            Target::Earliest
        } else if self.to_latest {
            Target::Latest
        } else if let Some(at) = self.to_datetime {
            Target::Timestamp(at)
        } else if let Some(by) = self.shift_by {
            Target::Shift(by)
        } else {
            Target::Offset(self.to_offset.unwrap_or_default())
        }
    }
}

async fn reset(admin: Admin, args: &ResetArgs) -> anyhow::Result<Outcome> {
    let options = args.admin.options();
    let group = args.group.as_str();
    let mut outcome = Outcome::default();
    let mut partitions = Vec::new();
    for (topic, chosen) in &args.topics {
        if let Some(list) = chosen {
            partitions.extend(list.iter().map(|&p| TopicPartition::new(topic, p)));
        } else {
            let view = admin
                .client()
                .topic(topic)
                .await
                .map_err(|e| anyhow::anyhow!("topic {topic}: {e}"))?;
            partitions.extend(
                view.partitions
                    .iter()
                    .map(|p| TopicPartition::new(topic, p.index)),
            );
        }
    }
    partitions.sort();
    partitions.dedup();
    let lookup = |spec: OffsetSpec| {
        let specs: BTreeMap<TopicPartition, OffsetSpec> =
            partitions.iter().map(|p| (p.clone(), spec)).collect();
        let admin = &admin;
        let options = &options;
        async move { admin.list_offsets(&specs, false, options).await }
    };
    let earliest = lookup(OffsetSpec::Earliest).await;
    let latest = lookup(OffsetSpec::Latest).await;
    let at_time = match args.target() {
        Target::Timestamp(at) => Some(lookup(OffsetSpec::Timestamp(at)).await),
        _ => None,
    };
    let committed = match admin
        .list_group_offsets(&[group], Some(&partitions), &options)
        .await
        .remove(group)
    {
        Some(Ok(committed)) => committed,
        Some(Err(error)) => return Err(error.into()),
        None => BTreeMap::new(),
    };
    let mut plan: BTreeMap<TopicPartition, Result<i64, AdminError>> = BTreeMap::new();
    for p in &partitions {
        let bound =
            |listed: &BTreeMap<TopicPartition, Result<ListedOffset, AdminError>>| -> Result<i64, AdminError> {
                match listed.get(p) {
                    Some(Ok(listed)) => Ok(listed.offset),
                    Some(Err(error)) => Err(error.clone()),
                    None => Err(AdminError::UnexpectedResponse(format!("no offset for {p}"))),
                }
            };
        let planned = (|| {
            let (low, high) = (bound(&earliest)?, bound(&latest)?);
            let wanted = match args.target() {
                Target::Earliest => low,
                Target::Latest => high,
                Target::Timestamp(_) => match at_time.as_ref().map(bound) {
                    // No record at or after the time: the end of the log.
                    Some(Ok(offset)) if offset >= 0 => offset,
                    Some(Err(error)) => return Err(error),
                    _ => high,
                },
                Target::Shift(by) => match committed.get(p) {
                    Some(c) => c.offset.saturating_add(by),
                    None => {
                        return Err(AdminError::InvalidArgument(format!(
                            "{p} has no committed offset to shift"
                        )));
                    }
                },
                Target::Offset(offset) => offset,
            };
            Ok(wanted.clamp(low, high))
        })();
        plan.insert(p.clone(), planned);
    }
    outcome.note(&plan);
    let mut applied: BTreeMap<TopicPartition, Result<(), AdminError>> = BTreeMap::new();
    if args.execute {
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = plan
            .iter()
            .filter_map(|(p, planned)| {
                Some((p.clone(), OffsetAndMetadata::new(*planned.as_ref().ok()?)))
            })
            .collect();
        if !offsets.is_empty() {
            applied = admin.alter_group_offsets(group, &offsets, &options).await;
            outcome.note(&applied);
        }
    }
    if args.admin.json {
        let rows: Vec<Value> = plan
            .iter()
            .map(|(p, planned)| {
                let mut row = json!({
                    "topic": p.topic(),
                    "partition": p.partition,
                    "current": committed.get(p).map(|c| c.offset),
                    "new": planned.as_ref().ok(),
                });
                if let Err(error) = planned {
                    row["error"] = error_json(error);
                } else if let Some(Err(error)) = applied.get(p) {
                    row["error"] = error_json(error);
                }
                row
            })
            .collect();
        println!(
            "{}",
            json!({"group_id": group, "executed": args.execute, "partitions": rows})
        );
    } else {
        let rows: Vec<Vec<String>> = plan
            .iter()
            .map(|(p, planned)| {
                vec![
                    p.topic.to_string(),
                    p.partition.to_string(),
                    cell(committed.get(p).map(|c| c.offset)),
                    cell(planned.as_ref().ok().copied()),
                ]
            })
            .collect();
        print_table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows);
        if !args.execute {
            println!("(dry run: add --execute to commit these offsets)");
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_to_epoch_millis() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_datetime("1970-01-01T00:00:01.5Z"), Ok(1500));
        assert_eq!(
            parse_datetime("2024-02-29T12:30:00Z"),
            Ok(1_709_209_800_000)
        );
        assert_eq!(
            parse_datetime("2024-02-29T14:30:00+02:00"),
            Ok(1_709_209_800_000)
        );
        assert_eq!(parse_datetime("2024-02-29T12:30:00"), Ok(1_709_209_800_000));
        assert!(parse_datetime("2024-13-01T00:00:00Z").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn topics_take_optional_partitions() {
        assert_eq!(topic_partitions("t"), Ok(("t".into(), None)));
        assert_eq!(
            topic_partitions("t:0,2"),
            Ok(("t".into(), Some(vec![0, 2])))
        );
        assert!(topic_partitions("t:x").is_err());
        assert!(topic_partitions(":1").is_err());
    }
}
