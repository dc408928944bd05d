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
    let mut failures = Vec::new();
    for project in &projects {
        for target in targets(project)? {
            eprintln!("fuzzing {}::{target} for {seconds}s", project.display());
            let status = Command::new("cargo")
                .args(["+nightly", "fuzz", "run", &target, "--"])
                .arg(format!("-max_total_time={seconds}"))
                .current_dir(project.parent().context("fuzz folder has a parent")?)
                .status()?;
            if !status.success() {
                failures.push(format!("{}::{target}", project.display()));
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
