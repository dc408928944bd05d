//! Python under `target/`: the venv of the interop peers of
//! `tests/interop/requirements.txt` (kafka-python, ...), made on first use,
//! and the `ferrokafka` Python package (`python/`) built, staged and tested
//! with pytest by `cargo xtask test`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The venv's `python`, creating the venv and installing the requirements if
/// they changed since the last time.
pub fn interop_python() -> anyhow::Result<PathBuf> {
    let venv = crate::broker::harness_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("python-venv");
    venv_with(
        &venv,
        &crate::workspace_root().join("tests/interop/requirements.txt"),
    )
}

/// The `python` of the venv at `venv`, made if missing, with the pinned
/// packages of `requirements_path` installed (again whenever that file
/// changed since the last install).
pub(crate) fn venv_with(
    venv: &std::path::Path,
    requirements_path: &std::path::Path,
) -> anyhow::Result<PathBuf> {
    let requirements = std::fs::read_to_string(requirements_path)
        .with_context(|| format!("reading {}", requirements_path.display()))?;
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
            .arg(venv)
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
        .arg(requirements_path)
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

/// The `ferrokafka` Python package's pieces under `target/`: the staged
/// package (`site/`) and the venv its tests run in (`venv/`).
fn package_dir() -> PathBuf {
    crate::broker::harness_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("python-ferrokafka")
}

/// `cargo xtask test`'s python step: builds the package's extension module,
/// stages the package, and runs its pytest suite (`python/tests`) against
/// `bootstrap` (or a broker started for the step).
///
/// The extension module is built by cargo with the same units as `cargo
/// test --workspace` (every library and test target of the workspace, so
/// features unify the same way): after the tests step only `pyo3` and the
/// module itself compile. `pip install ./python` (maturin) builds the same
/// sources for users.
pub fn test_package(bootstrap: Option<&str>) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let started = std::time::Instant::now();
    let library = build_extension(&root)?;
    eprintln!(
        "built the extension module in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let site = stage_package(&root, &library, package_dir().join("site"))?;
    let python = test_python(&site)?;
    let (_cluster, bootstrap) = if let Some(servers) = bootstrap {
        (None, servers.to_string())
    } else {
        let cluster = start_authorizer_node()?;
        let servers = cluster.info.bootstrap_servers.clone();
        (Some(cluster), servers)
    };
    let started = std::time::Instant::now();
    let status = Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--durations=5",
        ])
        .arg(root.join("python/tests"))
        .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&root)
        .status()
        .context("running pytest")?;
    eprintln!("pytest ran in {:.1}s", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("pytest python/tests exited with {status}");
    }
    Ok(())
}

/// The pytest suite's broker: a single node with Kafka's StandardAuthorizer
/// (so the ACL tests have an authorizer to talk to) and every client of its
/// PLAINTEXT listeners, `User:ANONYMOUS`, a super user (so nothing else is
/// refused). Against a given cluster without an authorizer, the ACL tests
/// skip.
fn start_authorizer_node() -> anyhow::Result<crate::broker::LocalCluster> {
    let options = crate::broker::StartOptions {
        extra_properties: vec![
            (
                "authorizer.class.name".to_string(),
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
            ),
            ("super.users".to_string(), "User:ANONYMOUS".to_string()),
        ],
        ..crate::broker::StartOptions::single_node()
    };
    eprintln!(
        "starting Apache Kafka {} (KRaft, one node, StandardAuthorizer) on 127.0.0.1 ...",
        options.version
    );
    let started = std::time::Instant::now();
    let cluster = crate::broker::start_for_this_process(&options, "xtask-python")?;
    eprintln!(
        "broker serving at {} (started in {:.1}s)",
        cluster.info.bootstrap_servers,
        started.elapsed().as_secs_f64()
    );
    Ok(cluster)
}

/// `cargo build --workspace --lib --tests` with PyO3 told it builds an
/// extension module (no libpython linked); the module's path.
fn build_extension(root: &std::path::Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "--workspace", "--lib", "--tests"])
        .env("PYO3_BUILD_EXTENSION_MODULE", "1")
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the extension module exited with {status}");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let name = if cfg!(target_os = "macos") {
        "lib_core.dylib"
    } else if cfg!(windows) {
        "_core.dll"
    } else {
        "lib_core.so"
    };
    Ok(target.join("debug").join(name))
}

/// Copies `python/python/ferrokafka` and the extension module (as
/// `ferrokafka/_core.abi3.so`) into `site` (emptied first).
pub(crate) fn stage_package(
    root: &std::path::Path,
    library: &std::path::Path,
    site: PathBuf,
) -> anyhow::Result<PathBuf> {
    if site.exists() {
        std::fs::remove_dir_all(&site).with_context(|| format!("removing {}", site.display()))?;
    }
    copy_tree(
        &root.join("python/python/ferrokafka"),
        &site.join("ferrokafka"),
    )?;
    let module = if cfg!(windows) {
        "_core.pyd"
    } else {
        "_core.abi3.so"
    };
    std::fs::copy(library, site.join("ferrokafka").join(module))
        .with_context(|| format!("copying {}", library.display()))?;
    Ok(site)
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to.join(&name))?;
        } else {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// The venv of the package's tests (`python/tests/requirements.txt`), with
/// the staged package on its path; made or updated as needed.
fn test_python(site: &std::path::Path) -> anyhow::Result<PathBuf> {
    let python = venv_with(
        &package_dir().join("venv"),
        &crate::workspace_root().join("python/tests/requirements.txt"),
    )?;
    put_on_path(&python, site)?;
    Ok(python)
}

/// Puts the staged package directory `site` on the path of the venv whose
/// interpreter is `python` (a `.pth` file in its site-packages).
pub(crate) fn put_on_path(python: &std::path::Path, site: &std::path::Path) -> anyhow::Result<()> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()?;
    let purelib = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    std::fs::write(
        purelib.join("ferrokafka-staged.pth"),
        format!("{}\n", site.display()),
    )
    .with_context(|| format!("writing a .pth file into {}", purelib.display()))?;
    Ok(())
}
