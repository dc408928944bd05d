//! The Java programs under `xtask/golden-java/`, compiled against the
//! kafka-clients jar of a broker release, and a bounded way to run programs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::broker::{self, jars};

/// The golden Java programs, compiled, with the classpath that runs them.
#[derive(Debug, Clone)]
pub struct JavaPrograms {
    classpath: String,
}

impl JavaPrograms {
    /// The classes and Kafka's jars, as `java -cp` takes them (for a
    /// broker plugin, [`crate::broker::StartOptions::extra_classpath`]).
    pub fn classpath(&self) -> &str {
        &self.classpath
    }

    /// `java -cp <classes and Kafka's jars> <main_class>`, for the caller to
    /// add arguments to.
    pub fn command(&self, main_class: &str) -> Command {
        let mut command = Command::new("java");
        command.arg("-cp").arg(&self.classpath).arg(main_class);
        command
    }
}

/// The folder of the Java sources.
pub fn sources_dir() -> PathBuf {
    crate::workspace_root().join("xtask/golden-java")
}

/// Compiles `xtask/golden-java/*.java` against Apache Kafka `kafka_version`'s
/// jars (resolved from Maven Central on first use), unless the classes of
/// exactly these sources are there already.
pub fn compile(kafka_version: &str) -> anyhow::Result<JavaPrograms> {
    compile_folder(&sources_dir(), "golden-java", kafka_version)
}

/// Compiles the `*.java` files of `sources_dir` against Apache Kafka
/// `kafka_version`'s jars into `target/<out_name>/<version>`, unless the
/// classes of exactly these sources are there already.
pub fn compile_folder(
    sources_dir: &Path,
    out_name: &str,
    kafka_version: &str,
) -> anyhow::Result<JavaPrograms> {
    require_jdk()?;
    let libs = jars::resolve(&broker::harness_dir(), kafka_version)?;
    let kafka_classpath = jars::classpath(&libs)?;
    let out_dir = broker::harness_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join(out_name)
        .join(kafka_version);
    let classes = out_dir.join("classes");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(sources_dir)
        .with_context(|| format!("reading {}", sources_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "java"))
        .collect();
    sources.sort();
    // The stamp is the sources themselves: recompiling is cheap, comparing is cheaper.
    let mut stamp = String::new();
    for source in &sources {
        stamp.push_str(&std::fs::read_to_string(source)?);
    }
    let stamp_path = out_dir.join("sources.stamp");
    let classpath = format!("{}:{kafka_classpath}", classes.display());
    if std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(JavaPrograms { classpath });
    }
    let _ = std::fs::remove_dir_all(&classes);
    std::fs::create_dir_all(&classes)?;
    let mut javac = Command::new("javac");
    javac
        .args(["--release", "17", "-Xlint:all,-processing", "-d"])
        .arg(&classes)
        .arg("-cp")
        .arg(&kafka_classpath)
        .args(&sources);
    let output = run_bounded(&mut javac, Duration::from_secs(300))?;
    if !output.status.success() {
        bail!(
            "javac failed on {}:\n{}{}",
            sources_dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::write(&stamp_path, stamp)?;
    Ok(JavaPrograms { classpath })
}

/// Fails with an install hint when there is no Java compiler (a JRE alone
/// runs the broker, but the golden programs need `javac`).
pub fn require_jdk() -> anyhow::Result<()> {
    if !crate::tools::which("javac") || !crate::tools::which("java") {
        bail!(
            "`javac` or `java` (a Java 17+ JDK) was not found on the PATH: the golden fixtures compile small Java programs; \
             install one, e.g. `apt-get install openjdk-17-jdk-headless`"
        );
    }
    Ok(())
}

/// Runs `command` to completion with its output captured, killing it when it
/// takes longer than `timeout`.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> anyhow::Result<Output> {
    crate::child::run_bounded(command, timeout).map(|finished| finished.output)
}
