//! `cargo xtask golden records`: log segments written through a real broker
//! by the Java client, kafka-python and librdkafka, one per writer and codec
//! plus a transactional one per writer, each beside a manifest of exactly
//! what the writer sent. See `fixtures/records/README.md` for the format.
//!
//! Every writer sends the same records (the plan, [`planned_records`]): keys
//! (one null, one empty, one not UTF-8), values (a tombstone, an empty one,
//! binary ones, one of a few KB), zero to three headers (one with a null
//! value, a repeated key), explicit timestamps (one earlier than its batch's
//! first, so a timestamp delta is negative), in groups that each end with a
//! flush, so the segment holds more than one batch, or in the transactional
//! case with a commit or an abort, so it holds both kinds of control batch.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::broker::{self, StartOptions, jars};

use super::java::{self, JavaPrograms};

/// How long one writer may take to create its topic and send its records.
const WRITER_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the broker may take to put a transaction's last marker in the
/// segment after the writer's commit or abort returned (markers are written
/// after the coordinator answers).
const MARKER_TIMEOUT: Duration = Duration::from_secs(30);
/// The first timestamp of the plan: 2023-11-14, in the past, as the broker's
/// `message.timestamp.after.max.ms` rejects timestamps far in the future.
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// Options of `cargo xtask golden records`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Writers to run (repeat the option); all of them when not given.
    #[arg(long = "writer", value_enum)]
    pub writers: Vec<Writer>,
    /// Apache Kafka release of the broker and of the Java client.
    #[arg(long, default_value = jars::DEFAULT_KAFKA_VERSION)]
    pub kafka_version: String,
    /// Where the fixtures go (default: `fixtures/records` in the workspace).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A client that writes fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Writer {
    /// The Java client (`KafkaProducer` of kafka-clients).
    Java,
    /// kafka-python, from the interop venv.
    KafkaPython,
    /// librdkafka, through confluent-kafka (which bundles it) in the interop venv.
    Librdkafka,
}

impl Writer {
    /// Every writer.
    pub const ALL: [Writer; 3] = [Writer::Java, Writer::KafkaPython, Writer::Librdkafka];

    /// The writer's folder name under `fixtures/records/`.
    pub fn name(self) -> &'static str {
        match self {
            Writer::Java => "java",
            Writer::KafkaPython => "kafka-python",
            Writer::Librdkafka => "librdkafka",
        }
    }
}

/// A record-batch compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy (Xerial framing for the Java client).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// Every codec.
    pub const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// The name every client's `compression.type` takes.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    /// The id in the low three bits of a batch's attributes.
    pub fn id(self) -> u8 {
        self as u8
    }

    fn from_id(id: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// One fixture of a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The plan in two flushed groups, with this codec.
    Plain(Codec),
    /// The plan in three transactions (commit, abort, commit), uncompressed.
    Transactional,
    /// The plan as for [`Case::Plain`] with lz4, to a topic whose
    /// `message.timestamp.type` is `LogAppendTime`: the broker stamps each
    /// batch with its append time.
    LogAppendTime,
}

impl Case {
    /// Every case of one writer.
    pub fn all() -> Vec<Case> {
        let mut cases: Vec<Case> = Codec::ALL.into_iter().map(Case::Plain).collect();
        cases.push(Case::Transactional);
        cases.push(Case::LogAppendTime);
        cases
    }

