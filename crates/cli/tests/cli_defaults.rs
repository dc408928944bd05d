//! The first thing a new user tries, on a broker with Kafka's own settings
//! (`cargo xtask broker start --defaults`: automatic topic creation on):
//! `seq 1 100 | ferrokafka produce -t test` to a topic nobody created
//! succeeds in seconds and kafka-python reads what it wrote, and
//! `ferrokafka consume -t test` started first creates the topic and prints
//! what comes.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ferrokafka_tests::{defaults_bootstrap_servers, unique_topic};

fn produce(topic: &str, input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .args(["produce", "-b", defaults_bootstrap_servers(), "-t", topic])
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

/// The child's output once it exits; killed (and the test failed) if it
/// runs longer than `limit`.
fn finish_within(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(output) = rx.recv_timeout(limit) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("the command did not end within {limit:?}");
    };
    output.unwrap()
}

fn lines(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|i| i.to_string()).collect()
}

#[test]
fn produce_to_a_new_topic_succeeds_and_kafka_python_reads_it() {
    let topic = unique_topic("cli-new-topic");
    let sent = lines(1, 100);
    let started = Instant::now();
    let output = produce(&topic, &(sent.join("\n") + "\n"));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("produce to a new topic took {took:?}: {stderr}");
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("produced 100 records"), "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}");

    let read = xtask::python::run_interop_script_lines(
        "kafka_python_read.py",
        &[
            "--bootstrap",
            defaults_bootstrap_servers(),
            "--topic",
            &topic,
            "--count",
            "100",
        ],
    )
    .unwrap();
    let values: Vec<String> = read
        .iter()
        .map(|r| {
            let encoded = r["value"].as_str().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    assert_eq!(values, sent);
}

#[test]
fn consume_started_first_creates_the_topic_and_prints_what_comes() {
    let topic = unique_topic("cli-consume-first");
    let consumer = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .args([
            "consume",
            "-b",
            defaults_bootstrap_servers(),
            "-t",
            &topic,
            "-o",
            "beginning",
            "-c",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Whichever of the two reaches the broker first creates the topic; the
    // consumer reads from the beginning, so it sees the records either way.
    let output = produce(&topic, "a\nb\nc\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let consumed = finish_within(consumer, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&consumed.stderr);
    assert!(consumed.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&consumed.stdout), "a\nb\nc\n");
}
