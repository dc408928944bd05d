//! Property tests: whatever the builders write, the reader gives back.

use bytes::Bytes;
use ferrokafka_records::legacy::write_message_set;
use ferrokafka_records::{
    Batch, BatchReader, Compression, Header, LegacyMessage, ReadOptions, RecordBatchBuilder,
    TimestampType,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct InputRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone)]
struct InputBatch {
    base_offset: i64,
    leader_epoch: i32,
    compression: Compression,
    transactional: bool,
    control: bool,
    producer: (i64, i16, i32),
    log_append_time: Option<i64>,
    delete_horizon: Option<i64>,
    records: Vec<InputRecord>,
}

fn bytes(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max))
}

fn record() -> impl Strategy<Value = InputRecord> {
    (
        prop_oneof![any::<i64>(), 1_600_000_000_000_i64..1_800_000_000_000],
        bytes(40),
        bytes(300),
        proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..12), bytes(20)),
            0..4,
        ),
    )
        .prop_map(|(timestamp, key, value, headers)| InputRecord {
            timestamp,
            key,
            value,
            headers,
        })
}

fn compression() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

fn batch() -> impl Strategy<Value = InputBatch> {
    (
        any::<i64>(),
        any::<i32>(),
        compression(),
        any::<(bool, bool)>(),
        any::<(i64, i16, i32)>(),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(record(), 0..20),
    )
        .prop_map(
            |(
                base_offset,
                leader_epoch,
                compression,
                (transactional, control),
                producer,
                log_append_time,
                delete_horizon,
                records,
            )| {
                InputBatch {
                    base_offset,
                    leader_epoch,
                    compression,
                    transactional,
                    control,
                    producer,
                    log_append_time,
                    delete_horizon,
                    records,
                }
            },
        )
}

