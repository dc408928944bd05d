//! Shared code of the peer-client benchmark programs: command line, payloads,
//! latency percentiles, the watchdog and the one-line JSON result.
//!
//! Every binary takes
//!
//! ```text
//! <bin> produce --bootstrap HOST:PORT --topic T --records N --record-size S \
//!       --acks 1|all --linger-ms L --compression none|gzip|snappy|lz4|zstd [--json-ints] \
//!       [--rate R] [--tasks N] [--max-request-size BYTES]
//! <bin> consume --bootstrap HOST:PORT --topic T --records N --group G --mode batch|iter \
//!       [--consumers N]
//! ```
//!
//! `--tasks` senders share one producer and `--consumers` members of one
//! group read `--records` between them (`cargo xtask bench scale`); a client
//! that cannot do either says so and exits 3.
//!
//! plus `--timeout-s SECS` (default 300) on both, and prints exactly one JSON
//! line on stdout. Everything else goes to stderr.

use std::time::{Duration, Instant};

/// Most distinct payloads records cycle through (the whole pool at 100 B).
pub const MAX_POOL_VALUES: usize = 1024;
/// Fewest distinct payloads, whatever the record size.
pub const MIN_POOL_VALUES: usize = 8;
/// Bytes the pool may hold before it stops growing: far more than one
/// batch (`BATCH_SIZE`), so no batch carries a value twice and compression
/// gains only what the letters themselves allow, yet small enough that
/// the bench program's own memory does not swamp a client's peak RSS at
/// large records (1,024 values of 1 MiB would be 1 GiB).
pub const POOL_BYTES: usize = 8 << 20;
/// Seed of the payload generator.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// Producer batch size for every client (the Java default).
pub const BATCH_SIZE: usize = 16384;
/// Default hard timeout of a run.
pub const DEFAULT_TIMEOUT_S: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    One,
    All,
}

