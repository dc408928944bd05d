//! The facade's examples (`crates/ferrokafka/examples/`), each run as its
//! own program against the real broker, in the order a reader would run
//! them: admin creates the topics, the producer writes the orders, the
//! consumers read them, the transactions example confirms them; and the
//! TLS + SCRAM example against the security listeners.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use ferrokafka_tests::{bootstrap_servers, security_cluster, unique_topic};

/// Longest any one example may run: each waits at most 60 s for records.
const EXAMPLE_LIMIT: Duration = Duration::from_secs(120);

/// The folder cargo puts the examples of this build in, built once per
/// test process. `--workspace`, so features unify as in `cargo test
/// --workspace` (CI), which has built them already and makes this a no-op.
/// This test binary lives in `<target>/<profile>/deps/`; the examples in
/// `<target>/<profile>/examples/`.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_examples)
}

fn build_examples() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "ferrokafka",
            "--examples",
            "--profile",
            &profile,
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(workspace)
        .status()
        .expect("running cargo build --examples");
    assert!(status.success(), "building the examples: {status}");
    profile_dir.join("examples")
}

/// Runs example `name` with `args`, bounded by [`EXAMPLE_LIMIT`], and
/// returns its standard output; panics with its output if it fails.
async fn run(dir: &Path, name: &str, args: &[&str]) -> String {
    let mut command = tokio::process::Command::new(dir.join(name));
    command.args(args).kill_on_drop(true);
    let output: Output = tokio::time::timeout(EXAMPLE_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("example {name} ran longer than {EXAMPLE_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "example {name} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn every_example_runs_against_the_broker() {
    let dir = examples_dir();
    let bootstrap = bootstrap_servers();
    let topic = unique_topic("example-orders");
    let args = [bootstrap, topic.as_str()];

    let admin = run(dir, "admin", &args).await;
    assert!(
        admin.contains(&format!("created {topic}-confirmed")),
        "{admin}"
    );
    assert!(admin.contains(&format!("{topic}: 3 partitions")), "{admin}");
    assert!(
        admin.contains(&format!("deleted {topic}-scratch")),
        "{admin}"
    );

    let produced = run(dir, "producer_callbacks", &args).await;
    assert!(produced.contains("delivered 10 orders"), "{produced}");

    let consumed = run(dir, "consumer_rebalance", &args).await;
    assert!(consumed.contains("assigned ["), "{consumed}");
    assert!(consumed.contains("consumed 10 orders"), "{consumed}");
    assert!(consumed.contains("ordered item-9"), "{consumed}");

    let audited = run(dir, "manual_commit", &args).await;
    assert!(
        audited.contains("processed 10 records, committed offsets sum to 10"),
        "{audited}"
    );

    let confirmed = run(dir, "transactions", &args).await;
    assert!(confirmed.contains("confirmed 10 orders"), "{confirmed}");
}

#[tokio::test]
async fn the_tls_scram_example_reads_its_settings_from_a_properties_file() {
    let dir = examples_dir();
    let security = security_cluster()
        .security
        .clone()
        .expect("security listeners");
    let user = &security.users[1];
    let properties = std::env::temp_dir().join(format!(
        "ferrokafka-example-{}.properties",
        std::process::id()
    ));
    // Dotted key names, as in a Java client's file.
    let text = format!(
        "bootstrap.servers={}\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
         sasl.plain.username={}\nsasl.plain.password={}\nssl.ca.location={}\n",
        security.sasl_ssl,
        user.username,
        user.password,
        security.certificates.ca_file.display()
    );
    std::fs::write(&properties, text).unwrap();
    let topic = unique_topic("example-tls");
    let output = run(
        dir,
        "tls_scram",
        &[properties.to_str().unwrap(), topic.as_str()],
    )
    .await;
    std::fs::remove_file(&properties).unwrap();
    assert!(output.contains("created"), "{output}");
    assert!(
        output.contains("read back \"over TLS, as a SCRAM user\""),
        "{output}"
    );
}
