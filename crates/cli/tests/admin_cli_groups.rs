//! `ferrokafka groups` against the shared broker: describe shows a live
//! group's member, assignment, committed offset and lag as JSON; a
//! reset-offsets dry run changes nothing, `--execute` moves the offsets and
//! a consumer of the group starts from there; delete answers per group.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ferrokafka::consumer::{Consumer, ConsumerConfig};
use ferrokafka::producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// Runs `ferrokafka <args> -b <shared broker> --timeout 20`.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .args(args)
        .args(["-b", bootstrap_servers(), "--timeout", "20"])
        .output()
        .unwrap()
}

fn json(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn member(group: &str) -> ConsumerConfig {
    ConsumerConfig::from_pairs([
        ("bootstrap_servers", bootstrap_servers()),
        ("group_id", group),
        ("client_id", "cli-groups-member"),
        ("auto_offset_reset", "earliest"),
        ("enable_auto_commit", "false"),
        ("heartbeat_interval_ms", "300"),
        ("session_timeout_ms", "10000"),
    ])
    .unwrap()
}

/// The offsets rows of `groups describe --json` for the group.
fn described(group: &str) -> Value {
    let out = json(&run(&["groups", "describe", group, "--json"]));
    out[0].clone()
}

#[test]
fn describe_reset_offsets_and_delete_a_group() {
    let topic = unique_topic("cli-groups");
    let group = unique_topic("cli-group");
    create_topic_blocking(&topic, 1);
    let runtime = runtime();
    runtime.block_on(async {
        let producer = Producer::new(
            ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
        )
        .await
        .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..10 {
            let record = ProducerRecord::new(&topic)
                .partition(0)
                .value(format!("v{i}"));
            deliveries.push(producer.send(record).await.unwrap());
        }
        for delivery in deliveries {
            delivery.await.unwrap();
        }
    });

    // A live member that consumed 8 records and committed.
    let consumer = runtime.block_on(async {
        let consumer = Consumer::new(member(&group)).await.unwrap();
        consumer.subscribe(&[topic.as_str()]).await.unwrap();
        let deadline = Instant::now() + WAIT;
        let mut seen = 0;
        while seen < 10 {
            assert!(Instant::now() < deadline, "only {seen} records arrived");
            seen += consumer
                .poll(Duration::from_millis(200))
                .await
                .unwrap()
                .len();
        }
        let partition = ferrokafka::consumer::TopicPartition::new(topic.as_str(), 0);
        consumer.seek(&partition, 8).await.unwrap();
        consumer.commit().await.unwrap();
        consumer
    });

    let live = described(&group);
    assert_eq!(live["group_id"], group.as_str(), "{live}");
    assert_eq!(live["state"], "Stable", "{live}");
    let members = live["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{live}");
    assert_eq!(members[0]["client_id"], "cli-groups-member");
    assert_eq!(members[0]["assignment"][0]["topic"], topic.as_str());
    assert_eq!(members[0]["assignment"][0]["partition"], 0);
    let offsets = live["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 1, "{live}");
    assert_eq!(offsets[0]["committed"], 8);
    assert_eq!(offsets[0]["end"], 10);
    assert_eq!(offsets[0]["lag"], 2);
    assert_eq!(offsets[0]["member_id"], members[0]["member_id"]);

    // Deleting a group with a member fails for it (exit 1).
    let busy = run(&["groups", "delete", &group]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&busy.stderr).contains("NON_EMPTY_GROUP"));

    runtime
        .block_on(consumer.close(Duration::from_secs(5)))
        .unwrap();

    // A dry run plans offset 3 and changes nothing.
    let reset = [
        "groups",
        "reset-offsets",
        "--group",
        &group,
        "--topic",
        &topic,
    ];
    let dry = json(&run(&[&reset[..], &["--to-offset", "3", "--json"]].concat()));
    assert_eq!(dry["executed"], false);
    assert_eq!(dry["partitions"][0]["current"], 8, "{dry}");
    assert_eq!(dry["partitions"][0]["new"], 3, "{dry}");
    assert_eq!(described(&group)["offsets"][0]["committed"], 8);
    // Earlier than the log start is clamped to it; a shift moves from the
    // committed offset.
    let shifted = json(&run(&[&reset[..], &["--shift-by", "-5", "--json"]].concat()));
    assert_eq!(shifted["partitions"][0]["new"], 3, "{shifted}");
    let earliest = json(&run(&[&reset[..], &["--to-earliest", "--json"]].concat()));
    assert_eq!(earliest["partitions"][0]["new"], 0, "{earliest}");
    let future = json(&run(&[
        &reset[..],
        &["--to-datetime", "2999-01-01T00:00:00Z", "--json"],
    ]
    .concat()));
    assert_eq!(future["partitions"][0]["new"], 10, "{future}");
    assert_eq!(described(&group)["offsets"][0]["committed"], 8);

    // --execute commits it.
    let done = json(&run(&[
        &reset[..],
        &["--to-offset", "3", "--execute", "--json"],
    ]
    .concat()));
    assert_eq!(done["executed"], true);
    assert!(done["partitions"][0].get("error").is_none(), "{done}");
    let after = described(&group);
    assert_eq!(after["offsets"][0]["committed"], 3, "{after}");
    assert_eq!(after["offsets"][0]["lag"], 7, "{after}");

    // The table shows the same offsets.
    let table = run(&["groups", "describe", &group]);
    assert_eq!(table.status.code(), Some(0));
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.starts_with(topic.as_str()))
        .unwrap_or_else(|| panic!("no row for {topic}: {table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..5], [topic.as_str(), "0", "3", "10", "7"], "{table}");
    let empty = json(&run(&["groups", "list", "--state", "Empty", "--json"]));
    assert!(
        empty
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group_id"] == group.as_str()),
        "{empty}"
    );

    // A consumer of the group starts there.
    let first = runtime.block_on(async {
        let consumer = Consumer::new(member(&group)).await.unwrap();
        consumer.subscribe(&[topic.as_str()]).await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no records arrived");
            if let Some(record) = consumer
                .poll(Duration::from_millis(200))
                .await
                .unwrap()
                .first()
            {
                let offset = record.offset;
                consumer.close(Duration::from_secs(5)).await.unwrap();
                break offset;
            }
        }
    });
    assert_eq!(first, 3);

    // Usage errors exit with 2: no target, or two of them.
    assert_eq!(run(&reset).status.code(), Some(2));
    assert_eq!(
        run(&[&reset[..], &["--to-earliest", "--to-latest"]].concat())
            .status
            .code(),
        Some(2)
    );

    // The group is empty now: deleted, and then gone.
    let deleted = json(&run(&["groups", "delete", &group, "--json"]));
    assert_eq!(deleted[0]["deleted"], true, "{deleted}");
    let listed = json(&run(&["groups", "list", "--json"]));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["group_id"] != group.as_str()),
        "{listed}"
    );
}
