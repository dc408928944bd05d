//! Transaction admin against the shared broker: a ferrokafka producer's
//! open transaction is listed, described at its coordinator and seen among
//! the partition's producers; aborting it with WriteTxnMarkers (as an
//! operator would for a hanging one) moves the partition's last stable
//! offset past its records, which a `read_committed` consumer then never
//! sees, even after the unaware producer commits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_admin::records::{OffsetSpec, TopicPartition};
use ferrokafka_admin::transactions::{
    AbortTransactionSpec, ListTransactionsFilter, TransactionState,
};
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig};
use ferrokafka_producer::transaction::TransactionProtocol;
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

const WAIT: Duration = Duration::from_secs(60);

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(30))
}

/// The partition's end offset: the last stable offset with
/// `read_committed`, the high watermark without.
async fn end(admin: &Admin, partition: &TopicPartition, read_committed: bool) -> i64 {
    let specs = BTreeMap::from([(partition.clone(), OffsetSpec::Latest)]);
    let listed = admin.list_offsets(&specs, read_committed, &options()).await;
    listed[partition].as_ref().unwrap().offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_transaction_is_listed_described_and_aborted() {
    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("txn-admin");
    create_topic(admin.client(), &topic, 2, 1).await;
    let transactional_id = unique_topic("txn-admin-id");
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("transactional_id", transactional_id.as_str()),
            ("linger_ms", "5"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    let mut deliveries = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new(&topic)
            .partition(0)
            .value(format!("open-{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let partition = TopicPartition::new(&topic, 0);

    // Listed as Ongoing (with a state filter, and by producer id).
    let listed = admin
        .list_transactions(
            &ListTransactionsFilter {
                states: vec![TransactionState::Ongoing],
                ..ListTransactionsFilter::default()
            },
            &options(),
        )
        .await
        .unwrap();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let ours = listed
        .transactions
        .iter()
        .find(|t| t.transactional_id == transactional_id)
        .unwrap_or_else(|| panic!("{transactional_id} not in {listed:?}"));
    assert_eq!(ours.state, TransactionState::Ongoing);
    let producer_id = ours.producer_id;
    let by_id = admin
        .list_transactions(
            &ListTransactionsFilter {
                producer_ids: vec![producer_id],
                ..ListTransactionsFilter::default()
            },
            &options(),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = by_id
        .transactions
        .iter()
        .map(|t| t.transactional_id.as_str())
        .collect();
    assert_eq!(ids, [transactional_id.as_str()]);
    let none = admin
        .list_transactions(
            &ListTransactionsFilter {
                states: vec![TransactionState::PrepareEpochFence],
                producer_ids: vec![producer_id],
            },
            &options(),
        )
        .await
        .unwrap();
    assert!(none.transactions.is_empty(), "{none:?}");

    // Described at its coordinator: the partition it wrote to.
    let unknown = unique_topic("no-such-txn");
    let described = admin
        .describe_transactions(&[&transactional_id, &unknown], &options())
        .await;
    let description = described[&transactional_id].as_ref().unwrap();
    assert_eq!(description.state, TransactionState::Ongoing);
    assert_eq!(description.producer_id, producer_id);
    assert_eq!(description.partitions, std::slice::from_ref(&partition));
    assert!(description.transaction_start_time_ms.is_some());
    assert_eq!(
        described[&unknown].as_ref().unwrap_err().code(),
        Some(ErrorCode::TransactionalIdNotFound)
    );

    // The partition's leader has it as an open transaction from offset 0,
    // which holds the last stable offset there.
    let producers = admin
        .describe_producers(std::slice::from_ref(&partition), &options())
        .await;
    let state = *producers[&partition]
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.producer_id == producer_id)
        .expect("the producer is on the partition");
    assert_eq!(state.current_txn_start_offset, Some(0));
    assert_eq!(end(&admin, &partition, false).await, 10);
    assert_eq!(end(&admin, &partition, true).await, 0);

    // Abort it on the partition: the abort marker ends it there.
    let spec = AbortTransactionSpec::for_producer(&partition, &state).unwrap();
    admin.abort_transaction(&spec, &options()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stable = end(&admin, &partition, true).await;
        if stable == 11 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last stable offset still {stable}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        end(&admin, &partition, false).await,
        11,
        "10 records and the marker"
    );
    let producers = admin
        .describe_producers(std::slice::from_ref(&partition), &options())
        .await;
    let after = producers[&partition]
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.producer_id == producer_id)
        .copied()
        .expect("the producer is still known to the partition");
    assert_eq!(after.current_txn_start_offset, None);

    // The producer never learns: its coordinator still has the transaction
    // open, and commits it (a commit marker after the abort marker), but
    // the records stay aborted.
    producer.commit_transaction(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send(ProducerRecord::new(&topic).partition(0).value("after"))
        .await
        .unwrap()
        .await
        .unwrap();
    producer.commit_transaction(WAIT).await.unwrap();
    let seen = read_committed(&topic, "after").await;
    assert_eq!(seen, ["after"]);

    // The same abort again is fenced. With transactions V1 the epoch stays,
    // and the coordinator's commit marker carries its coordinator epoch,
    // which the abort (claiming none) is below; with V2 every commit bumped
    // the producer's epoch, and the leader checks that first.
    let again = admin
        .abort_transaction(&spec, &options())
        .await
        .unwrap_err();
    let fenced_by = match producer.transaction_protocol() {
        Some(TransactionProtocol::V2) => ErrorCode::InvalidProducerEpoch,
        _ => ErrorCode::TransactionCoordinatorFenced,
    };
    assert_eq!(again.code(), Some(fenced_by), "{again}");
}

/// The values a `read_committed` consumer reads from partition 0 of
/// `topic` from the beginning, up to and including `last`.
async fn read_committed(topic: &str, last: &str) -> Vec<String> {
    let consumer = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("isolation_level", "read_committed"),
            ("auto_offset_reset", "earliest"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let assigned = [ferrokafka_consumer::TopicPartition::new(topic, 0)];
    consumer.assign(&assigned).await.unwrap();
    consumer.seek_to_beginning(&assigned).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let mut values: Vec<String> = Vec::new();
    while !values.iter().any(|v| v == last) {
        assert!(Instant::now() < deadline, "only {values:?}");
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            values.push(
                String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned(),
            );
        }
    }
    consumer.close(Duration::from_secs(5)).await.unwrap();
    values
}
