//! read_committed over the transactional segments the Java client,
//! kafka-python and librdkafka wrote (fixtures/records/*/transactional.log):
//! exactly the records their manifests call committed come through.

use std::collections::BTreeMap;

use bytes::Bytes;
use ferrokafka_consumer::read_committed::{AbortedTransaction, TransactionFilter};
use ferrokafka_records::{Batch, BatchReader, ControlRecordType};

/// The aborted-transaction index a broker keeps: each aborted transaction's
/// producer and first offset, found by reading the log as the broker wrote it.
fn aborted_transactions(batches: &[Batch]) -> Vec<AbortedTransaction> {
    let mut open: BTreeMap<i64, i64> = BTreeMap::new();
    let mut aborted = Vec::new();
    for batch in batches {
        let Batch::V2(v2) = batch else { continue };
        let header = v2.header();
        if !header.attributes.is_transactional() {
            continue;
        }
        if v2.is_control() {
            let first = open.remove(&header.producer_id);
            if let (Some(first_offset), Some(Ok(control))) = (first, v2.control_record())
                && control.kind == ControlRecordType::Abort
            {
                aborted.push(AbortedTransaction {
                    producer_id: header.producer_id,
                    first_offset,
                });
            }
        } else {
            open.entry(header.producer_id).or_insert(header.base_offset);
        }
    }
    aborted
}

#[test]
fn only_committed_records_come_through() {
    for writer in ["java", "kafka-python", "librdkafka"] {
        let dir = format!(
            "{}/../../fixtures/records/{writer}",
            env!("CARGO_MANIFEST_DIR")
        );
        let segment = Bytes::from(std::fs::read(format!("{dir}/transactional.log")).unwrap());
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/transactional.json")).unwrap(),
        )
        .unwrap();
        let batches: Vec<Batch> = BatchReader::new(segment).map(Result::unwrap).collect();
        let aborted = aborted_transactions(&batches);
        assert_eq!(
            aborted.len(),
            1,
            "{writer}: one aborted transaction in the fixture"
        );

        let mut filter = TransactionFilter::new(aborted);
        let mut delivered = Vec::new();
        for batch in &batches {
            if filter.accept(batch) {
                delivered.extend(batch.records().map(|r| r.unwrap().offset));
            }
        }
        let committed: Vec<i64> = manifest["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["transaction"] == "committed")
            .map(|r| r["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(
            committed.len(),
            5,
            "{writer}: the manifest commits records 0-2 and 6-7"
        );
        assert_eq!(delivered, committed, "{writer}");
    }
}

#[test]
fn read_uncommitted_would_see_the_aborted_records() {
    // The control: without the aborted list, everything but control batches passes.
    let dir = format!("{}/../../fixtures/records/java", env!("CARGO_MANIFEST_DIR"));
    let segment = Bytes::from(std::fs::read(format!("{dir}/transactional.log")).unwrap());
    let mut filter = TransactionFilter::new([]);
    let delivered: usize = BatchReader::new(segment)
        .map(Result::unwrap)
        .filter(|b| filter.accept(b))
        .map(|b| b.records().count())
        .sum();
    assert_eq!(delivered, 8);
}