    /// The fixture's file stem.
    pub fn name(self) -> &'static str {
        match self {
            Case::Plain(codec) => codec.name(),
            Case::Transactional => "transactional",
            Case::LogAppendTime => "log-append-time",
        }
    }

    fn codec(self) -> Codec {
        match self {
            Case::Plain(codec) => codec,
            Case::Transactional => Codec::None,
            Case::LogAppendTime => Codec::Lz4,
        }
    }

    /// How the plan's records are split, and how each group ends.
    fn groups(self) -> Vec<Group> {
        match self {
            Case::Plain(_) | Case::LogAppendTime => vec![
                Group {
                    records: 5,
                    end: GroupEnd::Flush,
                },
                Group {
                    records: 3,
                    end: GroupEnd::Flush,
                },
            ],
            Case::Transactional => vec![
                Group {
                    records: 3,
                    end: GroupEnd::Commit,
                },
                Group {
                    records: 3,
                    end: GroupEnd::Abort,
                },
                Group {
                    records: 2,
                    end: GroupEnd::Commit,
                },
            ],
        }
    }
}

/// Consecutive records of the plan, sent together.
#[derive(Debug, Clone, Copy)]
struct Group {
    records: usize,
    end: GroupEnd,
}

/// What a writer does after sending a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupEnd {
    /// Flush: the group's records go out as one batch.
    Flush,
    /// Commit the group's transaction.
    Commit,
    /// Abort the group's transaction (after flushing its records).
    Abort,
}

impl GroupEnd {
    fn name(self) -> &'static str {
        match self {
            GroupEnd::Flush => "flush",
            GroupEnd::Commit => "commit",
            GroupEnd::Abort => "abort",
        }
    }
}

/// A record every writer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRecord {
    /// CreateTime, milliseconds since the epoch.
    pub timestamp: i64,
    /// `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Header keys (UTF-8, as every client takes them) and values.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// The records every writer sends, in order.
pub fn planned_records() -> Vec<PlannedRecord> {
    fn header(key: &str, value: Option<&[u8]>) -> (String, Option<Vec<u8>>) {
        (key.to_string(), value.map(<[u8]>::to_vec))
    }
    let bytes = |text: &str| Some(text.as_bytes().to_vec());
    // A few KB that compress, so each codec has something to do.
    let mut large = String::new();
    for line in 0..120 {
        let _ = writeln!(large, "line {line:03} of a value a few kilobytes long");
    }
    vec![
        PlannedRecord {
            timestamp: BASE_TIMESTAMP,
            key: bytes("key-0"),
            // Repetitive, so the first batch compresses: kafka-python and
            // librdkafka send a batch uncompressed when the codec saves nothing.
            value: Some(b"hello, golden fixtures! ".repeat(8)),
            headers: vec![],
        },
        PlannedRecord {
            timestamp: BASE_TIMESTAMP + 1,
            key: None,
            value: bytes("a value without a key"),
            headers: vec![header("trace-id", Some(b"4bf92f3577b34da6"))],
        },
        PlannedRecord {
            timestamp: BASE_TIMESTAMP + 2,
            key: bytes("user-42"),
            value: None,
            headers: vec![header("reason", Some(b"deleted"))],
        },
        PlannedRecord {
            timestamp: BASE_TIMESTAMP + 3,
            key: Some(vec![0x00, 0xff, 0x80, 0x7f, 0xc3]),
            value: Some(vec![
                0xde, 0xad, 0xbe, 0xef, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xff, 0xfe,
            ]),
            headers: vec![
                header("binary", Some(&[0xff, 0x00, 0xfe])),
                header("empty", Some(b"")),
            ],
        },
        PlannedRecord {
            timestamp: BASE_TIMESTAMP + 4,
            key: bytes(""),
            value: bytes(""),
            headers: vec![
                header("a", Some(b"1")),
                header("null-value", None),
                header("a", Some(b"2")),
            ],
        },
        PlannedRecord {
            timestamp: BASE_TIMESTAMP + 1_000,
            key: bytes("large"),
            value: Some(large.into_bytes()),
            headers: vec![header("content-type", Some(b"text/plain"))],
        },
        PlannedRecord {
            // Earlier than the batch's first timestamp: a negative delta.
            timestamp: BASE_TIMESTAMP - 5_000,
            key: bytes("late"),
            value: bytes("an out-of-order timestamp"),
            headers: vec![header("ünï-cødé", Some("✓ ü".as_bytes()))],
        },
        PlannedRecord {
            timestamp: BASE_TIMESTAMP + 2_000,
            key: bytes("last"),
            value: bytes("the end"),
            headers: vec![],
        },
    ]
}

