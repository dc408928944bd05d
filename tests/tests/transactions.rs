//! Transactions against a real broker: committed records are visible to a
//! `read_committed` reader and aborted ones are not (while a
//! `read_uncommitted` reader sees both, so they were written); a second
//! producer with the same transactional id fences the first, which gets a
//! typed fenced error; offsets sent with a transaction count only if it
//! commits, with a group member's own metadata in consume-transform-produce.
//! Read back with ferrokafka's consumer and with kafka-python.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminOptions};
use ferrokafka_consumer::offsets::{self, OffsetError};
use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};
use ferrokafka_producer::transaction::{
    GroupIdentity, OffsetAndMetadata, TransactionError, TransactionProtocol, TransactionState,
};
use ferrokafka_producer::{ErrorCategory, ProduceError, Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{bootstrap_servers, create_topic, start_cluster_with, unique_topic};
use ferrokafka_transport::Client;
use xtask::broker::StartOptions;

const WAIT: Duration = Duration::from_secs(60);

async fn transactional(transactional_id: &str) -> Producer {
    transactional_at(bootstrap_servers(), transactional_id).await
}

async fn transactional_at(bootstrap: &str, transactional_id: &str) -> Producer {
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", bootstrap),
        ("transactional_id", transactional_id),
        ("linger_ms", "5"),
    ])
    .unwrap();
    Producer::new(config).await.unwrap()
}

/// Every record of `partitions` from the beginning, polled until `count`
/// arrived and then until a poll brings nothing more.
async fn read_all(topic: &str, partitions: i32, isolation: &str, count: usize) -> Vec<String> {
    read_all_at(bootstrap_servers(), topic, partitions, isolation, count).await
}

async fn read_all_at(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
    count: usize,
) -> Vec<String> {
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap),
            ("isolation_level", isolation),
            ("auto_offset_reset", "earliest"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let assigned: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(&assigned).await.unwrap();
    consumer.seek_to_beginning(&assigned).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let mut records: Vec<ConsumerRecord> = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        records.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    // Anything beyond the expected count would show up now.
    records.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    consumer.close(Duration::from_secs(5)).await.unwrap();
    records
        .iter()
        .map(|r| String::from_utf8(r.value.as_deref().unwrap_or_default().to_vec()).unwrap())
        .collect()
}

