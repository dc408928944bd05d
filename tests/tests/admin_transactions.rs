//! Transactions through the admin client against a real broker: a
//! transaction left open is listed and described as ongoing, its producer
//! shows at the partition's leader, and aborting it there with
//! WriteTxnMarkers lets a `read_committed` consumer past it.

use std::time::{Duration, Instant};

use ferrokafka_admin::transactions::ListTransactionsFilter;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_tests::{bootstrap_servers, create_topic, unique_topic};

const WAIT: Duration = Duration::from_secs(60);

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(30))
}

async fn read_committed() -> Consumer {
    Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("isolation_level", "read_committed"),
            ("auto_offset_reset", "earliest"),
        ])
        .unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_hanging_transaction_is_listed_described_and_aborted() {
    let admin = Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    let topic = unique_topic("admin-txn");
    create_topic(admin.client(), &topic, 1, 1).await;
    let transactional_id = unique_topic("admin-txn-id");
    // A long transaction timeout: only the admin's abort can end it in time.
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap_servers", bootstrap_servers()),
            ("transactional_id", transactional_id.as_str()),
            ("transaction_timeout_ms", "600000"),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    producer.init_transactions(WAIT).await.unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send(ProducerRecord::new(&topic).partition(0).value("open"))
        .await
        .unwrap()
        .await
        .unwrap();

    let listed = admin
        .list_transactions(
            &ListTransactionsFilter {
                states: vec!["Ongoing".into()],
                ..ListTransactionsFilter::default()
            },
            &options(),
        )
        .await
        .unwrap();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let listing = listed
        .transactions
        .iter()
        .find(|t| t.transactional_id == transactional_id)
        .unwrap_or_else(|| panic!("{transactional_id} not listed: {listed:?}"));
    assert_eq!(listing.state, "Ongoing");

    let described = admin
        .describe_transactions(&[transactional_id.as_str(), "no-such-txn-id"], &options())
        .await;
    let description = described[&transactional_id].as_ref().unwrap();
    assert_eq!(description.state, "Ongoing");
    assert_eq!(description.producer_id, listing.producer_id);
    assert!(description.start_time_ms.is_some());
    assert_eq!(
        description.partitions,
        [TopicPartition::new(topic.as_str(), 0)]
    );
    assert!(described["no-such-txn-id"].is_err());

    let partition = TopicPartition::new(topic.as_str(), 0);
    let producers = admin
        .describe_producers(std::slice::from_ref(&partition), &options())
        .await;
    let states = producers[&partition].as_ref().unwrap();
    let state = states
        .iter()
        .find(|s| s.producer_id == listing.producer_id)
        .unwrap_or_else(|| panic!("producer not described: {states:?}"));
    assert_eq!(state.current_txn_start_offset, Some(0));

    // The open transaction holds the last stable offset at its start.
    let reader = read_committed().await;
    reader
        .assign(std::slice::from_ref(&partition))
        .await
        .unwrap();
    let stable = reader
        .end_offsets(std::slice::from_ref(&partition))
        .await
        .unwrap();
    assert_eq!(stable[&partition], 0);

    let spec = admin
        .hanging_transaction(&partition, listing.producer_id, &options())
        .await
        .unwrap();
    admin.abort_transaction(&spec, &options()).await.unwrap();

    // A record written after the abort reaches a read_committed reader; the
    // aborted one never does.
    let plain = Producer::new(
        ProducerConfig::from_pairs([("bootstrap_servers", bootstrap_servers())]).unwrap(),
    )
    .await
    .unwrap();
    plain
        .send(ProducerRecord::new(&topic).partition(0).value("after"))
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut values = Vec::new();
    while !values.iter().any(|v| v == "after") {
        assert!(
            Instant::now() < deadline,
            "read_committed stuck: {values:?}"
        );
        for record in reader.poll(Duration::from_millis(200)).await.unwrap() {
            values.push(
                String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned(),
            );
        }
    }
    assert_eq!(values, ["after"]);
    let after = admin
        .describe_producers(std::slice::from_ref(&partition), &options())
        .await;
    let states = after[&partition].as_ref().unwrap();
    assert!(
        states
            .iter()
            .filter(|s| s.producer_id == listing.producer_id)
            .all(|s| s.current_txn_start_offset.is_none()),
        "{states:?}"
    );
    reader.close(Duration::from_secs(5)).await.unwrap();
    drop(producer);
}
