//! Cancellation safety of the admin client on the in-memory cluster, with
//! the runtime's clock paused: each call is dropped after every number of
//! polls until it would have finished by itself. Whatever the point, the
//! admin client goes on working, keeps no more connections than one call
//! leaves open, and leaves no task of its own running. Besides creating
//! and deleting topics: listing and describing topics, adding partitions,
//! describing the cluster, listing groups (one request per broker), listing
//! offsets and deleting records; the features, log dirs and quorum of the
//! cluster; configs, ACLs, SCRAM credentials, leader
//! elections and reassignments; consumer groups, their members and offsets;
//! share groups and their offsets; transactions and producers.

use std::time::Duration;

use ferrokafka_admin::acls::{AclBinding, AclBindingFilter, AclOperation, ResourcePattern};
use ferrokafka_admin::cluster::ElectionType;
use ferrokafka_admin::configs::{AlterConfigOp, ConfigResource, DescribeConfigsOptions};
use ferrokafka_admin::groups::{ListGroupsFilter, MembersToRemove, OffsetAndMetadata};
use ferrokafka_admin::records::OffsetSpec;
use ferrokafka_admin::scram::{ScramAlteration, ScramMechanism};
use ferrokafka_admin::topics::{NewPartitions, NewTopic};
use ferrokafka_admin::transactions::{AbortTransactionSpec, ListTransactionsFilter};
use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::create_topics_response::CreatableTopicResult;
use ferrokafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use ferrokafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use ferrokafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use ferrokafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use ferrokafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeClusterResponse, ListGroupsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
};
use ferrokafka_protocol::{TopicPartition, Uuid};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest, poll_then_drop};

/// The most polls any call here needs to finish by itself.
const MAX_POLLS: usize = 200;
const WAIT: Duration = Duration::from_secs(30);

/// A cluster whose CreateTopics answers after 5 ms, creating the topics
/// (so the call's wait for their leaders ends), DeleteTopics the same;
/// every other request of the admin calls is answered 5 ms late too, as a
/// broker that has what is asked for (`answers`).
fn cluster() -> FakeCluster {
    let slot = std::sync::Arc::new(std::sync::OnceLock::<FakeCluster>::new());
    let seen = std::sync::Arc::clone(&slot);
    let cluster = FakeCluster::new(2, move |request| match request.key {
        ApiKey::CreateTopics => Some(created(request, seen.get())),
        ApiKey::DeleteTopics => Some(deleted(request)),
        ApiKey::ListOffsets => Some(late(listed(request))),
        ApiKey::DeleteRecords => Some(late(records_deleted(request))),
        ApiKey::DescribeCluster => Some(late(described(request))),
        ApiKey::ListGroups => Some(late(FakeReply::with(
            request,
            &ListGroupsResponse::default(),
        ))),
        // Metadata late too, so that listing topics waits on it.
        ApiKey::Metadata => Some(late(FakeReply::Default)),
        _ => answers::answer(request).map(late),
    });
    slot.set(cluster.clone()).ok();
    cluster.add_topic("existing", &[1, 2]);
    cluster
}

#[path = "cancellation/answers.rs"]
mod answers;

/// `reply`, 5 ms late.
fn late(reply: FakeReply) -> FakeReply {
    FakeReply::After(Duration::from_millis(5), Box::new(reply))
}

/// Every partition's log ends at `LOG_END` and starts at 0.
const LOG_END: i64 = 42;

fn listed(request: &FakeRequest) -> FakeReply {
    let asked: ListOffsetsRequest = request.decode();
    let topics = asked
        .topics
        .iter()
        .map(|topic| ListOffsetsTopicResponse {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|p| ListOffsetsPartitionResponse {
                    partition_index: p.partition_index,
                    offset: if p.timestamp == -2 { 0 } else { LOG_END },
                    timestamp: -1,
                    ..ListOffsetsPartitionResponse::default()
                })
                .collect(),
            ..ListOffsetsTopicResponse::default()
        })
        .collect();
    FakeReply::with(
        request,
        &ListOffsetsResponse {
            topics,
            ..ListOffsetsResponse::default()
        },
    )
}

