//! Rebootstrap (KIP-899) on real brokers: a cluster replaced by a new one
//! behind the same bootstrap address. The old cluster's node listens on
//! 127.0.0.2:P and advertises it; the new one listens on 127.0.0.1:P, so
//! once the old one stops, every broker the clients know is gone and only
//! going back to the bootstrap servers (`127.0.0.1:P,127.0.0.2:P`) finds
//! the new cluster. A producer, a group consumer and an admin client made
//! before the replacement keep working after it. And misrouted connections
//! (KIP-1242): a node of another cluster at an address the client knows is
//! refused.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminOptions};
use ferrokafka_consumer::{Consumer, ConsumerConfig};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::messages::MetadataRequest;
use ferrokafka_tests::{start_cluster_with, unique_topic};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::{Client, Lane, TransportError};
use xtask::broker::StartOptions;

const LIMIT: Duration = Duration::from_secs(240);

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(60))
}

/// A port free on 127.0.0.1 and 127.0.0.2 alike, for both clusters.
fn shared_port() -> u16 {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let port = first.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.2", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

async fn poll_until_value(consumer: &Consumer, value: &str, deadline: Instant) {
    loop {
        assert!(Instant::now() < deadline, "{value:?} never consumed");
        // A poll may fail while the cluster is being replaced; the next
        // one goes on.
        if let Ok(records) = consumer.poll(Duration::from_millis(500)).await
            && records
                .iter()
                .any(|r| r.value.as_deref() == Some(value.as_bytes()))
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_carry_on_after_the_cluster_behind_their_bootstrap_address_is_replaced() {
    let port = shared_port();
    let bootstrap = format!("127.0.0.1:{port},127.0.0.2:{port}");
    let old = start_cluster_with(&StartOptions {
        client_host: "127.0.0.2".to_string(),
        client_ports: vec![port],
        ..StartOptions::single_node()
    });
    let old_id = old.info.cluster_id.clone();
    let common = [
        ("bootstrap_servers", bootstrap.as_str()),
        ("reconnect_backoff_max_ms", "200"),
        ("request_timeout_ms", "5000"),
    ];
    tokio::time::timeout(LIMIT, async {
        let admin = Admin::connect(AdminConfig::from_pairs(common).unwrap())
            .await
            .unwrap();
        let topic = unique_topic("rebootstrap");
        let create = |admin: &Admin| {
            let topic = topic.clone();
            let admin = admin.clone();
            async move {
                let created = admin
                    .create_topics(&[NewTopic::new(&topic, 1, 1)], false, &options())
                    .await;
                if let Err(error) = &created[&topic] {
                    panic!("creating {topic}: {error}");
                }
            }
        };
        create(&admin).await;
        let producer = Producer::new(ProducerConfig::from_pairs(common).unwrap())
            .await
            .unwrap();
        producer
            .send(ProducerRecord::new(&topic).value("before"))
            .await
            .unwrap()
            .await
            .unwrap();
        let group = unique_topic("rebootstrap-group");
        let mut consumer_pairs = common.to_vec();
        consumer_pairs.extend([
            ("group_id", group.as_str()),
            ("auto_offset_reset", "earliest"),
            ("session_timeout_ms", "10000"),
            ("heartbeat_interval_ms", "1000"),
        ]);
        let consumer = Consumer::new(ConsumerConfig::from_pairs(consumer_pairs).unwrap())
            .await
            .unwrap();
        consumer.subscribe(&[topic.as_str()]).await.unwrap();
        poll_until_value(
            &consumer,
            "before",
            Instant::now() + Duration::from_secs(60),
        )
        .await;

        old.stop();
        let new = start_cluster_with(&StartOptions {
            client_ports: vec![port],
            ..StartOptions::single_node()
        });
        assert_ne!(new.info.cluster_id, old_id);

        // The admin client finds the new cluster and makes the topic there.
        let description = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match admin.describe_cluster(&options()).await {
                    Ok(description) => return description,
                    // Polling a cluster that is still starting: there is no
                    // event to wait on.
                    Err(error) => {
                        eprintln!("describe_cluster failed (retrying): {error}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        })
        .await
        .expect("the admin client never reached the new cluster");
        assert_eq!(description.cluster_id, new.info.cluster_id);
        create(&admin).await;

        // The producer delivers to it, and the consumer reads what it wrote.
        let delivered = tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                match producer
                    .send(ProducerRecord::new(&topic).value("after"))
                    .await
                {
                    Ok(delivery) => match delivery.await {
                        Ok(metadata) => return metadata,
                        Err(error) => eprintln!("delivery failed (retrying): {error}"),
                    },
                    Err(error) => eprintln!("send failed (retrying): {error}"),
                }
            }
        })
        .await
        .expect("the producer never delivered to the new cluster");
        assert_eq!(delivered.offset, 0, "not the new cluster's log");
        poll_until_value(&consumer, "after", Instant::now() + Duration::from_secs(90)).await;

        for (who, client) in [
            ("admin", admin.client()),
            ("producer", producer.client()),
            ("consumer", consumer.client()),
        ] {
            assert!(client.rebootstraps() >= 1, "the {who} never rebootstrapped");
            assert_eq!(
                client.view(|v| v.cluster_id().map(str::to_string)),
                Some(new.info.cluster_id.clone()),
                "the {who}'s metadata"
            );
        }
        consumer.close(Duration::from_secs(10)).await.unwrap();
        producer.close(Duration::from_secs(10)).await.unwrap();
        new.stop();
    })
    .await
    .expect("the test ran past its limit");
}

/// KIP-1242 on Kafka 4.4: a client of cluster A whose node's address now
/// leads to a node of cluster B (A stopped, B started on the same port)
/// refuses the connection, naming both clusters, and rebootstraps into B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_at_a_known_address_is_refused() {
    let port = shared_port();
    let a = start_cluster_with(&StartOptions {
        client_ports: vec![port],
        ..StartOptions::single_node()
    });
    let a_id = a.info.cluster_id.clone();
    let bootstrap = format!("127.0.0.1:{port}");
    tokio::time::timeout(LIMIT, async {
        let client = Client::connect(
            ClientConfig::from_pairs([
                ("bootstrap_servers", bootstrap.as_str()),
                // No background refresh between the steps below.
                ("metadata_max_age_ms", "600000"),
            ])
            .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(
            client.view(|v| v.cluster_id().map(str::to_string)),
            Some(a_id.clone())
        );
        let node = client.view(|v| v.brokers().next().unwrap().node_id);

        a.stop();
        let b = start_cluster_with(&StartOptions {
            client_ports: vec![port],
            ..StartOptions::single_node()
        });
        let error = client.connection(node, Lane::Data).await.unwrap_err();
        match &error {
            TransportError::MisroutedConnection {
                expected_cluster,
                found_cluster,
                ..
            } => {
                assert_eq!(expected_cluster, &a_id);
                assert_eq!(found_cluster.as_deref(), Some(b.info.cluster_id.as_str()));
            }
            other => panic!("expected a misrouted connection, got {other:?}"),
        }
        assert!(client.rebootstraps() >= 1);
        client.refresh_metadata().await.unwrap();
        assert_eq!(
            client.view(|v| v.cluster_id().map(str::to_string)),
            Some(b.info.cluster_id.clone())
        );
        client
            .send(node, &MetadataRequest::default())
            .await
            .unwrap();
        b.stop();
    })
    .await
    .expect("the test ran past its limit");
}
