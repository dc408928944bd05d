//! ferrokafka's developer tasks as a library, so that the integration tests
//! can start a real broker with the same code as `cargo xtask broker start`.
//!
//! It is deliberately not part of the published client.

pub mod bench;
pub mod broker;
pub mod chaos;
pub mod child;
pub mod ci;
/// The protocol code generator (the `ferrokafka-codegen` package).
pub use ferrokafka_codegen as codegen;
pub mod demo;
pub mod fuzz;
pub mod golden;
pub mod marked;
pub mod python;
pub mod soak;
pub mod tools;

use std::path::PathBuf;

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The short hash of the checked-out commit, or "unknown" outside git.
pub fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}
