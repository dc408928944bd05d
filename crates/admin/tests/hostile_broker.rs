//! The admin client against a broker that answers in broken or hostile
//! ways: frames cut short, sizes past any limit, wrong correlation ids,
//! garbled bodies, answers trickling in past the request timeout, silence,
//! items never asked about in place of those asked, error codes no Kafka
//! version has. Each call ends, by its timeout at the latest, with a
//! result or a typed error per item; nothing panics; and the next call,
//! answered well, works.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminError, AdminOptions};
use ferrokafka_protocol::messages::create_topics_response::CreatableTopicResult;
use ferrokafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use ferrokafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_transport::TransportError;
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::fake::{FakeCluster, FakeReply, FakeRequest};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The right answer to a CreateTopics (each topic created, with `code`)
/// or a DeleteTopics.
fn right(request: &FakeRequest, cluster: Option<&FakeCluster>, code: ErrorCode) -> FakeReply {
    match request.key {
        ApiKey::CreateTopics => {
            let asked: CreateTopicsRequest = request.decode();
            if let Some(cluster) = cluster {
                for topic in &asked.topics {
                    cluster.add_topic(&topic.name, &[1]);
                }
            }
            let topics = asked
                .topics
                .iter()
                .map(|t| CreatableTopicResult {
                    name: t.name.clone(),
                    error_code: code.code(),
                    num_partitions: 1,
                    replication_factor: 1,
                    ..CreatableTopicResult::default()
                })
                .collect();
            FakeReply::with(
                request,
                &CreateTopicsResponse {
                    topics,
                    ..CreateTopicsResponse::default()
                },
            )
        }
        ApiKey::DeleteTopics => {
            let asked: DeleteTopicsRequest = request.decode();
            let names = asked
                .topic_names
                .iter()
                .cloned()
                .chain(asked.topics.iter().filter_map(|t| t.name.clone()));
            let responses = names
                .map(|name| DeletableTopicResult {
                    name: Some(name),
                    error_code: code.code(),
                    ..DeletableTopicResult::default()
                })
                .collect();
            FakeReply::with(
                request,
                &DeleteTopicsResponse {
                    responses,
                    ..DeleteTopicsResponse::default()
                },
            )
        }
        other => panic!("no answer here for {}", other.name()),
    }
}

type Hostile = fn(&FakeRequest, FakeReply) -> FakeReply;

/// A cluster answering the first `broken` CreateTopics and DeleteTopics
/// as `hostile` makes of the right answer (the broker did the work), the
/// others right.
fn cluster(broken: usize, hostile: Hostile) -> FakeCluster {
    let slot = Arc::new(OnceLock::<FakeCluster>::new());
    let seen = Arc::clone(&slot);
    let calls = AtomicUsize::new(0);
    let cluster = FakeCluster::new(1, move |request| {
        matches!(request.key, ApiKey::CreateTopics | ApiKey::DeleteTopics).then(|| {
            let right = right(request, seen.get(), ErrorCode::None);
            if calls.fetch_add(1, Ordering::SeqCst) < broken {
                hostile(request, right)
            } else {
                right
            }
        })
    });
    slot.set(cluster.clone()).ok();
    cluster.add_topic("existing", &[1]);
    cluster
}

async fn admin(cluster: &FakeCluster) -> Admin {
    let config = ClientConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("retry_backoff_ms", "10"),
        ("request_timeout_ms", "1000"),
    ])
    .unwrap();
    Admin::with_client(cluster.client(config).await.unwrap())
}

fn options() -> AdminOptions {
    AdminOptions::new().timeout(TIMEOUT)
}

/// Every way of breaking an answer, with what the call then gives: the
/// topic created (a closed connection or a timeout is retried, and the
/// retry is answered well) or the transport's typed error saying what was
/// wrong (an answer that cannot be read is not retried: the broker may
/// have done the work, and its answer was not trustworthy). The call ends
/// within its timeout either way, and the next call works.
#[tokio::test(start_paused = true)]
async fn a_broken_answer_ends_the_call_in_time_and_the_next_call_works() {
    let cases: &[(&str, Hostile, Option<&str>)] = &[
        (
            "a wrong correlation id",
            FakeReply::unsolicited,
            Some("correlation id"),
        ),
        (
            "an answer then one to nothing asked",
            FakeReply::with_unsolicited,
            None,
        ),
        (
            "a frame cut in its header",
            |r, right| FakeReply::cut(r, right, 6),
            None,
        ),
        (
            "a size past receive_message_max_bytes",
            |_, _| FakeReply::claiming(i32::MAX),
            Some("receive_message_max_bytes"),
        ),
        (
            "a negative size",
            |_, _| FakeReply::claiming(i32::MIN),
            Some("negative frame size"),
        ),
        (
            "a garbled body",
            |_, _| FakeReply::Respond(Bytes::from_static(&[0x80; 7])),
            Some("cannot decode CreateTopicsResponse"),
        ),
        (
            "a body cut short",
            |_, right| {
                let FakeReply::Respond(body) = right else {
                    unreachable!()
                };
                FakeReply::Respond(body.slice(..body.len() - 3))
            },
            Some("Truncated"),
        ),
        (
            "a count of two billion topics",
            // CreateTopics v5 and later: throttle time, then a compact
            // array whose length is its count plus one.
            |_, _| {
                FakeReply::Respond(Bytes::from_static(&[
                    0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07,
                ]))
            },
            Some("BadLength"),
        ),
        (
            "an answer trickling in past the request timeout",
            |_, right| FakeReply::Drip(Duration::from_millis(100), Box::new(right)),
            None,
        ),
        ("a disconnect", |_, _| FakeReply::Disconnect, None),
        ("silence", |_, _| FakeReply::Hang, None),
    ];
    for &(case, hostile, says) in cases {
        let cluster = cluster(1, hostile);
        let admin = admin(&cluster).await;
        let started = tokio::time::Instant::now();
        let created = admin
            .create_topics(&[NewTopic::new("new", 1, 1)], false, &options())
            .await;
        assert!(
            started.elapsed() <= TIMEOUT,
            "{case}: {:?}",
            started.elapsed()
        );
        match (&created["new"], says) {
            (Ok(_), None) => {}
            (Err(error @ AdminError::Transport(_)), Some(says)) => {
                assert!(error.to_string().contains(says), "{case}: {error}");
            }
            (other, _) => panic!("{case}: {other:?}"),
        }
        // The next call is answered well and works.
        let deleted = admin.delete_topics(&["existing"], &options()).await;
        assert!(deleted["existing"].is_ok(), "{case}: {deleted:?}");
        let listed = admin.list_topics(false, &options()).await.unwrap();
        assert!(!listed.is_empty(), "{case}");
    }
}

