//! The golden segments of `fixtures/records/` (written by the Java client,
//! kafka-python and librdkafka through a real broker, `cargo xtask golden
//! records`) decode with `ferrokafka-records` into exactly the records,
//! transaction markers and batches their manifests say the writers sent.
//! The fixtures are committed: this needs neither Java nor Python nor a broker.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use ferrokafka_records::{Batch, BatchReader, ControlRecordType, Record, TimestampType};
use serde_json::Value;

const WRITERS: [&str; 3] = ["java", "kafka-python", "librdkafka"];
const CASES: [&str; 7] = [
    "none",
    "gzip",
    "snappy",
    "lz4",
    "zstd",
    "transactional",
    "log-append-time",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/records")
}

/// Base64 text or null, as bytes or `None`.
fn manifest_bytes(value: &Value, what: &str) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(
            BASE64
                .decode(text)
                .unwrap_or_else(|e| panic!("{what}: bad base64 {text:?}: {e}")),
        ),
        other => panic!("{what}: expected base64 text or null, got {other}"),
    }
}

fn check_record(record: &Record, expected: &Value, what: &str) {
    assert_eq!(
        record.offset,
        expected["offset"].as_i64().unwrap(),
        "{what}: offset"
    );
    assert_eq!(
        record.timestamp,
        expected["timestamp"].as_i64().unwrap(),
        "{what}: timestamp"
    );
    let timestamp_type = match expected["timestamp_type"].as_str() {
        Some("create_time") => TimestampType::CreateTime,
        Some("log_append_time") => TimestampType::LogAppendTime,
        other => panic!("{what}: timestamp type {other:?}"),
    };
    assert_eq!(
        record.timestamp_type, timestamp_type,
        "{what}: timestamp type"
    );
    assert_eq!(
        record.key.as_deref(),
        manifest_bytes(&expected["key"], what).as_deref(),
        "{what}: key"
    );
    assert_eq!(
        record.value.as_deref(),
        manifest_bytes(&expected["value"], what).as_deref(),
        "{what}: value"
    );
    let expected_headers = expected["headers"].as_array().unwrap();
    let headers: Vec<(&[u8], Option<&[u8]>)> = record
        .headers
        .iter()
        .map(|h| (&h.key[..], h.value.as_deref()))
        .collect();
    let want: Vec<(Vec<u8>, Option<Vec<u8>>)> = expected_headers
        .iter()
        .map(|h| {
            (
                h["key"].as_str().unwrap().as_bytes().to_vec(),
                manifest_bytes(&h["value"], what),
            )
        })
        .collect();
    let want: Vec<(&[u8], Option<&[u8]>)> = want
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_deref()))
        .collect();
    assert_eq!(headers, want, "{what}: headers");
}

