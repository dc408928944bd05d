//! `ferrokafka produce`: one record per line of standard input, with an
//! optional key separator, headers, a fixed partition, a codec and any
//! producer setting; a summary on standard error, and a failing exit code
//! if any record was not delivered. SIGINT or SIGTERM stops reading and
//! delivers what was read; a second one exits at once (130 after Ctrl-C),
//! saying how many records read were not delivered.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Args;
use ferrokafka::producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use tokio::io::AsyncBufReadExt as _;

use crate::connection_args::ConnectionArgs;
use crate::stop::Stop;

/// Options of `ferrokafka produce`.
#[derive(Args, Debug)]
pub(crate) struct ProduceArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The topic.
    #[arg(short = 't', long)]
    topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(short = 'K', value_name = "SEP")]
    key_separator: Option<String>,
    /// Add a header to every record (repeatable).
    #[arg(short = 'H', value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Send every record to this partition.
    #[arg(short = 'p', long)]
    partition: Option<i32>,
    /// `compression_type`: none, gzip, snappy, lz4 or zstd.
    #[arg(short = 'z', long)]
    compression: Option<String>,
    /// `acks`: 0, 1 or all.
    #[arg(long)]
    acks: Option<String>,
}

/// Runs the command.
pub(crate) fn run(args: &ProduceArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferrokafka produce: {e}");
            return ExitCode::FAILURE;
        }
    };
    let progress = Arc::new(Progress::default());
    let result = runtime.block_on(async {
        let seen = Arc::clone(&progress);
        let stop = Stop::install(
            "ferrokafka produce",
            Arc::new(move || Some(seen.undelivered())),
        )?;
        produce(args, &stop, &progress).await
    });
    // A read of an interactive stdin cannot be cancelled: the runtime must
    // not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(summary) => {
            eprintln!(
                "produced {} records ({} bytes) to {} in {:.2}s, {} failed",
                summary.delivered, summary.bytes, args.topic, summary.seconds, summary.failed
            );
            if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ferrokafka produce: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long delivering what was read may take before the command says it
/// is still at it.
const SLOW_DELIVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts shared with the signal listener, so a second Ctrl-C can say
/// what it leaves undelivered.
#[derive(Default)]
struct Progress {
    read: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    fn undelivered(&self) -> String {
        let read = self.read.load(Ordering::Relaxed);
        let delivered = self.delivered.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let unknown = read.saturating_sub(delivered + failed);
        format!(
            "{delivered} of {read} records read were delivered; {failed} failed and \
             {unknown} may not have been delivered"
        )
    }
}

struct Summary {
    delivered: u64,
    failed: u64,
    bytes: u64,
    seconds: f64,
}

fn config(args: &ProduceArgs) -> anyhow::Result<ProducerConfig> {
    let mut pairs = vec![("client_id".to_string(), "ferrokafka-cli".to_string())];
    if let Some(codec) = &args.compression {
        pairs.push(("compression_type".into(), codec.clone()));
    }
    if let Some(acks) = &args.acks {
        pairs.push(("acks".into(), acks.clone()));
    }
    // Connection settings and -X last: an explicit -X wins.
    pairs.extend(args.connection.pairs()?);
    Ok(ProducerConfig::from_pairs(pairs)?)
}

async fn produce(
    args: &ProduceArgs,
    stop: &Stop,
    progress: &Arc<Progress>,
) -> anyhow::Result<Summary> {
    let headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("-H takes NAME=VALUE, not {h:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let config = config(args)?;
    let producer = tokio::select! {
        producer = Producer::new(config) => producer?,
        () = stop.wait() => anyhow::bail!("stopped before connecting; nothing was read"),
    };
    let started = Instant::now();
    // Deliveries are awaited in order by a second task, so reading stdin
    // never waits for the broker and memory stays bounded by the channel.
    let (deliveries, mut pending) = tokio::sync::mpsc::channel::<DeliveryFuture>(100_000);
    let settled = Arc::clone(progress);
    let settle = tokio::spawn(async move {
        let (mut delivered, mut failed) = (0u64, 0u64);
        while let Some(delivery) = pending.recv().await {
            match delivery.await {
                Ok(_) => {
                    delivered += 1;
                    settled.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if failed == 0 {
                        eprintln!("ferrokafka produce: {e}");
                    }
                    failed += 1;
                    settled.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        (delivered, failed)
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut bytes = 0u64;
    let mut refused = 0u64;
    loop {
        // Reading a line is cancel-safe: a stop loses no line half-read
        // into a record, it only ends the reading.
        let line = tokio::select! {
            biased;
            () = stop.wait() => break,
            line = lines.next_line() => line?,
        };
        let Some(line) = line else {
            break;
        };
        progress.read.fetch_add(1, Ordering::Relaxed);
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None => (None, line.clone()),
            },
            None => (None, line.clone()),
        };
        bytes += (key.as_ref().map_or(0, String::len) + value.len()) as u64;
        let mut record = ProducerRecord::new(&args.topic).value(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        for (name, value) in &headers {
            record = record.header(name.clone(), value.clone());
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        match producer.send(record).await {
            Ok(delivery) => deliveries.send(delivery).await?,
            Err(e) => {
                if refused == 0 {
                    eprintln!("ferrokafka produce: {e}");
                }
                refused += 1;
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    drop(deliveries);
    let flushed = producer.flush();
    tokio::pin!(flushed);
    if tokio::time::timeout(SLOW_DELIVERY, &mut flushed)
        .await
        .is_err()
    {
        // Someone waiting at a terminal learns why nothing happens, and
        // how to give up.
        eprintln!(
            "ferrokafka produce: still delivering ({}); Ctrl-C twice gives up",
            progress.undelivered()
        );
        flushed.await;
    }
    let (delivered, failed) = settle.await?;
    producer.close(std::time::Duration::from_secs(30)).await?;
    Ok(Summary {
        delivered,
        failed: failed + refused,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use std::sync::atomic::Ordering;

    #[test]
    fn says_how_many_records_read_may_be_lost() {
        let progress = Progress::default();
        progress.read.store(10, Ordering::Relaxed);
        progress.delivered.store(6, Ordering::Relaxed);
        progress.failed.store(1, Ordering::Relaxed);
        assert_eq!(
            progress.undelivered(),
            "6 of 10 records read were delivered; 1 failed and 3 may not have been delivered"
        );
    }
}
