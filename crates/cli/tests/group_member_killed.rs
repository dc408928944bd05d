//! A group member that dies without leaving (`ferrokafka consume` killed
//! with SIGKILL): the coordinator notices when its session times out, and
//! the member that is left gets every partition.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrokafka::consumer::{Consumer, ConsumerConfig};
use ferrokafka_tests::{bootstrap_servers, create_topic_blocking, unique_topic};

const SESSION: &[(&str, &str)] = &[
    ("session_timeout_ms", "6000"),
    ("heartbeat_interval_ms", "500"),
];

/// A child process that a failing test does not leave behind.
struct Doomed(Child);

impl Drop for Doomed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until `settled` holds, for at most 60 s.
async fn poll_until(consumer: &Consumer, what: &str, settled: impl Fn(&Consumer) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !settled(consumer) {
        consumer.poll(Duration::from_millis(200)).await.unwrap();
        assert!(Instant::now() < deadline, "{what} never happened");
    }
}

#[test]
fn a_killed_members_partitions_go_to_the_survivor_when_its_session_ends() {
    let topic = unique_topic("killed-member");
    create_topic_blocking(&topic, 4);
    let group = unique_topic("killed-member-group");
    let mut args = vec![
        "consume",
        "-b",
        bootstrap_servers(),
        "-t",
        &topic,
        "-G",
        &group,
    ];
    let settings: Vec<String> = SESSION.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for setting in &settings {
        args.extend(["-X", setting.as_str()]);
    }
    let mut doomed = Doomed(
        Command::new(env!("CARGO_BIN_EXE_ferrokafka"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut pairs = vec![
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
        ];
        pairs.extend_from_slice(SESSION);
        let survivor = Consumer::new(ConsumerConfig::from_pairs(pairs).unwrap())
            .await
            .unwrap();
        survivor.subscribe(&[topic.as_str()]).await.unwrap();
        poll_until(&survivor, "a two-member split", |c| {
            c.assignment().len() == 2
        })
        .await;

        // SIGKILL: no LeaveGroup, the coordinator only sees heartbeats stop.
        doomed.0.kill().unwrap();
        doomed.0.wait().unwrap();
        poll_until(&survivor, "the survivor taking every partition", |c| {
            c.assignment().len() == 4
        })
        .await;
        survivor.close(Duration::from_secs(5)).await.unwrap();
    });
}
