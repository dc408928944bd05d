//! The checker: every topic read back by a second, independent client (the
//! Java consumer, `xtask/chaos-java/ChaosReader.java`), and every record's
//! fate judged against what the writer was told.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use super::workload::{ProducerKind, ProducerLog, parse_value};
use crate::golden::java::{self, JavaPrograms};

/// One record as the independent reader found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its value, as text.
    pub value: String,
}

/// Compiles the Java reader against `kafka_version`'s client.
pub fn compile_reader(kafka_version: &str) -> anyhow::Result<JavaPrograms> {
    let sources = crate::workspace_root().join("xtask/chaos-java");
    java::compile_folder(&sources, "chaos-java", kafka_version)
}

/// Reads the whole of `topic` with the Java consumer (`read_committed`
/// when `committed`), in offset order per partition.
pub fn read_topic(
    reader: &JavaPrograms,
    bootstrap: &str,
    topic: &str,
    committed: bool,
    scratch: &Path,
) -> anyhow::Result<Vec<Found>> {
    Ok(read(reader, bootstrap, topic, committed, scratch, None)?.0)
}

/// [`read_topic`] read_committed, then the committed offsets of `group`
/// on `offsets_topic`'s partitions (as the Java consumer reads them:
/// stable), by partition.
pub fn read_topic_and_offsets(
    reader: &JavaPrograms,
    bootstrap: &str,
    topic: &str,
    (group, offsets_topic): (&str, &str),
    scratch: &Path,
) -> anyhow::Result<(Vec<Found>, BTreeMap<i32, i64>)> {
    read(
        reader,
        bootstrap,
        topic,
        true,
        scratch,
        Some((group, offsets_topic)),
    )
}

