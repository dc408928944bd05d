//! Group members that run as processes of their own, so a member can be
//! killed as a real client crashes: SIGKILL, no destructor, no leave, its
//! sockets closed by the kernel. Each is this binary again in its hidden
//! `chaos-member` mode, running the same member loop as the in-process
//! members; it appends what each poll handed it to a file before
//! committing, so the group checker sees every delivery a commit covers.
//!
//! None outlives the campaign: each holds the read end of a pipe whose
//! write end only the campaign has, and exits when it reads end-of-file,
//! which the kernel delivers however the campaign ends (Ctrl-C, a panic,
//! SIGKILL included); [`MemberProcesses`] also kills them when dropped.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::Context;

use super::groups::{self, Protocol};

/// Options of the hidden `cargo xtask chaos-member` (started by the campaign).
#[derive(clap::Args, Debug, Clone)]
pub struct MemberArgs {
    /// The cluster.
    #[arg(long)]
    pub bootstrap: String,
    /// The topic the group reads.
    #[arg(long)]
    pub topic: String,
    /// The group to join.
    #[arg(long)]
    pub group: String,
    /// The group protocol.
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// The file each delivery is appended to, as `partition offset` lines.
    #[arg(long)]
    pub out: PathBuf,
}

/// In a child: exits as soon as the campaign's end of the stdin pipe
/// closes, however the campaign ended.
pub fn exit_when_orphaned() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
}

/// Starts this binary (`exe`) with `args`, holding the write end of its
/// stdin pipe (see [`exit_when_orphaned`]).
pub fn spawn_tied(exe: &Path, args: &[String]) -> anyhow::Result<(Child, ChildStdin)> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} {}", exe.display(), args.join(" ")))?;
    let stdin = child.stdin.take().context("a child's stdin")?;
    Ok((child, stdin))
}

/// SIGKILLs a process started by [`spawn_tied`] unless it had already
/// ended, and reaps it; returns its pid, and how it had ended if it was no
/// longer running (then it was not killed).
pub fn kill_tied(mut child: Child, stdin: ChildStdin) -> anyhow::Result<(u32, Option<String>)> {
    let pid = child.id();
    let ended_before = child.try_wait()?.map(|status| status.to_string());
    if ended_before.is_none() {
        child.kill()?;
    }
    child.wait()?;
    drop(stdin);
    Ok((pid, ended_before))
}

