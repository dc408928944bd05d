//! What a process holds, read from `/proc`: resident memory, threads, open
//! file descriptors and TCP sockets. Parsing is kept apart from reading so
//! the rules are tested on fixed text.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;

/// One look at a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    /// Resident set size, in bytes (`VmRSS`).
    pub rss_bytes: u64,
    /// Threads (`Threads`).
    pub threads: u64,
    /// Open file descriptors (entries of `fd/`).
    pub fds: u64,
    /// File descriptors that are TCP sockets, listening ones included.
    pub tcp: u64,
}

/// What process `pid` holds now.
pub fn look(pid: u32) -> anyhow::Result<Held> {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(proc_dir.join("status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let mut held = Held {
        rss_bytes: status_field(&status, "VmRSS").unwrap_or(0) * 1024,
        threads: status_field(&status, "Threads").unwrap_or(0),
        ..Held::default()
    };
    // The socket inodes of TCP endpoints in the process's network
    // namespace; the process's own are those its descriptors point at.
    let mut tcp_inodes = HashSet::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_dir.join(table)) {
            tcp_inodes.extend(socket_inodes(&text));
        }
    }
    for entry in
        std::fs::read_dir(proc_dir.join("fd")).with_context(|| format!("listing /proc/{pid}/fd"))?
    {
        // A descriptor closed between the listing and the read is skipped.
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        held.fds += 1;
        if socket_link(&target.to_string_lossy()).is_some_and(|i| tcp_inodes.contains(&i)) {
            held.tcp += 1;
        }
    }
    Ok(held)
}

/// The number in a `/proc/PID/status` line such as `VmRSS:  1234 kB`.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The inode column of every row of `/proc/net/tcp` (or `tcp6`).
fn socket_inodes(table: &str) -> impl Iterator<Item = u64> + '_ {
    // The header names fewer columns than rows have; the inode is the
    // tenth field of a row.
    table
        .lines()
        .skip(1)
        .filter_map(|row| row.split_whitespace().nth(9)?.parse().ok())
}

/// The inode of a descriptor's link target `socket:[inode]`.
fn socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse() {
        let status = "Name:\txtask\nVmRSS:\t  51200 kB\nThreads:\t7\n";
        assert_eq!(status_field(status, "VmRSS"), Some(51200));
        assert_eq!(status_field(status, "Threads"), Some(7));
        assert_eq!(status_field(status, "VmSwap"), None);
    }

    #[test]
    fn tcp_inodes_and_socket_links_parse() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(socket_inodes(table).collect::<Vec<_>>(), vec![4242]);
        assert_eq!(socket_link("socket:[4242]"), Some(4242));
        assert_eq!(socket_link("pipe:[4242]"), None);
        assert_eq!(socket_link("/dev/null"), None);
    }

    #[test]
    fn this_process_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let held = look(std::process::id()).unwrap();
        assert!(held.rss_bytes > 0 && held.threads >= 1, "{held:?}");
        assert!(held.fds >= 3 && held.tcp >= 1, "{held:?}");
        drop(listener);
    }
}
