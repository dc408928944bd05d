//! `ferrokafka consume` and `produce` stopped as people stop them: SIGINT
//! (Ctrl-C) or SIGTERM finishes cleanly — a group member commits what it
//! printed and leaves the group, exit 0; produce stops reading and
//! delivers what it read — and a second signal cuts that short with 130.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ferrokafka::admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka::consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka::producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};

/// Every wait here ends by then, so a failing test cannot hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// A child process that a failing test does not leave behind.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Running {
    fn start(command: &mut Command) -> Running {
        Running(Some(command.spawn().unwrap()))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("still running")
    }

    fn signal(&mut self, name: &str) {
        let pid = self.child().id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// The exit code, waiting at most [`PATIENCE`] (then killed).
    fn exit_code(&mut self) -> Option<i32> {
        let mut child = self.0.take().expect("still running");
        let pid = child.id().to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let Ok(status) = rx.recv_timeout(PATIENCE) else {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the command did not exit within {PATIENCE:?}");
        };
        status.unwrap().code()
    }
}

/// The lines a child writes to `stream`, as they come, on a channel.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Every line still to come, up to the end of the stream (the child
/// exited), for at most [`PATIENCE`].
fn drain(lines: &Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Disconnected) => return seen,
            Err(RecvTimeoutError::Timeout) => panic!("the stream did not end: {seen:?}"),
        }
    }
}

/// Lines from `lines` until one satisfies `wanted` (returned with the
/// others seen), failing after [`PATIENCE`].
fn until_line(lines: &Receiver<String>, what: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = wanted(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("no {what} within {PATIENCE:?}: {seen:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the stream ended before {what}: {seen:?}")
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_group_member_stopped_mid_stream_commits_what_it_printed_and_leaves() {
    let topic = unique_topic("cli-sigint");
    create_topic_blocking(&topic, 2);
    let group = unique_topic("cli-sigint-group");

    // Records keep coming while the member prints and is stopped.
    let producing = Arc::new(AtomicBool::new(true));
    let produced = Arc::new(AtomicU32::new(0));
    let writer = {
        let (producing, produced, topic) = (producing.clone(), produced.clone(), topic.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let producer = Producer::new(
                    ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())])
                        .unwrap(),
                )
                .await
                .unwrap();
                let mut i = 0u32;
                while producing.load(Ordering::Relaxed) && i < 50_000 {
                    let delivery = producer
                        .send(
                            ProducerRecord::new(&topic)
                                .key(i.to_string())
                                .value(i.to_string()),
                        )
                        .await
                        .unwrap();
                    i += 1;
                    if i.is_multiple_of(50) {
                        // Paced by deliveries, so the stream lasts.
                        delivery.await.unwrap();
                        produced.store(i, Ordering::Relaxed);
                    }
                }
                producer.flush().await;
                producer.close(Duration::from_secs(10)).await.unwrap();
                i
            })
        })
    };

    let mut member = Running::start(
        Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
            .args([
                "consume",
                "-b",
                bootstrap_servers(),
                "-t",
                &topic,
                "-g",
                &group,
            ])
            .args(["-o", "beginning"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = lines_of(member.child().stdout.take().unwrap());
    let stderr = lines_of(member.child().stderr.take().unwrap());
    let mut printed = until_line(&stdout, "200 records printed", {
        let count = std::cell::Cell::new(0);
        move |_| {
            count.set(count.get() + 1);
            count.get() >= 200
        }
    });
    member.signal("INT");
    let code = member.exit_code();
    printed.extend(drain(&stdout));
    let messages = drain(&stderr);
    assert_eq!(code, Some(0), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("SIGINT received")),
        "{messages:?}"
    );

    runtime().block_on(async {
        // Left the group before exiting: no member waits out its session.
        let admin = Admin::connect(
            AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
        )
        .await
        .unwrap();
        let described = admin
            .describe_groups(&[group.as_str()], &AdminOptions::default())
            .await;
        let description = described[&group].as_ref().unwrap();
        assert!(description.members.is_empty(), "{description:?}");
    });
    assert!(
        produced.load(Ordering::Relaxed) < 50_000,
        "the stream was still going when the member stopped"
    );
    producing.store(false, Ordering::Relaxed);
    let total = writer.join().unwrap();

    // A second member starts where the first one's commits say.
    let printed: BTreeSet<String> = printed.into_iter().collect();
    let rest = runtime().block_on(async {
        let consumer = Consumer::new(
            ConsumerConfig::from_pairs([
                ("bootstrap_servers", bootstrap_servers()),
                ("group_id", group.as_str()),
                ("auto_offset_reset", "earliest"),
            ])
            .unwrap(),
        )
        .await
        .unwrap();
        consumer.subscribe(&[topic.as_str()]).await.unwrap();
        let deadline = Instant::now() + PATIENCE;
        let mut rest = Vec::new();
        while printed.len() + rest.len() < total as usize {
            for record in consumer.poll(Duration::from_millis(200)).await.unwrap() {
                rest.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
            }
            assert!(Instant::now() < deadline, "the rest never arrived");
        }
        // Anything read twice would show here too.
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            rest.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
        }
        consumer.close(Duration::from_secs(10)).await.unwrap();
        rest
    });
    let again: Vec<&String> = rest.iter().filter(|v| printed.contains(*v)).collect();
    assert!(
        again.is_empty(),
        "read again after the stop: {} records",
        again.len()
    );
    let all: BTreeSet<String> = printed.iter().chain(&rest).cloned().collect();
    assert_eq!(all.len(), total as usize);
    assert_eq!(printed.len() + rest.len(), total as usize);
}

