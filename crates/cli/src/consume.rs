//! `ferrokafka consume`: records of one or more topics to standard output,
//! as values, `key<SEP>value` lines, or JSON objects; in a group (`-g`) or
//! from explicit partitions and offsets; until a count, the end of the
//! partitions (`-e`), or SIGINT/SIGTERM, after which it prints what it
//! already received, commits it (in a group), leaves the group and exits 0.
//! A second signal exits at once (130 after Ctrl-C).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use clap::Args;
use ferrokafka::consumer::{Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};

use crate::connection_args::ConnectionArgs;
use crate::stop::Stop;

/// Options of `ferrokafka consume`.
#[derive(Args, Debug)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Topics to read (repeatable).
    #[arg(short = 't', long = "topic", required = true)]
    topics: Vec<String>,
    /// Join this consumer group (subscribe); without it, read partitions directly.
    #[arg(short = 'g', short_alias = 'G', long = "group")]
    group: Option<String>,
    /// Only these partitions (repeatable; without a group).
    #[arg(short = 'p', long = "partition")]
    partitions: Vec<i32>,
    /// Where to start without a committed offset: beginning, end, an
    /// offset, or -N for the last N records of each partition.
    #[arg(short = 'o', long, default_value = "end", allow_hyphen_values = true)]
    offset: String,
    /// Stop after this many records.
    #[arg(short = 'c', long)]
    count: Option<u64>,
    /// Stop at the end of the partitions (as they were at start; without -g).
    #[arg(short = 'e', long)]
    exit_at_end: bool,
    /// Print `key<SEP>value` instead of the value alone.
    #[arg(short = 'K', value_name = "SEP")]
    key_separator: Option<String>,
    /// One JSON object per record (topic, partition, offset, timestamp,
    /// key, value, headers; bytes as UTF-8 or base64).
    #[arg(long)]
    json: bool,
    /// `json` is the same as --json; `text` (the default) prints values.
    #[arg(long, value_name = "json|text")]
    format: Option<String>,
}