fn records_deleted(request: &FakeRequest) -> FakeReply {
    let asked: DeleteRecordsRequest = request.decode();
    let topics = asked
        .topics
        .iter()
        .map(|topic| DeleteRecordsTopicResult {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|p| DeleteRecordsPartitionResult {
                    partition_index: p.partition_index,
                    low_watermark: p.offset,
                    ..DeleteRecordsPartitionResult::default()
                })
                .collect(),
            ..DeleteRecordsTopicResult::default()
        })
        .collect();
    FakeReply::with(
        request,
        &DeleteRecordsResponse {
            topics,
            ..DeleteRecordsResponse::default()
        },
    )
}

fn described(request: &FakeRequest) -> FakeReply {
    FakeReply::with(
        request,
        &DescribeClusterResponse {
            cluster_id: "fake".to_string(),
            controller_id: 1,
            brokers: (1..=2)
                .map(|n| DescribeClusterBroker {
                    broker_id: n,
                    host: format!("fake-{n}"),
                    port: 9092,
                    ..DescribeClusterBroker::default()
                })
                .collect(),
            ..DescribeClusterResponse::default()
        },
    )
}

fn created(request: &FakeRequest, cluster: Option<&FakeCluster>) -> FakeReply {
    let asked: CreateTopicsRequest = request.decode();
    for topic in &asked.topics {
        if let Some(cluster) = cluster {
            cluster.add_topic(&topic.name, &[2, 1]);
        }
    }
    let response = CreateTopicsResponse {
        topics: asked
            .topics
            .iter()
            .map(|t| CreatableTopicResult {
                name: t.name.clone(),
                num_partitions: 2,
                replication_factor: 1,
                ..CreatableTopicResult::default()
            })
            .collect(),
        ..CreateTopicsResponse::default()
    };
    FakeReply::After(
        Duration::from_millis(5),
        Box::new(FakeReply::with(request, &response)),
    )
}

fn deleted(request: &FakeRequest) -> FakeReply {
    let asked: DeleteTopicsRequest = request.decode();
    // Named (before v6), or named or given by id (v6 on), as asked.
    let by_name = asked.topic_names.iter().map(|name| DeletableTopicResult {
        name: Some(name.clone()),
        ..DeletableTopicResult::default()
    });
    let by_either = asked.topics.iter().map(|t| DeletableTopicResult {
        name: t.name.clone(),
        topic_id: t.topic_id,
        ..DeletableTopicResult::default()
    });
    let response = DeleteTopicsResponse {
        responses: by_name.chain(by_either).collect(),
        ..DeleteTopicsResponse::default()
    };
    FakeReply::After(
        Duration::from_millis(5),
        Box::new(FakeReply::with(request, &response)),
    )
}

async fn admin(cluster: &FakeCluster) -> Admin {
    let config = ClientConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("retry_backoff_ms", "10"),
    ])
    .unwrap();
    Admin::with_client(cluster.client(config).await.unwrap())
}

fn options() -> AdminOptions {
    AdminOptions::new().timeout(WAIT)
}

/// The tasks alive on this (current-thread) runtime.
fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn a_create_topics_dropped_at_any_point_leaves_the_admin_working() {
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let admin = admin(&cluster).await;
        let baseline = tasks();
        let name = format!("t{polls}");
        let finished = poll_then_drop(
            polls,
            admin.create_topics(&[NewTopic::new(&name, 2, 1)], false, &options()),
        )
        .await;
        assert_eq!(
            tasks(),
            baseline,
            "a task outlived the call dropped at poll {polls}"
        );
        assert!(
            admin.client().open_connections() <= 2,
            "connections piled up after the drop at poll {polls}"
        );
        // The next call goes as if nothing had been dropped; creating the
        // same topic again either creates it or finds it created.
        let again = tokio::time::timeout(
            WAIT,
            admin.create_topics(&[NewTopic::new(&name, 2, 1)], false, &options()),
        )
        .await
        .unwrap_or_else(|_| panic!("create after one dropped at poll {polls} hung"));
        assert!(again[&name].is_ok(), "dropped at poll {polls}: {again:?}");
        let listed = admin.list_topics(false, &options()).await.unwrap();
        assert!(
            listed.iter().any(|t| t.name == name),
            "dropped at poll {polls}: {listed:?}"
        );
        if finished {
            // The 5 ms answer means the call was dropped mid-flight first.
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("create_topics never finished within {MAX_POLLS} polls");
}

#[tokio::test(start_paused = true)]
async fn a_delete_topics_dropped_at_any_point_leaves_the_admin_working() {
    for polls in 0..MAX_POLLS {
        let cluster = cluster();
        let admin = admin(&cluster).await;
        let baseline = tasks();
        let finished = poll_then_drop(polls, admin.delete_topics(&["existing"], &options())).await;
        assert_eq!(
            tasks(),
            baseline,
            "a task outlived the call dropped at poll {polls}"
        );
        let deleted = tokio::time::timeout(WAIT, admin.delete_topics(&["existing"], &options()))
            .await
            .unwrap_or_else(|_| panic!("delete after one dropped at poll {polls} hung"));
        assert!(
            deleted["existing"].is_ok(),
            "dropped at poll {polls}: {deleted:?}"
        );
        if finished {
            assert!(polls > 5, "finished at poll {polls}, before its answer");
            return;
        }
    }
    panic!("delete_topics never finished within {MAX_POLLS} polls");
}

/// One admin call, its outcome reduced to whether it was right.
type Call =
    for<'a> fn(&'a Admin) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 'a>>;

