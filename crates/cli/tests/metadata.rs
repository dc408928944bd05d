//! `ferrokafka metadata` against the harness brokers: plain with a dead
//! first bootstrap server, and SASL_SSL; a wrong password fails cleanly.

use std::net::TcpListener;
use std::process::{Command, Output};

use ferrokafka_tests::{bootstrap_servers, security_cluster};
use serde_json::Value;

fn metadata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .arg("metadata")
        .args(args)
        .output()
        .unwrap()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_dead_first_bootstrap_server_is_skipped() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let bootstrap = format!("{dead},{}", bootstrap_servers());
    let report = json(&metadata(&["-b", &bootstrap, "--json"]));
    assert!(
        !report["brokers"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(report["cluster_id"].is_string(), "{report}");

    let text = metadata(&["-b", &bootstrap]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("brokers:"));
}

#[test]
fn sasl_ssl_works_and_a_wrong_password_fails_naming_the_mechanism() {
    let security = security_cluster().security.clone().unwrap();
    let ca = security.certificates.ca_file.to_str().unwrap().to_string();
    let user = &security.users[1];
    let mut args = vec![
        "-b",
        &security.sasl_ssl,
        "--security-protocol",
        "SASL_SSL",
        "--ssl-cafile",
        &ca,
        "--sasl-mechanism",
        "SCRAM-SHA-256",
        "--sasl-username",
        &user.username,
        "--json",
    ];
    let good = [args.clone(), vec!["--sasl-password", &user.password]].concat();
    let report = json(&metadata(&good));
    assert_eq!(report["brokers"].as_array().unwrap().len(), 1, "{report}");

    args.extend(["--sasl-password", "wrong"]);
    let bad = metadata(&args);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("SCRAM-SHA-256") && stderr.contains("authentication"),
        "{stderr}"
    );
}

#[test]
fn a_bad_setting_names_the_key() {
    let bad = metadata(&["-b", "127.0.0.1:1", "-X", "request.timeout.ms=soon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("request_timeout_ms"));
}

#[test]
fn every_security_protocol_serves_metadata() {
    let security = security_cluster().security.clone().unwrap();
    let ca = security.certificates.ca_file.to_str().unwrap().to_string();
    let user = &security.users[1];
    let sasl = [
        "--sasl-mechanism",
        "PLAIN",
        "--sasl-username",
        user.username.as_str(),
        "--sasl-password",
        user.password.as_str(),
    ];
    let cases: Vec<Vec<&str>> = vec![
        [
            &[
                "-b",
                &security.sasl_plaintext,
                "--security-protocol",
                "SASL_PLAINTEXT",
            ][..],
            &sasl[..],
        ]
        .concat(),
        vec![
            "-b",
            &security.ssl,
            "--security-protocol",
            "SSL",
            "--ssl-cafile",
            &ca,
        ],
        [
            &[
                "-b",
                &security.sasl_ssl,
                "--security-protocol",
                "SASL_SSL",
                "--ssl-cafile",
                &ca,
            ][..],
            &sasl[..],
        ]
        .concat(),
    ];
    for case in cases {
        let report = json(&metadata(&[case.as_slice(), &["--json"]].concat()));
        assert_eq!(
            report["brokers"].as_array().unwrap().len(),
            1,
            "{case:?}: {report}"
        );
    }
}
