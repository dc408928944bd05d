//! `cargo xtask fuzz`: runs every cargo-fuzz target of every crate that has
//! a `fuzz/` folder, each for a bounded time; a campaign-length run records
//! each target's figures in `RELIABILITY.md`.

pub mod report;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds each target runs.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Run only these targets (`batch_reader` or `records::batch_reader`;
    /// repeat or separate with commas). All of them when none is given.
    #[arg(long = "target", value_delimiter = ',')]
    pub targets: Vec<String>,
}

impl Args {
    /// Every target, for `seconds` each.
    pub fn all(seconds: u64) -> Args {
        Args {
            seconds,
            targets: Vec::new(),
        }
    }

    fn wants(&self, crate_name: &str, target: &str) -> bool {
        self.targets.is_empty()
            || self
                .targets
                .iter()
                .any(|t| t == target || *t == format!("{crate_name}::{target}"))
    }
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

/// Runs the chosen targets of every project for `args.seconds` each; at
/// [`report::CAMPAIGN_SECONDS`] or more, writes their rows of
/// `RELIABILITY.md`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let seconds = args.seconds;
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
    let mut runs = Vec::new();
    for project in &projects {
        for target in targets(project)? {
            let crate_dir = project.parent().context("fuzz folder has a parent")?;
            let crate_name = crate_dir.file_name().unwrap_or_default().to_string_lossy();
            if !args.wants(&crate_name, &target) {
                continue;
            }
            let log_path = log_dir.join(format!("{crate_name}-{target}.log"));
            eprintln!(
                "fuzzing {crate_name}::{target} for {seconds}s (log: {})",
                log_path.display()
            );
            let log = std::fs::File::create(&log_path)?;
            let status = Command::new("cargo")
                .args(["+nightly", "fuzz", "run", &target, "--"])
                .arg(format!("-max_total_time={seconds}"))
                .arg("-print_final_stats=1")
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
            runs.push(report::Run {
                target: format!("{crate_name}::{target}"),
                feeds: feeds(&project.join("fuzz_targets").join(format!("{target}.rs"))),
                seconds,
                stats: report::Stats::parse(&output).filter(|_| status.success()),
                day: chrono::Utc::now().format("%Y-%m-%d").to_string(),
                commit: crate::git_commit(),
            });
        }
    }
    if runs.is_empty() {
        bail!("no fuzz target matches {:?}", args.targets);
    }
    if seconds >= report::CAMPAIGN_SECONDS {
        let path = crate::workspace_root().join("RELIABILITY.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(
            &path,
            report::SECTION.splice(&old, &report::render(&old, &runs)),
        )
        .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "fuzz: wrote the rows of {} target(s) into {}",
            runs.len(),
            path.display()
        );
    }
    if !failures.is_empty() {
        bail!("fuzz targets found crashes: {}", failures.join(", "));
    }
    Ok(())
}

/// What a target is fed: the first sentence of its file's `//!` doc.
fn feeds(source: &Path) -> String {
    let doc: Vec<String> = std::fs::read_to_string(source)
        .unwrap_or_default()
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.trim().to_string())
        .collect();
    let doc = doc.join(" ");
    match doc
        .find(". ")
        .or_else(|| doc.strip_suffix('.').map(str::len))
    {
        Some(end) => doc[..=end.min(doc.len() - 1)].trim().to_string(),
        None => doc,
    }
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
