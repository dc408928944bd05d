//! `ferrokafka acls` against a private node with Kafka's StandardAuthorizer
//! (the PLAINTEXT listener's `User:ANONYMOUS` is a super user): what
//! `create` makes, `list` shows and `delete` removes; exit codes are 0 on
//! success, 1 when an ACL failed (named on stderr), 2 for usage errors.

use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferrokafka_tests::{start_cluster_with, unique_topic};
use serde_json::Value;
use xtask::broker::{LocalCluster, StartOptions};

fn bootstrap() -> &'static str {
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    &CLUSTER
        .get_or_init(|| {
            start_cluster_with(&StartOptions {
                extra_properties: vec![
                    (
                        "authorizer.class.name".to_string(),
                        "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
                    ),
                    ("super.users".to_string(), "User:ANONYMOUS".to_string()),
                ],
                ..StartOptions::single_node()
            })
        })
        .info
        .bootstrap_servers
}

/// Runs `ferrokafka acls <args> -b <the node> --timeout 20`.
fn acls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
        .arg("acls")
        .args(args)
        .args(["-b", bootstrap(), "--timeout", "20"])
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

/// `acls list <args> --json` until `done` accepts the listing (an ACL
/// reaches the broker's authorizer a moment after the controller accepts
/// it), within 20 s.
fn list_until(args: &[&str], done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = json(&acls(&[&["list"], args, &["--json"]].concat()));
        let listed = listed.as_array().cloned().unwrap_or_default();
        if done(&listed) {
            return listed;
        }
        assert!(Instant::now() < deadline, "{args:?}: still {listed:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The (principal, operation, permission) of each listed ACL, sorted.
fn entries(listed: &[Value]) -> Vec<(String, String, String)> {
    let mut all: Vec<(String, String, String)> = listed
        .iter()
        .map(|acl| {
            (
                acl["principal"].as_str().unwrap_or_default().to_string(),
                acl["operation"].as_str().unwrap_or_default().to_string(),
                acl["permission"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    all.sort();
    all
}

fn entry(principal: &str, operation: &str, permission: &str) -> (String, String, String) {
    (
        principal.to_string(),
        operation.to_string(),
        permission.to_string(),
    )
}

#[test]
fn create_list_and_delete_acls() {
    let topic = unique_topic("cli-acl");
    let created = json(&acls(&[
        "create",
        "--allow-principal",
        "User:alice",
        "--allow-principal",
        "User:bob",
        "--operation",
        "Read",
        "--operation",
        "describe",
        "--topic",
        &topic,
        "--json",
    ]));
    let created = created.as_array().unwrap();
    assert_eq!(created.len(), 4, "{created:?}");
    assert!(created.iter().all(|c| c["created"] == true), "{created:?}");
    assert!(created.iter().all(|c| c["pattern_type"] == "LITERAL"));

    let group = unique_topic("cli-acl-group");
    let denied = acls(&[
        "create",
        "--deny-principal",
        "User:mallory",
        "--operation",
        "Read",
        "--group",
        &group,
        "--resource-pattern-type",
        "prefixed",
        "--host",
        "10.9.8.7",
    ]);
    assert_eq!(denied.status.code(), Some(0), "{}", stderr(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stdout).contains("DENY User:mallory READ"),
        "{}",
        String::from_utf8_lossy(&denied.stdout)
    );

    // Listed by resource, by principal, and by a name the prefix covers.
    let listed = list_until(&["--topic", &topic], |l| l.len() == 4);
    assert_eq!(
        entries(&listed),
        [
            entry("User:alice", "DESCRIBE", "ALLOW"),
            entry("User:alice", "READ", "ALLOW"),
            entry("User:bob", "DESCRIBE", "ALLOW"),
            entry("User:bob", "READ", "ALLOW"),
        ]
    );
    assert!(listed.iter().all(|acl| acl["name"] == topic.as_str()));
    let bobs = list_until(&["--topic", &topic, "--allow-principal", "User:bob"], |l| {
        l.len() == 2
    });
    assert_eq!(
        entries(&bobs),
        [
            entry("User:bob", "DESCRIBE", "ALLOW"),
            entry("User:bob", "READ", "ALLOW"),
        ]
    );
    let matched = list_until(
        &[
            "--group",
            &format!("{group}-member"),
            "--resource-pattern-type",
            "match",
        ],
        |l| !l.is_empty(),
    );
    assert_eq!(matched.len(), 1, "{matched:?}");
    assert_eq!(matched[0]["name"], group.as_str());
    assert_eq!(matched[0]["pattern_type"], "PREFIXED");
    assert_eq!(matched[0]["host"], "10.9.8.7");

    // The table names them too.
    let table = acls(&["list", "--topic", &topic]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.starts_with("PRINCIPAL"), "{table}");
    assert_eq!(table.lines().count(), 5, "{table}");

    // A principal without a type: the broker refuses it, exit 1, named.
    let refused = acls(&[
        "create",
        "--allow-principal",
        "alice",
        "--operation",
        "Read",
        "--topic",
        &topic,
        "--json",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("INVALID_REQUEST"),
        "{}",
        stderr(&refused)
    );
    let refused: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(refused[0]["created"], false, "{refused}");
    assert_eq!(refused[0]["error"]["code"], "INVALID_REQUEST", "{refused}");

    // Deleting alice's: the output names what went; bob's stay.
    let deleted = json(&acls(&[
        "delete",
        "--topic",
        &topic,
        "--allow-principal",
        "User:alice",
        "--json",
    ]));
    let gone = deleted[0]["deleted"].as_array().unwrap();
    assert_eq!(
        entries(gone),
        [
            entry("User:alice", "DESCRIBE", "ALLOW"),
            entry("User:alice", "READ", "ALLOW"),
        ]
    );
    let left = list_until(&["--topic", &topic], |l| l.len() == 2);
    assert_eq!(
        entries(&left),
        [
            entry("User:bob", "DESCRIBE", "ALLOW"),
            entry("User:bob", "READ", "ALLOW"),
        ]
    );
    let deleted = json(&acls(&[
        "delete",
        "--group",
        &group,
        "--resource-pattern-type",
        "prefixed",
        "--json",
    ]));
    assert_eq!(deleted[0]["deleted"].as_array().map(Vec::len), Some(1));
    list_until(
        &[
            "--group",
            &format!("{group}-member"),
            "--resource-pattern-type",
            "match",
        ],
        <[Value]>::is_empty,
    );
}

#[test]
fn usage_errors_exit_2() {
    let cases: [&[&str]; 6] = [
        // No operation.
        &["create", "--allow-principal", "User:a", "--topic", "t"],
        // No principal.
        &["create", "--operation", "Read", "--topic", "t"],
        // No resource.
        &[
            "create",
            "--allow-principal",
            "User:a",
            "--operation",
            "Read",
        ],
        // Two resources.
        &[
            "create",
            "--allow-principal",
            "User:a",
            "--operation",
            "Read",
            "--topic",
            "t",
            "--group",
            "g",
        ],
        // An unknown operation.
        &[
            "create",
            "--allow-principal",
            "User:a",
            "--operation",
            "Fly",
            "--topic",
            "t",
        ],
        // Deleting needs a resource.
        &["delete", "--allow-principal", "User:a"],
    ];
    for args in cases {
        // No broker is needed to refuse them.
        let output = Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
            .arg("acls")
            .args(args)
            .args(["-b", "127.0.0.1:1"])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).is_empty(), "{args:?}");
    }
}