/// The child's side: a group member until killed or orphaned.
pub fn run_member(args: &MemberArgs) -> anyhow::Result<()> {
    exit_when_orphaned();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("opening {}", args.out.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(groups::member(
        args.protocol,
        args.bootstrap.clone(),
        args.topic.clone(),
        args.group.clone(),
        move |handed| {
            let mut lines = String::new();
            for (partition, offset) in handed {
                let _ = writeln!(lines, "{partition} {offset}");
            }
            // One write a poll; a kill can at worst cut the last line,
            // whose records were then not committed either.
            out.write_all(lines.as_bytes())
        },
    ))
}

/// One group's member process.
struct Slot {
    protocol: Protocol,
    group: String,
    running: Option<(Child, ChildStdin)>,
    /// Processes started for this group, so each has a file of its own.
    started: u64,
    killed: u64,
}

/// One member process per group, killed and replaced by the campaign.
pub struct MemberProcesses {
    exe: PathBuf,
    dir: PathBuf,
    bootstrap: String,
    topic: String,
    slots: Vec<Slot>,
}

/// This binary, to start the campaign's client processes from:
/// `/proc/self/exe` where there is one, since it still names the running
/// binary after a rebuild has replaced (deleted) its file, as `cargo xtask
/// test` does while its chaos step runs; `current_exe` elsewhere.
pub fn this_binary() -> anyhow::Result<PathBuf> {
    let running = Path::new("/proc/self/exe");
    if running.exists() {
        return Ok(running.to_path_buf());
    }
    std::env::current_exe().context("finding this binary")
}

impl MemberProcesses {
    /// Starts one member process in each of `groups`, which read `topic`;
    /// their files go to `dir`.
    pub fn start(
        dir: &Path,
        bootstrap: &str,
        topic: &str,
        groups: &[(Protocol, String)],
    ) -> anyhow::Result<MemberProcesses> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut members = MemberProcesses {
            exe: this_binary()?,
            dir: dir.to_path_buf(),
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            slots: groups
                .iter()
                .map(|(protocol, group)| Slot {
                    protocol: *protocol,
                    group: group.clone(),
                    running: None,
                    started: 0,
                    killed: 0,
                })
                .collect(),
        };
        for index in 0..members.slots.len() {
            members.spawn(index)?;
        }
        Ok(members)
    }

    /// How many groups have a member process.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no group has one.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The group of slot `index` and its protocol.
    pub fn group(&self, index: usize) -> (Protocol, &str) {
        let slot = &self.slots[index];
        (slot.protocol, slot.group.as_str())
    }

    /// SIGKILLs the member process of slot `index`. Returns its pid, and
    /// how it had ended if it was no longer running (which the report
    /// shows: such a member was not killed by the campaign).
    pub fn kill(&mut self, index: usize) -> anyhow::Result<(u32, Option<String>)> {
        let slot = &mut self.slots[index];
        let (child, stdin) = slot
            .running
            .take()
            .with_context(|| format!("no member process runs in {}", slot.group))?;
        let (pid, ended_before) = kill_tied(child, stdin)?;
        if ended_before.is_none() {
            slot.killed += 1;
        }
        Ok((pid, ended_before))
    }

    /// Starts a replacement in slot `index` (after [`MemberProcesses::kill`]).
    pub fn restart(&mut self, index: usize) -> anyhow::Result<u32> {
        self.spawn(index)
    }

    /// Member processes SIGKILLed in slot `index`.
    pub fn killed(&self, index: usize) -> u64 {
        self.slots[index].killed
    }

    /// Kills every member process still running.
    pub fn stop(&mut self) {
        for slot in &mut self.slots {
            if let Some((mut child, stdin)) = slot.running.take() {
                let _ = child.kill();
                let _ = child.wait();
                drop(stdin);
            }
        }
    }

    /// Every `(partition, offset)` the member processes of slot `index`
    /// were handed, duplicates included. Read after [`MemberProcesses::stop`]
    /// so no process appends behind it.
    pub fn delivered(&self, index: usize) -> anyhow::Result<Vec<(i32, i64)>> {
        let mut delivered = Vec::new();
        for n in 0..self.slots[index].started {
            let path = self.file(index, n);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // A process killed before its first poll wrote nothing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            // A line without its newline was cut by the kill before the
            // commit that would have covered it: it is not a delivery.
            for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                let parsed = line
                    .trim_end()
                    .split_once(' ')
                    .and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)));
                delivered.push(parsed.with_context(|| {
                    format!("a malformed line in {}: {line:?}", path.display())
                })?);
            }
        }
        Ok(delivered)
    }

    fn file(&self, index: usize, n: u64) -> PathBuf {
        self.dir.join(format!("member-{index}-{n}.log"))
    }

    fn spawn(&mut self, index: usize) -> anyhow::Result<u32> {
        let n = self.slots[index].started;
        let out = self.file(index, n);
        let slot = &self.slots[index];
        let protocol = match slot.protocol {
            Protocol::Classic => "classic",
            Protocol::Consumer => "consumer",
        };
        let args: Vec<String> = vec![
            "chaos-member".into(),
            "--bootstrap".into(),
            self.bootstrap.clone(),
            "--topic".into(),
            self.topic.clone(),
            "--group".into(),
            slot.group.clone(),
            "--protocol".into(),
            protocol.into(),
            "--out".into(),
            out.display().to_string(),
        ];
        let (child, stdin) = spawn_tied(&self.exe, &args)?;
        let pid = child.id();
        let slot = &mut self.slots[index];
        slot.running = Some((child, stdin));
        slot.started += 1;
        Ok(pid)
    }
}

impl Drop for MemberProcesses {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::{MemberProcesses, Slot};
    use crate::chaos::groups::Protocol;

    #[test]
    fn a_line_cut_by_the_kill_is_no_delivery_and_every_process_counts() {
        let dir = std::env::temp_dir().join(format!("chaos-members-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("member-0-0.log"), "0 1\n3 7\n0 2\n3 ").unwrap();
        // member-0-1 never polled: no file.
        std::fs::write(dir.join("member-0-2.log"), "3 7\n").unwrap();
        let members = MemberProcesses {
            exe: "unused".into(),
            dir: dir.clone(),
            bootstrap: String::new(),
            topic: String::new(),
            slots: vec![Slot {
                protocol: Protocol::Classic,
                group: "g".into(),
                running: None,
                started: 3,
                killed: 2,
            }],
        };
        assert_eq!(
            members.delivered(0).unwrap(),
            vec![(0, 1), (3, 7), (0, 2), (3, 7)]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
