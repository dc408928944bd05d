//! `RELIABILITY.md` and the verdict table: per scenario and fault kind, the
//! faults injected and every record's fate, with the seed, versions and
//! machine that produced them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::checker::{Found, Verdict, judge};
use super::faults::Injected;
use super::groups::{self, GroupLog, Protocol};
use super::schedule::FaultKind;
use super::transactions::{
    self, Fate, FlowVerdict, Transaction, TransactionLog, TransactionVerdict,
};
use super::workload::ProducerLog;

/// One row: a scenario's records sent while one kind of fault was the
/// latest (or before any fault).
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario (workload).
    pub scenario: &'static str,
    /// The fault kind, `None` for records sent before the first fault.
    pub fault: Option<FaultKind>,
    /// Faults of this kind injected.
    pub injected: usize,
    /// The fates of the records sent while this kind of fault was the latest.
    pub verdict: Verdict,
    /// Records of aborted transactions seen by read_committed, where the
    /// scenario is transactional.
    pub aborted_seen: Option<u64>,
    /// Transactions read_committed showed in part, where the scenario is
    /// transactional.
    pub torn: Option<u64>,
    /// The longest time from a fault of this kind to the scenario's first
    /// acknowledgement, on every partition, of a record sent after it;
    /// `None` when some partition never acknowledged one.
    pub longest_recovery: Option<Duration>,
    /// Whether recovery is measured for the scenario at all.
    pub recovery_measured: bool,
}

/// A whole campaign.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// The seed of the schedule.
    pub seed: u64,
    /// The seconds asked for (`--seconds`).
    pub seconds: u64,
    /// The injections asked of every kind (`--min-each`).
    pub min_each: usize,
    /// The seconds faults were in fact injected for: past `seconds` when a
    /// kind had not yet come `min_each` times.
    pub ran_seconds: u64,
    /// `(what, version)`.
    pub versions: Vec<(&'static str, String)>,
    /// Per scenario and fault kind.
    pub rows: Vec<Row>,
    /// Per scenario over the whole run, with whether its contract held.
    pub totals: Vec<(Row, bool)>,
    /// Every fault, in order.
    pub faults: Vec<Injected>,
    /// What the workloads did besides: group members killed, transactional
    /// producers replaced.
    pub notes: Vec<String>,
}

impl Campaign {
    /// Whether every scenario's contract held.
    pub fn holds(&self) -> bool {
        self.totals.iter().all(|(_, holds)| *holds)
    }
}

/// The rows of one producer scenario: its records attributed to the latest
/// fault before they were sent.
pub fn producer_rows(
    log: &ProducerLog,
    found: &[Found],
    faults: &[Injected],
) -> (Vec<Row>, Row, bool) {
    let latest_fault = |seq: u64| {
        let sent_at = log.sent[seq as usize].sent_at;
        faults
            .iter()
            .rev()
            .find(|f| f.at <= sent_at)
            .map(|f| f.kind)
    };
    let mut rows = Vec::new();
    for kind in row_kinds(faults) {
        let of_kind: Vec<&Injected> = faults.iter().filter(|f| Some(f.kind) == kind).collect();
        let verdict = judge(log, found, Some(&|seq| latest_fault(seq) == kind));
        let longest_recovery = longest(of_kind.iter().map(|f| recovery(log, f.at)));
        rows.push(Row {
            scenario: log.kind.label(),
            fault: kind,
            injected: of_kind.len(),
            verdict,
            aborted_seen: None,
            torn: None,
            longest_recovery: if kind.is_some() {
                longest_recovery
            } else {
                Some(Duration::ZERO)
            },
            recovery_measured: true,
        });
    }
    let verdict = judge(log, found, None);
    let holds = verdict.holds(log.kind);
    let longest_recovery = longest(faults.iter().map(|f| recovery(log, f.at)));
    let total = Row {
        scenario: log.kind.label(),
        fault: None,
        injected: faults.len(),
        verdict,
        aborted_seen: None,
        torn: None,
        longest_recovery,
        recovery_measured: true,
    };
    (rows, total, holds)
}

