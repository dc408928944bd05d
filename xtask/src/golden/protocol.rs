//! The Java side of the protocol golden fixtures: Kafka's own generated
//! message classes turn JSON instances into bytes (and bytes back into JSON).
//!
//! Input, one JSON object a line:
//! `{"name":"ApiVersionsRequest","version":3,"instance":{...}}` where the
//! instance is in the format of Kafka's `<Name>DataJsonConverter`; or
//! `{"name":...,"version":...,"hex":"..."}` to decode bytes instead.
//!
//! Output, one line per input line, in order:
//! `{"name":...,"version":...,"hex":"<Kafka's bytes>","json":{...}}`, where
//! `json` is what Kafka's converter writes for the message read back from
//! those bytes; or `{"name":...,"version":...,"error":"..."}` when Kafka's
//! classes reject the line (an unknown message, a field a version lacks, ...).
//! See `xtask/golden-java/ProtocolGolden.java`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use super::java;

/// How long Kafka's classes may take over one input file.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Counts of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Lines Kafka's classes serialised (or decoded).
    pub serialized: usize,
    /// Lines they rejected, each with an `error` in the output.
    pub rejected: usize,
}

/// Reads JSON lines from `input`, serialises each with Apache Kafka
/// `kafka_version`'s generated classes and writes one JSON line per input
/// line to `output`.
pub fn serialize_with_java(
    input: &Path,
    output: &Path,
    kafka_version: &str,
) -> anyhow::Result<Summary> {
    let programs = java::compile(kafka_version)?;
    let mut command = programs.command("ProtocolGolden");
    command.arg(input).arg(output);
    let result = java::run_bounded(&mut command, TIMEOUT)?;
    if !result.status.success() {
        bail!(
            "ProtocolGolden {} {} failed ({}):\n{}{}",
            input.display(),
            output.display(),
            result.status,
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let text =
        std::fs::read_to_string(output).with_context(|| format!("reading {}", output.display()))?;
    let mut summary = Summary {
        serialized: 0,
        rejected: 0,
    };
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("ProtocolGolden wrote a line that is not JSON: {line}"))?;
        if value.get("error").is_some() {
            summary.rejected += 1;
        } else {
            summary.serialized += 1;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Runs hand-written lines through Kafka's classes.
    fn run_lines(lines: &[Value]) -> Vec<Value> {
        let dir = crate::broker::harness_dir()
            .parent()
            .expect("harness dir has a parent")
            .join("golden-java")
            .join(format!("protocol-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.jsonl");
        let output = dir.join("out.jsonl");
        let text = lines
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&input, text).unwrap();
        serialize_with_java(&input, &output, crate::broker::jars::DEFAULT_KAFKA_VERSION)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let out = std::fs::read_to_string(&output).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn kafka_serialises_hand_written_instances() {
        let out = run_lines(&[
            json!({"name": "ApiVersionsRequest", "version": 3,
                   "instance": {"clientSoftwareName": "a", "clientSoftwareVersion": "1"}}),
            // Bytes are base64; a nullable string may be null; a UUID is
            // Kafka's URL-safe base64 form.
            json!({"name": "SaslAuthenticateRequest", "version": 2,
                   "instance": {"authBytes": "AAEC/w=="}}),
            json!({"name": "MetadataRequest", "version": 12,
                   "instance": {"topics": [{"topicId": "AAAAAAAAAAAAAAAAAAAAAQ", "name": null}],
                                "allowAutoTopicCreation": false,
                                "includeTopicAuthorizedOperations": true}}),
            json!({"name": "ApiVersionsRequest", "version": 3, "hex": "0262026300"}),
            json!({"name": "ApiVersionsRequest", "version": 3, "hex": "0262"}),
            json!({"name": "NoSuchRequest", "version": 0, "instance": {}}),
        ]);
        assert_eq!(out.len(), 6, "{out:#?}");
        // Compact strings (length + 1, unsigned varint) and an empty tagged-field section.
        assert_eq!(out[0]["hex"], "0261023100", "{:#}", out[0]);
        assert_eq!(
            out[0]["json"],
            json!({"clientSoftwareName": "a", "clientSoftwareVersion": "1"})
        );
        // Compact bytes: length + 1, then the bytes, then the tagged fields.
        assert_eq!(
            out[1]["hex"],
            "050001 02ff00".replace(' ', ""),
            "{:#}",
            out[1]
        );
        assert_eq!(out[1]["json"], json!({"authBytes": "AAEC/w=="}));
        let metadata = &out[2];
        assert!(metadata.get("error").is_none(), "{metadata:#}");
        assert_eq!(
            metadata["json"]["topics"][0]["topicId"],
            "AAAAAAAAAAAAAAAAAAAAAQ"
        );
        assert_eq!(metadata["json"]["topics"][0]["name"], Value::Null);
        // Decoding: bytes in, Kafka's JSON out; truncated bytes are rejected.
        assert_eq!(out[3]["hex"], "0262026300", "{:#}", out[3]);
        assert_eq!(
            out[3]["json"],
            json!({"clientSoftwareName": "b", "clientSoftwareVersion": "c"})
        );
        assert!(out[4].get("error").is_some(), "{:#}", out[4]);
        assert!(
            out[5]["error"]
                .as_str()
                .is_some_and(|e| e.contains("NoSuchRequest")),
            "{:#}",
            out[5]
        );
    }
}
