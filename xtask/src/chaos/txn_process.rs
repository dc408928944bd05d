//! A transactional producer that runs as a process of its own, SIGKILLed
//! (mid-transaction, as its transactions fill its time) alongside a group
//! member process and replaced by a new process with the same
//! transactional id, whose `init_transactions` must abort what the killed
//! one left open. Before each step it appends a line to its file (`begin`
//! before the first send, `written` once every record is acknowledged,
//! `committing` before the commit, then `committed` or `aborted`), so the
//! checker knows how far each transaction got: one that never reached
//! `committing` must never be visible to read_committed,
//! one `committed` must be whole, once, and one cut off mid-commit must be
//! whole or absent.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::time::Duration;

use anyhow::Context;
use ferrokafka_producer::transaction::{TransactionError, TransactionState};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};

use super::checker::{Found, Verdict};
use super::processes::{exit_when_orphaned, kill_tied, spawn_tied};
use super::report::Row;
use super::workload::base_settings;

/// Records in each transaction.
const RECORDS: u64 = 10;
/// How long a transaction stays open once its records are in the log
/// (acknowledged), before the commit is asked for: most kills land there,
/// the case whose records the takeover must abort; some land mid-commit.
const DWELL: Duration = Duration::from_secs(2);
/// How long one transaction call may wait before it is called again.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last process may take to fence its predecessor at the end.
const FENCE_TIMEOUT: Duration = Duration::from_secs(120);

/// The scenario's name in the report.
pub const LABEL: &str =
    "transactional producer process, SIGKILLed mid-transaction and replaced (read_committed)";

/// Options of the hidden `cargo xtask chaos-txn-producer`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProducerArgs {
    /// The cluster.
    #[arg(long)]
    pub bootstrap: String,
    /// The topic written.
    #[arg(long)]
    pub topic: String,
    /// Its partitions.
    #[arg(long)]
    pub partitions: i32,
    /// The transactional id, the same for every process.
    #[arg(long)]
    pub transactional_id: String,
    /// A name unique to this process, in its records' values.
    #[arg(long)]
    pub name: String,
    /// The file each transaction's progress is appended to.
    #[arg(long)]
    pub out: PathBuf,
    /// Only take the transactional id over (aborting what a killed
    /// predecessor left open), then exit.
    #[arg(long)]
    pub fence_only: bool,
}

