//! `ferrokafka bench` against the harness broker: a produce run and a
//! consume run of the same records print result lines that account for
//! every record and byte (the lines `cargo xtask bench` reads).

use std::process::Command;

use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};

fn bench(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .arg("bench")
        .args(args)
        .args(["--bootstrap", bootstrap_servers(), "--timeout-s", "60"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

#[test]
fn produced_records_are_all_acknowledged_then_all_consumed() {
    let topic = unique_topic("cli-bench");
    create_topic_blocking(&topic, 3);
    let produced = bench(&[
        "produce",
        "--topic",
        &topic,
        "--records",
        "3000",
        "--record-size",
        "50",
        "--acks",
        "all",
        "--compression",
        "lz4",
    ]);
    assert_eq!(produced["records"], 3000);
    assert_eq!(produced["bytes"], 150_000);
    let p50 = produced["latency_p50_ms"].as_f64().unwrap();
    let p99 = produced["latency_p99_ms"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99, "p50 {p50} p99 {p99}");

    let group = format!("{topic}-group");
    for mode in ["batch", "iter"] {
        let consumed = bench(&[
            "consume",
            "--topic",
            &topic,
            "--records",
            "3000",
            "--group",
            &format!("{group}-{mode}"),
            "--mode",
            mode,
        ]);
        assert_eq!(consumed["records"], 3000, "{mode}");
        assert_eq!(consumed["bytes"], 150_000, "{mode}");
        assert!(consumed["latency_p50_ms"].is_null());
    }
}

#[test]
fn json_integers_are_the_seeds_values() {
    let topic = unique_topic("cli-bench-json");
    create_topic_blocking(&topic, 1);
    let produced = bench(&[
        "produce",
        "--topic",
        &topic,
        "--records",
        "1000",
        "--json-ints",
    ]);
    // "0".."999": 10 one-digit, 90 two-digit and 900 three-digit numbers.
    assert_eq!(produced["bytes"], 10 + 180 + 2700);
}
