//! murmur2 and key partitioning agree with the Java client on vectors it
//! generated (`xtask/golden-java/Murmur2Vectors.java`, kafka-clients 4.4.0).

use ferrokafka_producer::partitioner::{murmur2, partition_for_key};

#[test]
fn matches_the_java_client() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/producer/murmur2.json"
    );
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = vectors.as_array().unwrap();
    assert!(vectors.len() >= 50);
    for vector in vectors {
        let hex = vector["key_hex"].as_str().unwrap();
        let key: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            i64::from(murmur2(&key)),
            vector["murmur2"].as_i64().unwrap(),
            "murmur2 of {hex}"
        );
        for pair in vector["partitions"].as_array().unwrap() {
            let count = pair[0].as_i64().unwrap() as i32;
            assert_eq!(
                i64::from(partition_for_key(&key, count)),
                pair[1].as_i64().unwrap(),
                "{hex} among {count}"
            );
        }
    }
}
