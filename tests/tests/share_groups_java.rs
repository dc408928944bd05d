//! ferrokafka's share consumer and admin alongside the Java client's
//! (`ShareConsume.java` and `GroupConfigs.java` under `xtask/golden-java`):
//! a Java `KafkaShareConsumer` and ferrokafka members in one share group
//! see every record of the topic between them, each accepted once; group
//! configs set by either admin are what the other reads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_admin::configs::{ConfigResource, DescribeConfigsOptions, ResourceType};
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_tests::bootstrap_servers;
use xtask::broker::jars::DEFAULT_KAFKA_VERSION;
use xtask::golden::java::{self, JavaPrograms};

mod share_support;

use share_support::{PATIENCE, member, produce, set_group_configs, setup};

/// The share configs both admins set and read.
const SHARE_CONFIGS: [&str; 3] = [
    "share.auto.offset.reset",
    "share.delivery.count.limit",
    "share.record.lock.duration.ms",
];

/// The Java programs, compiled once per test process: two tests compiling
/// into the same folder at once would remove each other's classes.
async fn java_programs() -> JavaPrograms {
    static PROGRAMS: std::sync::OnceLock<JavaPrograms> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(|| {
        PROGRAMS
            .get_or_init(|| java::compile(DEFAULT_KAFKA_VERSION).unwrap())
            .clone()
    })
    .await
    .unwrap()
}

/// The lines of JSON a Java program printed, after it succeeded.
fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_share_consumer_and_ferrokafka_members_accept_every_record_once() {
    const COUNT: usize = 300;
    let bootstrap = bootstrap_servers();
    let (topic, group) = setup(bootstrap, "share-java", 0, &[]).await;
    let programs = java_programs().await;
    let mut command = programs.command("ShareConsume");
    // Stops 5 s after its last record, and within 120 s in any case.
    command.args([bootstrap, &topic, &group, "10", "5000", "120000"]);
    let java_member = tokio::task::spawn_blocking(move || {
        java::run_bounded(&mut command, Duration::from_secs(150))
    });

    let extra = [
        ("max_poll_records", "10"),
        ("share_acquire_mode", "record_limit"),
    ];
    let members = [
        member(bootstrap, &group, &topic, &extra).await,
        member(bootstrap, &group, &topic, &extra).await,
    ];
    // Records are written once the Java member and ours are all in the
    // group, so that each can get a share.
    let admin =
        Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        for m in &members {
            assert!(m.poll(Duration::from_millis(200)).await.unwrap().is_empty());
        }
        let described = admin
            .describe_share_groups(&[&group], &AdminOptions::default())
            .await;
        let assigned = described[&group].as_ref().map_or(0, |g| {
            g.members
                .iter()
                .filter(|m| !m.assignment.is_empty())
                .count()
        });
        if assigned == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the group is {described:?}");
    }
    produce(bootstrap, &topic, 0..COUNT).await;

    let mut ours: Vec<(i64, i16)> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while !java_member.is_finished() {
        for m in &members {
            for record in m.poll(Duration::from_millis(200)).await.unwrap() {
                ours.push((record.offset, record.delivery_count));
            }
        }
        assert!(Instant::now() < deadline, "the Java member never ended");
    }
    for m in &members {
        // Accepts the last poll's records.
        let results = m.commit_sync(Duration::from_secs(10)).await.unwrap();
        assert!(results.values().all(Result::is_ok), "{results:?}");
    }
    let output = java_member.await.unwrap().unwrap();
    let theirs: Vec<(i64, i16)> = json_lines(&output)
        .iter()
        .map(|l| {
            let count = l["delivery_count"].as_i64().unwrap();
            (l["offset"].as_i64().unwrap(), i16::try_from(count).unwrap())
        })
        .collect();
    // Whatever the Java member left unseen, ours take now.
    let mut seen: BTreeSet<i64> = ours.iter().chain(&theirs).map(|(o, _)| *o).collect();
    let deadline = Instant::now() + PATIENCE;
    while seen.len() < COUNT {
        for record in members[0].poll(Duration::from_millis(300)).await.unwrap() {
            ours.push((record.offset, record.delivery_count));
            seen.insert(record.offset);
        }
        assert!(Instant::now() < deadline, "seen only {seen:?}");
    }
    members[0]
        .commit_sync(Duration::from_secs(10))
        .await
        .unwrap();

    assert!(!theirs.is_empty(), "the Java member received nothing");
    assert!(!ours.is_empty(), "ferrokafka's members received nothing");
    assert_eq!(seen, (0..COUNT as i64).collect(), "every record");
    assert_eq!(
        ours.len() + theirs.len(),
        COUNT,
        "each record once: ours {ours:?}, Java's {theirs:?}"
    );
    assert!(
        ours.iter().chain(&theirs).all(|(_, count)| *count == 1),
        "no record delivered twice: ours {ours:?}, Java's {theirs:?}"
    );
    // Accepted for good: a new member of the group gets nothing.
    let late = member(bootstrap, &group, &topic, &[]).await;
    let mut again = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        again.extend(late.poll(Duration::from_millis(500)).await.unwrap());
    }
    assert!(again.is_empty(), "{again:?}");
    for m in members.iter().chain([&late]) {
        m.close(Duration::from_secs(10)).await.unwrap();
    }
}

/// `group`'s share configs as ferrokafka's admin reads them.
async fn ours_read(admin: &Admin, group: &str) -> BTreeMap<String, String> {
    let resource = ConfigResource::new(ResourceType::Group, group);
    let described = admin
        .describe_configs(
            std::slice::from_ref(&resource),
            DescribeConfigsOptions::default(),
            &AdminOptions::default(),
        )
        .await;
    described[&resource]
        .as_ref()
        .unwrap()
        .iter()
        .filter(|e| SHARE_CONFIGS.contains(&e.name.as_str()))
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

/// Runs `GroupConfigs` (setting `pairs`, then describing) and returns the
/// share configs the Java Admin read.
async fn java_read(
    programs: &JavaPrograms,
    group: &str,
    pairs: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut command = programs.command("GroupConfigs");
    command.arg(bootstrap_servers()).arg(group);
    for (name, value) in pairs {
        command.arg(format!("{name}={value}"));
    }
    let output = tokio::task::spawn_blocking(move || {
        java::run_bounded(&mut command, Duration::from_secs(120))
    })
    .await
    .unwrap()
    .unwrap();
    json_lines(&output)
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["value"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(name, _)| SHARE_CONFIGS.contains(&name.as_str()))
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_configs_set_by_either_admin_are_what_the_other_reads() {
    let programs = java_programs().await;
    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();

    // ferrokafka sets; Java reads.
    let by_us = ferrokafka_tests::unique_topic("share-configs-ours");
    let ours_set = [
        ("share.auto.offset.reset", "earliest"),
        ("share.delivery.count.limit", "3"),
        ("share.record.lock.duration.ms", "20000"),
    ];
    set_group_configs(bootstrap_servers(), &by_us, &ours_set).await;
    assert_eq!(java_read(&programs, &by_us, &[]).await, expected(&ours_set));
    assert_eq!(ours_read(&admin, &by_us).await, expected(&ours_set));

    // Java sets; ferrokafka reads.
    let by_java = ferrokafka_tests::unique_topic("share-configs-java");
    let java_set = [
        ("share.auto.offset.reset", "latest"),
        ("share.delivery.count.limit", "4"),
        ("share.record.lock.duration.ms", "25000"),
    ];
    assert_eq!(
        java_read(&programs, &by_java, &java_set).await,
        expected(&java_set)
    );
    assert_eq!(ours_read(&admin, &by_java).await, expected(&java_set));
}