#[test]
fn produce_stopped_by_sigterm_delivers_what_it_read() {
    let topic = unique_topic("cli-produce-sigterm");
    create_topic_blocking(&topic, 1);
    let mut producer = Running::start(
        Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
            .args(["produce", "-b", bootstrap_servers(), "-t", &topic])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = lines_of(producer.child().stderr.take().unwrap());
    // Standard input stays open: the stop, not its end, ends the reading.
    let mut stdin = producer.child().stdin.take().unwrap();
    for i in 0..10 {
        writeln!(stdin, "line {i}").unwrap();
    }
    stdin.flush().unwrap();

    runtime().block_on(async {
        let consumer = Consumer::new(
            ConsumerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
        )
        .await
        .unwrap();
        let partition = TopicPartition::new(topic.clone(), 0);
        consumer
            .assign(std::slice::from_ref(&partition))
            .await
            .unwrap();
        consumer.seek_to_beginning(&[partition]).await.unwrap();
        let deadline = Instant::now() + PATIENCE;
        let mut read = 0;
        while read < 10 {
            read += consumer
                .poll(Duration::from_millis(200))
                .await
                .unwrap()
                .len();
            assert!(Instant::now() < deadline, "the lines never arrived");
        }
        consumer.close(Duration::from_secs(5)).await.unwrap();
    });
    producer.signal("TERM");
    let code = producer.exit_code();
    let messages = drain(&stderr);
    assert_eq!(code, Some(0), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("produced 10 records") && m.ends_with(", 0 failed")),
        "{messages:?}"
    );
    drop(stdin);
}

#[test]
fn a_second_ctrl_c_exits_at_once_with_130() {
    let topic = unique_topic("cli-ctrl-c-twice");
    create_topic_blocking(&topic, 1);
    // One record larger than a pipe holds: printing it blocks while the
    // test does not read, so the clean stop cannot finish by itself.
    let big = "x".repeat(200_000);
    runtime().block_on(async {
        let producer = Producer::new(
            ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
        )
        .await
        .unwrap();
        producer
            .send(ProducerRecord::new(&topic).value(big))
            .await
            .unwrap()
            .await
            .unwrap();
        producer.close(Duration::from_secs(5)).await.unwrap();
    });
    let mut member = Running::start(
        Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
            .args(["consume", "-b", bootstrap_servers(), "-t", &topic])
            .args(["-o", "beginning"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stderr = lines_of(member.child().stderr.take().unwrap());
    let mut stdout = member.child().stdout.take().unwrap();
    let (started, printing) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 1];
        let _ = started.send(std::io::Read::read_exact(&mut stdout, &mut first).map(|()| stdout));
    });
    // Kept open and unread from here on.
    let _stdout = printing
        .recv_timeout(PATIENCE)
        .expect("printing within 60 s")
        .unwrap();
    member.signal("INT");
    until_line(&stderr, "word of the first SIGINT", |l| {
        l.contains("SIGINT received")
    });
    member.signal("INT");
    let code = member.exit_code();
    let messages = drain(&stderr);
    assert_eq!(code, Some(130), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("SIGINT received again")),
        "{messages:?}"
    );
}