impl Acks {
    /// The value of the `acks` configuration property.
    pub fn as_config(self) -> &'static str {
        match self {
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The value of the `compression.type` configuration property.
    pub fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Batch,
    Iter,
}

#[derive(Debug, Clone)]
pub struct ProduceArgs {
    pub bootstrap: String,
    pub topic: String,
    pub records: u64,
    pub record_size: usize,
    pub acks: Acks,
    pub linger_ms: u64,
    pub compression: Compression,
    pub json_ints: bool,
    /// Records per second, 0 for as fast as the client goes.
    pub rate: u64,
    /// Threads or tasks sending through the one producer.
    pub tasks: u64,
    /// The producer's largest request, when records need more than the
    /// client's default.
    pub max_request_size: Option<u64>,
    pub timeout_s: u64,
}

#[derive(Debug, Clone)]
pub struct ConsumeArgs {
    pub bootstrap: String,
    pub topic: String,
    pub records: u64,
    pub group: String,
    pub mode: Mode,
    /// Members of the group reading at once.
    pub consumers: u64,
    pub timeout_s: u64,
}

#[derive(Debug, Clone)]
pub enum Command {
    Produce(ProduceArgs),
    Consume(ConsumeArgs),
}

const USAGE: &str = "usage:
  <bin> produce --bootstrap HOST:PORT --topic T --records N --record-size S --acks 1|all \
--linger-ms L --compression none|gzip|snappy|lz4|zstd [--json-ints] [--rate R] [--tasks N] \
[--max-request-size BYTES] [--timeout-s SECS]
  <bin> consume --bootstrap HOST:PORT --topic T --records N --group G --mode batch|iter \
[--consumers N] [--timeout-s SECS]";

fn usage_exit(msg: &str) -> ! {
    eprintln!("error: {msg}\n{USAGE}");
    std::process::exit(2);
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> T {
    v.parse()
        .unwrap_or_else(|_| usage_exit(&format!("{flag}: not a number: {v:?}")))
}

/// Parse the process arguments; on a bad command line print usage and exit 2.
pub fn parse_args() -> Command {
    parse_from(std::env::args().skip(1).collect())
}

/// Parse `args` (without the program name).
pub fn parse_from(args: Vec<String>) -> Command {
    let mut it = args.into_iter();
    let sub = it
        .next()
        .unwrap_or_else(|| usage_exit("missing subcommand"));
    let produce = match sub.as_str() {
        "produce" => true,
        "consume" => false,
        "-h" | "--help" => {
            eprintln!("{USAGE}");
            std::process::exit(0);
        }
        other => usage_exit(&format!("unknown subcommand {other:?}")),
    };

    let mut bootstrap = None;
    let mut topic = None;
    let mut records = None;
    let mut record_size = None;
    let mut acks = None;
    let mut linger_ms = None;
    let mut compression = None;
    let mut json_ints = false;
    let mut group = None;
    let mut mode = None;
    let mut timeout_s = DEFAULT_TIMEOUT_S;
    let mut rate = 0u64;
    let mut tasks = 1u64;
    let mut consumers = 1u64;
    let mut max_request_size = None;

    while let Some(flag) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        if flag == "--json-ints" {
            json_ints = true;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| usage_exit(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--bootstrap" => bootstrap = Some(value()),
            "--topic" => topic = Some(value()),
            "--records" => records = Some(parse_num::<u64>(&flag, &value())),
            "--record-size" => record_size = Some(parse_num::<usize>(&flag, &value())),
            "--acks" => {
                acks = Some(match value().as_str() {
                    "1" => Acks::One,
                    "all" | "-1" => Acks::All,
                    v => usage_exit(&format!("--acks: expected 1 or all, got {v:?}")),
                })
            }
            "--linger-ms" => linger_ms = Some(parse_num::<u64>(&flag, &value())),
            "--compression" => {
                compression = Some(match value().as_str() {
                    "none" => Compression::None,
                    "gzip" => Compression::Gzip,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    v => usage_exit(&format!("--compression: unknown codec {v:?}")),
                })
            }
            "--group" => group = Some(value()),
            "--mode" => {
                mode = Some(match value().as_str() {
                    "batch" => Mode::Batch,
                    "iter" => Mode::Iter,
                    v => usage_exit(&format!("--mode: expected batch or iter, got {v:?}")),
                })
            }
            "--timeout-s" => timeout_s = parse_num::<u64>(&flag, &value()),
            "--rate" => rate = parse_num::<u64>(&flag, &value()),
            "--tasks" => tasks = parse_num::<u64>(&flag, &value()).max(1),
            "--consumers" => consumers = parse_num::<u64>(&flag, &value()).max(1),
            "--max-request-size" => max_request_size = Some(parse_num::<u64>(&flag, &value())),
            other => usage_exit(&format!("unknown flag {other:?}")),
        }
    }

    fn req<T>(v: Option<T>, flag: &str) -> T {
        v.unwrap_or_else(|| usage_exit(&format!("missing {flag}")))
    }
    let bootstrap = req(bootstrap, "--bootstrap");
    let topic = req(topic, "--topic");
    let records = req(records, "--records");
    if produce {
        let json_ints_given = json_ints;
        Command::Produce(ProduceArgs {
            bootstrap,
            topic,
            records,
            // Ignored with --json-ints, so not required then.
            record_size: if json_ints_given {
                record_size.unwrap_or(0)
            } else {
                req(record_size, "--record-size")
            },
            acks: req(acks, "--acks"),
            linger_ms: req(linger_ms, "--linger-ms"),
            compression: req(compression, "--compression"),
            json_ints,
            rate,
            tasks,
            max_request_size,
            timeout_s,
        })
    } else {
        Command::Consume(ConsumeArgs {
            bootstrap,
            topic,
            records,
            group: req(group, "--group"),
            mode: req(mode, "--mode"),
            consumers,
            timeout_s,
        })
    }
}

/// The benchmark's xorshift64 generator.
pub struct XorShift64(u64);

impl XorShift64 {
    pub fn new(seed: u64) -> Self {
        XorShift64(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// How many distinct payloads of `size` bytes the pool holds: as many as
/// fit in [`POOL_BYTES`], between [`MIN_POOL_VALUES`] and
/// [`MAX_POOL_VALUES`] (every client computes the same).
pub fn pool_len(size: usize) -> usize {
    (POOL_BYTES / size.max(1)).clamp(MIN_POOL_VALUES, MAX_POOL_VALUES)
}

/// The pool of [`pool_len`] payloads of `size` uppercase ASCII letters;
/// record `i` carries `pool[i % pool.len()]`.
pub fn payload_pool(size: usize) -> Vec<Vec<u8>> {
    let mut rng = XorShift64::new(SEED);
    (0..pool_len(size))
        .map(|_| (0..size).map(|_| b'A' + (rng.next() % 26) as u8).collect())
        .collect()
}

/// Record values of a produce run: the payload pool, or with `--json-ints`
/// the JSON text of each record's index.
pub enum Values {
    Pool(Vec<Vec<u8>>),
    JsonInts,
}

impl Values {
    pub fn new(args: &ProduceArgs) -> Self {
        if args.json_ints {
            Values::JsonInts
        } else {
            Values::Pool(payload_pool(args.record_size))
        }
    }

    /// Value of record `i`, borrowed from the pool or formatted into `buf`.
    #[inline]
    pub fn get<'a>(&'a self, i: u64, buf: &'a mut Vec<u8>) -> &'a [u8] {
        match self {
            Values::Pool(pool) => &pool[(i % pool.len() as u64) as usize],
            Values::JsonInts => {
                buf.clear();
                use std::io::Write;
                let _ = write!(buf, "{i}");
                buf.as_slice()
            }
        }
    }

    /// Value of record `i` as an owned vector.
    #[inline]
    pub fn get_owned(&self, i: u64) -> Vec<u8> {
        match self {
            Values::Pool(pool) => pool[(i % pool.len() as u64) as usize].clone(),
            Values::JsonInts => i.to_string().into_bytes(),
        }
    }

    /// Value of record `i` as a static slice (the pool is leaked once by
    /// [`Values::leak`]) or an owned JSON text; for clients that take
    /// `impl Into<Bytes>` and can reference static data without copying.
    pub fn leak(self) -> StaticValues {
        match self {
            Values::Pool(pool) => StaticValues::Pool(
                pool.into_iter()
                    .map(|v| &*Box::leak(v.into_boxed_slice()))
                    .collect(),
            ),
            Values::JsonInts => StaticValues::JsonInts,
        }
    }
}

pub enum StaticValues {
    Pool(Vec<&'static [u8]>),
    JsonInts,
}

pub enum StaticOrOwned {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl StaticValues {
    #[inline]
    pub fn get(&self, i: u64) -> StaticOrOwned {
        match self {
            StaticValues::Pool(pool) => {
                StaticOrOwned::Static(pool[(i % pool.len() as u64) as usize])
            }
            StaticValues::JsonInts => StaticOrOwned::Owned(i.to_string().into_bytes()),
        }
    }
}

/// With `--rate R` (> 0): the instant record `i` (its index among all the
/// run's records) is due, checked on every 10th record `n` a sender sends,
/// as ferrokafka's own bench paces. Several senders share the one rate this
/// way, whatever `R` and their number (a per-sender share `R / tasks` would
/// round down, to 0 when `R` < tasks). `None` when no wait is needed.
#[inline]
pub fn pace_due(started: Instant, n: u64, i: u64, rate: u64) -> Option<Instant> {
    if rate == 0 || n % 10 != 0 {
        return None;
    }
    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
    (due > Instant::now()).then_some(due)
}

/// The tokio runtime every async client of the benchmark runs on, ferrokafka's
/// `bench` included (`crates/cli/src/bench.rs` builds the same): one worker
/// thread. A client's work is I/O and a little CPU per record; on a machine
/// whose cores the broker shares, more workers cost each client CPU in
/// wake-ups and lock hand-offs between them, and none of the clients needs a
/// second one to keep up with one broker.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start the tokio runtime: {e}")))
}

/// Start the hard timeout: after `secs` print an error and exit 2, whatever
/// the benchmark is doing.
pub fn start_watchdog(secs: u64) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            eprintln!("error: timed out after {secs} s");
            std::process::exit(2);
        })
        .expect("spawn watchdog thread");
}

/// For a client with one sender and one group member: exits 3, saying
/// so, when the command asks for more.
pub fn require_one_sender_and_member(command: &Command) {
    let (what, n) = match command {
        Command::Produce(a) => ("--tasks", a.tasks),
        Command::Consume(a) => ("--consumers", a.consumers),
    };
    if n > 1 {
        eprintln!("error: this client's benchmark program runs one of {what}, not {n}");
        std::process::exit(3);
    }
}

/// Print a delivery failure and exit 1.
pub fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}

/// Microseconds in `d`, saturating.
#[inline]
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Percentile `p` (0.0..=1.0) of `values` microseconds, in milliseconds:
/// the element at index `round((n - 1) * p)` once sorted, as ferrokafka's
/// own bench and the kafka-python peer compute it. Selected in place (the
/// order of `values` changes), as ferrokafka's bench does: a sort of a
/// million latencies would cost the run a few percent of its CPU.
pub fn percentile_ms(values: &mut [u64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let idx = ((values.len() - 1) as f64 * p).round() as usize;
    let (_, nth, _) = values.select_nth_unstable(idx);
    Some(*nth as f64 / 1000.0)
}

/// Outcome of one run.
pub struct Report {
    pub client: String,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Per-record delivery latencies in microseconds (produce only).
    pub latencies_us: Option<Vec<u64>>,
}

impl Report {
    /// Print the single JSON result line on stdout and a human summary on
    /// stderr.
    pub fn print(self) {
        let (p50, p99) = match self.latencies_us {
            Some(mut l) => (percentile_ms(&mut l, 0.50), percentile_ms(&mut l, 0.99)),
            None => (None, None),
        };
        let secs = self.elapsed.as_secs_f64();
        eprintln!(
            "{}: {} records, {} bytes in {:.3} s = {:.0} records/s, {:.2} MB/s",
            self.client,
            self.records,
            self.bytes,
            secs,
            self.records as f64 / secs.max(1e-9),
            self.bytes as f64 / 1e6 / secs.max(1e-9)
        );
        let line = serde_json::json!({
            "client": self.client,
            "records": self.records,
            "bytes": self.bytes,
            "elapsed_s": secs,
            "latency_p50_ms": p50,
            "latency_p99_ms": p99,
        });
        println!("{line}");
    }
}

/// A stopwatch started right before the first send/poll.
pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_uppercase_and_sized() {
        let pool = payload_pool(100);
        assert_eq!(pool.len(), MAX_POOL_VALUES);
        assert!(
            pool.iter()
                .all(|p| p.len() == 100 && p.iter().all(u8::is_ascii_uppercase))
        );
        assert_ne!(pool[0], pool[1]);
    }

    #[test]
    fn pool_shrinks_with_the_record_size_but_stays_varied() {
        assert_eq!(pool_len(100), 1024);
        assert_eq!(pool_len(10 * 1024), 819);
        assert_eq!(pool_len(1 << 20), MIN_POOL_VALUES);
        assert_eq!(pool_len(0), MAX_POOL_VALUES);
        let pool = payload_pool(1 << 20);
        assert_eq!(pool.iter().map(Vec::len).sum::<usize>(), 8 << 20);
        let mut distinct = pool.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), pool.len());
    }

    #[test]
    fn senders_sharing_a_rate_below_their_number_are_paced() {
        let started = Instant::now();
        // 4 senders at 2 records/s: record 9 (sender 1's 3rd, n = 2, not
        // checked) and record 41 (sender 1's 11th, n = 10) is due at 20.5 s.
        assert_eq!(pace_due(started, 2, 9, 2), None);
        let due = pace_due(started, 10, 41, 2).expect("a wait");
        assert_eq!(due - started, Duration::from_millis(20_500));
    }

    #[test]
    fn percentiles() {
        // Out of order, as delivery reports come.
        let mut v: Vec<u64> = (0..=100).rev().map(|x| (x * 37 % 101) * 1000).collect();
        assert_eq!(percentile_ms(&mut v, 0.50), Some(50.0));
        assert_eq!(percentile_ms(&mut v, 0.99), Some(99.0));
        assert_eq!(percentile_ms(&mut v, 0.0), Some(0.0));
        assert_eq!(percentile_ms(&mut [], 0.5), None);
    }

    #[test]
    fn json_ints() {
        let mut buf = Vec::new();
        assert_eq!(Values::JsonInts.get(17, &mut buf), b"17");
    }
}
