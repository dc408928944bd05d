//! `TypedProducer` against the in-memory cluster: records go out through
//! the producer's serializers, and a value that cannot be serialized is a
//! typed error that queues nothing.

use bytes::Bytes;
use ferrokafka_producer::{Producer, ProducerConfig, TypedProducer, TypedRecord, TypedSendError};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_serde::{Json, SerdeError, Serializer, Utf8};
use ferrokafka_transport::fake::{FakeCluster, FakeReply};

#[derive(serde::Serialize)]
struct Order {
    id: u64,
    item: String,
}

/// Refuses every value, as a schema check would refuse a bad one.
struct Refusing;

impl Serializer<Order> for Refusing {
    fn serialize(&self, topic: &str, _value: &Order) -> Result<Bytes, SerdeError> {
        Err(SerdeError::serializing(
            topic,
            "refusing",
            "no orders today",
        ))
    }
}

async fn producer(cluster: &FakeCluster) -> Producer {
    let bootstrap = cluster.bootstrap();
    let config = ProducerConfig::from_pairs([("bootstrap_servers", bootstrap.as_str())]).unwrap();
    let client = cluster.client(config.client.clone()).await.unwrap();
    Producer::with_client(client, config)
}

fn cluster() -> FakeCluster {
    let cluster = FakeCluster::new(1, |request| {
        (request.key == ApiKey::Produce).then(|| FakeReply::produce(request, ErrorCode::None, 40))
    });
    cluster.add_topic("orders", &[1]);
    cluster
}

#[tokio::test]
async fn records_are_serialized_by_the_producer_s_serializers() {
    let cluster = cluster();
    let producer: TypedProducer<str, Order> =
        TypedProducer::new(producer(&cluster).await, Utf8, Json);
    let order = Order {
        id: 7,
        item: "tea".into(),
    };
    let delivery = producer
        .send(TypedRecord::new("orders", &order).key("user-1"))
        .await
        .unwrap();
    let metadata = delivery.await.unwrap();
    assert_eq!(metadata.offset, 40);
    assert_eq!(metadata.serialized_key_size, 6);
    let json_len = br#"{"id":7,"item":"tea"}"#.len();
    assert_eq!(
        metadata.serialized_value_size,
        i32::try_from(json_len).unwrap()
    );
    let tombstone = producer
        .send(TypedRecord::tombstone("orders").key("user-1"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(tombstone.serialized_value_size, -1);
}

#[tokio::test]
async fn a_value_that_cannot_be_serialized_is_a_typed_error_and_sends_nothing() {
    let cluster = cluster();
    let producer: TypedProducer<str, Order> =
        TypedProducer::new(producer(&cluster).await, Utf8, Refusing);
    let order = Order {
        id: 1,
        item: "cake".into(),
    };
    let error = producer
        .send(TypedRecord::new("orders", &order))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TypedSendError::Serialize(e) if e.format == "refusing" && e.topic == "orders"),
        "{error}"
    );
    producer.flush().await;
    assert_eq!(producer.producer().metrics().record_send_total, 0);
}
