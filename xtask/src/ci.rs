//! `cargo xtask test` (and its alias `ci`): every check the project makes,
//! with a real broker for the integration tests, and one summary at the end.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::broker;

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

/// Counts of the test binaries' `test result:` lines.
#[derive(Default)]
struct TestCounts {
    passed: u64,
    failed: u64,
    ignored: u64,
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
    step("doc", &mut || {
        cargo(
            &root,
            &["doc", "--workspace", "--no-deps"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    });
    if args.fuzz_seconds > 0 {
        step("fuzz (short run)", &mut || {
            crate::fuzz::run_all(args.fuzz_seconds)
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

/// `cargo test --workspace` against one broker shared by every test binary:
/// the given cluster, or a node started here and ended when the tests end.
fn run_tests(root: &Path, bootstrap: Option<&str>, counts: &mut TestCounts) -> anyhow::Result<()> {
    let (_cluster, bootstrap) = broker::given_or_started(bootstrap, "xtask-test")?;
    let mut child = Command::new(cargo_program())
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let stdout = child.stdout.take().context("cargo test stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
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
    use super::count_before;

    #[test]
    fn reads_counts_from_a_test_result_line() {
        let line =
            "ok. 12 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(count_before(line, " passed"), 12);
        assert_eq!(count_before(line, " failed"), 3);
        assert_eq!(count_before(line, " ignored"), 1);
    }
}