/// Decodes one fixture and checks it against its manifest.
fn check_fixture(writer: &str, case: &str) {
    let dir = fixtures_dir().join(writer);
    let what = format!("{writer}/{case}");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("{case}.json")))
            .unwrap_or_else(|e| panic!("{what}: manifest: {e}")),
    )
    .unwrap();
    let segment = std::fs::read(dir.join(manifest["segment"].as_str().unwrap()))
        .unwrap_or_else(|e| panic!("{what}: segment: {e}"));
    let codec = manifest["codec"].as_str().unwrap();
    let transactional = manifest["transactional"].as_bool().unwrap();

    let mut records = Vec::new();
    let mut markers = Vec::new();
    let mut batches = Vec::new();
    let mut reader = BatchReader::new(Bytes::from(segment));
    for batch in reader.by_ref() {
        let batch = batch.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            batch.crc_is_valid(),
            "{what}: CRC of batch {}",
            batch.base_offset()
        );
        assert_eq!(batch.magic(), 2, "{what}");
        let header = batch.header().expect("a record batch has a header");
        let timestamp_type = match header.attributes.timestamp_type() {
            TimestampType::LogAppendTime => "log_append_time",
            _ => "create_time",
        };
        batches.push(serde_json::json!({
            "base_offset": batch.base_offset(),
            "last_offset": batch.last_offset(),
            "codec": batch.compression().name(),
            "timestamp_type": timestamp_type,
            "max_timestamp": header.max_timestamp,
            "transactional": batch.is_transactional(),
            "control": batch.is_control(),
        }));
        if batch.is_control() {
            let Batch::V2(v2) = &batch else {
                unreachable!("only record batches are control batches")
            };
            let marker = v2
                .control_record()
                .unwrap_or_else(|| panic!("{what}: control batch without a record"))
                .unwrap_or_else(|e| panic!("{what}: control record: {e}"));
            assert!(marker.coordinator_epoch.is_some(), "{what}: {marker:?}");
            let kind = match marker.kind {
                ControlRecordType::Commit => "commit",
                ControlRecordType::Abort => "abort",
                ControlRecordType::Other(id) => panic!("{what}: control type {id}"),
            };
            markers.push(serde_json::json!({"offset": batch.base_offset(), "type": kind}));
            continue;
        }
        assert_eq!(batch.compression().name(), codec, "{what}: batch codec");
        assert_eq!(batch.is_transactional(), transactional, "{what}");
        for record in batch.records() {
            records.push(record.unwrap_or_else(|e| panic!("{what}: {e}")));
        }
    }
    assert_eq!(reader.partial_tail(), 0, "{what}: partial batch at the end");

    let expected_records = manifest["records"].as_array().unwrap();
    assert_eq!(
        records.len(),
        expected_records.len(),
        "{what}: record count"
    );
    for (record, expected) in records.iter().zip(expected_records) {
        check_record(
            record,
            expected,
            &format!("{what} offset {}", record.offset),
        );
    }
    assert_eq!(
        Value::Array(markers.clone()),
        manifest["control"],
        "{what}: markers"
    );
    assert_eq!(
        Value::Array(batches),
        manifest["batches"],
        "{what}: batches"
    );

    // A transaction's records end at its marker: the first marker after a
    // record says whether a read_committed consumer sees it.
    for expected in expected_records {
        let offset = expected["offset"].as_i64().unwrap();
        let outcome = expected.get("transaction").and_then(Value::as_str);
        let next_marker = markers
            .iter()
            .find(|m| m["offset"].as_i64().unwrap() > offset)
            .map(|m| m["type"].as_str().unwrap());
        match (transactional, outcome, next_marker) {
            (false, None, None)
            | (true, Some("committed"), Some("commit"))
            | (true, Some("aborted"), Some("abort")) => {}
            other => {
                panic!("{what} offset {offset}: transaction, outcome, next marker = {other:?}")
            }
        }
    }
}

#[test]
fn every_golden_segment_holds_what_its_writer_sent() {
    for writer in WRITERS {
        for case in CASES {
            check_fixture(writer, case);
        }
    }
}

#[test]
fn the_golden_segments_cover_the_tricky_records() {
    // The manifests (of the Java writer, which sends the whole plan) hold the
    // cases the fixtures exist for; a regenerated plan must keep them.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("java/none.json")).unwrap())
            .unwrap();
    let records = manifest["records"].as_array().unwrap();
    let has = |test: &dyn Fn(&Value) -> bool| records.iter().any(test);
    assert!(has(&|r| r["key"].is_null()), "a null key");
    assert!(has(&|r| r["key"] == ""), "an empty key");
    assert!(has(&|r| r["value"].is_null()), "a tombstone");
    assert!(has(&|r| r["value"] == ""), "an empty value");
    assert!(
        has(&|r| manifest_bytes(&r["value"], "value")
            .is_some_and(|v| String::from_utf8(v).is_err())),
        "a value that is not UTF-8"
    );
    assert!(
        has(&|r| manifest_bytes(&r["value"], "value").is_some_and(|v| v.len() > 4096)),
        "a value of a few KB"
    );
    assert!(
        has(&|r| r["headers"].as_array().unwrap().len() >= 3),
        "three headers"
    );
    assert!(
        has(&|r| r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["value"].is_null())),
        "a null header value"
    );
    let timestamps: Vec<i64> = records
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect();
    assert!(
        timestamps.windows(2).any(|w| w[1] < w[0]),
        "a timestamp earlier than the one before"
    );
}
