//! The other direction of the record-format proof: batches this crate
//! encodes, in every codec, sent in a Produce request (protocol crate) to a
//! real broker, and read back by kafka-python with identical keys, values
//! and headers.

use base64::Engine as _;
use bytes::Bytes;
use ferrokafka_protocol::messages::create_topics_request::CreatableTopic;
use ferrokafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::messages::{CreateTopicsRequest, ProduceRequest};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use ferrokafka_records::{Compression, Header, RecordBatchBuilder};
use ferrokafka_tests::{bootstrap_servers, unique_topic};
use ferrokafka_transport::BrokerConnection;
use ferrokafka_transport::config::ClientConfig;

struct Sent {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn records() -> Vec<Sent> {
    vec![
        Sent {
            key: None,
            value: Some(b"no key".to_vec()),
            headers: vec![],
        },
        Sent {
            key: Some(b"k1".to_vec()),
            value: None,
            headers: vec![("tombstone".into(), Some(b"yes".to_vec()))],
        },
        Sent {
            key: Some(vec![0xff, 0x00, 0xfe]),
            value: Some((0..=255u8).collect()),
            headers: vec![
                ("binary".into(), Some(vec![0, 1, 2])),
                ("null".into(), None),
                ("empty".into(), Some(vec![])),
            ],
        },
        Sent {
            key: Some(b"big".to_vec()),
            value: Some(b"x".repeat(20_000)),
            headers: vec![("é".into(), Some("ü".as_bytes().to_vec()))],
        },
        Sent {
            key: Some(vec![]),
            value: Some(vec![]),
            headers: vec![],
        },
    ]
}

fn b64(data: Option<&[u8]>) -> serde_json::Value {
    data.map_or(serde_json::Value::Null, |d| {
        base64::engine::general_purpose::STANDARD.encode(d).into()
    })
}

#[tokio::test]
async fn kafka_python_reads_what_this_crate_encodes_in_every_codec() {
    let broker = bootstrap_servers().split(',').next().unwrap().to_string();
    let config = ClientConfig::from_pairs([("bootstrap_servers", broker.as_str())]).unwrap();
    let connection = BrokerConnection::connect(&broker, &config).await.unwrap();
    let produce_version = connection.version(ApiKey::Produce).unwrap();

    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = unique_topic(&format!("encoded-{codec:?}").to_lowercase());
        let created = connection
            .send(&CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: topic.clone(),
                    num_partitions: 1,
                    replication_factor: 1,
                    ..CreatableTopic::default()
                }],
                timeout_ms: 10_000,
                ..CreateTopicsRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(
            ErrorCode::from_code(created.topics[0].error_code),
            ErrorCode::None,
            "{topic}"
        );
        let topic_id = created.topics[0].topic_id;

        let sent = records();
        let mut builder = RecordBatchBuilder::new(0).with_compression(codec, None);
        for (i, record) in sent.iter().enumerate() {
            let headers: Vec<Header> = record
                .headers
                .iter()
                .map(|(k, v)| Header::new(k.as_bytes(), v.as_deref()))
                .collect();
            builder.append(
                1_700_000_000_000 + i as i64,
                record.key.as_deref(),
                record.value.as_deref(),
                &headers,
            );
        }
        let batch: Bytes = builder.build().unwrap();

        // Produce v13 names topics by id (KIP-516); earlier versions by name.
        let mut topic_data = TopicProduceData {
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch.into()),
                ..PartitionProduceData::default()
            }],
            ..TopicProduceData::default()
        };
        if produce_version >= 13 {
            topic_data.topic_id = topic_id;
        } else {
            topic_data.name.clone_from(&topic);
        }
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![topic_data],
            ..ProduceRequest::default()
        };
        // A topic just created may not have its leader in place yet, nor its
        // id in the broker's metadata cache (Produce v13 names it by id): the
        // broker refuses the batch (nothing is written) and a later attempt
        // succeeds. Each retry first asks for the topic's metadata.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let response = loop {
            let response = connection.send(&request).await.unwrap();
            let error =
                ErrorCode::from_code(response.responses[0].partition_responses[0].error_code);
            let settling = matches!(
                error,
                ErrorCode::NotLeaderOrFollower
                    | ErrorCode::LeaderNotAvailable
                    | ErrorCode::UnknownTopicOrPartition
                    | ErrorCode::UnknownTopicId
            );
            if !settling || std::time::Instant::now() > deadline {
                break response;
            }
            connection
                .send(&ferrokafka_protocol::messages::MetadataRequest {
                    topics: Some(vec![
                        ferrokafka_protocol::messages::metadata_request::MetadataRequestTopic {
                            name: Some(topic.clone()),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                })
                .await
                .unwrap();
        };
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            ErrorCode::from_code(partition.error_code),
            ErrorCode::None,
            "{codec:?}: {:?}",
            partition.error_message
        );
        assert_eq!(partition.base_offset, 0);

        let read = xtask::python::run_interop_script_lines(
            "kafka_python_read.py",
            &[
                "--bootstrap",
                &broker,
                "--topic",
                &topic,
                "--count",
                &sent.len().to_string(),
            ],
        )
        .unwrap();
        assert_eq!(read.len(), sent.len(), "{codec:?}");
        for (i, (got, want)) in read.iter().zip(&sent).enumerate() {
            assert_eq!(got["offset"], i, "{codec:?}");
            assert_eq!(got["timestamp"], 1_700_000_000_000 + i as i64, "{codec:?}");
            assert_eq!(
                got["key"],
                b64(want.key.as_deref()),
                "{codec:?} record {i} key"
            );
            assert_eq!(
                got["value"],
                b64(want.value.as_deref()),
                "{codec:?} record {i} value"
            );
            let headers: Vec<serde_json::Value> = want
                .headers
                .iter()
                .map(|(k, v)| serde_json::json!([k, b64(v.as_deref())]))
                .collect();
            assert_eq!(
                got["headers"],
                serde_json::Value::Array(headers),
                "{codec:?} record {i} headers"
            );
        }
    }
}
