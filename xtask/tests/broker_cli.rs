//! `cargo xtask broker start|stop` as a user runs them: each start prints its
//! JSON line, and an independent client (kafka-python) uses the cluster.

use std::process::Command;

use serde_json::Value;
use xtask::broker::process;

fn xtask(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "xtask {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn start(name: &str, brokers: &str) -> Value {
    let output = xtask(&["broker", "start", "--name", name, "--brokers", brokers]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "start prints exactly one line: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

fn roundtrip(bootstrap: &str, topic: &str, replication_factor: &str, create: bool) -> Value {
    let mut args = vec![
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--replication-factor",
        replication_factor,
        "--partitions",
        "3",
        "--acks",
        "all",
        "--records",
        "5",
        "--tag",
        if create { "first" } else { "second" },
    ];
    if create {
        args.push("--create");
    }
    xtask::python::run_interop_script("kafka_python_roundtrip.py", &args).unwrap()
}

/// Stops the named cluster even when an assertion fails half-way.
struct StopOnDrop(String);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["broker", "stop", "--name", &self.0])
            .output();
    }
}

#[test]
fn single_node_then_three_nodes_serve_kafka_python_and_survive_a_kill() {
    let name = format!("cli-test-{}", std::process::id());
    let _guard = StopOnDrop(name.clone());

    let single = start(&name, "1");
    assert_eq!(single["brokers"].as_array().unwrap().len(), 1);
    let bootstrap = single["bootstrap_servers"].as_str().unwrap();
    let report = roundtrip(bootstrap, "single-node", "1", true);
    assert_eq!(report["consumed"], 5, "{report}");

    let status = xtask(&["broker", "status", "--name", &name]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("running"));
    xtask(&["broker", "stop", "--name", &name]);
    let pid = single["brokers"][0]["pid"].as_u64().unwrap() as u32;
    assert!(!process::alive(pid), "stop left pid {pid} running");

    let cluster = start(&name, "3");
    let nodes = cluster["brokers"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let bootstrap = cluster["bootstrap_servers"].as_str().unwrap();
    let report = roundtrip(bootstrap, "replicated", "3", true);
    assert_eq!(report["consumed"], 5, "{report}");

    // Kill one node the way a crash would; the two left keep a quorum and,
    // with min.insync.replicas=2, still accept acks=all writes.
    let victim = nodes[2]["pid"].as_u64().unwrap() as u32;
    process::signal("-KILL", &[victim]);
    let survivors: Vec<String> = nodes[..2]
        .iter()
        .map(|n| format!("127.0.0.1:{}", n["port"]))
        .collect();
    let report = roundtrip(&survivors.join(","), "replicated", "3", false);
    assert_eq!(report["produced"], 5, "{report}");
    assert_eq!(report["consumed"], 5, "{report}");
}

#[test]
fn docker_backend_says_when_no_engine_answers() {
    let engine_configured = std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists();
    if engine_configured {
        // With an engine, starting would pull and run the image: that is
        // the docker backend working, not this test's subject.
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "broker",
            "start",
            "--backend",
            "docker",
            "--name",
            "no-engine",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no Docker engine answered"), "{stderr}");
    assert!(stderr.contains("local backend"), "{stderr}");
}
