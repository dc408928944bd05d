//! Bytes Kafka's own generated classes wrote for this crate's samples
//! (`fixtures/protocol/messages/`, made by `cargo xtask golden
//! protocol-fixtures`): each decodes to exactly the sample and the sample
//! encodes to exactly those bytes. Every API key and version must have them.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::ApiKey;
use crate::messages::{ALL_MESSAGES, golden_check};

fn fixtures() -> Vec<serde_json::Value> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/protocol/messages"
    );
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixtures/protocol/messages exists") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    lines
}

fn hex(text: &str) -> Bytes {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn kafka_bytes_decode_to_the_sample_and_the_sample_encodes_to_them() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let name = fixture["name"].as_str().unwrap();
        let version = i16::try_from(fixture["version"].as_i64().unwrap()).unwrap();
        let seed = fixture["seed"].as_u64().unwrap();
        let Some(bytes) = fixture["hex"].as_str() else {
            failures.push(format!(
                "{name} v{version} seed {seed}: Kafka rejected it: {}",
                fixture["error"]
            ));
            continue;
        };
        if let Err(e) = golden_check(name, version, seed, &hex(bytes)) {
            failures.push(format!("{name} v{version} seed {seed}: {e}"));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} fixtures fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 1000, "only {checked} fixtures");
}

#[test]
fn every_api_key_and_version_has_fixtures() {
    let present: BTreeSet<(String, i64)> = fixtures()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut missing = Vec::new();
    for &key in ApiKey::ALL {
        let (lo, hi) = key.versions();
        for version in lo..=hi {
            for suffix in ["Request", "Response"] {
                let name = format!("{}{suffix}", key.name());
                if !present.contains(&(name.clone(), i64::from(version))) {
                    missing.push(format!("{name} v{version}"));
                }
            }
        }
    }
    for &(name, lo, hi) in ALL_MESSAGES {
        for version in lo..=hi {
            if !present.contains(&(name.to_string(), i64::from(version))) {
                missing.push(format!("{name} v{version}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no golden fixture for: {}",
        missing.join(", ")
    );
}
