//! `ferrokafka share-consume` against the harness broker: records a share
//! group reads are printed with their delivery count, accepted or released
//! as `--ack` says (released ones come back with the count raised), and
//! the command stops at its count or after `--idle-exit-ms` without a
//! record. The group starts from the beginning through `ferrokafka configs
//! alter --entity-type group`.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};

/// Runs the binary, failing the test after 90 s rather than hanging it.
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
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "ferrokafka {args:?} ran for 90 s: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
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

/// (offset, value, delivery count) of each JSON line.
fn parsed(lines: &str) -> Vec<(i64, String, i64)> {
    lines
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["offset"].as_i64().unwrap(),
                v["value"]["utf8"].as_str().unwrap().to_string(),
                v["delivery_count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn share_consume_accepts_releases_and_stops_when_idle() {
    let bootstrap = bootstrap_servers();
    let topic = unique_topic("cli-share");
    let group = format!("{topic}-group");
    create_topic_blocking(&topic, 1);
    let input: Vec<String> = (0..10).map(|i| format!("value {i}")).collect();
    ok(&ferrokafka(
        &["produce", "-b", bootstrap, "-t", &topic],
        Some(&input.join("\n")),
    ));
    ok(&ferrokafka(
        &[
            "configs",
            "alter",
            "-b",
            bootstrap,
            "--entity-type",
            "group",
            "--entity-name",
            &group,
            "--add-config",
            "share.auto.offset.reset=earliest",
        ],
        None,
    ));
    let share = |extra: &[&str]| {
        let mut args = vec![
            "share-consume",
            "-b",
            bootstrap,
            "-t",
            &topic,
            "-G",
            &group,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        parsed(&ok(&ferrokafka(&args, None)))
    };

    let accepted = share(&["-c", "5"]);
    let expected: Vec<(i64, String, i64)> = (0..5).map(|i| (i, format!("value {i}"), 1)).collect();
    assert_eq!(accepted, expected);

    let released = share(&["-c", "5", "--ack", "release"]);
    let expected: Vec<(i64, String, i64)> = (5..10).map(|i| (i, format!("value {i}"), 1)).collect();
    assert_eq!(released, expected);

    // The released records come back, delivered a second time; the
    // accepted ones never; then nothing for two seconds ends the command.
    let started = Instant::now();
    let again = share(&["--idle-exit-ms", "2000"]);
    let expected: Vec<(i64, String, i64)> = (5..10).map(|i| (i, format!("value {i}"), 2)).collect();
    assert_eq!(again, expected);
    assert!(started.elapsed() >= Duration::from_secs(2));

    // The group is listed as a share group and described with its start
    // offset.
    let listed: serde_json::Value = serde_json::from_str(&ok(&ferrokafka(
        &["groups", "list", "-b", bootstrap, "--json"],
        None,
    )))
    .unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == group.as_str())
        .unwrap_or_else(|| panic!("{group} not in {listed}"));
    assert_eq!(entry["type"], "share");
    let described: serde_json::Value = serde_json::from_str(&ok(&ferrokafka(
        &["groups", "describe", "-b", bootstrap, "--json", &group],
        None,
    )))
    .unwrap();
    let description = &described[0];
    assert_eq!(description["kind"], "share", "{described}");
    let offsets = description["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 1, "{described}");
    assert_eq!(offsets[0]["partition"], 0);
    assert!(offsets[0]["committed"].is_i64(), "{described}");

    let bad = ferrokafka(
        &[
            "share-consume",
            "-b",
            bootstrap,
            "-t",
            &topic,
            "-G",
            &group,
            "--ack",
            "maybe",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ack"));
}