/// The records one writer sends.
#[derive(Debug, Clone)]
pub struct WriterPlan {
    /// The records, in order.
    pub records: Vec<PlannedRecord>,
    /// What differs from [`planned_records`], and why.
    pub notes: Vec<String>,
}

/// The plan as `writer` can send it, with notes on what it changed.
pub fn plan_for(writer: Writer) -> WriterPlan {
    let mut records = planned_records();
    let mut notes = Vec::new();
    if writer == Writer::KafkaPython {
        // kafka-python's send() takes header values as bytes only, though its
        // encoder writes null ones.
        for record in &mut records {
            record.headers.retain(|(_, value)| value.is_some());
        }
        notes.push("kafka-python's send() refuses null header values: headers with a null value are left out".to_string());
    }
    WriterPlan { records, notes }
}

/// Base64 of `bytes`, or JSON null.
fn base64_or_null(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| Value::String(BASE64.encode(b)))
}

fn record_json(record: &PlannedRecord) -> serde_json::Map<String, Value> {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|(key, value)| json!({"key": key, "value": base64_or_null(value.as_deref())}))
        .collect();
    let mut object = serde_json::Map::new();
    object.insert("timestamp".into(), json!(record.timestamp));
    object.insert("key".into(), base64_or_null(record.key.as_deref()));
    object.insert("value".into(), base64_or_null(record.value.as_deref()));
    object.insert("headers".into(), Value::Array(headers));
    object
}

/// The plan a writer reads: the records and the groups they are sent in.
fn plan_json(records: &[PlannedRecord], case: Case) -> Value {
    let groups: Vec<Value> = case
        .groups()
        .iter()
        .map(|g| json!({"records": g.records, "end": g.end.name()}))
        .collect();
    json!({
        "records": records.iter().map(|r| Value::Object(record_json(r))).collect::<Vec<_>>(),
        "groups": groups,
    })
}

/// What a writer prints: who it is and the acknowledged offsets, in plan order.
#[derive(Debug, Deserialize)]
struct WriterReport {
    client: String,
    client_version: String,
    offsets: Vec<i64>,
    /// The timestamps of the acknowledgements: the log-append time for a
    /// `LogAppendTime` topic.
    timestamps: Vec<i64>,
}

/// One batch of a segment, from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// First offset.
    pub base_offset: i64,
    /// Last offset (base offset plus last offset delta).
    pub last_offset: i64,
    /// Record format: 2 for record batches.
    pub magic: i8,
    /// Compression id (attributes bits 0..2).
    pub compression: u8,
    /// The batch's max timestamp.
    pub max_timestamp: i64,
    /// Attributes bit 3: the broker's append time, not the producer's.
    pub log_append_time: bool,
    /// Attributes bit 4.
    pub transactional: bool,
    /// Attributes bit 5.
    pub control: bool,
}

