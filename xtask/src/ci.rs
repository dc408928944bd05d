//! `cargo xtask test` (and its alias `ci`): every check the project makes,
//! with a real broker for the integration tests, and one summary at the end.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::broker::{self, jars};

/// Options of `cargo xtask test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds each fuzz target runs (0 skips fuzzing).
    #[arg(long, default_value_t = 10)]
    pub fuzz_seconds: u64,
    /// Run against this cluster instead of starting one
    /// (also read from KAFKA_BOOTSTRAP_SERVERS).
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
}

struct Outcome {
    step: &'static str,
    seconds: f64,
    result: anyhow::Result<()>,
}

/// What the test binaries reported: counts of their `test result:` lines,
/// and the name and output of every failed test, repeated in the summary
/// so it is not lost above later steps' output.
#[derive(Default)]
struct TestCounts {
    passed: u64,
    failed: u64,
    ignored: u64,
    failures: Vec<String>,
}

/// Runs every step, prints a summary, and fails if any step failed.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let mut outcomes = Vec::new();
    let mut counts = TestCounts::default();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        eprintln!("\n==> {name}");
        let started = Instant::now();
        let result = f();
        if let Err(e) = &result {
            eprintln!("==> {name} FAILED: {e:#}");
        }
        outcomes.push(Outcome {
            step: name,
            seconds: started.elapsed().as_secs_f64(),
            result,
        });
    };

    step("fmt", &mut || {
        cargo(&root, &["fmt", "--all", "--check"], &[])
    });
    step("codegen --check", &mut || {
        crate::codegen::run(&crate::codegen::Args {
            check: true,
            schemas: None,
        })
    });
    step("clippy", &mut || {
        cargo(
            &root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    });
    step("tests (unit, property, golden, integration)", &mut || {
        run_tests(&root, args.bootstrap_servers.as_deref(), &mut counts)
    });
    step("default-settings tests on Kafka 3.9.x", &mut || {
        run_default_settings_tests(&root, jars::NEWEST_3X_VERSION, &mut counts)
    });
    step("python (the ferrokafka package, pytest)", &mut || {
        crate::python::test_package(args.bootstrap_servers.as_deref())
    });
    step("chaos (short schedule, seed 1)", &mut || {
        crate::chaos::run(&crate::chaos::Args {
            seconds: crate::chaos::CI_SECONDS,
            seed: 1,
            kafka_version: jars::DEFAULT_KAFKA_VERSION.to_string(),
            kinds: Vec::new(),
            min_each: 0,
            no_report: true,
        })
    });
    step("soak (short)", &mut || {
        // Written under target/, so the CI never changes RELIABILITY.md.
        crate::soak::run(&crate::soak::Args {
            seconds: crate::soak::CI_SECONDS,
            sample_seconds: crate::soak::CI_SAMPLE_SECONDS,
            warmup_samples: 2,
            rate: 1000,
            kafka_version: jars::DEFAULT_KAFKA_VERSION.to_string(),
            out: Some(root.join("target/soak/RELIABILITY-short.md")),
        })
    });
    step("doc", &mut || {
        cargo(
            &root,
            &["doc", "--workspace", "--no-deps"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    });
    if args.fuzz_seconds > 0 {
        step("fuzz (short run)", &mut || {
            crate::fuzz::run(&crate::fuzz::Args::all(args.fuzz_seconds))
        });
    }

    eprintln!("\n{:<46} {:>8}  result", "step", "seconds");
    for outcome in &outcomes {
        let result = match &outcome.result {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("FAILED: {}", first_line(e)),
        };
        eprintln!("{:<46} {:>8.1}  {result}", outcome.step, outcome.seconds);
    }
    let failed_steps = outcomes.iter().filter(|o| o.result.is_err()).count();
    if !counts.failures.is_empty() {
        eprintln!("\nfailed tests:");
        for failure in &counts.failures {
            eprintln!("{failure}");
        }
    }
    println!(
        "tests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    if failed_steps > 0 {
        bail!("{failed_steps} of {} steps failed", outcomes.len());
    }
    Ok(())
}

fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let status = Command::new(cargo_program())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} exited with {status}", args.join(" "));
    }
    Ok(())
}

/// The tests that run against a broker with Kafka's own settings
/// (`broker start --defaults`), besides the harness's tuned one: the
/// README's example, the demo's workload, group basics and the CLI.
/// `--workspace`, so features unify as in the full run and its build is
/// reused.
const DEFAULT_SETTINGS_TESTS: &[&str] = &[
    "--workspace",
    "--test",
    "default_broker",
    "--test",
    "cli_defaults",
    "--test",
    "cli_signals",
];

