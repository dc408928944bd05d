//! `ferrokafka topics`, `configs` and `cluster` against the shared broker:
//! what one command changes, the next one reads back; exit codes are 0 on
//! success, 1 when an item failed (named on stderr), 2 for usage errors.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ferrokafka_tests::{bootstrap_servers, unique_topic};
use serde_json::Value;

/// Runs `ferrokafka <args> -b <shared broker> --timeout 20`.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .args(args)
        .args(["-b", bootstrap_servers(), "--timeout", "20"])
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs `args` until `done` accepts the output, within 20 s (changes reach
/// the broker's metadata a moment after they are accepted).
fn run_until(args: &[&str], done: impl Fn(&Output) -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = run(args);
        if done(&output) {
            return output;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The config `name` of the entity (`--entity-type ... --entity-name ...`)
/// once `wanted` holds for it (changes reach the broker's config cache a
/// moment after they are accepted).
fn wait_config(entity: &[&str], name: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let args = [&["configs", "describe"][..], entity, &["--all", "--json"]].concat();
    let find = |output: &Output| {
        serde_json::from_slice::<Value>(&output.stdout)
            .ok()
            .and_then(|all| {
                all["configs"]
                    .as_array()?
                    .iter()
                    .find(|c| c["name"] == name)
                    .cloned()
            })
            .filter(|c| wanted(c))
    };
    let output = run_until(&args, |o| o.status.success() && find(o).is_some());
    find(&output).unwrap_or_default()
}

fn partitions(described: &Value) -> usize {
    described[0]["partitions"].as_array().map_or(0, Vec::len)
}

#[test]
fn create_describe_alter_and_delete_a_topic() {
    let topic = unique_topic("cli-topics");
    let created = run(&[
        "topics",
        "create",
        &topic,
        "-p",
        "2",
        "-r",
        "1",
        "-c",
        "retention.ms=3600000",
    ]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    assert!(String::from_utf8_lossy(&created.stdout).contains(&topic));

    let again = run(&["topics", "create", &topic, "-p", "1"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        stderr(&again)
    );

    let described = json(&run(&["topics", "describe", &topic, "--json"]));
    assert_eq!(described[0]["name"], topic.as_str());
    assert_eq!(partitions(&described), 2, "{described}");
    for partition in described[0]["partitions"].as_array().unwrap() {
        assert!(partition["leader"].is_i64(), "{partition}");
        assert_eq!(partition["replicas"].as_array().unwrap().len(), 1);
    }
    let listed = json(&run(&["topics", "list", "--json"]));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == topic.as_str() && t["topic_id"] == described[0]["topic_id"]),
        "{listed}"
    );

    // One existing and one missing topic: the output has both, exit 1.
    let missing = unique_topic("cli-missing");
    let mixed = run(&["topics", "describe", &topic, &missing, "--json"]);
    assert_eq!(mixed.status.code(), Some(1));
    assert!(
        stderr(&mixed).contains(&missing) && stderr(&mixed).contains("UNKNOWN_TOPIC_OR_PARTITION")
    );
    let mixed: Value = serde_json::from_slice(&mixed.stdout).unwrap();
    assert_eq!(mixed.as_array().unwrap().len(), 2, "{mixed}");

    // Configs: set, read back; an invalid value fails with exit 1.
    let entity = ["--entity-type", "topic", "--entity-name", topic.as_str()];
    let altered = run(&[
        &["configs", "alter"][..],
        &entity,
        &[
            "--add-config",
            "retention.ms=5000",
            "--delete-config",
            "cleanup.policy",
        ],
    ]
    .concat());
    assert_eq!(altered.status.code(), Some(0), "{}", stderr(&altered));
    let retention = wait_config(&entity, "retention.ms", |c| c["value"] == "5000");
    assert_eq!(retention["source"], "DYNAMIC_TOPIC_CONFIG");
    let shown = json(&run(
        &[&["configs", "describe"][..], &entity, &["--json"]].concat()
    ));
    let names: Vec<&str> = shown["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"retention.ms") && !names.contains(&"segment.bytes"),
        "without --all only the values set on the topic: {shown}"
    );
    let invalid = run(&[
        &["configs", "alter"][..],
        &entity,
        &["--add-config", "retention.ms=soon"],
    ]
    .concat());
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        stderr(&invalid).contains("INVALID_CONFIG"),
        "{}",
        stderr(&invalid)
    );

    // topics alter: more partitions and a config at once.
    let grown = run(&[
        "topics",
        "alter",
        &topic,
        "-p",
        "3",
        "--add-config",
        "segment.ms=600000",
        "--json",
    ]);
    assert_eq!(grown.status.code(), Some(0), "{}", stderr(&grown));
    run_until(&["topics", "describe", &topic, "--json"], |o| {
        o.status.success()
            && serde_json::from_slice::<Value>(&o.stdout).is_ok_and(|d| partitions(&d) == 3)
    });
    wait_config(&entity, "segment.ms", |c| c["value"] == "600000");
    wait_config(&entity, "cleanup.policy", |c| {
        c["source"] == "DEFAULT_CONFIG"
    });
    assert_eq!(
        wait_config(&entity, "retention.ms", |_| true)["value"],
        "5000"
    );

    let deleted = run(&["topics", "delete", &topic]);
    assert_eq!(deleted.status.code(), Some(0), "{}", stderr(&deleted));
    let gone = run_until(&["topics", "describe", &topic], |o| {
        o.status.code() == Some(1)
    });
    assert!(
        stderr(&gone).contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        stderr(&gone)
    );
    let twice = run(&["topics", "delete", &topic]);
    assert_eq!(twice.status.code(), Some(1));
}

#[test]
fn explicit_replica_assignments_and_deleting_by_topic_id() {
    let topic = unique_topic("cli-assigned");
    let bad = run(&["topics", "create", &topic, "--replica-assignment", "1,x"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("\"x\""), "{}", stderr(&bad));

    let created = run(&[
        "topics",
        "create",
        &topic,
        "--replica-assignment",
        "1,1,1",
        "--json",
    ]);
    let created = json(&created);
    assert_eq!(created[&topic]["partitions"], 3, "{created}");
    let described = json(&run(&["topics", "describe", &topic, "--json"]));
    assert_eq!(partitions(&described), 3);
    assert!(
        described[0]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["replicas"] == serde_json::json!([1])),
        "{described}"
    );

    let id = described[0]["topic_id"].as_str().unwrap().to_string();
    let deleted = json(&run(&["topics", "delete", "--id", &id, "--json"]));
    assert_eq!(deleted[&id]["deleted"], true, "{deleted}");
    run_until(&["topics", "describe", &topic], |o| {
        o.status.code() == Some(1)
    });
    let not_an_id = run(&["topics", "delete", "--id", "nope"]);
    assert_eq!(not_an_id.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2_and_cluster_describe_reports_the_cluster() {
    let no_topic = run(&["topics", "create"]);
    assert_eq!(no_topic.status.code(), Some(2), "{}", stderr(&no_topic));
    let bad_type = run(&[
        "configs",
        "describe",
        "--entity-type",
        "user",
        "--entity-name",
        "x",
    ]);
    assert_eq!(bad_type.status.code(), Some(2));
    assert!(
        stderr(&bad_type).contains("broker-logger"),
        "{}",
        stderr(&bad_type)
    );

    let cluster = json(&run(&["cluster", "describe", "--json"]));
    assert!(
        cluster["cluster_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{cluster}"
    );
    let brokers = cluster["brokers"].as_array().unwrap();
    assert!(!brokers.is_empty());
    assert!(
        brokers.iter().any(|b| b["id"] == cluster["controller"]),
        "{cluster}"
    );
    let quorum = json(&run(&["cluster", "quorum", "--json"]));
    assert!(
        quorum["high_watermark"].as_i64().is_some_and(|hw| hw > 0),
        "{quorum}"
    );
    let features = json(&run(&["cluster", "features", "--json"]));
    assert!(
        features["finalized"]["metadata.version"]["max"].is_i64(),
        "{features}"
    );
}