/// The batches of a segment, read from their headers only (the xtask checks
/// the layout before it commits a fixture; decoding is the test's job).
/// Returns the batches and the number of bytes of a trailing partial batch.
pub fn scan_batches(segment: &[u8]) -> anyhow::Result<(Vec<BatchSummary>, usize)> {
    const LOG_OVERHEAD: usize = 12;
    const V2_HEADER: usize = 61;
    let mut batches = Vec::new();
    let mut position = 0;
    while segment.len() - position >= LOG_OVERHEAD {
        let at = &segment[position..];
        let base_offset = i64::from_be_bytes(at[0..8].try_into()?);
        let length = i32::from_be_bytes(at[8..12].try_into()?);
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l >= 5)
            .with_context(|| format!("batch at byte {position} has length {length}"))?;
        if at.len() < LOG_OVERHEAD + length {
            break;
        }
        let magic = at[16] as i8;
        ensure!(
            magic == 2 && LOG_OVERHEAD + length >= V2_HEADER,
            "batch at byte {position} (offset {base_offset}) has magic {magic}; the writers produce record batches v2"
        );
        let attributes = u16::from_be_bytes(at[21..23].try_into()?);
        let last_offset_delta = i32::from_be_bytes(at[23..27].try_into()?);
        let max_timestamp = i64::from_be_bytes(at[35..43].try_into()?);
        batches.push(BatchSummary {
            base_offset,
            last_offset: base_offset + i64::from(last_offset_delta),
            magic,
            compression: (attributes & 0x07) as u8,
            max_timestamp,
            log_append_time: attributes & 0x08 != 0,
            transactional: attributes & 0x10 != 0,
            control: attributes & 0x20 != 0,
        });
        position += LOG_OVERHEAD + length;
    }
    Ok((batches, segment.len() - position))
}