fn read(
    reader: &JavaPrograms,
    bootstrap: &str,
    topic: &str,
    committed: bool,
    scratch: &Path,
    group: Option<(&str, &str)>,
) -> anyhow::Result<(Vec<Found>, BTreeMap<i32, i64>)> {
    let out = scratch.join(format!("{topic}.read"));
    let isolation = if committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let timeout = Duration::from_secs(300);
    let mut command = reader.command("ChaosReader");
    command
        .arg(bootstrap)
        .arg(topic)
        .arg(isolation)
        .arg(&out)
        .arg(timeout.as_secs().to_string());
    if let Some((group, offsets_topic)) = group {
        command.arg(group).arg(offsets_topic);
    }
    let output = java::run_bounded(&mut command, timeout + Duration::from_secs(60))?;
    if !output.status.success() {
        bail!(
            "the Java reader failed on {topic} ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let found = text
        .lines()
        .map(parse_line)
        .collect::<anyhow::Result<_>>()?;
    let mut offsets = BTreeMap::new();
    if group.is_some() {
        let mut path = out.clone().into_os_string();
        path.push(".committed");
        let path = std::path::PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let _ = std::fs::remove_file(&path);
        for line in text.lines() {
            let (partition, offset) = line
                .split_once(' ')
                .with_context(|| format!("the reader's committed line {line:?}"))?;
            offsets.insert(partition.parse()?, offset.parse()?);
        }
    }
    Ok((found, offsets))
}

fn parse_line(line: &str) -> anyhow::Result<Found> {
    let mut fields = line.splitn(3, ' ');
    let mut next = |what| {
        fields
            .next()
            .with_context(|| format!("no {what} in the reader's line {line:?}"))
    };
    Ok(Found {
        partition: next("partition")?.parse()?,
        offset: next("offset")?.parse()?,
        value: next("value")?.to_string(),
    })
}

/// A producer workload's fates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Records sent.
    pub sent: u64,
    /// Records the writer was told were written.
    pub acknowledged: u64,
    /// Acknowledged records the reader did not find.
    pub lost: u64,
    /// Copies found beyond the first, of any record.
    pub duplicated: u64,
    /// Records found after a later record of the same partition.
    pub out_of_order: u64,
    /// Acknowledged records found at another partition or offset than the
    /// acknowledgement said.
    pub misplaced: u64,
    /// Records that failed (or never settled) but were written anyway: not
    /// a violation (the outcome was unknown to the writer), reported.
    pub failed_but_present: u64,
    /// Values the reader found that no workload wrote.
    pub foreign: u64,
}

impl Verdict {
    /// Whether the workload's contract held: nothing acknowledged lost, and
    /// for an exactly-once, in-order workload, no duplicate or reordering.
    pub fn holds(&self, kind: ProducerKind) -> bool {
        self.lost == 0
            && self.misplaced == 0
            && self.foreign == 0
            && (!kind.exactly_once_in_order() || (self.duplicated == 0 && self.out_of_order == 0))
    }
}

/// Each sent record's copies in the topic, and the judgement. Records are
/// attributed by `seq` (`None`: the verdict over all) so the caller can
/// judge records sent during one fault apart from the others.
pub fn judge(log: &ProducerLog, found: &[Found], only: Option<&dyn Fn(u64) -> bool>) -> Verdict {
    let wanted = |seq: u64| only.is_none_or(|f| f(seq));
    let mut verdict = Verdict::default();
    let mut copies: HashMap<u64, Vec<(i32, i64)>> = HashMap::new();
    let mut highest_in_partition: HashMap<i32, u64> = HashMap::new();
    for record in found {
        let Some(seq) = parse_value(log.kind, &record.value) else {
            verdict.foreign += 1;
            continue;
        };
        let first = !copies.contains_key(&seq);
        copies
            .entry(seq)
            .or_default()
            .push((record.partition, record.offset));
        // Order is judged on first copies: a duplicate is counted once, as one.
        if first {
            let highest = highest_in_partition.entry(record.partition).or_insert(seq);
            if seq < *highest {
                if wanted(seq) {
                    verdict.out_of_order += 1;
                }
            } else {
                *highest = seq;
            }
        } else if wanted(seq) {
            verdict.duplicated += 1;
        }
    }
    if only.is_some() {
        verdict.foreign = 0;
    }
    for record in log.sent.iter().filter(|r| wanted(r.seq)) {
        verdict.sent += 1;
        let present = copies.get(&record.seq);
        match (&record.outcome, present) {
            (Ok(_), None) => {
                verdict.acknowledged += 1;
                verdict.lost += 1;
            }
            (Ok(offset), Some(places)) => {
                verdict.acknowledged += 1;
                if !places.contains(&(record.partition, *offset)) {
                    verdict.misplaced += 1;
                }
            }
            (Err(_), Some(_)) => verdict.failed_but_present += 1,
            (Err(_), None) => {}
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Found, Verdict, judge, parse_line};
    use crate::chaos::workload::{ProducerKind, ProducerLog, Sent, value};

    fn log(outcomes: &[(i32, Result<i64, &str>)]) -> ProducerLog {
        ProducerLog {
            kind: ProducerKind::Idempotent,
            topic: "t".into(),
            sent: outcomes
                .iter()
                .enumerate()
                .map(|(seq, (partition, outcome))| Sent {
                    seq: seq as u64,
                    partition: *partition,
                    sent_at: Duration::ZERO,
                    outcome: outcome.map_err(str::to_string),
                    settled_at: Duration::ZERO,
                })
                .collect(),
        }
    }

    fn found(records: &[(i32, i64, u64)]) -> Vec<Found> {
        records
            .iter()
            .map(|&(partition, offset, seq)| Found {
                partition,
                offset,
                value: value(ProducerKind::Idempotent, seq),
            })
            .collect()
    }

    #[test]
    fn everything_once_in_order_holds() {
        let log = log(&[(0, Ok(0)), (1, Ok(0)), (0, Ok(1))]);
        let verdict = judge(&log, &found(&[(0, 0, 0), (0, 1, 2), (1, 0, 1)]), None);
        assert_eq!(
            verdict,
            Verdict {
                sent: 3,
                acknowledged: 3,
                ..Verdict::default()
            }
        );
        assert!(verdict.holds(ProducerKind::Idempotent));
    }

    #[test]
    fn a_lost_a_duplicated_and_a_reordered_record_are_each_counted() {
        let log = log(&[(0, Ok(0)), (0, Ok(1)), (0, Ok(2)), (0, Ok(3))]);
        // 1 is lost, 0 written twice, 3 before 2.
        let read = found(&[(0, 0, 0), (0, 1, 0), (0, 2, 3), (0, 3, 2)]);
        let verdict = judge(&log, &read, None);
        assert_eq!(verdict.lost, 1);
        assert_eq!(verdict.duplicated, 1);
        assert_eq!(verdict.out_of_order, 1);
        assert_eq!(verdict.misplaced, 2, "2 found at offset 3 and 3 at 2");
        assert!(!verdict.holds(ProducerKind::Idempotent));
        assert!(
            !verdict.holds(ProducerKind::Retrying),
            "a loss is never allowed"
        );
    }

    #[test]
    fn a_failed_record_that_was_written_is_no_violation() {
        let log = log(&[(0, Err("timed out")), (0, Ok(1))]);
        let verdict = judge(&log, &found(&[(0, 0, 0), (0, 1, 1)]), None);
        assert_eq!(verdict.failed_but_present, 1);
        assert!(verdict.holds(ProducerKind::Idempotent));
    }

    #[test]
    fn a_filter_judges_only_the_records_it_keeps() {
        let log = log(&[(0, Ok(0)), (0, Ok(1))]);
        let verdict = judge(&log, &found(&[(0, 1, 1)]), Some(&|seq| seq == 1));
        assert_eq!((verdict.sent, verdict.lost), (1, 0));
    }

    #[test]
    fn reader_lines_parse_with_spaces_in_values() {
        assert_eq!(
            parse_line("2 17 a b").unwrap(),
            Found {
                partition: 2,
                offset: 17,
                value: "a b".into()
            }
        );
        assert!(parse_line("2").is_err());
        assert!(parse_line("x 1 v").is_err());
    }
}
