//! Checks for the external programs the harness needs, with install hints.

use anyhow::bail;

/// Fails with an install hint when `program` is not on the PATH.
pub fn require(program: &str, what: &str) -> anyhow::Result<()> {
    if which(program) {
        return Ok(());
    }
    let hint = match program {
        "java" => {
            "install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`, or use `--backend docker`"
        }
        "mvn" => "install Maven, e.g. `apt-get install maven`, or use `--backend docker`",
        "python3" => "install Python 3.9+, e.g. `apt-get install python3 python3-venv`",
        _ => "install it and put it on the PATH",
    };
    bail!("`{program}` ({what}) was not found on the PATH: {hint}")
}

/// Whether `program` resolves on the PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
