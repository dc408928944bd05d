//! `ferrokafka dump-log`: read log segment files and print their batches
//! and records as JSON lines, like Kafka's `kafka-dump-log.sh` but
//! machine-readable.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use ferrokafka_records::{
    Batch, BatchReader, ControlRecord, ControlRecordType, ReadOptions, Record, RecordsError,
};
use serde_json::{Map, Value, json};

/// Arguments of `dump-log`.
#[derive(Args, Debug)]
pub(crate) struct DumpLogArgs {
    /// Log segment files to read (a sequence of batches or message sets).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print one line per batch and no records.
    #[arg(long)]
    batches: bool,
    /// Print the records of batches whose CRC does not match instead of
    /// treating the mismatch as an error (the CRC status is still shown).
    #[arg(long)]
    no_crc_check: bool,
    /// Largest decompressed size of one batch, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = ferrokafka_records::DEFAULT_MAX_DECOMPRESSED_SIZE)]
    max_decompressed_size: usize,
}

/// Runs the command: exit status 0 if every file was read cleanly, 1 if any
/// file could not be read or held a corrupt batch.
pub(crate) fn run(args: &DumpLogArgs) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.paths {
        match dump_file(path, args, &mut out) {
            Ok(clean) => failed |= !clean,
            Err(DumpError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
                return ExitCode::SUCCESS;
            }
            Err(DumpError::Output(error)) => {
                eprintln!("ferrokafka dump-log: cannot write output: {error}");
                return ExitCode::FAILURE;
            }
            Err(DumpError::Read(error)) => {
                eprintln!(
                    "ferrokafka dump-log: cannot read {}: {error}",
                    path.display()
                );
                failed = true;
            }
        }
    }
    if let Err(error) = out.flush()
        && error.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("ferrokafka dump-log: cannot write output: {error}");
        return ExitCode::FAILURE;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

enum DumpError {
    Read(io::Error),
    Output(io::Error),
}

/// Dumps one file; `Ok(false)` if it held corrupt or partial data.
fn dump_file(path: &Path, args: &DumpLogArgs, out: &mut impl Write) -> Result<bool, DumpError> {
    let data = Bytes::from(std::fs::read(path).map_err(DumpError::Read)?);
    let options = ReadOptions {
        // The CRC status is printed for every batch, so the reader itself
        // never rejects a batch for it; `--no-crc-check` decides below.
        verify_crc: false,
        max_decompressed_size: args.max_decompressed_size,
    };
    let mut reader = BatchReader::with_options(data, options);
    let mut clean = true;
    let file = path.display().to_string();
    loop {
        let position = reader.consumed();
        let Some(entry) = reader.next() else { break };
        let batch = match entry {
            Ok(batch) => batch,
            Err(error) => {
                report(&file, position, &error);
                clean = false;
                continue;
            }
        };
        let crc_valid = batch.crc_is_valid();
        write_line(out, &batch_json(&file, position, &batch, crc_valid))?;
        if !crc_valid && !args.no_crc_check {
            let stored = match &batch {
                Batch::V2(b) => b.header().crc,
                Batch::Legacy(l) => l.crc(),
            };
            let computed = match &batch {
                Batch::V2(b) => b.computed_crc(),
                Batch::Legacy(l) => l.computed_crc(),
            };
            let error = RecordsError::CrcMismatch {
                base_offset: batch.base_offset(),
                stored,
                computed,
            };
            report(&file, position, &error);
            clean = false;
            continue;
        }
        if args.batches {
            continue;
        }
        let is_control = matches!(&batch, Batch::V2(b) if b.is_control());
        for record in batch.records() {
            match record {
                Ok(record) => write_line(out, &record_json(&batch, &record, is_control))?,
                Err(error) => {
                    report(&file, position, &error);
                    clean = false;
                }
            }
        }
    }
    if reader.partial_tail() > 0 {
        eprintln!(
            "ferrokafka dump-log: {file}: {} bytes at position {} are a partial batch",
            reader.partial_tail(),
            reader.consumed()
        );
        clean = false;
    }
    Ok(clean)
}

