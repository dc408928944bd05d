//! `ferrokafka` against a broker that checks OAUTHBEARER tokens from an
//! OAuth/OIDC identity provider (`ferrokafka_tests::oidc`): `topics create`,
//! `produce` and `consume` given the Java client's keys with `-X` get their
//! tokens from the identity provider and their records back; a wrong client
//! secret makes the command fail at once, saying why, with a non-zero exit.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferrokafka_tests::oidc::oidc_cluster;
use ferrokafka_tests::unique_topic;

/// Longer than any command here should take: a failure must not hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// `-b` and the `-X KEY=VALUE` flags of a `client_credentials` client
/// named `client_id` whose secret is `secret` (the right one if `None`).
fn connection_args(client_id: &str, secret: Option<&str>) -> Vec<String> {
    let oidc = oidc_cluster();
    let mut args = vec!["-b".to_string(), oidc.bootstrap()];
    for (key, value) in oidc.client_credentials_pairs(client_id) {
        let value = match (key.as_str(), secret) {
            ("bootstrap.servers", _) => continue,
            ("sasl.oauthbearer.client.credentials.client.secret", Some(wrong)) => wrong.to_string(),
            _ => value,
        };
        args.push("-X".to_string());
        args.push(format!("{key}={value}"));
    }
    args
}

/// Runs `ferrokafka <args>` with `input` on its standard input, killing it
/// (and failing the test) if it outlives [`PATIENCE`].
fn ferrokafka(args: &[String], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    // std has no wait with a timeout: poll the exit status.
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "ferrokafka {args:?} ran for {PATIENCE:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn command(words: &[&str], client_id: &str, secret: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = words.iter().map(ToString::to_string).collect();
    args.extend(connection_args(client_id, secret));
    args
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn produce_and_consume_with_client_credentials_from_the_identity_provider() {
    let client_id = "cli-app";
    let topic = unique_topic("cli-oidc");
    let created = ferrokafka(
        &command(
            &[
                "topics",
                "create",
                &topic,
                "-p",
                "1",
                "-r",
                "1",
                "--timeout",
                "30",
            ],
            client_id,
            None,
        ),
        "",
    );
    assert!(created.status.success(), "{}", stderr(&created));

    let lines: Vec<String> = (0..50).map(|i| format!("key-{i}:value {i}")).collect();
    let produced = ferrokafka(
        &command(&["produce", "-t", &topic, "-K", ":"], client_id, None),
        &lines.join("\n"),
    );
    let produce_log = stderr(&produced);
    assert!(produced.status.success(), "{produce_log}");
    assert!(produce_log.contains("produced 50 records"), "{produce_log}");

    let consumed = ferrokafka(
        &command(
            &["consume", "-t", &topic, "-o", "beginning", "-e", "-K", ":"],
            client_id,
            None,
        ),
        "",
    );
    assert!(consumed.status.success(), "{}", stderr(&consumed));
    let read: Vec<String> = String::from_utf8(consumed.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(read, lines);
    // Each of the three commands is a process of its own with its own token.
    let issued = oidc_cluster().idp.tokens_issued(client_id);
    assert!((3..=6).contains(&issued), "{issued} tokens for 3 commands");
}

#[test]
fn a_wrong_client_secret_fails_produce_and_consume_saying_why() {
    let client_id = "cli-wrong-secret";
    let topic = unique_topic("cli-oidc-refused");
    for words in [
        &["produce", "-t", topic.as_str()][..],
        &["consume", "-t", topic.as_str(), "-o", "beginning", "-e"][..],
    ] {
        // Made before the clock starts: the first use starts the broker.
        let args = command(words, client_id, Some("not-the-secret"));
        let started = Instant::now();
        let output = ferrokafka(&args, "one line\n");
        let text = stderr(&output);
        assert!(!output.status.success(), "{words:?} succeeded: {text}");
        // The token endpoint's 401 is final: no retrying until a timeout.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{words:?} took {:?}: {text}",
            started.elapsed()
        );
        assert!(text.contains("HTTP 401"), "{words:?}: {text}");
        assert!(text.contains("wrong client secret"), "{words:?}: {text}");
        assert!(
            !text.contains("not-the-secret"),
            "the secret leaked: {text}"
        );
    }
    assert_eq!(oidc_cluster().idp.tokens_issued(client_id), 0);
}