/// The rows of the transactional scenario: each transaction attributed to
/// the latest fault before it began.
pub fn transaction_rows(
    log: &TransactionLog,
    found: &[Found],
    faults: &[Injected],
) -> (Vec<Row>, Row, bool) {
    let latest_fault = |t: &Transaction| {
        faults
            .iter()
            .rev()
            .find(|f| f.at <= t.began_at)
            .map(|f| f.kind)
    };
    let row =
        |fault: Option<FaultKind>, injected: usize, v: &TransactionVerdict, longest_recovery| Row {
            scenario: TRANSACTIONAL,
            fault,
            injected,
            verdict: Verdict {
                sent: v.sent,
                acknowledged: v.committed,
                lost: v.lost,
                duplicated: v.duplicated,
                out_of_order: v.out_of_order,
                ..Verdict::default()
            },
            aborted_seen: Some(v.aborted_seen),
            torn: Some(v.torn),
            longest_recovery,
            recovery_measured: true,
        };
    let recovery = |at: Duration| {
        log.transactions
            .iter()
            .find(|t| t.began_at >= at && t.fate == Fate::Committed)
            .map(|t| t.settled_at.saturating_sub(at))
    };
    let mut rows = Vec::new();
    for kind in row_kinds(faults) {
        let of_kind: Vec<&Injected> = faults.iter().filter(|f| Some(f.kind) == kind).collect();
        let verdict = transactions::judge(log, found, &|t| latest_fault(t) == kind);
        let of_this_kind = if kind.is_some() {
            longest(of_kind.iter().map(|f| recovery(f.at)))
        } else {
            Some(Duration::ZERO)
        };
        rows.push(row(kind, of_kind.len(), &verdict, of_this_kind));
    }
    let verdict = transactions::judge(log, found, &|_| true);
    let overall = longest(faults.iter().map(|f| recovery(f.at)));
    (
        rows,
        row(None, faults.len(), &verdict, overall),
        verdict.holds(),
    )
}

/// The row of the consume-transform-produce loop end to end, over the
/// whole run (input records are not attributed to faults), and whether its
/// contract held.
pub fn flow_row(v: &FlowVerdict, faults: usize) -> (Row, bool) {
    let row = Row {
        scenario: FLOW,
        fault: None,
        injected: faults,
        verdict: Verdict {
            sent: v.consumed,
            acknowledged: v.consumed,
            lost: v.lost,
            duplicated: v.duplicated,
            out_of_order: v.out_of_order,
            misplaced: v.mismatched,
            ..Verdict::default()
        },
        aborted_seen: None,
        torn: None,
        longest_recovery: None,
        recovery_measured: false,
    };
    (row, v.holds())
}

/// The row of a group scenario, over the whole run (deliveries are not
/// attributed to faults), and whether its contract held.
pub fn group_row(
    protocol: Protocol,
    log: &GroupLog,
    found: &[Found],
    faults: usize,
) -> (Row, bool) {
    let v = groups::judge(log, found);
    let row = Row {
        scenario: protocol.label(),
        fault: None,
        injected: faults,
        verdict: Verdict {
            sent: log.consumed.len() as u64,
            acknowledged: v.covered,
            lost: v.skipped,
            duplicated: v.duplicated,
            ..Verdict::default()
        },
        aborted_seen: None,
        torn: None,
        longest_recovery: None,
        recovery_measured: false,
    };
    (row, v.skipped == 0)
}

/// The rows of a scenario's table: records sent before any fault, then
/// each kind of fault injected, in the report's order.
fn row_kinds(faults: &[Injected]) -> Vec<Option<FaultKind>> {
    std::iter::once(None)
        .chain(
            FaultKind::ALL
                .iter()
                .copied()
                .filter(|k| faults.iter().any(|f| f.kind == *k))
                .map(Some),
        )
        .collect()
}

/// The longest of some recoveries; `None` if one never happened.
fn longest(mut recoveries: impl Iterator<Item = Option<Duration>>) -> Option<Duration> {
    recoveries.try_fold(Duration::ZERO, |longest, r| r.map(|r| longest.max(r)))
}

/// The transactional scenario's name.
pub const TRANSACTIONAL: &str = "transactional consume-transform-produce (read_committed)";
/// The consume-transform-produce loop judged end to end.
pub const FLOW: &str = "consume-transform-produce end to end (input → output, group offsets)";