fn report(file: &str, position: usize, error: &RecordsError) {
    eprintln!("ferrokafka dump-log: {file}: batch at position {position}: {error}");
}

fn write_line(out: &mut impl Write, value: &Value) -> Result<(), DumpError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| DumpError::Output(e.into()))?;
    out.write_all(b"\n").map_err(DumpError::Output)
}

fn batch_json(file: &str, position: usize, batch: &Batch, crc_valid: bool) -> Value {
    let mut object = json!({
        "type": "batch",
        "file": file,
        "position": position,
        "size": batch.as_bytes().len(),
        "magic": batch.magic(),
        "base_offset": batch.base_offset(),
        "last_offset": batch.last_offset(),
        "compression": batch.compression().name(),
        "crc_status": if crc_valid { "valid" } else { "invalid" },
    });
    let fields = match batch {
        Batch::V2(b) => {
            let h = b.header();
            json!({
                "attributes": h.attributes.bits(),
                "timestamp_type": h.attributes.timestamp_type().name(),
                "is_transactional": h.attributes.is_transactional(),
                "is_control": h.attributes.is_control(),
                "delete_horizon": h.delete_horizon(),
                "partition_leader_epoch": h.partition_leader_epoch,
                "producer_id": h.producer_id,
                "producer_epoch": h.producer_epoch,
                "base_sequence": h.base_sequence,
                "base_timestamp": h.base_timestamp,
                "max_timestamp": h.max_timestamp,
                "record_count": h.record_count,
                "crc": h.crc,
            })
        }
        Batch::Legacy(l) => json!({
            "attributes": l.attributes(),
            "timestamp_type": l.timestamp_type().name(),
            "is_transactional": false,
            "is_control": false,
            "producer_id": -1,
            "producer_epoch": -1,
            "base_sequence": -1,
            "max_timestamp": l.timestamp(),
            "record_count": l.records().len(),
            "crc": l.crc(),
        }),
    };
    if let (Value::Object(object), Value::Object(fields)) = (&mut object, fields) {
        object.extend(fields);
    }
    object
}

/// Inserts `name` (text if valid UTF-8, else base64) and `name_encoding`.
fn insert_bytes(object: &mut Map<String, Value>, name: &str, bytes: Option<&[u8]>) {
    let (value, encoding) = match bytes {
        None => (Value::Null, Value::Null),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Value::from(text), Value::from("utf8")),
            Err(_) => (
                Value::from(base64::engine::general_purpose::STANDARD.encode(bytes)),
                Value::from("base64"),
            ),
        },
    };
    object.insert(name.to_owned(), value);
    object.insert(format!("{name}_encoding"), encoding);
}

fn record_json(batch: &Batch, record: &Record, is_control: bool) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), "record".into());
    object.insert("batch_base_offset".into(), batch.base_offset().into());
    object.insert("offset".into(), record.offset.into());
    object.insert("timestamp".into(), record.timestamp.into());
    object.insert("timestamp_type".into(), record.timestamp_type.name().into());
    insert_bytes(&mut object, "key", record.key.as_deref());
    insert_bytes(&mut object, "value", record.value.as_deref());
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|header| {
            let mut entry = Map::new();
            insert_bytes(&mut entry, "key", Some(&header.key));
            insert_bytes(&mut entry, "value", header.value.as_deref());
            Value::Object(entry)
        })
        .collect();
    object.insert("headers".into(), headers.into());
    if is_control {
        let control = match ControlRecord::parse(record.key.as_deref(), record.value.as_deref()) {
            Ok(control) => json!({
                "type": match control.kind {
                    ControlRecordType::Commit => "commit".to_owned(),
                    ControlRecordType::Abort => "abort".to_owned(),
                    ControlRecordType::Other(id) => format!("other({id})"),
                },
                "key_version": control.key_version,
                "coordinator_epoch": control.coordinator_epoch,
            }),
            Err(error) => json!({ "error": error.to_string() }),
        };
        object.insert("control".into(), control);
    }
    Value::Object(object)
}