/// An answer about items never asked for, leaving out the one asked: the
/// item asked gets an error saying the answer left it out; the strangers
/// are not reported as results.
#[tokio::test(start_paused = true)]
async fn an_answer_about_other_items_leaves_the_asked_one_unanswered() {
    let cluster = cluster(usize::MAX, |request, _| match request.key {
        ApiKey::CreateTopics => FakeReply::with(
            request,
            &CreateTopicsResponse {
                topics: vec![CreatableTopicResult {
                    name: "stranger".to_string(),
                    ..CreatableTopicResult::default()
                }],
                ..CreateTopicsResponse::default()
            },
        ),
        _ => FakeReply::with(
            request,
            &DeleteTopicsResponse {
                responses: vec![DeletableTopicResult {
                    name: Some("stranger".to_string()),
                    ..DeletableTopicResult::default()
                }],
                ..DeleteTopicsResponse::default()
            },
        ),
    });
    let admin = admin(&cluster).await;
    let created = admin
        .create_topics(&[NewTopic::new("new", 1, 1)], false, &options())
        .await;
    assert_eq!(created.keys().collect::<Vec<_>>(), ["new"]);
    assert!(
        matches!(created["new"], Err(AdminError::UnexpectedResponse(_))),
        "{created:?}"
    );
    let deleted = admin.delete_topics(&["existing"], &options()).await;
    assert_eq!(deleted.keys().collect::<Vec<_>>(), ["existing"]);
    assert!(
        matches!(deleted["existing"], Err(AdminError::UnexpectedResponse(_))),
        "{deleted:?}"
    );
}

/// An error code no Kafka version has is named in the item's error.
#[tokio::test(start_paused = true)]
async fn an_unknown_error_code_is_named_in_the_items_error() {
    let slot = Arc::new(OnceLock::<FakeCluster>::new());
    let seen = Arc::clone(&slot);
    let cluster = FakeCluster::new(1, move |request| {
        matches!(request.key, ApiKey::CreateTopics | ApiKey::DeleteTopics)
            .then(|| right(request, seen.get(), ErrorCode::from_code(9_999)))
    });
    slot.set(cluster.clone()).ok();
    cluster.add_topic("existing", &[1]);
    let admin = admin(&cluster).await;
    let started = tokio::time::Instant::now();
    let created = admin
        .create_topics(&[NewTopic::new("new", 1, 1)], false, &options())
        .await;
    let error = created["new"].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::Unknown(9_999)), "{error:?}");
    assert!(error.to_string().contains("9999"), "{error}");
    // Not retriable: the call did not wait out its timeout.
    assert!(started.elapsed() < TIMEOUT);
    let deleted = admin.delete_topics(&["existing"], &options()).await;
    assert_eq!(
        deleted["existing"].as_ref().unwrap_err().code(),
        Some(ErrorCode::Unknown(9_999))
    );
}

/// A broker that never answers: the call gives up at its timeout, with a
/// timeout error, however long the request timeout.
#[tokio::test(start_paused = true)]
async fn a_silent_broker_is_given_up_on_at_the_calls_timeout() {
    let cluster = cluster(usize::MAX, |_, _| FakeReply::Hang);
    let config = ClientConfig::from_pairs([
        ("bootstrap_servers", cluster.bootstrap().as_str()),
        ("request_timeout_ms", "600000"),
    ])
    .unwrap();
    let admin = Admin::with_client(cluster.client(config).await.unwrap());
    let started = tokio::time::Instant::now();
    let created = admin
        .create_topics(&[NewTopic::new("new", 1, 1)], false, &options())
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= TIMEOUT && elapsed < TIMEOUT + Duration::from_secs(1),
        "{elapsed:?}"
    );
    match &created["new"] {
        Err(
            AdminError::TimedOut { .. } | AdminError::Transport(TransportError::Timeout { .. }),
        ) => {}
        other => panic!("{other:?}"),
    }
}
