//! `ferrokafka consume` against the harness broker: what `ferrokafka
//! produce` wrote comes back in order as text, key/value lines or JSON,
//! from partitions directly or through a group that remembers its place.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};

fn ferrokafka(args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    // A consume that never finds what it waits for must fail the test, not
    // hang it: std has no wait with a timeout, so poll the exit status.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "ferrokafka {args:?} ran for 60 s: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn produced_topic(lines: usize) -> String {
    let topic = unique_topic("cli-consume");
    let bootstrap = bootstrap_servers();
    // A one-partition topic, so the order of lines is the order of records.
    create_topic_blocking(&topic, 1);
    let input: Vec<String> = (0..lines).map(|i| format!("key-{i}:value {i}")).collect();
    ok(&ferrokafka(
        &["produce", "-b", bootstrap, "-t", &topic, "-K", ":"],
        Some(&input.join("\n")),
    ));
    topic
}

#[test]
fn reads_back_what_produce_wrote_in_every_format() {
    let topic = produced_topic(20);
    let bootstrap = bootstrap_servers();
    let lines = ok(&ferrokafka(
        &[
            "consume",
            "-b",
            bootstrap,
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-K",
            ":",
        ],
        None,
    ));
    let expected: Vec<String> = (0..20).map(|i| format!("key-{i}:value {i}")).collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), expected);

    let values = ok(&ferrokafka(
        &["consume", "-b", bootstrap, "-t", &topic, "-o", "15", "-e"],
        None,
    ));
    assert_eq!(
        values.lines().collect::<Vec<_>>(),
        ["value 15", "value 16", "value 17", "value 18", "value 19"]
    );

    let json = ok(&ferrokafka(
        &[
            "consume",
            "-b",
            bootstrap,
            "-t",
            &topic,
            "-o",
            "beginning",
            "-c",
            "1",
            "--json",
        ],
        None,
    ));
    let first: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(first["offset"], 0);
    assert_eq!(first["key"]["utf8"], "key-0");
    assert_eq!(first["value"]["utf8"], "value 0");
}

#[test]
fn a_group_continues_where_it_stopped() {
    let topic = produced_topic(10);
    let group = unique_topic("cli-group");
    let bootstrap = bootstrap_servers();
    let args = |count: &'static str| {
        vec![
            "consume".to_string(),
            "-b".into(),
            bootstrap.into(),
            "-t".into(),
            topic.clone(),
            "-g".into(),
            group.clone(),
            "-o".into(),
            "beginning".into(),
            "-c".into(),
            count.into(),
        ]
    };
    let first: Vec<String> = args("4");
    let first = ok(&ferrokafka(
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    assert_eq!(first.lines().count(), 4);
    assert_eq!(first.lines().next(), Some("value 0"));
    let second: Vec<String> = args("6");
    let second = ok(&ferrokafka(
        &second.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    // Offsets were committed on close: the second run starts at record 4.
    assert_eq!(second.lines().next(), Some("value 4"));
    assert_eq!(second.lines().count(), 6);
}