/// The calls, each checking its own answer.
const CALLS: &[(&str, Call)] = &[
    ("list_topics", |admin| {
        Box::pin(async move {
            admin
                .list_topics(false, &options())
                .await
                .is_ok_and(|topics| topics.iter().any(|t| t.name == "existing"))
        })
    }),
    ("describe_topics", |admin| {
        Box::pin(async move {
            let described = admin.describe_topics(&["existing"], &options()).await;
            described["existing"]
                .as_ref()
                .is_ok_and(|t| t.partitions.len() == 2)
        })
    }),
    ("create_partitions", |admin| {
        Box::pin(async move {
            let increases = std::collections::BTreeMap::from([(
                "existing".to_string(),
                NewPartitions::increase_to(4),
            )]);
            let created = admin.create_partitions(&increases, false, &options()).await;
            created.len() == 1 && created["existing"].is_ok()
        })
    }),
    ("delete_topics_by_id", |admin| {
        Box::pin(async move {
            let id = Uuid([7; 16]);
            let deleted = admin.delete_topics_by_id(&[id], &options()).await;
            deleted.len() == 1 && all_ok(&deleted)
        })
    }),
    ("describe_cluster", |admin| {
        Box::pin(async move {
            admin
                .describe_cluster(&options())
                .await
                .is_ok_and(|c| c.brokers.len() == 2)
        })
    }),
    ("list_groups", |admin| {
        Box::pin(async move {
            admin
                .list_groups(&ListGroupsFilter::default(), &options())
                .await
                .is_ok()
        })
    }),
    ("list_offsets", |admin| {
        Box::pin(async move {
            let asked = std::collections::BTreeMap::from([
                (TopicPartition::new("existing", 0), OffsetSpec::Earliest),
                (TopicPartition::new("existing", 1), OffsetSpec::Latest),
            ]);
            let listed = admin.list_offsets(&asked, false, &options()).await;
            listed.values().all(Result::is_ok)
                && listed[&TopicPartition::new("existing", 0)]
                    .as_ref()
                    .is_ok_and(|o| o.offset == 0)
                && listed[&TopicPartition::new("existing", 1)]
                    .as_ref()
                    .is_ok_and(|o| o.offset == LOG_END)
        })
    }),
    ("delete_records", |admin| {
        Box::pin(async move {
            let before = std::collections::BTreeMap::from([
                (TopicPartition::new("existing", 0), 7),
                (TopicPartition::new("existing", 1), 9),
            ]);
            let deleted = admin.delete_records(&before, &options()).await;
            matches!(deleted[&TopicPartition::new("existing", 0)], Ok(7))
                && matches!(deleted[&TopicPartition::new("existing", 1)], Ok(9))
        })
    }),
];