/// The values kafka-python reads from `topic` with `isolation_level`.
fn read_with_kafka_python(topic: &str, isolation: &str, count: usize) -> Vec<String> {
    let lines = xtask::python::run_interop_script_lines(
        "kafka_python_read_isolated.py",
        &[
            "--bootstrap",
            bootstrap_servers(),
            "--topic",
            topic,
            "--isolation-level",
            isolation,
            "--count",
            &count.to_string(),
        ],
    )
    .unwrap();
    lines
        .iter()
        .map(|line| line["value"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The offset `group` committed for `partition`, once no transactional
/// commit of it is pending: the broker answers UNSTABLE_OFFSET_COMMIT until
/// the transaction's markers are written, which the caller retries.
async fn committed(
    client: &Client,
    group: &str,
    partition: &TopicPartition,
) -> Option<offsets::OffsetAndMetadata> {
    let deadline = Instant::now() + WAIT;
    loop {
        match offsets::committed(client, group, std::slice::from_ref(partition), true).await {
            Ok(mut found) => return found.remove(partition).flatten(),
            Err(OffsetError::Broker {
                error: ErrorCode::UnstableOffsetCommit,
                ..
            }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("{error}"),
        }
    }
}

async fn send_values(producer: &Producer, topic: &str, prefix: &str, count: u32) {
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic)
            .partition(i32::try_from(i % 2).unwrap())
            .value(format!("{prefix}-{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

#[tokio::test]
async fn committed_records_are_visible_and_aborted_ones_are_not() {
    let topic = unique_topic("txn-visibility");
    let producer = transactional(&unique_topic("txn-id")).await;
    create_topic(producer.client(), &topic, 2, 1).await;
    // Sending before init_transactions / begin_transaction is refused.
    let refused = producer
        .send(ProducerRecord::new(&topic).value("early"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ProduceError::Transaction(TransactionError::InvalidState { .. })
        ),
        "{refused:?}"
    );
    producer.init_transactions(WAIT).await.unwrap();
    assert_eq!(producer.transaction_state(), Some(TransactionState::Ready));
    // The harness's 4.x broker finalizes transaction.version 2 (KIP-890
    // part 2), as a freshly formatted 4.x cluster does.
    assert_eq!(
        producer.transaction_protocol(),
        Some(TransactionProtocol::V2)
    );
    let initialized = producer.producer_id_and_epoch().unwrap();

    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "committed", 100).await;
    producer.commit_transaction(WAIT).await.unwrap();
    let after_commit = producer.producer_id_and_epoch().unwrap();

    // Delivered (acknowledged, in the log), then aborted.
    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "aborted", 50).await;
    producer.abort_transaction(WAIT).await.unwrap();
    let after_abort = producer.producer_id_and_epoch().unwrap();
    // Only V2's EndTxn hands out a new epoch: with V1 the epoch of
    // init_transactions would stand through every transaction.
    assert_eq!(after_commit.producer_id, initialized.producer_id);
    assert!(
        after_commit.epoch > initialized.epoch,
        "{initialized:?} {after_commit:?}"
    );
    assert!(
        after_abort.epoch > after_commit.epoch,
        "{after_commit:?} {after_abort:?}"
    );

    // Aborted before anything was sent: nothing to deliver.
    producer.begin_transaction().unwrap();
    let never = producer
        .send(ProducerRecord::new(&topic).partition(0).value("never"))
        .await
        .unwrap();
    producer.abort_transaction(WAIT).await.unwrap();
    // Either it failed as aborted or it went out before the abort; it is
    // invisible to read_committed in both cases.
    if let Err(error) = never.await {
        assert!(
            matches!(error, ProduceError::Transaction(TransactionError::Aborted)),
            "{error:?}"
        );
    }

    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "after", 20).await;
    producer.commit_transaction(WAIT).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();

    let expected: Vec<String> = (0..100)
        .map(|i| format!("committed-{i}"))
        .chain((0..20).map(|i| format!("after-{i}")))
        .collect();
    let mut committed_view = read_all(&topic, 2, "read_committed", expected.len()).await;
    // The "after" records follow the aborted ones in both partitions, so
    // an aborted record let through would be among those read.
    assert!(
        committed_view
            .iter()
            .all(|v| !v.starts_with("aborted") && v != "never"),
        "{committed_view:?}"
    );
    committed_view.sort();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(committed_view, sorted);

    // read_uncommitted sees the aborted records: they were in the log.
    let uncommitted_view = read_all(&topic, 2, "read_uncommitted", 170).await;
    let aborted_seen = uncommitted_view
        .iter()
        .filter(|v| v.starts_with("aborted"))
        .count();
    assert_eq!(aborted_seen, 50, "{uncommitted_view:?}");

    // kafka-python with read_committed agrees.
    let mut python_view = read_with_kafka_python(&topic, "read_committed", expected.len());
    python_view.sort();
    assert_eq!(python_view, sorted);
}

#[tokio::test]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    let topic = unique_topic("txn-fence");
    let transactional_id = unique_topic("txn-fence-id");
    let first = transactional(&transactional_id).await;
    create_topic(first.client(), &topic, 2, 1).await;
    first.init_transactions(WAIT).await.unwrap();
    first.begin_transaction().unwrap();
    send_values(&first, &topic, "zombie", 10).await;

    let second = transactional(&transactional_id).await;
    second.init_transactions(WAIT).await.unwrap();

    let error = first.commit_transaction(WAIT).await.unwrap_err();
    assert!(error.is_fenced(), "{error:?}");
    // KIP-1050: close this producer, a new one takes over.
    assert_eq!(error.category(), ErrorCategory::ApplicationRecoverable);
    assert_eq!(
        first.transaction_state(),
        Some(TransactionState::FatalError)
    );
    // Nothing more from the fenced producer.
    let refused = first
        .send(ProducerRecord::new(&topic).value("late"))
        .await
        .unwrap_err();
    match &refused {
        ProduceError::Transaction(error) => assert!(error.is_fenced(), "{error:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(refused.category(), ErrorCategory::ApplicationRecoverable);
    assert!(first.begin_transaction().unwrap_err().is_fenced());

    second.begin_transaction().unwrap();
    send_values(&second, &topic, "successor", 10).await;
    second.commit_transaction(WAIT).await.unwrap();
    second.close(Duration::from_secs(10)).await.unwrap();
    let _ = first.close(Duration::from_secs(1)).await;

    let mut seen = read_all(&topic, 2, "read_committed", 10).await;
    seen.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("successor-{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected, "the zombie's transaction was aborted");
}

/// KIP-1050: a record the broker refuses for good (larger than the topic's
/// `max.message.bytes`) leaves its transaction abortable, not the producer
/// dead, as Java's transaction manager decides: the application aborts and
/// the same producer commits the next transaction.
#[tokio::test]
async fn a_record_the_broker_refuses_makes_the_transaction_abortable() {
    let topic = unique_topic("txn-too-large");
    let producer = transactional(&unique_topic("txn-too-large-id")).await;
    let admin = Admin::with_client(producer.client().clone());
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 1, 1).config("max.message.bytes", "1024")],
            false,
            &AdminOptions::new().timeout(WAIT),
        )
        .await;
    created[&topic].as_ref().unwrap();
    producer.client().topic(&topic).await.unwrap();
    producer.init_transactions(WAIT).await.unwrap();

    producer.begin_transaction().unwrap();
    let refused = producer
        .send(ProducerRecord::new(&topic).value(vec![b'x'; 8 * 1024]))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Abortable, "{refused:?}");
    let commit = producer.commit_transaction(WAIT).await.unwrap_err();
    assert_eq!(commit.category(), ErrorCategory::Abortable, "{commit:?}");
    assert_eq!(
        producer.transaction_state(),
        Some(TransactionState::AbortableError)
    );

    producer.abort_transaction(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send(ProducerRecord::new(&topic).value("fits"))
        .await
        .unwrap()
        .await
        .unwrap();
    producer.commit_transaction(WAIT).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(read_all(&topic, 1, "read_committed", 1).await, ["fits"]);
}

/// KIP-1050: a transactional id the principal may not use is fatal; the
/// producer can do nothing more. On a node of its own with Kafka's
/// StandardAuthorizer, where `alice` (SASL PLAIN) has no ACL at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_id_the_principal_may_not_use_is_fatal() {
    let cluster = start_cluster_with(&StartOptions {
        security: true,
        extra_properties: vec![
            (
                "authorizer.class.name".to_string(),
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
            ),
            (
                "super.users".to_string(),
                "User:ANONYMOUS;User:admin".to_string(),
            ),
        ],
        ..StartOptions::single_node()
    });
    let security = cluster.info.security.as_ref().expect("security listeners");
    let config = ProducerConfig::from_pairs([
        ("bootstrap_servers", security.sasl_plaintext.as_str()),
        ("security_protocol", "SASL_PLAINTEXT"),
        ("sasl_mechanism", "PLAIN"),
        ("sasl_plain_username", "alice"),
        ("sasl_plain_password", "alice-secret"),
        ("transactional_id", &unique_topic("txn-unauthorized-id")),
    ])
    .unwrap();
    let producer = Producer::new(config).await.unwrap();
    let error = producer.init_transactions(WAIT).await.unwrap_err();
    assert!(
        matches!(error, TransactionError::TransactionalIdAuthorizationFailed),
        "{error:?}"
    );
    assert_eq!(error.category(), ErrorCategory::Fatal);
    assert_eq!(
        producer.transaction_state(),
        Some(TransactionState::FatalError)
    );
    let refused = producer.begin_transaction().unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Fatal, "{refused:?}");
    let _ = producer.close(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn offsets_sent_with_a_transaction_count_only_if_it_commits() {
    let topic = unique_topic("txn-offsets");
    let group = unique_topic("txn-group");
    let producer = transactional(&unique_topic("txn-offsets-id")).await;
    create_topic(producer.client(), &topic, 2, 1).await;
    producer.init_transactions(WAIT).await.unwrap();
    let consumed = [TopicPartition::new(&topic, 1)];
    let offset = |offset| OffsetAndMetadata {
        offset,
        leader_epoch: None,
        metadata: "txn".to_string(),
    };

    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "aborted", 4).await;
    producer
        .send_offsets_to_transaction(
            [(consumed[0].clone(), offset(42))],
            GroupIdentity::without_member(&group),
        )
        .await
        .unwrap();
    producer.abort_transaction(WAIT).await.unwrap();
    let after_abort = committed(producer.client(), &group, &consumed[0]).await;
    assert_eq!(after_abort, None, "aborted offsets must not count");

    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "committed", 4).await;
    producer
        .send_offsets_to_transaction(
            [(consumed[0].clone(), offset(17))],
            GroupIdentity::without_member(&group),
        )
        .await
        .unwrap();
    // Pending until the transaction commits: a reader that does not wait
    // for stable offsets sees none yet.
    let pending = offsets::committed(producer.client(), &group, &consumed, false)
        .await
        .unwrap();
    assert_eq!(pending[&consumed[0]], None, "{pending:?}");
    producer.commit_transaction(WAIT).await.unwrap();
    let stored = committed(producer.client(), &group, &consumed[0])
        .await
        .expect("committed");
    assert_eq!(stored.offset, 17);
    assert_eq!(stored.metadata, "txn");
    producer.close(Duration::from_secs(10)).await.unwrap();

    // The group's offsets and the records moved together.
    let records: BTreeSet<String> = read_all(&topic, 2, "read_committed", 4)
        .await
        .into_iter()
        .collect();
    assert!(
        records.iter().all(|v| v.starts_with("committed")),
        "{records:?}"
    );
    assert_eq!(records.len(), 4);
}

