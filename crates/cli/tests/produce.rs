//! `ferrokafka produce` against the harness broker: keyed lines with a
//! header and a codec arrive as sent (read back by kafka-python); a record
//! that cannot be delivered makes the command fail with a summary.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};

fn produce(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .arg("produce")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn keyed_lines_with_headers_arrive_as_sent() {
    let topic = unique_topic("cli-produce");
    create_topic_blocking(&topic, 1);
    let input = (0..500)
        .map(|i| format!("key-{i}:value {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let output = produce(
        &[
            "-b",
            bootstrap_servers(),
            "-t",
            &topic,
            "-K",
            ":",
            "-H",
            "source=cli",
            "-z",
            "lz4",
            "-X",
            "linger_ms=10",
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("produced 500 records"), "{stderr}");
    assert!(stderr.contains("0 failed"), "{stderr}");

    let read = xtask::python::run_interop_script_lines(
        "kafka_python_read.py",
        &[
            "--bootstrap",
            bootstrap_servers(),
            "--topic",
            &topic,
            "--count",
            "500",
        ],
    )
    .unwrap();
    assert_eq!(read.len(), 500);
    for (i, record) in read.iter().enumerate() {
        assert_eq!(record["offset"], i);
        assert_eq!(record["key"], b64(&format!("key-{i}")));
        assert_eq!(record["value"], b64(&format!("value {i}")));
        assert_eq!(
            record["headers"],
            serde_json::json!([["source", b64("cli")]])
        );
    }
}

#[test]
fn undeliverable_records_fail_the_command() {
    let topic = unique_topic("cli-produce-bad");
    create_topic_blocking(&topic, 1);
    let output = produce(
        &["-b", bootstrap_servers(), "-t", &topic, "-p", "7"],
        "a\nb\n",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("partition 7 does not exist"), "{stderr}");
    assert!(stderr.contains("2 failed"), "{stderr}");

    let output = produce(
        &["-b", bootstrap_servers(), "-t", &topic, "-X", "lingr_ms=5"],
        "a\n",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("lingr_ms"), "{stderr}");
}