/// The fixture's expectations, from the plan and the writer's offsets.
struct Expected {
    /// Per planned record: its offset and, when transactional, "committed"
    /// or "aborted".
    records: Vec<(i64, Option<&'static str>)>,
    /// Transaction markers: offset and "commit" or "abort".
    markers: Vec<(i64, &'static str)>,
    /// The offset after the last batch.
    end_offset: i64,
}

fn expected_layout(case: Case, offsets: &[i64]) -> anyhow::Result<Expected> {
    let mut records = Vec::new();
    let mut markers = Vec::new();
    let mut next_offset = 0;
    let mut index = 0;
    for group in case.groups() {
        let outcome = match group.end {
            GroupEnd::Flush => None,
            GroupEnd::Commit => Some("committed"),
            GroupEnd::Abort => Some("aborted"),
        };
        for _ in 0..group.records {
            let offset = *offsets
                .get(index)
                .with_context(|| format!("the writer reported no offset for record {index}"))?;
            // One producer, one partition, nothing else writing: the records
            // take consecutive offsets, and each marker the one after its
            // transaction's last record.
            ensure!(
                offset == next_offset,
                "record {index} was written at offset {offset}, expected {next_offset}: offsets {offsets:?}"
            );
            records.push((offset, outcome));
            next_offset += 1;
            index += 1;
        }
        if group.end != GroupEnd::Flush {
            let marker = if group.end == GroupEnd::Commit {
                "commit"
            } else {
                "abort"
            };
            markers.push((next_offset, marker));
            next_offset += 1;
        }
    }
    ensure!(
        index == offsets.len(),
        "the writer reported {} offsets for {index} records",
        offsets.len()
    );
    Ok(Expected {
        records,
        markers,
        end_offset: next_offset,
    })
}

/// Reads the partition's segment once it holds every offset up to
/// `end_offset` (records are in it when acknowledged; transaction markers
/// follow the writer's commit or abort shortly).
fn read_segment_when_complete(
    path: &Path,
    end_offset: i64,
) -> anyhow::Result<(Vec<u8>, Vec<BatchSummary>)> {
    let deadline = Instant::now() + MARKER_TIMEOUT;
    loop {
        let bytes = std::fs::read(path).with_context(|| {
            let partitions: Vec<String> = path
                .parent()
                .and_then(Path::parent)
                .and_then(|dir| std::fs::read_dir(dir).ok())
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "reading segment {} (the data folder holds {partitions:?})",
                path.display()
            )
        })?;
        let (batches, partial) = scan_batches(&bytes)?;
        let written_to = batches.last().map_or(0, |b| b.last_offset + 1);
        if written_to >= end_offset && partial == 0 {
            return Ok((bytes, batches));
        }
        if Instant::now() >= deadline {
            bail!(
                "{} holds offsets up to {written_to} (and {partial} bytes of a partial batch) after {}s; expected up to {end_offset}",
                path.display(),
                MARKER_TIMEOUT.as_secs()
            );
        }
        // The broker gives no signal outside its protocol when it appends a
        // marker: look again shortly.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that the segment's batches are what the case should produce.
fn check_layout(case: Case, expected: &Expected, batches: &[BatchSummary]) -> anyhow::Result<()> {
    let data: Vec<&BatchSummary> = batches.iter().filter(|b| !b.control).collect();
    let control: Vec<&BatchSummary> = batches.iter().filter(|b| b.control).collect();
    for batch in &data {
        ensure!(
            batch.compression == case.codec().id(),
            "batch at offset {} has compression {} but the writer was asked for {} (did it fall back to none?)",
            batch.base_offset,
            batch.compression,
            case.codec().name()
        );
        ensure!(
            batch.transactional == matches!(case, Case::Transactional),
            "batch at offset {} has transactional={}",
            batch.base_offset,
            batch.transactional
        );
        ensure!(
            batch.log_append_time == matches!(case, Case::LogAppendTime),
            "batch at offset {} has log_append_time={}",
            batch.base_offset,
            batch.log_append_time
        );
    }
    for (offset, _) in &expected.records {
        ensure!(
            data.iter()
                .any(|b| (b.base_offset..=b.last_offset).contains(offset)),
            "no data batch holds offset {offset}: {batches:?}"
        );
    }
    ensure!(
        control.len() == expected.markers.len(),
        "{} control batches, expected {}: {batches:?}",
        control.len(),
        expected.markers.len()
    );
    for (offset, _) in &expected.markers {
        ensure!(
            control
                .iter()
                .any(|b| b.base_offset == *offset && b.last_offset == *offset),
            "no control batch at offset {offset}: {batches:?}"
        );
    }
    Ok(())
}

/// For a `LogAppendTime` topic, every record's acknowledged timestamp must be
/// its batch's append time (which the manifest gives as the record's timestamp).
fn check_append_times(
    case: Case,
    expected: &Expected,
    report: &WriterReport,
    batches: &[BatchSummary],
) -> anyhow::Result<()> {
    if case != Case::LogAppendTime {
        return Ok(());
    }
    ensure!(
        report.timestamps.len() == expected.records.len(),
        "{} acknowledged timestamps for {} records",
        report.timestamps.len(),
        expected.records.len()
    );
    for ((offset, _), acknowledged) in expected.records.iter().zip(&report.timestamps) {
        let batch = batches
            .iter()
            .find(|b| (b.base_offset..=b.last_offset).contains(offset))
            .with_context(|| format!("no batch holds offset {offset}"))?;
        ensure!(
            batch.max_timestamp == *acknowledged && *acknowledged > BASE_TIMESTAMP,
            "offset {offset}: acknowledged with timestamp {acknowledged}, its batch's append time is {}",
            batch.max_timestamp
        );
    }
    Ok(())
}

/// The manifest: everything a test needs to check every record and batch.
fn manifest(
    writer: Writer,
    case: Case,
    report: &WriterReport,
    kafka_version: &str,
    plan: &WriterPlan,
    expected: &Expected,
    batches: &[BatchSummary],
) -> Value {
    let records: Vec<Value> = plan
        .records
        .iter()
        .zip(&expected.records)
        .map(|(record, (offset, outcome))| {
            let mut object = serde_json::Map::new();
            object.insert("offset".into(), json!(offset));
            object.insert("timestamp_type".into(), json!("create_time"));
            object.extend(record_json(record));
            if case == Case::LogAppendTime {
                // What a reader reports: the batch's append time. The
                // producer's timestamp stays in the record, unread.
                let append_time = batches
                    .iter()
                    .find(|b| (b.base_offset..=b.last_offset).contains(offset))
                    .map_or(-1, |b| b.max_timestamp);
                object.insert("create_timestamp".into(), json!(record.timestamp));
                object.insert("timestamp".into(), json!(append_time));
                object.insert("timestamp_type".into(), json!("log_append_time"));
            }
            if let Some(outcome) = outcome {
                object.insert("transaction".into(), json!(outcome));
            }
            Value::Object(object)
        })
        .collect();
    let control: Vec<Value> = expected
        .markers
        .iter()
        .map(|(offset, kind)| json!({"offset": offset, "type": kind}))
        .collect();
    let batches: Vec<Value> = batches
        .iter()
        .map(|b| {
            json!({
                "base_offset": b.base_offset,
                "last_offset": b.last_offset,
                "codec": Codec::from_id(b.compression).map_or("unknown", Codec::name),
                "timestamp_type": if b.log_append_time { "log_append_time" } else { "create_time" },
                "max_timestamp": b.max_timestamp,
                "transactional": b.transactional,
                "control": b.control,
            })
        })
        .collect();
    json!({
        "generated_by": "cargo xtask golden records",
        "writer": writer.name(),
        "client": report.client,
        "client_version": report.client_version,
        "broker_version": kafka_version,
        "codec": case.codec().name(),
        "transactional": matches!(case, Case::Transactional),
        "segment": format!("{}.log", case.name()),
        "records": records,
        "control": control,
        "batches": batches,
        "notes": plan.notes,
    })
}

/// Runs one writer for one case and returns its report.
fn run_writer(
    writer: Writer,
    java_programs: Option<&JavaPrograms>,
    python: Option<&Path>,
    bootstrap: &str,
    topic: &str,
    case: Case,
    plan_path: &Path,
) -> anyhow::Result<WriterReport> {
    let transactional_id = format!("{topic}-txn");
    let mut command = match writer {
        Writer::Java => java_programs
            .context("the Java programs were not compiled")?
            .command("RecordsGolden"),
        Writer::KafkaPython | Writer::Librdkafka => {
            let mut command = std::process::Command::new(python.context("no interop Python venv")?);
            command
                .arg(crate::workspace_root().join("tests/interop/golden_writer.py"))
                .arg("--client")
                .arg(writer.name());
            command
        }
    };
    command
        .arg("--bootstrap")
        .arg(bootstrap)
        .arg("--topic")
        .arg(topic)
        .arg("--codec")
        .arg(case.codec().name())
        .arg("--plan")
        .arg(plan_path);
    if case == Case::Transactional {
        command.arg("--transactional-id").arg(&transactional_id);
    }
    if case == Case::LogAppendTime {
        command.arg("--timestamp-type").arg("LogAppendTime");
    }
    let output = java::run_bounded(&mut command, WRITER_TIMEOUT)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "the {} writer failed on {} ({}):\n{stdout}\n{}",
            writer.name(),
            case.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("the {} writer printed no report: {stdout}", writer.name()))
}

/// Runs `cargo xtask golden records`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let writers = if args.writers.is_empty() {
        Writer::ALL.to_vec()
    } else {
        args.writers.clone()
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::workspace_root().join("fixtures/records"));

