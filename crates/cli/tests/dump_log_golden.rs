//! `ferrokafka dump-log` over the golden segments real clients wrote
//! (fixtures/records): every record it prints matches the writer's manifest.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The bytes a dump-log field stands for (`utf8` text or `base64`).
fn dumped_bytes(text: &Value, encoding: &Value) -> Option<Vec<u8>> {
    let text = text.as_str()?;
    Some(match encoding.as_str() {
        Some("base64") => STANDARD.decode(text).unwrap(),
        _ => text.as_bytes().to_vec(),
    })
}

fn manifest_bytes(value: &Value) -> Option<Vec<u8>> {
    value.as_str().map(|b64| STANDARD.decode(b64).unwrap())
}

#[test]
fn dump_log_prints_every_golden_record_as_its_writer_sent_it() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/records");
    let mut segments = 0;
    for writer in ["java", "kafka-python", "librdkafka"] {
        for entry in std::fs::read_dir(format!("{root}/{writer}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|x| x != "log") {
                continue;
            }
            segments += 1;
            let manifest: Value = serde_json::from_str(
                &std::fs::read_to_string(path.with_extension("json")).unwrap(),
            )
            .unwrap();
            let output = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
                .arg("dump-log")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let records: Vec<Value> = String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|v| v["type"] == "record" && v.get("control").is_none_or(Value::is_null))
                .collect();
            let expected = manifest["records"].as_array().unwrap();
            assert_eq!(records.len(), expected.len(), "{}", path.display());
            for (got, want) in records.iter().zip(expected) {
                let at = format!("{} offset {}", path.display(), want["offset"]);
                assert_eq!(got["offset"], want["offset"], "{at}");
                assert_eq!(got["timestamp"], want["timestamp"], "{at}");
                assert_eq!(
                    dumped_bytes(&got["key"], &got["key_encoding"]),
                    manifest_bytes(&want["key"]),
                    "{at} key"
                );
                assert_eq!(
                    dumped_bytes(&got["value"], &got["value_encoding"]),
                    manifest_bytes(&want["value"]),
                    "{at} value"
                );
                let got_headers: Vec<(String, Option<Vec<u8>>)> = got["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        let key = dumped_bytes(&h["key"], &h["key_encoding"]).unwrap();
                        (
                            String::from_utf8(key).unwrap(),
                            dumped_bytes(&h["value"], &h["value_encoding"]),
                        )
                    })
                    .collect();
                let want_headers: Vec<(String, Option<Vec<u8>>)> = want["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h["key"].as_str().unwrap().to_string(),
                            manifest_bytes(&h["value"]),
                        )
                    })
                    .collect();
                assert_eq!(got_headers, want_headers, "{at} headers");
            }
        }
    }
    assert_eq!(segments, 21, "7 segments from each of 3 writers");
}
