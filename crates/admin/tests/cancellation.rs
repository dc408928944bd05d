//! Cancellation safety of the admin client on the in-memory cluster, with
//! the runtime's clock paused: each call is dropped after every number of
//! polls until it would have finished by itself. Whatever the point, the
//! admin client goes on working, keeps no more connections than one call
//! leaves open, and leaves no task of its own running. Besides creating
//! and deleting topics: listing topics, describing the cluster, listing groups
//! (one request per broker), listing offsets and deleting records.

use std::time::Duration;

use ferrokafka_admin::groups::ListGroupsFilter;
use ferrokafka_admin::records::OffsetSpec;
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::TopicPartition;
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
    ListOffsetsRequest, ListOffsetsResponse,
};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest, poll_then_drop};

/// The most polls any call here needs to finish by itself.
const MAX_POLLS: usize = 200;
const WAIT: Duration = Duration::from_secs(30);

/// A cluster whose CreateTopics answers after 5 ms, creating the topics
/// (so the call's wait for their leaders ends), DeleteTopics the same.
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
        _ => None,
    });
    slot.set(cluster.clone()).ok();
    cluster.add_topic("existing", &[1, 2]);
    cluster
}

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
    let names = asked
        .topic_names
        .iter()
        .cloned()
        .chain(asked.topics.iter().filter_map(|t| t.name.clone()));
    let response = DeleteTopicsResponse {
        responses: names
            .map(|name| DeletableTopicResult {
                name: Some(name),
                ..DeletableTopicResult::default()
            })
            .collect(),
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
    for &(name, call) in CALLS {
        // The connections a call left open when nothing was dropped.
        let undisturbed = {
            let cluster = cluster();
            let admin = admin(&cluster).await;
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