#[tokio::test(start_paused = true)]
async fn every_other_call_dropped_at_any_point_leaves_the_admin_working() {
    drop_each_at_every_poll(CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn cluster_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(CLUSTER_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn config_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(CONFIG_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn acl_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(ACL_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn scram_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(SCRAM_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn partition_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(PARTITION_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn group_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(GROUP_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn share_group_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(SHARE_GROUP_CALLS).await;
}

#[tokio::test(start_paused = true)]
async fn transaction_calls_dropped_at_any_point_leave_the_admin_working() {
    drop_each_at_every_poll(TRANSACTION_CALLS).await;
}

/// Each call dropped after 0, 1, 2... polls, on a fresh cluster and
/// admin each time, until it finishes by itself: after every drop, no task
/// of its is left, the same call made again on the same admin is right,
/// and the admin holds no more connections than the call leaves open when
/// nothing is dropped.
async fn drop_each_at_every_poll(calls: &[(&str, Call)]) {
    for &(name, call) in calls {
        // The connections a call left open when nothing was dropped, on
        // the route that takes the most: the broker a request for any
        // broker goes to is picked at random, and may or may not be one
        // the call then needs, so every broker's connection is opened
        // first.
        let undisturbed = {
            let cluster = cluster();
            let admin = admin(&cluster).await;
            for node in [1, 2] {
                admin
                    .client()
                    .send(node, &MetadataRequest::default())
                    .await
                    .unwrap();
            }
            assert!(call(&admin).await, "{name} undisturbed");
            admin.client().open_connections()
        };
        let mut finished = false;
        for polls in 0..MAX_POLLS {
            let cluster = cluster();
            let admin = admin(&cluster).await;
            let baseline = tasks();
            finished = poll_then_drop(polls, call(&admin)).await;
            // At most: a client's maintenance task ends a while after its
            // client was dropped, so earlier admins' tasks may end now.
            assert!(
                tasks() <= baseline,
                "{name}: a task outlived the call dropped at poll {polls}"
            );
            let again = tokio::time::timeout(WAIT, call(&admin))
                .await
                .unwrap_or_else(|_| panic!("{name} after one dropped at poll {polls} hung"));
            assert!(again, "{name}: wrong after a drop at poll {polls}");
            assert!(
                admin.client().open_connections() <= undisturbed,
                "{name}: connections piled up after the drop at poll {polls}"
            );
            if finished {
                assert!(
                    polls > 5,
                    "{name} finished at poll {polls}, before its answer"
                );
                break;
            }
        }
        assert!(finished, "{name} never finished within {MAX_POLLS} polls");
    }
}

/// The resources, ACLs, users, partitions, groups and transactions the
/// calls below ask about.
fn topic_config() -> ConfigResource {
    ConfigResource::topic("existing")
}

fn read_acl() -> AclBinding {
    AclBinding::allow(
        ResourcePattern::topic("existing"),
        answers::PRINCIPAL,
        AclOperation::Read,
    )
}

fn partitions() -> [TopicPartition; 2] {
    [
        TopicPartition::new("existing", 0),
        TopicPartition::new("existing", 1),
    ]
}

/// Whether every result of a per-item answer is a success.
fn all_ok<K, V, E>(answers: &std::collections::BTreeMap<K, Result<V, E>>) -> bool {
    answers.values().all(Result::is_ok)
}

/// (`api_versions` is not among them: on the in-memory cluster it only
/// opens connections, which the fake's connector does at once, so it has no
/// point at which to be dropped while waiting.)
const CLUSTER_CALLS: &[(&str, Call)] = &[
    ("describe_features", |admin| {
        Box::pin(async move {
            admin.describe_features(&options()).await.is_ok_and(|f| {
                f.finalized
                    .get(answers::FEATURE)
                    .is_some_and(|range| range.max == answers::FEATURE_LEVEL)
            })
        })
    }),
    ("describe_log_dirs", |admin| {
        Box::pin(async move {
            let described = admin.describe_log_dirs(&[1, 2], None, &options()).await;
            described.len() == 2
                && described.values().all(|dirs| {
                    dirs.as_ref()
                        .is_ok_and(|d| d.len() == 1 && d[0].path == answers::LOG_DIR)
                })
        })
    }),
    ("describe_quorum", |admin| {
        Box::pin(async move {
            admin
                .describe_quorum(&options())
                .await
                .is_ok_and(|q| q.leader_id == 1 && q.voters.len() == 2)
        })
    }),
];

const CONFIG_CALLS: &[(&str, Call)] = &[
    ("describe_configs", |admin| {
        Box::pin(async move {
            let described = admin
                .describe_configs(
                    &[topic_config()],
                    DescribeConfigsOptions::default(),
                    &options(),
                )
                .await;
            described[&topic_config()].as_ref().is_ok_and(|entries| {
                entries.len() == 1 && entries[0].value.as_deref() == Some(answers::CONFIG_VALUE)
            })
        })
    }),
    ("incremental_alter_configs", |admin| {
        Box::pin(async move {
            let changes = std::collections::BTreeMap::from([(
                topic_config(),
                vec![AlterConfigOp::set("retention.ms", "2000")],
            )]);
            let altered = admin
                .incremental_alter_configs(&changes, false, &options())
                .await;
            altered.len() == 1 && all_ok(&altered)
        })
    }),
    ("alter_configs", |admin| {
        Box::pin(async move {
            let configs = std::collections::BTreeMap::from([(
                topic_config(),
                std::collections::BTreeMap::from([(
                    "retention.ms".to_string(),
                    "2000".to_string(),
                )]),
            )]);
            let replaced = admin.alter_configs(&configs, false, &options()).await;
            replaced.len() == 1 && all_ok(&replaced)
        })
    }),
];

const ACL_CALLS: &[(&str, Call)] = &[
    ("describe_acls", |admin| {
        Box::pin(async move {
            admin
                .describe_acls(&AclBindingFilter::any(), &options())
                .await
                .is_ok_and(|found| found == [read_acl()])
        })
    }),
    ("create_acls", |admin| {
        Box::pin(async move {
            let created = admin.create_acls(&[read_acl()], &options()).await;
            created.len() == 1 && all_ok(&created)
        })
    }),
    ("delete_acls", |admin| {
        Box::pin(async move {
            let deleted = admin
                .delete_acls(&[AclBindingFilter::any()], &options())
                .await;
            deleted[&AclBindingFilter::any()]
                .as_ref()
                .is_ok_and(|gone| *gone == [read_acl()])
        })
    }),
];

const SCRAM_CALLS: &[(&str, Call)] = &[
    ("describe_user_scram_credentials", |admin| {
        Box::pin(async move {
            admin
                .describe_user_scram_credentials(Some(&["alice"]), &options())
                .await
                .is_ok_and(|users| {
                    users["alice"].as_ref().is_ok_and(|infos| {
                        infos.len() == 1
                            && infos[0].mechanism == ScramMechanism::Sha512
                            && infos[0].iterations == answers::ITERATIONS
                    })
                })
        })
    }),
    ("alter_user_scram_credentials", |admin| {
        Box::pin(async move {
            let altered = admin
                .alter_user_scram_credentials(
                    &[ScramAlteration::delete("alice", ScramMechanism::Sha512)],
                    &options(),
                )
                .await;
            altered.len() == 1 && altered["alice"].is_ok()
        })
    }),
];

const PARTITION_CALLS: &[(&str, Call)] = &[
    ("elect_leaders", |admin| {
        Box::pin(async move {
            admin
                .elect_leaders(ElectionType::Preferred, Some(&partitions()), &options())
                .await
                .is_ok_and(|elected| elected.len() == 2 && all_ok(&elected))
        })
    }),
    ("list_partition_reassignments", |admin| {
        Box::pin(async move {
            admin
                .list_partition_reassignments(None, &options())
                .await
                .is_ok_and(|ongoing| {
                    ongoing
                        .get(&TopicPartition::new("existing", 0))
                        .is_some_and(|r| r.replicas == answers::REASSIGNING)
                })
        })
    }),
    ("alter_partition_reassignments", |admin| {
        Box::pin(async move {
            let moves = std::collections::BTreeMap::from([
                (TopicPartition::new("existing", 0), Some(vec![2, 1])),
                (TopicPartition::new("existing", 1), None),
            ]);
            let moved = admin
                .alter_partition_reassignments(&moves, &options())
                .await;
            moved.len() == 2 && all_ok(&moved)
        })
    }),
];

const GROUP_CALLS: &[(&str, Call)] = &[
    ("remove_group_members", |admin| {
        Box::pin(async move {
            let members = MembersToRemove::Static(vec!["static-1".to_string()]);
            admin
                .remove_group_members("g", &members, &options())
                .await
                .is_ok_and(|removed| removed.len() == 1 && removed["static-1"].is_ok())
        })
    }),
    ("describe_groups", |admin| {
        Box::pin(async move {
            let described = admin.describe_groups(&["g"], &options()).await;
            described["g"]
                .as_ref()
                .is_ok_and(|g| g.group_id == "g" && g.state == "Stable")
        })
    }),
    ("delete_groups", |admin| {
        Box::pin(async move {
            let deleted = admin.delete_groups(&["g", "h"], &options()).await;
            deleted.len() == 2 && all_ok(&deleted)
        })
    }),
    ("list_group_offsets", |admin| {
        Box::pin(async move {
            let listed = admin
                .list_group_offsets(&["g"], Some(&partitions()), &options())
                .await;
            listed["g"].as_ref().is_ok_and(|offsets| {
                offsets.len() == 2 && offsets.values().all(|o| o.offset == answers::COMMITTED)
            })
        })
    }),
    ("alter_group_offsets", |admin| {
        Box::pin(async move {
            let offsets = partitions()
                .into_iter()
                .map(|tp| {
                    let at = OffsetAndMetadata {
                        offset: 7,
                        leader_epoch: None,
                        metadata: String::new(),
                    };
                    (tp, at)
                })
                .collect();
            let altered = admin.alter_group_offsets("g", &offsets, &options()).await;
            altered.len() == 2 && all_ok(&altered)
        })
    }),
    ("delete_group_offsets", |admin| {
        Box::pin(async move {
            let deleted = admin
                .delete_group_offsets("g", &partitions(), &options())
                .await;
            deleted.len() == 2 && all_ok(&deleted)
        })
    }),
];

const SHARE_GROUP_CALLS: &[(&str, Call)] = &[
    ("describe_share_groups", |admin| {
        Box::pin(async move {
            let described = admin.describe_share_groups(&["s"], &options()).await;
            described["s"]
                .as_ref()
                .is_ok_and(|g| g.group_id == "s" && g.state == "Stable")
        })
    }),
    ("list_share_group_offsets", |admin| {
        Box::pin(async move {
            admin
                .list_share_group_offsets("s", &options())
                .await
                .is_ok_and(|offsets| {
                    offsets.len() == 2
                        && offsets.values().all(|o| {
                            o.as_ref()
                                .is_ok_and(|o| o.start_offset == Some(answers::COMMITTED))
                        })
                })
        })
    }),
    ("alter_share_group_offsets", |admin| {
        Box::pin(async move {
            let offsets = partitions().into_iter().map(|tp| (tp, 3)).collect();
            admin
                .alter_share_group_offsets("s", &offsets, &options())
                .await
                .is_ok_and(|altered| altered.len() == 2 && all_ok(&altered))
        })
    }),
    ("delete_share_group_offsets", |admin| {
        Box::pin(async move {
            admin
                .delete_share_group_offsets("s", &["existing"], &options())
                .await
                .is_ok_and(|deleted| deleted.len() == 1 && all_ok(&deleted))
        })
    }),
];

const TRANSACTION_CALLS: &[(&str, Call)] = &[
    ("list_transactions", |admin| {
        Box::pin(async move {
            admin
                .list_transactions(&ListTransactionsFilter::default(), &options())
                .await
                .is_ok_and(|listed| {
                    let mut ids: Vec<&str> = listed
                        .transactions
                        .iter()
                        .map(|t| t.transactional_id.as_str())
                        .collect();
                    ids.sort_unstable();
                    ids == ["txn-1", "txn-2"]
                })
        })
    }),
    ("describe_transactions", |admin| {
        Box::pin(async move {
            let described = admin.describe_transactions(&["txn"], &options()).await;
            described["txn"].as_ref().is_ok_and(|t| {
                t.producer_id == answers::PRODUCER_ID
                    && t.partitions == [TopicPartition::new("existing", 0)]
            })
        })
    }),
    ("describe_producers", |admin| {
        Box::pin(async move {
            let described = admin.describe_producers(&partitions(), &options()).await;
            described.len() == 2
                && described.values().all(|producers| {
                    producers
                        .as_ref()
                        .is_ok_and(|p| p.len() == 1 && p[0].producer_id == answers::PRODUCER_ID)
                })
        })
    }),
    ("abort_transaction", |admin| {
        Box::pin(async move {
            let spec = AbortTransactionSpec {
                partition: TopicPartition::new("existing", 1),
                producer_id: answers::PRODUCER_ID,
                producer_epoch: 3,
                coordinator_epoch: 1,
            };
            admin.abort_transaction(&spec, &options()).await.is_ok()
        })
    }),
];
