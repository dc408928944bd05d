//! A Python virtual environment under `target/` with the interop peers of
//! `tests/interop/requirements.txt` (kafka-python, ...), made on first use.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The venv's `python`, creating the venv and installing the requirements if
/// they changed since the last time.
pub fn interop_python() -> anyhow::Result<PathBuf> {
    let requirements_path = crate::workspace_root().join("tests/interop/requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_path)
        .with_context(|| format!("reading {}", requirements_path.display()))?;
    let venv = crate::broker::harness_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("python-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(python);
    }
    crate::tools::require("python3", "Python 3")?;
    if !python.exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()?;
        if !status.success() {
            bail!(
                "`python3 -m venv {}` failed: install python3-venv (e.g. `apt-get install python3-venv`)",
                venv.display()
            );
        }
    }
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements_path)
        .output()?;
    if !output.status.success() {
        bail!(
            "installing {} into {} failed:\n{}",
            requirements_path.display(),
            venv.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::write(&stamp, requirements)?;
    Ok(python)
}

/// Runs `tests/interop/<script>` with the interop venv's Python and returns
/// the last JSON line it prints; fails with its output when it exits non-zero.
pub fn run_interop_script(script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    run_interop_script_lines(script, args)?
        .pop()
        .with_context(|| format!("{script} printed no JSON line"))
}

/// Runs `tests/interop/<script>` and returns every JSON line it prints.
pub fn run_interop_script_lines(
    script: &str,
    args: &[&str],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let python = interop_python()?;
    let path = crate::workspace_root().join("tests/interop").join(script);
    let output = Command::new(&python).arg(&path).args(args).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{script} {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("{script} printed {line:?}"))
        })
        .collect()
}
