//! Cancellation safety of the admin client on the in-memory cluster, with
//! the runtime's clock paused: each call is dropped after every number of
//! polls until it would have finished by itself. Whatever the point, the
//! admin client goes on working, keeps no more connections than one call
//! leaves open, and leaves no task of its own running.

use std::time::Duration;

use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::messages::create_topics_response::CreatableTopicResult;
use ferrokafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use ferrokafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
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
        _ => None,
    });
    slot.set(cluster.clone()).ok();
    cluster.add_topic("existing", &[1, 2]);
    cluster
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