/// From `at` until every partition acknowledged a record sent at or after
/// it; `None` if some partition never did.
fn recovery(log: &ProducerLog, at: Duration) -> Option<Duration> {
    let mut first_ack: BTreeMap<i32, Option<Duration>> = BTreeMap::new();
    for record in &log.sent {
        let slot = first_ack.entry(record.partition).or_insert(None);
        if record.sent_at >= at && record.outcome.is_ok() {
            *slot = Some(slot.map_or(record.settled_at, |s: Duration| s.min(record.settled_at)));
        }
    }
    first_ack.values().try_fold(Duration::ZERO, |longest, ack| {
        ack.map(|a| longest.max(a.saturating_sub(at)))
    })
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never".to_string(),
        |d| format!("{:.1} s", d.as_secs_f64()),
    )
}

fn table(out: &mut String, rows: &[Row], first: &str, label: impl Fn(&Row) -> String) {
    let _ = writeln!(
        out,
        "| scenario | {first} | faults | sent | acknowledged | lost | duplicated | out of order | misplaced | aborted seen | torn transactions | failed but written | longest recovery |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for row in rows {
        let v = &row.verdict;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            label(row),
            row.injected,
            v.sent,
            v.acknowledged,
            v.lost,
            v.duplicated,
            v.out_of_order,
            v.misplaced,
            row.aborted_seen
                .map_or_else(|| "–".to_string(), |a| a.to_string()),
            row.torn.map_or_else(|| "–".to_string(), |a| a.to_string()),
            v.failed_but_present,
            if row.recovery_measured {
                seconds(row.longest_recovery)
            } else {
                "–".to_string()
            },
        );
    }
}

/// The verdict table printed at the end of every run.
pub fn verdict_table(campaign: &Campaign) -> String {
    let mut out = String::new();
    table(
        &mut out,
        &campaign
            .totals
            .iter()
            .map(|(r, _)| r.clone())
            .collect::<Vec<_>>(),
        "verdict",
        |row| {
            let holds = campaign
                .totals
                .iter()
                .find(|(r, _)| r.scenario == row.scenario)
                .is_some_and(|(_, h)| *h);
            if holds {
                "holds".to_string()
            } else {
                "**VIOLATED**".to_string()
            }
        },
    );
    out
}

