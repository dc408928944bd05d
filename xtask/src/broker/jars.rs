//! Resolves Apache Kafka's broker jars from Maven Central with Maven and
//! caches them under `target/kafka-harness/jars/<version>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The newest 4.x release on Maven Central when this harness was last updated.
pub const DEFAULT_KAFKA_VERSION: &str = "4.4.0";

/// The newest 3.x release on Maven Central (3.9.3 is not published): the
/// older line that `cargo xtask test` also runs the default-settings
/// tests against.
pub const NEWEST_3X_VERSION: &str = "3.9.2";

/// The folder holding every jar of one Kafka version, resolving it first if
/// it is not cached yet.
pub fn resolve(harness_dir: &Path, version: &str) -> anyhow::Result<PathBuf> {
    validate_version(version)?;
    let dependencies = format!(
        "<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version></dependency>\n    {}",
        logging_backend(version)
    );
    resolve_artifacts(
        &harness_dir.join("jars").join(version),
        &format!("Apache Kafka {version}"),
        &dependencies,
        &format!("kafka_2.13-{version}.jar"),
    )
}

/// Resolves the Maven `dependencies` (POM `<dependency>` elements) with
/// their runtime dependencies into `dir/libs`, unless done already; `jar`
/// is a file name that must then be there. Returns the `libs` folder.
pub fn resolve_artifacts(
    dir: &Path,
    what: &str,
    dependencies: &str,
    jar: &str,
) -> anyhow::Result<PathBuf> {
    let libs = dir.join("libs");
    let done = dir.join(".resolved");
    if done.exists() {
        return Ok(libs);
    }
    crate::tools::require("mvn", "Maven")?;
    std::fs::create_dir_all(dir)?;
    let pom = dir.join("pom.xml");
    std::fs::write(&pom, pom_xml(dependencies))?;
    eprintln!(
        "resolving {what} from Maven Central (cached under {})",
        dir.display()
    );
    let output = Command::new("mvn")
        .arg("-B")
        .arg("-q")
        .arg("-f")
        .arg(&pom)
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", libs.display()))
        .arg("-DincludeScope=runtime")
        .output()
        .context("running mvn")?;
    if !output.status.success() {
        bail!(
            "Maven could not resolve {what}; is that a released version?\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if !libs.join(jar).exists() {
        bail!("Maven finished but {} holds no {jar}", libs.display());
    }
    std::fs::write(&done, "")?;
    Ok(libs)
}

/// The Java classpath of every jar in `libs`.
pub fn classpath(libs: &Path) -> anyhow::Result<String> {
    let mut jars: Vec<String> = std::fs::read_dir(libs)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jar"))
        .map(|p| p.display().to_string())
        .collect();
    jars.sort();
    Ok(jars.join(":"))
}

/// Kafka's major version line, which decides the logging backend.
pub fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(4)
}

fn validate_version(version: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric {
        bail!(
            "--version takes a Kafka release such as {DEFAULT_KAFKA_VERSION} or 3.9.2, not {version:?}"
        );
    }
    if major(version) < 3 {
        bail!("the harness runs KRaft brokers, which need Kafka 3.x or newer (got {version})");
    }
    Ok(())
}

/// The broker's POM leaves the logging backend out (Kafka's distribution
/// ships it separately): 4.x logs through Log4j 2, 3.x through reload4j.
pub fn logging_backend(version: &str) -> &'static str {
    if major(version) >= 4 {
        "<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>"
    } else {
        "<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>"
    }
}

fn pom_xml(dependencies: &str) -> String {
    format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.ferrokafka</groupId>
  <artifactId>kafka-harness</artifactId>
  <version>0</version>
  <dependencies>
    {dependencies}
  </dependencies>
</project>
"#
    )
}