    // Every prerequisite first, so a missing one fails before the broker starts.
    let java_programs = if writers.contains(&Writer::Java) {
        Some(java::compile(&args.kafka_version)?)
    } else {
        None
    };
    let python = if writers
        .iter()
        .any(|w| matches!(w, Writer::KafkaPython | Writer::Librdkafka))
    {
        Some(crate::python::interop_python()?)
    } else {
        None
    };

    let options = StartOptions {
        version: args.kafka_version.clone(),
        ..StartOptions::single_node()
    };
    eprintln!("starting Apache Kafka {} ...", options.version);
    let cluster = broker::start_for_this_process(&options, "golden")?;
    let bootstrap = cluster.info.bootstrap_servers.clone();
    let data_dir = cluster.info.brokers[0].data_dir.clone();
    let scratch = cluster.info.state_dir.join("golden-plans");
    std::fs::create_dir_all(&scratch)?;

    let mut summary = String::new();
    for &writer in &writers {
        let plan = plan_for(writer);
        std::fs::create_dir_all(out.join(writer.name()))?;
        for case in Case::all() {
            let case_started = Instant::now();
            let plan_path = scratch.join(format!("{}-{}.json", writer.name(), case.name()));
            std::fs::write(
                &plan_path,
                serde_json::to_vec_pretty(&plan_json(&plan.records, case))?,
            )?;
            let topic = format!("golden-{}-{}", writer.name(), case.name());
            let report = run_writer(
                writer,
                java_programs.as_ref(),
                python.as_deref(),
                &bootstrap,
                &topic,
                case,
                &plan_path,
            )?;
            let expected = expected_layout(case, &report.offsets)
                .with_context(|| format!("{} {}", writer.name(), case.name()))?;
            let segment_path = data_dir
                .join(format!("{topic}-0"))
                .join("00000000000000000000.log");
            let (segment, batches) =
                read_segment_when_complete(&segment_path, expected.end_offset)?;
            check_layout(case, &expected, &batches)
                .and_then(|()| check_append_times(case, &expected, &report, &batches))
                .with_context(|| format!("{} {}", writer.name(), case.name()))?;
            let manifest = manifest(
                writer,
                case,
                &report,
                &args.kafka_version,
                &plan,
                &expected,
                &batches,
            );
            let log_path = out.join(writer.name()).join(format!("{}.log", case.name()));
            let manifest_path = out
                .join(writer.name())
                .join(format!("{}.json", case.name()));
            std::fs::write(&log_path, &segment)?;
            std::fs::write(
                &manifest_path,
                format!("{}\n", serde_json::to_string_pretty(&manifest)?),
            )?;
            let line = format!(
                "{:<48} {:>6} bytes, {} batches ({:.1}s)",
                log_path
                    .strip_prefix(crate::workspace_root())
                    .unwrap_or(&log_path)
                    .display(),
                segment.len(),
                batches.len(),
                case_started.elapsed().as_secs_f64()
            );
            eprintln!("{line}");
            summary.push_str(&line);
            summary.push('\n');
        }
    }
    cluster.stop();
    eprintln!(
        "golden records written in {:.1}s:\n{summary}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_follow_the_groups() {
        let plain = expected_layout(Case::Plain(Codec::Gzip), &[0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        assert!(plain.markers.is_empty());
        assert_eq!(plain.end_offset, 8);
        let transactional =
            expected_layout(Case::Transactional, &[0, 1, 2, 4, 5, 6, 8, 9]).unwrap();
        assert_eq!(
            transactional.markers,
            vec![(3, "commit"), (7, "abort"), (10, "commit")]
        );
        assert_eq!(transactional.end_offset, 11);
        assert_eq!(transactional.records[3], (4, Some("aborted")));
        assert!(expected_layout(Case::Transactional, &[0, 1, 2, 3, 4, 5, 6, 7]).is_err());
    }

    #[test]
    fn scans_batch_headers() {
        // A v2 batch header with base offset 7, last offset delta 2, zstd,
        // transactional; then two bytes of a partial batch.
        let mut segment = vec![0u8; 61];
        segment[0..8].copy_from_slice(&7i64.to_be_bytes());
        segment[8..12].copy_from_slice(&49i32.to_be_bytes());
        segment[16] = 2;
        segment[21..23].copy_from_slice(&0x0014u16.to_be_bytes());
        segment[23..27].copy_from_slice(&2i32.to_be_bytes());
        segment.extend_from_slice(&[0, 0]);
        let (batches, partial) = scan_batches(&segment).unwrap();
        assert_eq!(partial, 2);
        assert_eq!(
            batches,
            vec![BatchSummary {
                base_offset: 7,
                last_offset: 9,
                magic: 2,
                compression: Codec::Zstd.id(),
                max_timestamp: 0,
                log_append_time: false,
                transactional: true,
                control: false,
            }]
        );
    }
}