/// The child's side: transactions until killed or orphaned.
pub fn run_producer(args: &ProducerArgs) -> anyhow::Result<()> {
    // The last takeover runs bounded, with no pipe to watch.
    if !args.fence_only {
        exit_when_orphaned();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(transactions(args))
}

/// A producer that took the transactional id over, asked again after each
/// failure (the cluster may be mid-fault) until it works; the takeover at
/// the end is bounded by its caller, the others by the campaign's kill.
async fn new_producer(args: &ProducerArgs) -> anyhow::Result<Producer> {
    loop {
        match try_new_producer(args).await {
            Ok(producer) => return Ok(producer),
            Err(e) => {
                eprintln!("chaos-txn-producer {}: {e:#}; trying again", args.name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn try_new_producer(args: &ProducerArgs) -> anyhow::Result<Producer> {
    let mut settings = base_settings(&args.bootstrap);
    settings.push(("transactional_id".into(), args.transactional_id.clone()));
    settings.push(("transaction_timeout_ms".into(), "60000".into()));
    let producer = Producer::new(ProducerConfig::from_pairs(settings)?).await?;
    // Under a fault the takeover may time out: it is simply asked again.
    let mut attempts = 0;
    loop {
        match producer.init_transactions(CALL_TIMEOUT).await {
            Ok(()) => return Ok(producer),
            Err(TransactionError::Timeout { .. }) if attempts < 6 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

async fn transactions(args: &ProducerArgs) -> anyhow::Result<()> {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("opening {}", args.out.display()))?;
    let mut producer = new_producer(args).await?;
    if args.fence_only {
        return Ok(());
    }
    // From here errors are the faults': the process keeps at it until the
    // campaign kills it.
    let mut note = |what: &str, tag: &str| writeln!(out, "{what} {tag}");
    for number in 0u64.. {
        let tag = format!("{}.{number}", args.name);
        note("begin", &tag)?;
        let mut failed = producer.begin_transaction().is_err();
        let mut deliveries = Vec::new();
        for index in 0..RECORDS {
            if failed {
                break;
            }
            let record = ProducerRecord::new(args.topic.as_str())
                .partition((index % args.partitions.max(1) as u64) as i32)
                .value(format!("ptxn:{tag}:{index}"));
            match producer.send(record).await {
                Ok(delivery) => deliveries.push(delivery),
                Err(_) => failed = true,
            }
        }
        for delivery in deliveries {
            failed |= delivery.await.is_err();
        }
        if !failed {
            note("written", &tag)?;
            // Not a synchronisation: the time a kill finds the
            // transaction open with its records in the log.
            tokio::time::sleep(DWELL).await;
        }
        if !failed {
            note("committing", &tag)?;
            match producer.commit_transaction(CALL_TIMEOUT).await {
                Ok(()) => {
                    note("committed", &tag)?;
                    continue;
                }
                Err(_) if producer.transaction_state() == Some(TransactionState::FatalError) => {}
                Err(TransactionError::Timeout { .. }) => {}
                Err(_) => {
                    if producer.abort_transaction(CALL_TIMEOUT).await.is_ok() {
                        note("aborted", &tag)?;
                        continue;
                    }
                }
            }
        } else if producer.abort_transaction(CALL_TIMEOUT).await.is_ok() {
            note("aborted", &tag)?;
            continue;
        }
        // The outcome is left to the next producer's takeover; its line
        // stays `begin` or `committing`, which the checker judges as such.
        let _ = producer.close(Duration::from_secs(5)).await;
        producer = new_producer(args).await?;
    }
    Ok(())
}

/// The campaign's side: the running process and those before it.
pub struct TxnProcess {
    exe: PathBuf,
    dir: PathBuf,
    bootstrap: String,
    topic: String,
    partitions: i32,
    transactional_id: String,
    running: Option<(Child, ChildStdin)>,
    started: u64,
    /// Processes SIGKILLed.
    pub killed: u64,
}

impl TxnProcess {
    /// Starts the first process.
    pub fn start(
        dir: &Path,
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        transactional_id: &str,
    ) -> anyhow::Result<TxnProcess> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut process = TxnProcess {
            exe: super::processes::this_binary()?,
            dir: dir.to_path_buf(),
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            partitions,
            transactional_id: transactional_id.to_string(),
            running: None,
            started: 0,
            killed: 0,
        };
        process.restart()?;
        Ok(process)
    }

    fn command_args(&self, n: u64) -> Vec<String> {
        vec![
            "chaos-txn-producer".into(),
            "--bootstrap".into(),
            self.bootstrap.clone(),
            "--topic".into(),
            self.topic.clone(),
            "--partitions".into(),
            self.partitions.to_string(),
            "--transactional-id".into(),
            self.transactional_id.clone(),
            "--name".into(),
            format!("p{n}"),
            "--out".into(),
            self.file(n).display().to_string(),
        ]
    }

    fn file(&self, n: u64) -> PathBuf {
        self.dir.join(format!("txn-{n}.log"))
    }

    /// SIGKILLs the running process; returns its pid, and how it had ended
    /// if it was no longer running.
    pub fn kill(&mut self) -> anyhow::Result<(u32, Option<String>)> {
        let (child, stdin) = self
            .running
            .take()
            .context("no transactional producer process runs")?;
        let (pid, ended_before) = kill_tied(child, stdin)?;
        if ended_before.is_none() {
            self.killed += 1;
        }
        Ok((pid, ended_before))
    }

    /// Starts a new process with the same transactional id.
    pub fn restart(&mut self) -> anyhow::Result<u32> {
        let (child, stdin) = spawn_tied(&self.exe, &self.command_args(self.started))?;
        let pid = child.id();
        self.running = Some((child, stdin));
        self.started += 1;
        Ok(pid)
    }

    /// Kills the running process and has a last one take the transactional
    /// id over, so what the killed one left open is aborted before the
    /// topic is read back (not left to the transaction timeout).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.running.is_some() {
            self.kill()?;
        }
        let mut args = self.command_args(self.started);
        args.push("--fence-only".into());
        self.started += 1;
        let finished = crate::child::run_bounded(
            std::process::Command::new(&self.exe).args(&args),
            FENCE_TIMEOUT,
        )?;
        anyhow::ensure!(
            finished.output.status.success(),
            "the last transactional producer process failed to take over: {}",
            String::from_utf8_lossy(&finished.output.stderr)
        );
        Ok(())
    }

    /// Each transaction's last step, by its tag, from every process's file.
    fn steps(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut steps = BTreeMap::new();
        for n in 0..self.started {
            let path = self.file(n);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                let (step, tag) = line
                    .trim_end()
                    .split_once(' ')
                    .with_context(|| format!("a malformed line in {}: {line:?}", path.display()))?;
                steps.insert(tag.to_string(), step.to_string());
            }
        }
        Ok(steps)
    }

    /// The scenario's row, whether its contract held, and a note.
    pub fn judge(&self, found: &[Found], faults: usize) -> anyhow::Result<(Row, bool, String)> {
        let steps = self.steps()?;
        let mut shown: HashMap<&str, BTreeMap<u64, u64>> = HashMap::new();
        let mut strays = 0;
        for record in found {
            let parsed = record
                .value
                .strip_prefix("ptxn:")
                .and_then(|v| v.rsplit_once(':'))
                .and_then(|(tag, i)| Some((tag, i.parse::<u64>().ok()?)));
            match parsed {
                Some((tag, index)) if steps.contains_key(tag) => {
                    *shown.entry(tag).or_default().entry(index).or_default() += 1;
                }
                _ => strays += 1,
            }
        }
        let mut verdict = Verdict {
            misplaced: strays,
            ..Verdict::default()
        };
        let (mut aborted_seen, mut torn) = (0, 0);
        let (mut open, mut written_open, mut committing_at_kill) = (0, 0, 0);
        for (tag, step) in &steps {
            let copies = shown.get(tag.as_str());
            let distinct = copies.map_or(0, |c| c.len() as u64);
            let total: u64 = copies.map_or(0, |c| c.values().sum());
            verdict.sent += RECORDS;
            verdict.duplicated += total - distinct;
            match step.as_str() {
                "committed" => {
                    verdict.acknowledged += RECORDS;
                    verdict.lost += RECORDS.saturating_sub(distinct);
                }
                "committing" => {
                    committing_at_kill += 1;
                    if distinct != 0 && distinct != RECORDS {
                        torn += 1;
                    }
                }
                "begin" | "written" | "aborted" => {
                    match step.as_str() {
                        "begin" => open += 1,
                        "written" => written_open += 1,
                        _ => {}
                    }
                    aborted_seen += total;
                }
                other => anyhow::bail!("an unknown step {other:?} of transaction {tag}"),
            }
        }
        let holds = verdict.lost == 0
            && verdict.duplicated == 0
            && verdict.misplaced == 0
            && aborted_seen == 0
            && torn == 0;
        let note = format!(
            "{LABEL}: {} processes SIGKILLed and replaced (the last one killed at the end and \
             its transaction aborted by a final takeover); {} transactions, {} committed; \
             {written_open} left open with their records in the log and {open} before they \
             were (by a killed process or a failed producer; none may be visible), \
             {committing_at_kill} cut off mid-commit (whole or absent)",
            self.killed,
            steps.len(),
            steps.values().filter(|s| *s == "committed").count(),
        );
        let row = Row {
            scenario: LABEL,
            fault: None,
            injected: faults,
            verdict,
            aborted_seen: Some(aborted_seen),
            torn: Some(torn),
            longest_recovery: None,
            recovery_measured: false,
        };
        Ok((row, holds, note))
    }
}

impl Drop for TxnProcess {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.running.take() {
            let _ = child.kill();
            let _ = child.wait();
            drop(stdin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RECORDS, TxnProcess};
    use crate::chaos::checker::Found;

    fn records(tag: &str, indices: std::ops::Range<u64>) -> Vec<Found> {
        indices
            .map(|i| Found {
                partition: 0,
                offset: 0,
                value: format!("ptxn:{tag}:{i}"),
            })
            .collect()
    }

    #[test]
    fn each_transaction_is_judged_by_how_far_it_got() {
        let dir = std::env::temp_dir().join(format!("chaos-txn-judge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // p0 was killed mid-transaction (p0.2) and its last line cut;
        // p1 was killed mid-commit (p1.1).
        std::fs::write(
            dir.join("txn-0.log"),
            "begin p0.0\nwritten p0.0\ncommitting p0.0\ncommitted p0.0\nbegin p0.1\naborted p0.1\n\
             begin p0.2\nwritten p0.2\ncommit",
        )
        .unwrap();
        std::fs::write(
            dir.join("txn-1.log"),
            "begin p1.0\ncommitting p1.0\ncommitted p1.0\nbegin p1.1\ncommitting p1.1\n",
        )
        .unwrap();
        let process = TxnProcess {
            exe: "unused".into(),
            dir: dir.clone(),
            bootstrap: String::new(),
            topic: String::new(),
            partitions: 1,
            transactional_id: String::new(),
            running: None,
            started: 2,
            killed: 2,
        };
        let whole = |found: Vec<Found>| process.judge(&found, 1).unwrap();

        let mut good = records("p0.0", 0..RECORDS);
        good.extend(records("p1.0", 0..RECORDS));
        good.extend(records("p1.1", 0..RECORDS));
        let (row, holds, _) = whole(good.clone());
        assert!(holds, "{row:?}");
        assert_eq!(row.verdict.sent, 5 * RECORDS);
        assert_eq!(row.verdict.acknowledged, 2 * RECORDS);

        let mut open_seen = good.clone();
        open_seen.extend(records("p0.2", 0..3));
        let (row, holds, _) = whole(open_seen);
        assert!(!holds);
        assert_eq!(row.aborted_seen, Some(3));

        let mut torn: Vec<Found> = good.clone();
        torn.retain(|f| !f.value.starts_with("ptxn:p1.1:") || f.value.ends_with(":0"));
        let (row, holds, _) = whole(torn);
        assert!(!holds);
        assert_eq!(row.torn, Some(1));

        let mut lost = good;
        lost.retain(|f| f.value != "ptxn:p0.0:4");
        let (row, holds, _) = whole(lost);
        assert!(!holds);
        assert_eq!(row.verdict.lost, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