/// The report as Markdown.
pub fn render(campaign: &Campaign) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Reliability\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask chaos` (do not edit by hand; run it again). A 3-node Apache Kafka \
         (KRaft) cluster started by the harness, topics with replication factor 3 and \
         `min.insync.replicas=2`; the workloads below ran at once while a seeded schedule of faults \
         ran for {} s (at least {} s, and until every kind of fault had been injected {} times); \
         afterwards every topic was read back from the beginning by an independent client (the \
         Java consumer of the same Kafka release, `xtask/chaos-java/ChaosReader.java`) and every \
         record's fate was checked against what the writer was told.\n",
        campaign.ran_seconds, campaign.seconds, campaign.min_each
    );
    let _ = writeln!(
        out,
        "Run it again: `cargo xtask chaos --seconds {} --min-each {} --seed {}`.\n",
        campaign.seconds, campaign.min_each, campaign.seed
    );
    let _ = writeln!(out, "## Verdict\n");
    out.push_str(&verdict_table(campaign));
    let _ = writeln!(out, "\n## Per scenario and fault kind\n");
    let _ = writeln!(
        out,
        "Each record is counted under the latest fault injected before it was sent (\"none\": sent \
         before the first fault). Recovery is the time from a fault to the scenario's first \
         acknowledgement, on every partition, of a record sent after it; the longest over the \
         faults of the kind.\n"
    );
    table(&mut out, &campaign.rows, "fault", |row| {
        row.fault.map_or_else(
            || {
                if row.recovery_measured {
                    "none".to_string()
                } else {
                    "all (not attributed)".to_string()
                }
            },
            |k| k.label().to_string(),
        )
    });
    let _ = writeln!(out, "\n## Columns\n");
    let _ = writeln!(
        out,
        "- lost: acknowledged, not found by the reader; never allowed.\n\
         - duplicated: copies found beyond the first; never allowed for the idempotent producer, \
         counted for the producer without idempotence (a retried batch the broker had written).\n\
         - out of order: found after a later record of the same partition; never allowed for the \
         idempotent producer.\n\
         - misplaced: acknowledged at a partition and offset where the reader found something else.\n\
         - aborted seen: records of aborted transactions returned by a read_committed read; \
         never allowed.\n\
         - torn transactions: transactions read_committed showed in part; never allowed.\n\
         - for the consumer-group scenarios (members of one group read the idempotent \
         producer's topic, commit after each poll, and one is killed, dropped without leaving, \
         and replaced every 15 s; besides, one member of each group runs as a process of its \
         own, which the SIGKILL of client processes kills and replaces, and which \
         reports each poll's records before committing them): sent counts deliveries to members, acknowledged the records \
         below the group's final committed offsets, lost the records below a committed offset \
         that no member was handed (a skip; never allowed), duplicated the deliveries beyond \
         the first (allowed, at-least-once). Their deliveries are not attributed to faults; \
         recovery is not measured for them.\n\
         - for the transactional scenario (a read_committed consumer in a group reads the \
         idempotent producer's topic, up to 100 records a poll, and writes each record, its value \
         prefixed, to the same partition of an output topic in one transaction with the \
         consumed offsets): sent and acknowledged count the output records of all and of \
         committed transactions; one transaction in 4 is aborted on purpose, and one in 25 is \
         abandoned by a producer dropped mid-transaction (a crashed client) and taken over by a \
         new producer with the same transactional id, which must abort it: it counts as aborted; \
         after an abort the consumer goes back to the group's committed offsets; a transaction \
         whose outcome the writer could not know (its producer failed fatally and was replaced) \
         must be shown whole or not at all. The producer's request timeout is 3 s, and one \
         commit in 20 has its EndTxn held 8 s by the proxy, so the client times it out and \
         retries it, and the held one reaches the coordinator while the next transaction (aborted \
         on purpose) is open: a late COMMIT marker that ended it would show aborted records.\n\
         - for the end-to-end row, the input as the independent reader found it, the output read \
         read_committed and the group's committed offsets (read by the Java consumer): sent and \
         acknowledged count the input records below the committed offsets, lost those not in the \
         output, duplicated those in it more than once (processed twice), out of order those \
         written after a later record of their partition, misplaced the output records above the \
         committed offsets (output committed, offsets not) or that are not the transform of \
         their input; none allowed.\n\
         - for the transactional producer process (a process of its own, SIGKILLed with a \
         group member process and replaced by a new process with the same transactional id; \
         each transaction stays open 2 s with its records acknowledged before its commit): \
         sent and acknowledged count the records of all and of committed transactions; a \
         transaction the process had not asked to commit when it was killed (or that it \
         aborted) must not be visible (aborted seen), one cut off mid-commit must be whole or \
         absent (torn), a committed one whole and once (lost, duplicated); misplaced counts \
         records of no transaction the processes wrote down.\n\
         - failed but written: the writer was told the record failed (or timed out), yet it was \
         written; allowed (the outcome was unknown), reported.\n"
    );
    if !campaign.notes.is_empty() {
        let _ = writeln!(out, "## The workloads' own faults\n");
        for note in &campaign.notes {
            let _ = writeln!(out, "- {note}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Faults injected\n");
    let mut counts: BTreeMap<FaultKind, usize> = BTreeMap::new();
    for fault in &campaign.faults {
        *counts.entry(fault.kind).or_default() += 1;
    }
    for (kind, count) in &counts {
        let _ = writeln!(out, "- {}: {count}", kind.label());
    }
    let _ = writeln!(out, "\n<details><summary>Every fault, in order</summary>\n");
    let _ = writeln!(
        out,
        "| at | fault | target | healed after | whole again after |"
    );
    let _ = writeln!(out, "|---:|---|---|---:|---:|");
    for f in &campaign.faults {
        let _ = writeln!(
            out,
            "| {:.1} s | {} | {} | {:.1} s | {:.1} s |",
            f.at.as_secs_f64(),
            f.kind.label(),
            f.target,
            f.healed_at.saturating_sub(f.at).as_secs_f64(),
            f.whole_at.saturating_sub(f.at).as_secs_f64()
        );
    }
    let _ = writeln!(out, "\n</details>\n");
    let _ = writeln!(out, "## Seed, versions, machine\n");
    let _ = writeln!(out, "- seed: {}", campaign.seed);
    for (what, version) in &campaign.versions {
        let _ = writeln!(out, "- {what}: {version}");
    }
    for (what, value) in crate::bench::report::machine() {
        if what != "broker" {
            let _ = writeln!(out, "- {what}: {value}");
        }
    }
    out
}