fn encode(input: &InputBatch) -> Bytes {
    let mut builder = RecordBatchBuilder::new(input.base_offset)
        .with_partition_leader_epoch(input.leader_epoch)
        .with_compression(input.compression, None)
        .with_transactional(input.transactional)
        .with_control(input.control)
        .with_producer(input.producer.0, input.producer.1, input.producer.2);
    if let Some(time) = input.log_append_time {
        builder = builder.with_log_append_time(time);
    }
    if let Some(horizon) = input.delete_horizon {
        builder = builder.with_delete_horizon(horizon);
    }
    for record in &input.records {
        let headers: Vec<(&[u8], Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        builder.append(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        );
    }
    builder.build().unwrap()
}

fn check(input: &InputBatch, batch: &Batch) -> Result<(), TestCaseError> {
    let Batch::V2(batch) = batch else {
        return Err(TestCaseError::fail("expected magic 2"));
    };
    prop_assert!(batch.crc_is_valid());
    let h = batch.header();
    let a = h.attributes;
    prop_assert_eq!(h.base_offset, input.base_offset);
    prop_assert_eq!(h.partition_leader_epoch, input.leader_epoch);
    prop_assert_eq!(a.compression().unwrap(), input.compression);
    prop_assert_eq!(a.is_transactional(), input.transactional);
    prop_assert_eq!(a.is_control(), input.control);
    prop_assert_eq!(a.has_delete_horizon(), input.delete_horizon.is_some());
    prop_assert_eq!(h.delete_horizon(), input.delete_horizon);
    prop_assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        input.producer
    );
    prop_assert_eq!(h.record_count as usize, input.records.len());
    prop_assert_eq!(h.last_offset_delta, input.records.len() as i32 - 1);
    let expected_type = if input.log_append_time.is_some() {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    let records: Vec<_> = batch
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(records.len(), input.records.len());
    for (i, (got, want)) in records.iter().zip(&input.records).enumerate() {
        prop_assert_eq!(got.offset, input.base_offset.wrapping_add(i as i64));
        prop_assert_eq!(
            got.timestamp,
            input.log_append_time.unwrap_or(want.timestamp)
        );
        prop_assert_eq!(got.timestamp_type, expected_type);
        prop_assert_eq!(got.key.as_deref(), want.key.as_deref());
        prop_assert_eq!(got.value.as_deref(), want.value.as_deref());
        let headers: Vec<Header> = want
            .headers
            .iter()
            .map(|(k, v)| Header::new(k, v.as_ref()))
            .collect();
        prop_assert_eq!(&got.headers, &headers);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn batches_round_trip(input in batch()) {
        let bytes = encode(&input);
        let mut reader = BatchReader::new(bytes.clone());
        let decoded = reader.next().unwrap().map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&input, &decoded)?;
        prop_assert!(reader.next().is_none());
        prop_assert_eq!(reader.consumed(), bytes.len());
    }

    #[test]
    fn concatenated_batches_with_a_partial_tail(inputs in proptest::collection::vec(batch(), 1..4), cut in any::<prop::sample::Index>()) {
        let encoded: Vec<Bytes> = inputs.iter().map(encode).collect();
        let whole: usize = encoded.iter().map(Bytes::len).sum();
        let last = encoded.last().unwrap();
        let cut = cut.index(last.len());
        let mut buffer = Vec::new();
        for bytes in &encoded {
            buffer.extend_from_slice(bytes);
        }
        buffer.truncate(whole - last.len() + cut);
        let mut reader = BatchReader::new(buffer.into());
        for input in &inputs[..inputs.len() - 1] {
            let decoded = reader.next().unwrap().map_err(|e| TestCaseError::fail(e.to_string()))?;
            check(input, &decoded)?;
        }
        prop_assert!(reader.next().is_none());
        prop_assert_eq!(reader.partial_tail(), cut);
    }

    #[test]
    fn legacy_message_sets_round_trip(
        magic in 0_i8..=1,
        compression in proptest::sample::select(vec![Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4]),
        log_append_time in any::<bool>(),
        first_offset in 0_i64..(1 << 40),
        gaps in proptest::collection::vec(1_i64..5, 1..12),
        payloads in proptest::collection::vec((any::<i64>(), bytes(20), bytes(100)), 12),
    ) {
        let mut offset = first_offset;
        let messages: Vec<LegacyMessage> = gaps
            .iter()
            .zip(&payloads)
            .map(|(gap, (timestamp, key, value))| {
                let message = LegacyMessage { offset, timestamp: *timestamp, key: key.as_deref(), value: value.as_deref() };
                offset += gap;
                message
            })
            .collect();
        let timestamp_type = if log_append_time { TimestampType::LogAppendTime } else { TimestampType::CreateTime };
        let mut bytes = Vec::new();
        write_message_set(&mut bytes, magic, compression, None, timestamp_type, &messages).unwrap();
        let batches: Vec<Batch> = BatchReader::new(bytes.into())
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected_entries = if compression == Compression::None { messages.len() } else { 1 };
        prop_assert_eq!(batches.len(), expected_entries);
        let max_timestamp = messages.iter().map(|m| m.timestamp).max().unwrap();
        let records: Vec<_> = batches.iter().flat_map(Batch::records).map(Result::unwrap).collect();
        prop_assert_eq!(records.len(), messages.len());
        for (got, want) in records.iter().zip(&messages) {
            prop_assert_eq!(got.offset, want.offset);
            prop_assert_eq!(got.key.as_deref(), want.key);
            prop_assert_eq!(got.value.as_deref(), want.value);
            let (timestamp, kind) = match (magic, log_append_time, compression) {
                (0, _, _) => (-1, TimestampType::NoTimestamp),
                (_, false, _) => (want.timestamp, TimestampType::CreateTime),
                (_, true, Compression::None) => (want.timestamp, TimestampType::LogAppendTime),
                (_, true, _) => (max_timestamp, TimestampType::LogAppendTime),
            };
            prop_assert_eq!(got.timestamp, timestamp);
            prop_assert_eq!(got.timestamp_type, kind);
        }
        for batch in &batches {
            prop_assert!(batch.crc_is_valid());
            prop_assert_eq!(batch.compression(), compression);
        }
    }

    #[test]
    fn every_codec_round_trips(data in proptest::collection::vec(any::<u8>(), 0..100_000), compression in compression(), level in proptest::option::of(1_i32..=9)) {
        let mut packed = Vec::new();
        ferrokafka_records::compress(compression, level, &data, &mut packed).unwrap();
        let unpacked = ferrokafka_records::decompress(compression, &packed, data.len()).unwrap();
        prop_assert_eq!(unpacked, data);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let options = ReadOptions { verify_crc: false, max_decompressed_size: 1 << 20 };
        for batch in BatchReader::with_options(data.into(), options).flatten() {
            for _ in batch.records() {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// What the golden fixtures rely on: decode, rewrite with the decoded
    /// header and records, get the same batch back (the same records
    /// section, for compressed batches, whose compressor may differ).
    #[test]
    fn decoded_batches_rewrite_identically(input in batch()) {
        let bytes = encode(&input);
        let batch = ferrokafka_records::RecordBatch::decode(bytes.clone(), &ReadOptions::default()).unwrap();
        let mut builder = RecordBatchBuilder::with_header(batch.header(), None).unwrap();
        for record in batch.records() {
            builder.append_record(&record.unwrap());
        }
        let rewritten = builder.build().unwrap();
        if input.compression == Compression::None {
            prop_assert_eq!(rewritten, bytes);
        } else {
            let again = ferrokafka_records::RecordBatch::decode(rewritten, &ReadOptions::default()).unwrap();
            prop_assert_eq!(again.records_bytes(), batch.records_bytes());
            prop_assert_eq!(again.header().max_timestamp, batch.header().max_timestamp);
        }
    }
}

/// Values around the size from which `append_shared` keeps them by
/// reference, mixed with small ones.
fn shared_values() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
    let value = prop_oneof![
        bytes(300),
        proptest::option::of(
            (ferrokafka_records::SHARED_VALUE_FROM - 2
                ..ferrokafka_records::SHARED_VALUE_FROM + 5000)
                .prop_map(|len| vec![7u8; len])
        ),
    ];
    proptest::collection::vec(value, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A batch keeping large values by reference is the batch that copies
    /// them, byte for byte, and keeps each such value in a segment of its
    /// own when uncompressed.
    #[test]
    fn shared_values_build_the_same_batch(
        values in shared_values(),
        compression in compression(),
        prefix in proptest::collection::vec(any::<u8>(), 0..3),
        key in bytes(10),
    ) {
        let values: Vec<Option<Bytes>> = values.into_iter().map(|v| v.map(Bytes::from)).collect();
        let headers = [(&b"h"[..], Some(&b"x"[..]))];
        let mut copied = RecordBatchBuilder::new(0).with_compression(compression, None).with_producer(9, 1, 5);
        let mut shared = RecordBatchBuilder::in_buffer(prefix, 0).with_compression(compression, None).with_producer(9, 1, 5);
        for (i, value) in values.iter().enumerate() {
            let timestamp = 1_700_000_000_000 + i as i64;
            copied.append(timestamp, key.as_deref(), value.as_deref(), &headers);
            shared.append_shared(timestamp, key.as_deref(), value.as_ref(), &headers);
        }
        prop_assert_eq!(shared.uncompressed_size(), copied.uncompressed_size());
        let set = shared.build_set().unwrap();
        let bytes = copied.build().unwrap();
        prop_assert_eq!(set.to_bytes(), bytes.clone());
        let by_reference = values
            .iter()
            .flatten()
            .filter(|v| v.len() >= ferrokafka_records::SHARED_VALUE_FROM)
            .filter(|v| set.segments().iter().any(|s| s.as_ptr() == v.as_ptr()))
            .count();
        let large = values.iter().flatten().filter(|v| v.len() >= ferrokafka_records::SHARED_VALUE_FROM).count();
        prop_assert_eq!(by_reference, if compression == Compression::None { large } else { 0 });
        let batch = BatchReader::new(bytes).next().unwrap().unwrap();
        let Batch::V2(batch) = batch else { unreachable!() };
        prop_assert!(batch.crc_is_valid());
    }
}
