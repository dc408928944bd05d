//! `cargo xtask fuzz`: runs every cargo-fuzz target of every crate that has
//! a `fuzz/` folder, each for a bounded time.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds each target runs.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
}

/// The crates' fuzz projects: `crates/*/fuzz` holding a `Cargo.toml`.
pub fn projects() -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(crate::workspace_root().join("crates"))? {
        let fuzz = entry?.path().join("fuzz");
        if fuzz.join("Cargo.toml").exists() {
            found.push(fuzz);
        }
    }
    found.sort();
    Ok(found)
}

/// Runs every target of every project for `seconds` each.
pub fn run_all(seconds: u64) -> anyhow::Result<()> {
    let projects = projects()?;
    if projects.is_empty() {
        eprintln!("no fuzz projects yet");
        return Ok(());
    }
    ensure_cargo_fuzz()?;
    // libFuzzer prints a line per new input; that goes to a file per target
    // so a CI log keeps the summaries and any crash.
    let log_dir = crate::workspace_root().join("target/fuzz-logs");
    std::fs::create_dir_all(&log_dir)?;
    let mut failures = Vec::new();
    for project in &projects {
        for target in targets(project)? {
            let crate_dir = project.parent().context("fuzz folder has a parent")?;
            let crate_name = crate_dir.file_name().unwrap_or_default().to_string_lossy();
            let log_path = log_dir.join(format!("{crate_name}-{target}.log"));
            eprintln!(
                "fuzzing {crate_name}::{target} for {seconds}s (log: {})",
                log_path.display()
            );
            let log = std::fs::File::create(&log_path)?;
            let status = Command::new("cargo")
                .args(["+nightly", "fuzz", "run", &target, "--"])
                .arg(format!("-max_total_time={seconds}"))
                .current_dir(crate_dir)
                .stdout(log.try_clone()?)
                .stderr(log)
                .status()?;
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            if status.success() {
                let done = output.lines().rfind(|l| l.starts_with("Done "));
                eprintln!("  {}", done.unwrap_or("finished"));
            } else {
                // The crash report and reproducer path are at the end.
                let lines: Vec<&str> = output.lines().collect();
                for line in &lines[lines.len().saturating_sub(60)..] {
                    eprintln!("  {line}");
                }
                failures.push(format!("{crate_name}::{target}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!("fuzz targets found crashes: {}", failures.join(", "));
    }
    Ok(())
}

fn targets(project: &Path) -> anyhow::Result<Vec<String>> {
    let output = Command::new("cargo")
        .args(["+nightly", "fuzz", "list"])
        .current_dir(project.parent().context("fuzz folder has a parent")?)
        .output()?;
    if !output.status.success() {
        bail!(
            "cargo fuzz list failed in {}: {}",
            project.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?
        .lines()
        .map(str::to_string)
        .collect())
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let has_nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nightly {
        bail!("fuzzing needs a nightly toolchain (`rustup toolchain install nightly`)");
    }
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        eprintln!("installing cargo-fuzz from crates.io");
        let status = Command::new("cargo")
            .args(["install", "cargo-fuzz", "--locked"])
            .status()?;
        if !status.success() {
            bail!("`cargo install cargo-fuzz --locked` failed");
        }
    }
    Ok(())
}
