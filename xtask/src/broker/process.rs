//! Processes by pid: liveness, termination, and the end of their logs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether `pid` names a running (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Sends SIGTERM to every pid, waits up to `grace` for them to exit, then
/// sends SIGKILL to those left.
pub fn terminate(pids: &[u32], grace: Duration) {
    let living: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    if living.is_empty() {
        return;
    }
    signal("-TERM", &living);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && living.iter().any(|&p| alive(p)) {
        // A process we did not start cannot be waited on: poll its /proc entry.
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<u32> = living.into_iter().filter(|&p| alive(p)).collect();
    if !left.is_empty() {
        signal("-KILL", &left);
    }
}

/// Sends `signal` (e.g. `-KILL`) to `pids`.
pub fn signal(signal: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .status();
}

/// The last `lines` lines of a log file, or a note that it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({} cannot be read: {e})", path.display()),
    }
}