#[tokio::test]
async fn transactional_calls_on_a_producer_without_transactional_id_are_refused() {
    let producer = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let error = producer.init_transactions(WAIT).await.unwrap_err();
    assert!(
        matches!(error, TransactionError::NotTransactional { .. }),
        "{error:?}"
    );
    assert_eq!(error.category(), ErrorCategory::InvalidConfiguration);
    assert_eq!(producer.transaction_state(), None);
    producer.close(Duration::from_secs(5)).await.unwrap();
}

/// Consume-transform-produce: a group member's positions and its
/// `group_metadata()` go to the producer's transaction as the consumer gives
/// them; the coordinator checks that member's generation and id, stores
/// the offsets when the transaction commits, and a member of a generation
/// the group left behind is refused.
#[tokio::test]
async fn a_group_members_positions_commit_with_the_transaction() {
    let input = unique_topic("txn-ctp-in");
    let output = unique_topic("txn-ctp-out");
    let group = unique_topic("txn-ctp-group");
    let producer = transactional(&unique_topic("txn-ctp-id")).await;
    create_topic(producer.client(), &input, 1, 1).await;
    create_topic(producer.client(), &output, 1, 1).await;
    let plain = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    for i in 0..5 {
        plain
            .send(ProducerRecord::new(&input).value(format!("in-{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    plain.close(Duration::from_secs(5)).await.unwrap();
    producer.init_transactions(WAIT).await.unwrap();

    let member = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("enable_auto_commit", "false"),
            ("isolation_level", "read_committed"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    member.subscribe(&[input.as_str()]).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let mut consumed = Vec::new();
    while consumed.len() < 5 {
        consumed.extend(member.poll(Duration::from_millis(200)).await.unwrap());
        assert!(Instant::now() < deadline, "read {} of 5", consumed.len());
    }
    let metadata = member.group_metadata().await.unwrap();
    assert!(
        metadata.generation > 0 && !metadata.member_id.is_empty(),
        "{metadata:?}"
    );
    let partition = TopicPartition::new(&input, 0);
    let position = member.position(&partition).await.unwrap();
    assert_eq!(position, 5);

    producer.begin_transaction().unwrap();
    for record in &consumed {
        let value = String::from_utf8_lossy(record.value.as_deref().unwrap()).to_uppercase();
        producer
            .send(ProducerRecord::new(&output).value(value))
            .await
            .unwrap();
    }
    producer
        .send_offsets_to_transaction(
            [(partition.clone(), OffsetAndMetadata::new(position))],
            metadata.clone(),
        )
        .await
        .unwrap();
    producer.commit_transaction(WAIT).await.unwrap();
    let stored = committed(producer.client(), &group, &partition)
        .await
        .expect("committed with the transaction");
    assert_eq!(stored.offset, 5);
    let written = read_all(&output, 1, "read_committed", 5).await;
    assert_eq!(written, ["IN-0", "IN-1", "IN-2", "IN-3", "IN-4"]);

    // A metadata whose generation the group never reached is a zombie's.
    producer.begin_transaction().unwrap();
    let zombie = GroupIdentity {
        generation: metadata.generation + 10,
        ..metadata
    };
    let refused = producer
        .send_offsets_to_transaction([(partition.clone(), OffsetAndMetadata::new(5))], zombie)
        .await;
    assert!(
        matches!(
            refused,
            Err(TransactionError::CommitFailed(ErrorCode::IllegalGeneration))
        ),
        "{refused:?}"
    );
    // KIP-1050: abort the transaction and go on with the same producer.
    assert_eq!(
        refused.as_ref().map_err(TransactionError::category).err(),
        Some(ErrorCategory::Abortable)
    );
    producer.abort_transaction(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    producer.abort_transaction(WAIT).await.unwrap();
    member.close(Duration::from_secs(5)).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// On a cluster whose `transaction.version` is 1 (as every 3.x cluster and
/// a 4.x one formatted so), the producer keeps KIP-98's protocol: partitions
/// and offsets are added to the transaction before use, and the epoch of
/// `init_transactions` stands through commits and aborts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_transactions_v2_gets_v1() {
    let cluster = start_cluster_with(&StartOptions {
        features: vec![("transaction.version".to_string(), 1)],
        ..StartOptions::single_node()
    });
    let bootstrap = cluster.info.bootstrap_servers.as_str();
    let topic = unique_topic("txn-v1");
    let producer = transactional_at(bootstrap, &unique_topic("txn-v1-id")).await;
    create_topic(producer.client(), &topic, 2, 1).await;
    producer.init_transactions(WAIT).await.unwrap();
    assert_eq!(
        producer.transaction_protocol(),
        Some(TransactionProtocol::V1)
    );
    let initialized = producer.producer_id_and_epoch().unwrap();

    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "committed", 40).await;
    producer.commit_transaction(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "aborted", 20).await;
    producer.abort_transaction(WAIT).await.unwrap();
    assert_eq!(
        producer.producer_id_and_epoch().unwrap(),
        initialized,
        "V1 keeps the epoch"
    );

    // Offsets sent with a transaction (AddOffsetsToTxn, then
    // TxnOffsetCommit) count once it commits.
    let group = unique_topic("txn-v1-group");
    let partition = TopicPartition::new(&topic, 0);
    producer.begin_transaction().unwrap();
    send_values(&producer, &topic, "after", 10).await;
    producer
        .send_offsets_to_transaction(
            [(partition.clone(), OffsetAndMetadata::new(7))],
            GroupIdentity::without_member(&group),
        )
        .await
        .unwrap();
    producer.commit_transaction(WAIT).await.unwrap();
    assert_eq!(
        producer.transaction_protocol(),
        Some(TransactionProtocol::V1),
        "still V1 after the transactions"
    );
    let committed_offset = committed(producer.client(), &group, &partition).await;
    assert_eq!(committed_offset.map(|c| c.offset), Some(7));
    producer.close(Duration::from_secs(10)).await.unwrap();

    let mut seen = read_all_at(bootstrap, &topic, 2, "read_committed", 50).await;
    seen.sort();
    let mut expected: Vec<String> = (0..40)
        .map(|i| format!("committed-{i}"))
        .chain((0..10).map(|i| format!("after-{i}")))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}
