//! The admin client's cluster operations: on the shared broker (cluster,
//! features, quorum, log dirs, API versions) and on a private 3-node
//! cluster (reassignments, leader elections, ISR and offline replicas),
//! each change checked through what the brokers report afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_admin::cluster::ElectionType;
use ferrokafka_admin::records::TopicPartition;
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminError, AdminOptions};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{bootstrap_servers, described_until, start_cluster, unique_topic};

async fn admin(bootstrap: &str) -> Admin {
    let config = AdminConfig::from_pairs([("bootstrap_servers", bootstrap)]).unwrap();
    Admin::connect(config).await.unwrap()
}

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(30))
}

fn code<T>(result: &Result<T, AdminError>) -> Option<ErrorCode> {
    match result {
        Err(AdminError::Broker { error, .. }) => Some(error.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_features_quorum_log_dirs_and_api_versions_of_the_shared_broker() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let admin = admin(bootstrap_servers()).await;
        let cluster = admin.describe_cluster(&options()).await.unwrap();
        let known_id = admin.client().view(|v| v.cluster_id().map(str::to_owned));
        assert_eq!(Some(cluster.cluster_id.clone()), known_id);
        assert!(!cluster.brokers.is_empty());
        let node = cluster.brokers[0].id;
        assert!(cluster.controller.is_some());
        assert!(cluster.brokers.iter().all(|b| !b.fenced && b.port > 0));

        let features = admin.describe_features(&options()).await.unwrap();
        let metadata_version = features.finalized["metadata.version"];
        assert!(metadata_version.max > 0, "{features:?}");
        assert!(features.supported["metadata.version"].max >= metadata_version.max);
        assert!(features.finalized_epoch.is_some());

        let quorum = admin.describe_quorum(&options()).await.unwrap();
        assert!(
            quorum.voters.iter().any(|v| v.id == quorum.leader_id),
            "{quorum:?}"
        );
        assert!(quorum.high_watermark > 0);
        assert!(quorum.leader_epoch > 0);
        let leader = quorum
            .voters
            .iter()
            .find(|v| v.id == quorum.leader_id)
            .unwrap();
        assert!(leader.log_end_offset >= quorum.high_watermark);

        // A topic with data shows up in the broker's log dir with its size.
        let topic = unique_topic("admin-log-dirs");
        let created = admin
            .create_topics(&[NewTopic::new(&topic, 1, 1)], false, &options())
            .await;
        assert!(created[&topic].is_ok(), "{created:?}");
        let producer = ferrokafka_producer::Producer::new(
            ferrokafka_producer::ProducerConfig::from_pairs([(
                "bootstrap_servers",
                bootstrap_servers(),
            )])
            .unwrap(),
        )
        .await
        .unwrap();
        producer
            .send(ferrokafka_producer::ProducerRecord::new(&topic).value("x".repeat(1000)))
            .await
            .unwrap()
            .await
            .unwrap();
        let tp = TopicPartition::new(&topic, 0);
        let dirs = admin
            .describe_log_dirs(
                &[node, 999],
                Some(std::slice::from_ref(&tp)),
                &AdminOptions::new().timeout(Duration::from_secs(3)),
            )
            .await;
        let ours = dirs[&node].as_ref().unwrap();
        let replica = ours
            .iter()
            .find_map(|dir| dir.replicas.get(&tp))
            .unwrap_or_else(|| panic!("{tp} in no log dir: {ours:?}"));
        assert!(replica.size >= 1000, "{replica:?}");
        assert_eq!(replica.offset_lag, 0);
        assert!(ours.iter().all(|d| d.error.is_none() && !d.path.is_empty()));
        assert!(
            dirs[&999].is_err(),
            "an unknown broker fails alone: {dirs:?}"
        );

        let versions = admin.api_versions(None, &options()).await;
        let apis = versions[&node].as_ref().unwrap();
        let create_topics = apis
            .iter()
            .find(|a| a.name == Some("CreateTopics"))
            .unwrap();
        assert!(create_topics.usable.is_some() && create_topics.max >= create_topics.min);

        assert!(
            admin
                .list_partition_reassignments(Some(std::slice::from_ref(&tp)), &options())
                .await
                .unwrap()
                .is_empty()
        );
        let deleted = admin.delete_topics(&[&topic], &options()).await;
        assert!(deleted[&topic].is_ok());
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_reassign_elect_and_report_offline_replicas() {
    let mut cluster = start_cluster(3);
    let bootstrap = cluster.info.bootstrap_servers.clone();
    tokio::time::timeout(Duration::from_secs(150), async {
        let admin = admin(&bootstrap).await;
        let described = admin.describe_cluster(&options()).await.unwrap();
        let ids: BTreeSet<i32> = described.brokers.iter().map(|b| b.id).collect();
        assert_eq!(ids, BTreeSet::from([1, 2, 3]), "{described:?}");
        let quorum = admin.describe_quorum(&options()).await.unwrap();
        assert_eq!(
            quorum.voters.iter().map(|v| v.id).collect::<BTreeSet<_>>(),
            ids,
            "{quorum:?}"
        );

        let topic = unique_topic("admin-reassign");
        let created = admin
            .create_topics(
                &[NewTopic::with_assignments(
                    &topic,
                    vec![vec![1, 2, 3], vec![2, 3, 1]],
                )],
                false,
                &options(),
            )
            .await;
        assert!(created[&topic].is_ok(), "{created:?}");
        let start = described_until(&admin, &topic, "full ISR", |d| {
            d.partitions.len() == 2 && d.partitions.iter().all(|p| p.isr.len() == 3)
        })
        .await;
        assert_eq!(start.partitions[0].replicas, [1, 2, 3]);
        assert_eq!(start.partitions[0].leader, Some(1));
        assert_eq!(start.partitions[1].leader, Some(2));

        // Reorder partition 0 (preferred leader 3 now) and drop broker 1
        // from partition 1; cancelling where nothing moves and a missing
        // topic fail alone.
        let p0 = TopicPartition::new(&topic, 0);
        let p1 = TopicPartition::new(&topic, 1);
        let missing = TopicPartition::new(unique_topic("admin-reassign-missing"), 0);
        let moved = admin
            .alter_partition_reassignments(
                &BTreeMap::from([
                    (p0.clone(), Some(vec![3, 1, 2])),
                    (p1.clone(), Some(vec![2, 3])),
                    (missing.clone(), Some(vec![1])),
                ]),
                &options(),
            )
            .await;
        assert!(moved[&p0].is_ok() && moved[&p1].is_ok(), "{moved:?}");
        assert_eq!(
            code(&moved[&missing]),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        let after = described_until(&admin, &topic, "reassigned", |d| {
            d.partitions[0].replicas == [3, 1, 2] && d.partitions[1].replicas == [2, 3]
        })
        .await;
        assert_eq!(after.partitions[0].leader, Some(1), "no election yet");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !admin
            .list_partition_reassignments(None, &options())
            .await
            .unwrap()
            .is_empty()
        {
            assert!(Instant::now() < deadline, "reassignments never finished");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let cancelled = admin
            .alter_partition_reassignments(&BTreeMap::from([(p0.clone(), None)]), &options())
            .await;
        assert_eq!(
            code(&cancelled[&p0]),
            Some(ErrorCode::NoReassignmentInProgress)
        );

        // Broker 1 no longer holds partition 1.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let dirs = admin.describe_log_dirs(&[1, 2], None, &options()).await;
            let holds = |node: i32, tp: &TopicPartition| {
                dirs[&node]
                    .as_ref()
                    .unwrap()
                    .iter()
                    .any(|d| d.replicas.contains_key(tp))
            };
            if holds(2, &p1) && holds(1, &p0) && !holds(1, &p1) {
                break;
            }
            assert!(Instant::now() < deadline, "{dirs:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // The preferred leader of partition 0 is now broker 3.
        let elected = admin
            .elect_leaders(
                ElectionType::Preferred,
                Some(&[p0.clone(), p1.clone()]),
                &options(),
            )
            .await
            .unwrap();
        assert!(elected[&p0].is_ok(), "{elected:?}");
        assert_eq!(code(&elected[&p1]), Some(ErrorCode::ElectionNotNeeded));
        described_until(&admin, &topic, "broker 3 leads", |d| {
            d.partitions[0].leader == Some(3)
        })
        .await;

        // Broker 3 goes down: its replicas go offline and out of the ISR.
        cluster.kill_node(3).unwrap();
        let down = described_until(&admin, &topic, "broker 3 offline", |d| {
            d.partitions
                .iter()
                .all(|p| !p.isr.contains(&3) && p.leader != Some(3))
        })
        .await;
        assert!(
            down.partitions.iter().all(|p| p.leader.is_some()),
            "{down:?}"
        );
        // An unclean election where a leader is alive is not needed.
        let unclean = admin
            .elect_leaders(
                ElectionType::Unclean,
                Some(std::slice::from_ref(&p1)),
                &options(),
            )
            .await
            .unwrap();
        assert_eq!(
            code(&unclean[&p1]),
            Some(ErrorCode::ElectionNotNeeded),
            "{unclean:?}"
        );
        // The controller fenced broker 3; the cluster description says so.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let described = admin.describe_cluster(&options()).await.unwrap();
            let fenced: Vec<i32> = described
                .brokers
                .iter()
                .filter(|b| b.fenced)
                .map(|b| b.id)
                .collect();
            if fenced == [3] {
                break;
            }
            assert!(Instant::now() < deadline, "{described:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("bounded");
    cluster.stop();
}
