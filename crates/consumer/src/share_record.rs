//! A record as the share consumer hands it out, and how one partition's
//! ShareFetch answer becomes such records (sans-I/O).

use std::sync::Arc;

use ferrokafka_group::share_acks::PartitionAcks;
use ferrokafka_protocol::RecordSet;
use ferrokafka_protocol::messages::share_fetch_response::PartitionData;
use ferrokafka_records::{BatchReader, ReadOptions};

use crate::ConsumerRecord;

/// A record a share consumer acquired: the record, and how many times the
/// share group has delivered it (1 the first time; more after a release,
/// a lapsed lock or a member's failure).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRecord {
    /// The record.
    pub record: ConsumerRecord,
    /// The delivery count (the Java client's `deliveryCount()`).
    pub delivery_count: i16,
}

impl std::ops::Deref for ShareRecord {
    type Target = ConsumerRecord;

    fn deref(&self) -> &ConsumerRecord {
        &self.record
    }
}

/// Reads one partition's ShareFetch answer into `acks`: takes its acquired
/// ranges, decodes the acquired records (those of the batches the member
/// did not acquire are skipped), and marks acquired offsets with no record
/// (control records, compacted away) as gaps. The records are not yet
/// delivered: the caller delivers them as it hands them out.
pub(crate) fn read_acquired(
    acks: &mut PartitionAcks,
    topic: &Arc<str>,
    data: &PartitionData,
    verify_crc: bool,
) -> Result<Vec<ShareRecord>, String> {
    acks.acquire_all(&data.acquired_records);
    let mut records = Vec::new();
    if let Some(bytes) = data
        .records
        .as_ref()
        .map(RecordSet::to_bytes)
        .filter(|b| !b.is_empty())
    {
        let options = ReadOptions {
            verify_crc,
            ..ReadOptions::default()
        };
        for batch in BatchReader::with_options(bytes, options) {
            let batch = batch.map_err(|e| e.to_string())?;
            if batch.is_control() {
                continue;
            }
            let leader_epoch = batch
                .header()
                .map(|h| h.partition_leader_epoch)
                .filter(|&e| e >= 0);
            for record in batch.records() {
                let record = record.map_err(|e| e.to_string())?;
                let Some(delivery_count) = acks.delivery_count(record.offset) else {
                    continue;
                };
                records.push(ShareRecord {
                    record: ConsumerRecord::decoded(
                        topic,
                        data.partition_index,
                        record,
                        leader_epoch,
                    ),
                    delivery_count,
                });
            }
        }
    }
    for range in &data.acquired_records {
        let mut next = range.first_offset;
        for offset in records
            .iter()
            .map(|r| r.record.offset)
            .filter(|o| (range.first_offset..=range.last_offset).contains(o))
        {
            acks.gap(next, offset - 1);
            next = offset + 1;
        }
        acks.gap(next, range.last_offset);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use ferrokafka_protocol::messages::share_fetch_response::AcquiredRecords;
    use ferrokafka_records::{Header, RecordBatchBuilder};

    use super::*;

    fn batch(base: i64, count: i64) -> bytes::Bytes {
        let mut builder = RecordBatchBuilder::new(base);
        for i in 0..count {
            builder.append(
                i,
                None,
                Some(format!("v{}", base + i).as_bytes()),
                &[] as &[Header],
            );
        }
        builder.build().unwrap()
    }

    fn acquired(first: i64, last: i64, count: i16) -> AcquiredRecords {
        AcquiredRecords {
            first_offset: first,
            last_offset: last,
            delivery_count: count,
            ..AcquiredRecords::default()
        }
    }

    #[test]
    fn only_acquired_records_come_out_and_holes_are_gaps() {
        // Offsets 0..=4 fetched; the member acquired 1..=2 (count 2) and
        // 4..=6, where 5 and 6 have no record.
        let data = PartitionData {
            partition_index: 3,
            records: Some(batch(0, 5).into()),
            acquired_records: vec![acquired(1, 2, 2), acquired(4, 6, 1)],
            ..PartitionData::default()
        };
        let mut acks = PartitionAcks::default();
        let topic: Arc<str> = Arc::from("t");
        let records = read_acquired(&mut acks, &topic, &data, true).unwrap();
        let got: Vec<(i32, i64, i16)> = records
            .iter()
            .map(|r| (r.partition, r.offset, r.delivery_count))
            .collect();
        assert_eq!(got, vec![(3, 1, 2), (3, 2, 2), (3, 4, 1)]);
        assert_eq!(acks.acquired_ranges(), vec![(1, 2), (4, 4)]);
        let batches = acks.take_batches();
        assert_eq!(batches.len(), 1);
        assert_eq!((batches[0].first_offset, batches[0].last_offset), (5, 6));
        assert_eq!(batches[0].acknowledge_types, vec![0]);
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let mut bytes = batch(0, 2).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let data = PartitionData {
            records: Some(bytes::Bytes::from(bytes).into()),
            acquired_records: vec![acquired(0, 1, 1)],
            ..PartitionData::default()
        };
        let topic: Arc<str> = Arc::from("t");
        assert!(read_acquired(&mut PartitionAcks::default(), &topic, &data, true).is_err());
    }
}