/// `cargo test --workspace` against one broker shared by every test binary
/// (the given cluster, or a node started here and ended when the tests
/// end), and one node of the newest release with Kafka's default settings
/// for the default-settings tests.
fn run_tests(root: &Path, bootstrap: Option<&str>, counts: &mut TestCounts) -> anyhow::Result<()> {
    let (_cluster, bootstrap) = broker::given_or_started(bootstrap, "xtask-test")?;
    let (_defaults, defaults) = match std::env::var(DEFAULTS_ENV) {
        Ok(servers) if !servers.trim().is_empty() => (None, servers),
        _ => {
            let started = Instant::now();
            let cluster = broker::start_for_this_process(
                &broker::StartOptions {
                    defaults: true,
                    ..broker::StartOptions::single_node()
                },
                "xtask-test-defaults",
            )?;
            let servers = cluster.info.bootstrap_servers.clone();
            eprintln!(
                "a node with Kafka's default settings at {servers}, started in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            (Some(cluster), servers)
        }
    };
    cargo_test(
        root,
        &["--workspace"],
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
            (DEFAULTS_ENV, defaults.as_str()),
        ],
        counts,
    )
}

/// Names a broker with Kafka's default settings for the default-settings
/// tests of the main run, instead of a node started for it.
const DEFAULTS_ENV: &str = "KAFKA_DEFAULTS_BOOTSTRAP_SERVERS";

/// The default-settings tests against one node of Kafka `version` started
/// with `--defaults`, which is every test's broker for this run.
fn run_default_settings_tests(
    root: &Path,
    version: &str,
    counts: &mut TestCounts,
) -> anyhow::Result<()> {
    let options = broker::StartOptions {
        version: version.to_string(),
        defaults: true,
        ..broker::StartOptions::single_node()
    };
    let started = Instant::now();
    let cluster = broker::start_for_this_process(&options, "xtask-test-3x")?;
    let servers = cluster.info.bootstrap_servers.as_str();
    eprintln!(
        "Apache Kafka {version} (default settings) at {servers}, started in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    cargo_test(
        root,
        DEFAULT_SETTINGS_TESTS,
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", servers),
            (DEFAULTS_ENV, servers),
        ],
        counts,
    )
}

/// `cargo test --no-fail-fast` with `selection` and `env`, its output
/// passed through and its counts and failures collected.
fn cargo_test(
    root: &Path,
    selection: &[&str],
    env: &[(&str, &str)],
    counts: &mut TestCounts,
) -> anyhow::Result<()> {
    let mut child = Command::new(cargo_program())
        .arg("test")
        .args(selection)
        .arg("--no-fail-fast")
        .envs(env.iter().copied())
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let stdout = child.stdout.take().context("cargo test stdout")?;
    let mut failure_report = FailureReport::default();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        failure_report.read(&line, &mut counts.failures);
        if let Some(rest) = line.strip_prefix("test result: ") {
            counts.passed += count_before(rest, " passed");
            counts.failed += count_before(rest, " failed");
            counts.ignored += count_before(rest, " ignored");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo test exited with {status}");
    }
    Ok(())
}

/// Collects libtest's `failures:` section: one `---- name stdout ----`
/// block per failed test, kept to its first lines.
#[derive(Default)]
struct FailureReport {
    in_section: bool,
    current: Option<(String, usize)>,
}

impl FailureReport {
    const LINES_KEPT: usize = 30;

    fn read(&mut self, line: &str, failures: &mut Vec<String>) {
        if line == "failures:" {
            // The same word heads the blocks and then the list of names
            // that closes the section.
            self.flush(failures);
            self.in_section = !self.in_section;
            return;
        }
        if !self.in_section {
            return;
        }
        if line.starts_with("---- ") && line.ends_with(" ----") {
            self.flush(failures);
            self.current = Some((line.to_string(), 1));
        } else if let Some((text, lines)) = &mut self.current
            && *lines < Self::LINES_KEPT
        {
            text.push('\n');
            text.push_str(line);
            *lines += 1;
        }
    }

    fn flush(&mut self, failures: &mut Vec<String>) {
        if let Some((text, _)) = self.current.take() {
            failures.push(text.trim_end().to_string());
        }
    }
}

/// The number just before `label` in a `test result:` line.
fn count_before(line: &str, label: &str) -> u64 {
    line.find(label)
        .and_then(|end| line[..end].rsplit([' ', '.']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The cargo that runs this task (as `cargo xtask`), or the one on the PATH.
fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

#[cfg(test)]
mod tests {
    use super::{FailureReport, count_before};

    #[test]
    fn reads_counts_from_a_test_result_line() {
        let line =
            "ok. 12 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(count_before(line, " passed"), 12);
        assert_eq!(count_before(line, " failed"), 3);
        assert_eq!(count_before(line, " ignored"), 1);
    }

    #[test]
    fn keeps_each_failed_tests_output() {
        let output = "running 2 tests
test a ... ok
test b ... FAILED

failures:

---- b stdout ----
thread 'b' panicked at src/lib.rs:3:5:
boom

failures:
    b

test result: FAILED. 1 passed; 1 failed; 0 ignored";
        let mut report = FailureReport::default();
        let mut failures = Vec::new();
        for line in output.lines() {
            report.read(line, &mut failures);
        }
        assert_eq!(
            failures,
            ["---- b stdout ----\nthread 'b' panicked at src/lib.rs:3:5:\nboom"]
        );
    }
}
