//! The harness serves a real broker that answers real clients.

use std::net::ToSocketAddrs;
use std::time::Duration;

use ferrokafka_tests::{bootstrap_servers, start_cluster_with, unique_topic};
use xtask::broker::{StartOptions, probe};

#[test]
fn broker_answers_api_versions_over_a_raw_socket() {
    let first = bootstrap_servers().split(',').next().unwrap();
    let addr = first.to_socket_addrs().unwrap().next().unwrap();
    let ranges = probe::api_versions(addr, Duration::from_secs(10)).unwrap();
    let produce = ranges
        .iter()
        .find(|(key, _, _)| *key == 0)
        .expect("Produce is listed");
    let api_versions = ranges
        .iter()
        .find(|(key, _, _)| *key == 18)
        .expect("ApiVersions is listed");
    assert!(
        produce.2 >= 9,
        "Produce max version {} is older than any KRaft broker's",
        produce.2
    );
    assert!(
        api_versions.2 >= 3,
        "ApiVersions max version {}",
        api_versions.2
    );
}

#[test]
fn kafka_python_round_trips_a_record() {
    let topic = unique_topic("kafka-python-roundtrip");
    let report = xtask::python::run_interop_script(
        "kafka_python_roundtrip.py",
        &[
            "--bootstrap",
            bootstrap_servers(),
            "--topic",
            &topic,
            "--create",
            "--partitions",
            "2",
            "--records",
            "10",
        ],
    )
    .unwrap();
    assert_eq!(report["produced"], 10);
    assert_eq!(report["consumed"], 10);
    assert_eq!(report["matches"], true);
}

#[test]
fn the_3_9_line_starts_and_serves() {
    let cluster = start_cluster_with(&StartOptions {
        version: "3.9.2".to_string(),
        ..StartOptions::single_node()
    });
    let addr = ([127, 0, 0, 1], cluster.info.brokers[0].port).into();
    let ranges = probe::api_versions(addr, Duration::from_secs(10)).unwrap();
    let fetch = ranges
        .iter()
        .find(|(key, _, _)| *key == 1)
        .expect("Fetch is listed");
    // 3.9 still serves the Fetch versions Kafka 4.0 removed.
    assert_eq!(fetch.1, 0, "3.9.2 Fetch min version");
    assert!(fetch.2 >= 16, "3.9.2 Fetch max version {}", fetch.2);
    cluster.stop();
}

#[tokio::test]
async fn broker_answers_metadata_with_the_protocol_types() {
    use ferrokafka_protocol::messages::MetadataRequest;
    use ferrokafka_transport::BrokerConnection;
    use ferrokafka_transport::config::ClientConfig;

    let first = bootstrap_servers().split(',').next().unwrap();
    let config = ClientConfig::from_pairs([("bootstrap_servers", first)]).unwrap();
    let connection = BrokerConnection::connect(first, &config).await.unwrap();
    let metadata = connection
        .send(&MetadataRequest {
            topics: None,
            ..MetadataRequest::default()
        })
        .await
        .unwrap();
    let advertised: Vec<String> = metadata
        .brokers
        .iter()
        .map(|b| format!("{}:{}", b.host, b.port))
        .collect();
    assert!(
        advertised.iter().any(|a| a == first),
        "{first} is among the advertised brokers {advertised:?}"
    );
    assert!(metadata.cluster_id.is_some_and(|id| !id.is_empty()));
}
