//! `cargo xtask golden protocol-fixtures`: for every message and version,
//! the generated samples (the default value and two random ones) go to
//! Kafka's own classes as JSON; the bytes they write become
//! `fixtures/protocol/<message>.jsonl`, which the protocol crate's golden
//! test decodes and re-encodes without Java.

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::Context;
use ferrokafka_protocol::messages::{ALL_MESSAGES, golden_sample_json};

use super::protocol::serialize_with_java;

/// Seeds per message and version: 0 is the default value.
pub const SEEDS: &[u64] = &[0, 1, 2];

/// Writes the fixtures with Apache Kafka `kafka_version`'s classes.
pub fn run(kafka_version: &str) -> anyhow::Result<()> {
    let work = crate::broker::harness_dir().join("golden-protocol");
    std::fs::create_dir_all(&work)?;
    let input_path = work.join("input.jsonl");
    let output_path = work.join("output.jsonl");
    let mut input = std::io::BufWriter::new(std::fs::File::create(&input_path)?);
    let mut keys = Vec::new();
    for &(name, lo, hi) in ALL_MESSAGES {
        for version in lo..=hi {
            for &seed in SEEDS {
                let instance = golden_sample_json(name, version, seed)
                    .context("every listed message has samples")?;
                writeln!(
                    input,
                    "{}",
                    serde_json::json!({"name": name, "version": version, "instance": instance})
                )?;
                keys.push((name, version, seed));
            }
        }
    }
    input.flush()?;
    drop(input);
    let summary = serialize_with_java(&input_path, &output_path, kafka_version)?;
    eprintln!(
        "Kafka's classes serialised {} samples, rejected {}",
        summary.serialized, summary.rejected
    );

    let output = std::fs::read_to_string(&output_path)?;
    let mut per_message: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((name, version, seed), line) in keys.iter().zip(output.lines()) {
        let result: serde_json::Value = serde_json::from_str(line)?;
        let mut entry = serde_json::json!({"name": name, "version": version, "seed": seed});
        if let Some(hex) = result.get("hex") {
            entry["hex"] = hex.clone();
        } else {
            entry["error"] = result.get("error").cloned().unwrap_or_default();
        }
        per_message.entry(name).or_default().push(entry.to_string());
    }
    let dir = crate::workspace_root().join("fixtures/protocol/messages");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    for (name, lines) in &per_message {
        std::fs::write(dir.join(format!("{name}.jsonl")), lines.join("\n") + "\n")?;
    }
    eprintln!(
        "wrote {} fixture files to {}",
        per_message.len(),
        dir.display()
    );
    Ok(())
}
