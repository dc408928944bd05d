//! `ferrokafka share-consume`: records of topics read as a member of a
//! share group (KIP-932), printed as `consume` prints them (JSON gains
//! `delivery_count`) and acknowledged as `--ack` says: accept (the
//! default), release (they come back, to this or another member) or
//! reject. Stops after a count, after `--idle-exit-ms` without a record, or
//! at SIGINT/SIGTERM, after which it acknowledges what it printed, releases
//! what it did not, leaves the group and exits 0; a second signal exits at
//! once.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use ferrokafka::consumer::{AcknowledgeType, ShareConsumer, ShareConsumerConfig, ShareRecord};

use crate::connection_args::ConnectionArgs;
use crate::consume::{record_json, record_text};
use crate::stop::Stop;

/// Options of `ferrokafka share-consume`.
#[derive(Args, Debug)]
pub(crate) struct ShareConsumeArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Topics to read (repeatable).
    #[arg(short = 't', long = "topic", required = true)]
    topics: Vec<String>,
    /// The share group to join.
    #[arg(short = 'G', short_alias = 'g', long = "group", required = true)]
    group: String,
    /// Stop after this many records.
    #[arg(short = 'c', long)]
    count: Option<u64>,
    /// How to acknowledge the records printed: accept, release or reject.
    #[arg(long, default_value = "accept", value_name = "accept|release|reject")]
    ack: String,
    /// Stop after this long without a record.
    #[arg(long, value_name = "MS")]
    idle_exit_ms: Option<u64>,
    /// Print `key<SEP>value` instead of the value alone.
    #[arg(short = 'K', value_name = "SEP")]
    key_separator: Option<String>,
    /// One JSON object per record (as `consume --json`, with `delivery_count`).
    #[arg(long)]
    json: bool,
    /// `json` is the same as --json; `text` (the default) prints values.
    #[arg(long, value_name = "json|text")]
    format: Option<String>,
}

/// How long closing (acknowledging, closing share sessions, leaving) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the command.
pub(crate) fn run(args: &ShareConsumeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferrokafka share-consume: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let stop = Stop::install("ferrokafka share-consume", std::sync::Arc::new(|| None))?;
        share_consume(args, &stop).await
    });
    runtime.shutdown_background();
    match result {
        Ok(count) => {
            eprintln!("consumed {count} records");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrokafka share-consume: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn ack_type(ack: &str) -> anyhow::Result<AcknowledgeType> {
    match ack {
        "accept" => Ok(AcknowledgeType::Accept),
        "release" => Ok(AcknowledgeType::Release),
        "reject" => Ok(AcknowledgeType::Reject),
        other => anyhow::bail!("--ack takes accept, release or reject, not {other:?}"),
    }
}

fn config(args: &ShareConsumeArgs) -> anyhow::Result<ShareConsumerConfig> {
    let mut pairs = vec![
        ("client_id".to_string(), "ferrokafka-cli".to_string()),
        ("group_id".to_string(), args.group.clone()),
        // Each record is acknowledged as --ack says, and those past the
        // count are released.
        (
            "share_acknowledgement_mode".to_string(),
            "explicit".to_string(),
        ),
    ];
    if let Some(count) = args.count {
        // Acquire no more than will be printed: records acquired and then
        // released come back with their delivery count raised.
        pairs.push(("max_poll_records".into(), count.clamp(1, 500).to_string()));
        pairs.push(("share_acquire_mode".into(), "record_limit".into()));
    }
    pairs.extend(args.connection.pairs()?);
    Ok(ShareConsumerConfig::from_pairs(pairs)?)
}

async fn share_consume(args: &ShareConsumeArgs, stop: &Stop) -> anyhow::Result<u64> {
    let json = args.json || args.format.as_deref() == Some("json");
    if let Some(format) = &args.format {
        anyhow::ensure!(
            format == "json" || format == "text",
            "--format takes json or text, not {format:?}"
        );
    }
    let kind = ack_type(&args.ack)?;
    let config = config(args)?;
    let consumer = tokio::select! {
        consumer = ShareConsumer::new(config) => consumer?,
        () = stop.wait() => return Ok(0),
    };
    let topics: Vec<&str> = args.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).await?;
    let printed = print_records(args, json, kind, &consumer, stop).await;
    let committed = consumer.commit_sync(CLOSE_TIMEOUT).await;
    consumer.close(CLOSE_TIMEOUT).await?;
    let printed = printed?;
    let failed: Vec<String> = committed?
        .iter()
        .filter_map(|(tp, result)| result.as_ref().err().map(|e| format!("{tp}: {e}")))
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "{printed} records printed, but acknowledging failed for {}",
        failed.join(", ")
    );
    Ok(printed)
}

/// Prints records until the count, the idle limit or a stop; a poll's
/// records are all printed (or, past the count, released) before the stop
/// is looked at.
async fn print_records(
    args: &ShareConsumeArgs,
    json: bool,
    kind: AcknowledgeType,
    consumer: &ShareConsumer,
    stop: &Stop,
) -> anyhow::Result<u64> {
    let idle = args.idle_exit_ms.map(Duration::from_millis);
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    let stdout = std::io::stdout();
    loop {
        if stop.requested() || args.count.is_some_and(|c| printed >= c) {
            return Ok(printed);
        }
        if idle.is_some_and(|idle| last_record.elapsed() >= idle) {
            return Ok(printed);
        }
        let wait = idle.map_or(Duration::from_millis(500), |idle| {
            idle.saturating_sub(last_record.elapsed())
                .min(Duration::from_millis(500))
        });
        let records = consumer.poll(wait).await?;
        if records.is_empty() {
            continue;
        }
        last_record = Instant::now();
        let mut out = stdout.lock();
        for record in records {
            if args.count.is_some_and(|c| printed >= c) {
                consumer.acknowledge(&record, AcknowledgeType::Release)?;
                continue;
            }
            writeln!(out, "{}", render(args, json, &record))?;
            consumer.acknowledge(&record, kind)?;
            printed += 1;
        }
        out.flush()?;
    }
}

fn render(args: &ShareConsumeArgs, json: bool, record: &ShareRecord) -> String {
    if json {
        let mut object = record_json(record);
        object["delivery_count"] = serde_json::json!(record.delivery_count);
        return object.to_string();
    }
    record_text(record, args.key_separator.as_deref())
}