/// Runs the command.
pub(crate) fn run(args: &ConsumeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferrokafka consume: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let stop = Stop::install("ferrokafka consume", std::sync::Arc::new(|| None))?;
        consume(args, &stop).await
    });
    // Nothing the runtime still runs matters now; its blocking threads
    // need not be waited for.
    runtime.shutdown_background();
    match result {
        Ok(count) => {
            eprintln!("consumed {count} records");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrokafka consume: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `work`, unless a stop is asked for first (`None` then). For the waits
/// before any record is printed, which can be abandoned safely.
async fn unless_stopped<T>(
    stop: &Stop,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Option<T>> {
    tokio::select! {
        result = work => result.map(Some),
        () = stop.wait() => Ok(None),
    }
}

fn config(args: &ConsumeArgs) -> anyhow::Result<ConsumerConfig> {
    let reset = match args.offset.as_str() {
        "beginning" | "earliest" => "earliest",
        _ => "latest",
    };
    let mut pairs = vec![
        ("client_id".to_string(), "ferrokafka-cli".to_string()),
        ("auto_offset_reset".to_string(), reset.to_string()),
    ];
    if let Some(group) = &args.group {
        pairs.push(("group_id".into(), group.clone()));
    }
    pairs.extend(args.connection.pairs()?);
    Ok(ConsumerConfig::from_pairs(pairs)?)
}

async fn consume(args: &ConsumeArgs, stop: &Stop) -> anyhow::Result<u64> {
    if let Some(format) = &args.format {
        anyhow::ensure!(
            format == "json" || format == "text",
            "--format takes json or text, not {format:?}"
        );
    }
    let config = config(args)?;
    let commits = args.group.is_some() && config.auto_commit();
    let Some(consumer) = unless_stopped(stop, async { Ok(Consumer::new(config).await?) }).await?
    else {
        return Ok(0);
    };
    let Some(ends) = unless_stopped(stop, start(args, &consumer)).await? else {
        consumer.close(CLOSE_TIMEOUT).await?;
        return Ok(0);
    };
    let printed = print_records(args, &consumer, &ends, stop).await?;
    if commits && !consumer.assignment().is_empty() {
        // Explicitly, so a failure is reported: close commits too, but
        // only logs what goes wrong.
        consumer.commit().await.map_err(|e| {
            anyhow::anyhow!("{printed} records printed, but committing failed: {e}")
        })?;
    }
    // Leaves the group (LeaveGroup): the others rebalance at once instead
    // of after this member's session timeout.
    consumer.close(CLOSE_TIMEOUT).await?;
    Ok(printed)
}

/// How long closing (commit, LeaveGroup, ending fetch sessions) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Subscribes, or assigns the partitions and seeks as `-o` says; returns
/// the end offsets `-e` stops at.
async fn start(
    args: &ConsumeArgs,
    consumer: &Consumer,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut assigned = Vec::new();
    if let Some(_group) = &args.group {
        anyhow::ensure!(
            args.partitions.is_empty(),
            "-p picks partitions directly; it cannot be combined with -g"
        );
        anyhow::ensure!(
            !args.exit_at_end,
            "-e needs the partitions known up front; use -c with -g"
        );
        let topics: Vec<&str> = args.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).await?;
    } else {
        for topic in &args.topics {
            let view = consumer.client().topic(topic).await?;
            for partition in &view.partitions {
                if args.partitions.is_empty() || args.partitions.contains(&partition.index) {
                    assigned.push(TopicPartition::new(topic.clone(), partition.index));
                }
            }
        }
        consumer.assign(&assigned).await?;
        match args.offset.as_str() {
            "beginning" | "earliest" => consumer.seek_to_beginning(&assigned).await?,
            "end" | "latest" => consumer.seek_to_end(&assigned).await?,
            offset => {
                let offset: i64 = offset.parse().map_err(|_| {
                    anyhow::anyhow!("-o takes beginning, end or an offset, not {offset:?}")
                })?;
                for tp in &assigned {
                    consumer.seek(tp, offset).await?;
                }
            }
        }
    }
    Ok(if args.exit_at_end && !assigned.is_empty() {
        consumer.end_offsets(&assigned).await?
    } else {
        BTreeMap::new()
    })
}

/// Prints records until the count, the end (`-e`) or a stop. A poll is
/// never abandoned half-way: the records it hands out have moved the
/// position (and so what is committed), so each is printed before the
/// stop is looked at.
async fn print_records(
    args: &ConsumeArgs,
    consumer: &Consumer,
    ends: &BTreeMap<TopicPartition, i64>,
    stop: &Stop,
) -> anyhow::Result<u64> {
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    loop {
        if stop.requested() || args.count.is_some_and(|c| printed >= c) {
            break;
        }
        if args.exit_at_end && at_end(consumer, ends).await? {
            break;
        }
        // Ask for no more than still wanted, so the position (and the
        // offset committed on close) stays right after the last printed.
        let wanted = args.count.map_or(usize::MAX, |c| {
            usize::try_from(c - printed).unwrap_or(usize::MAX)
        });
        let records = consumer
            .poll_records(Duration::from_millis(500), wanted.min(500))
            .await?;
        let mut out = stdout.lock();
        for record in records {
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            writeln!(out, "{}", render(args, &record))?;
            printed += 1;
        }
        out.flush()?;
    }
    Ok(printed)
}

async fn at_end(consumer: &Consumer, ends: &BTreeMap<TopicPartition, i64>) -> anyhow::Result<bool> {
    for (tp, end) in ends {
        if consumer.position(tp).await? < *end {
            return Ok(false);
        }
    }
    Ok(true)
}

fn text(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
}

fn json_bytes(bytes: Option<&[u8]>) -> serde_json::Value {
    match bytes {
        None => serde_json::Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => serde_json::json!({ "utf8": s }),
            Err(_) => {
                serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) })
            }
        },
    }
}

fn render(args: &ConsumeArgs, record: &ConsumerRecord) -> String {
    if args.json || args.format.as_deref() == Some("json") {
        return record_json(record).to_string();
    }
    record_text(record, args.key_separator.as_deref())
}

/// A record as one JSON object: topic, partition, offset, timestamp, key,
/// value, headers (bytes as UTF-8 or base64).
pub(crate) fn record_json(record: &ConsumerRecord) -> serde_json::Value {
    let headers: Vec<serde_json::Value> = record
        .headers
        .iter()
        .map(|h| {
            serde_json::json!([
                String::from_utf8_lossy(&h.key),
                json_bytes(h.value.as_deref())
            ])
        })
        .collect();
    serde_json::json!({
        "topic": &*record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": json_bytes(record.key.as_deref()),
        "value": json_bytes(record.value.as_deref()),
        "headers": headers,
    })
}

/// A record as text: its value, or `key<SEP>value` with a separator.
pub(crate) fn record_text(record: &ConsumerRecord, key_separator: Option<&str>) -> String {
    match key_separator {
        Some(sep) => format!(
            "{}{sep}{}",
            text(record.key.as_deref()),
            text(record.value.as_deref())
        ),
        None => text(record.value.as_deref()),
    }
}
