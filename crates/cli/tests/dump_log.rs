//! `ferrokafka dump-log` on segments written with the crate's own builders.

use std::path::PathBuf;
use std::process::{Command, Output};

use ferrokafka_records::legacy::write_message_set;
use ferrokafka_records::{
    Compression, ControlRecord, LegacyMessage, RecordBatchBuilder, TimestampType,
};
use serde_json::Value;

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrokafka-dump-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A segment holding every format: magic 0, a magic-1 gzip wrapper, an
/// uncompressed batch with headers and a binary value, a zstd batch and a
/// commit marker.
fn segment() -> Vec<u8> {
    let mut segment = Vec::new();
    let m0 = LegacyMessage {
        offset: 0,
        timestamp: 0,
        key: Some(b"k0"),
        value: Some(b"v0"),
    };
    write_message_set(
        &mut segment,
        0,
        Compression::None,
        None,
        TimestampType::CreateTime,
        &[m0],
    )
    .unwrap();
    let m1 = [
        LegacyMessage {
            offset: 1,
            timestamp: 11,
            key: None,
            value: Some(b"v1"),
        },
        LegacyMessage {
            offset: 2,
            timestamp: 12,
            key: None,
            value: Some(b"v2"),
        },
    ];
    write_message_set(
        &mut segment,
        1,
        Compression::Gzip,
        None,
        TimestampType::CreateTime,
        &m1,
    )
    .unwrap();
    let mut builder = RecordBatchBuilder::new(3)
        .with_producer(77, 2, 0)
        .with_transactional(true);
    builder.append(
        1000,
        Some(b"k3"),
        Some(&[0xff, 0x00, 0xfe]),
        &[("h", Some(&b"hv"[..]))],
    );
    builder.append(1001, None, None, &[] as &[(&str, Option<&[u8]>)]);
    segment.extend_from_slice(&builder.build().unwrap());
    let mut builder = RecordBatchBuilder::new(5).with_compression(Compression::Zstd, Some(5));
    builder.append(
        2000,
        None,
        Some(b"zstd value"),
        &[] as &[(&str, Option<&[u8]>)],
    );
    segment.extend_from_slice(&builder.build().unwrap());
    let mut builder = RecordBatchBuilder::new(6)
        .with_producer(77, 2, -1)
        .with_transactional(true)
        .with_control(true);
    builder.append_control(3000, &ControlRecord::commit(4));
    segment.extend_from_slice(&builder.build().unwrap());
    segment
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .arg("dump-log")
        .args(args)
        .output()
        .unwrap()
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn dumps_every_format() {
    let path = temp_file("mixed.log", &segment());
    let output = run(&[path.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = lines(&output);
    let batches: Vec<&Value> = lines.iter().filter(|l| l["type"] == "batch").collect();
    let records: Vec<&Value> = lines.iter().filter(|l| l["type"] == "record").collect();
    assert_eq!(batches.len(), 5);
    assert_eq!(records.len(), 7);
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5, 6]);

    assert_eq!(batches[0]["magic"], 0);
    assert_eq!(batches[1]["magic"], 1);
    assert_eq!(batches[1]["compression"], "gzip");
    assert_eq!(batches[2]["magic"], 2);
    assert_eq!(batches[2]["producer_id"], 77);
    assert_eq!(batches[2]["producer_epoch"], 2);
    assert_eq!(batches[2]["base_sequence"], 0);
    assert_eq!(batches[2]["is_transactional"], true);
    assert_eq!(batches[3]["compression"], "zstd");
    assert_eq!(batches[4]["is_control"], true);
    for batch in &batches {
        assert_eq!(batch["crc_status"], "valid");
    }

    assert_eq!(records[0]["key"], "k0");
    assert_eq!(records[0]["timestamp_type"], "NO_TIMESTAMP_TYPE");
    assert_eq!(records[3]["key"], "k3");
    assert_eq!(records[3]["key_encoding"], "utf8");
    assert_eq!(records[3]["value"], "/wD+");
    assert_eq!(records[3]["value_encoding"], "base64");
    assert_eq!(records[3]["headers"][0]["key"], "h");
    assert_eq!(records[3]["headers"][0]["value"], "hv");
    assert_eq!(records[4]["value"], Value::Null);
    assert_eq!(records[5]["value"], "zstd value");
    assert_eq!(records[6]["control"]["type"], "commit");
    assert_eq!(records[6]["control"]["coordinator_epoch"], 4);
}

#[test]
fn batches_flag_prints_batches_only() {
    let path = temp_file("batches.log", &segment());
    let output = run(&["--batches", path.to_str().unwrap()]);
    assert!(output.status.success());
    let lines = lines(&output);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["type"] == "batch"));
}

#[test]
fn crc_mismatch_is_reported_and_fails() {
    let mut bytes = segment();
    // The byte before the header count: the marker's coordinator epoch.
    let epoch_at = bytes.len() - 2;
    bytes[epoch_at] ^= 0x01;
    let path = temp_file("corrupt.log", &bytes);
    let output = run(&[path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CRC mismatch"), "{stderr}");
    let lines = lines(&output);
    assert_eq!(lines.last().unwrap()["crc_status"], "invalid");
    assert_eq!(lines.iter().filter(|l| l["type"] == "record").count(), 6);

    let output = run(&["--no-crc-check", path.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(lines_of_type(&output, "record"), 7);
}

fn lines_of_type(output: &Output, kind: &str) -> usize {
    lines(output).iter().filter(|l| l["type"] == kind).count()
}

#[test]
fn unreadable_file_fails_cleanly() {
    let output = run(&["/nonexistent/ferrokafka/00000000000000000000.log"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/ferrokafka/00000000000000000000.log"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}
