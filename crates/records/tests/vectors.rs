//! Byte strings computed by hand from Kafka's "Record Batch" and "Message
//! Sets" documentation (CRCs from an independent bitwise implementation),
//! decoded field by field, then re-encoded to the same bytes.

use bytes::Bytes;
use ferrokafka_records::legacy::write_message_set;
use ferrokafka_records::{
    Batch, BatchReader, Compression, ControlRecord, ControlRecordType, Header, LegacyMessage,
    ReadOptions, RecordBatchBuilder, TimestampType,
};

fn hex(s: &str) -> Bytes {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// Base offset 100, leader epoch 5, transactional, producer 42/3, base
/// sequence 7, base timestamp 1000; record 0: null key, value "hi"; record
/// 1: timestamp delta -5, key "k", null value, headers h=null, x="y".
const V2_BATCH: &str = "0000000000000064000000490000000502524fe32100100000000100000000000003e8\
00000000000003e8000000000000002a000300000007000000021000000001046869001c000902026b010402680102780279";

#[test]
fn crc32c_is_castagnoli() {
    assert_eq!(ferrokafka_records::crc32c(b"123456789"), 0xe306_9283);
}

#[test]
fn decodes_hand_built_v2_batch() {
    let bytes = hex(V2_BATCH);
    let mut reader = BatchReader::new(bytes.clone());
    let Batch::V2(batch) = reader.next().unwrap().unwrap() else {
        panic!("expected magic 2");
    };
    assert!(reader.next().is_none());
    assert_eq!(reader.consumed(), 85);
    let h = batch.header();
    assert_eq!(h.base_offset, 100);
    assert_eq!(h.batch_length, 73);
    assert_eq!(h.partition_leader_epoch, 5);
    assert_eq!(h.magic, 2);
    assert_eq!(h.crc, 0x524f_e321);
    assert!(h.attributes.is_transactional());
    assert!(!h.attributes.is_control());
    assert_eq!(h.attributes.compression().unwrap(), Compression::None);
    assert_eq!(h.last_offset_delta, 1);
    assert_eq!((h.base_timestamp, h.max_timestamp), (1000, 1000));
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (42, 3, 7)
    );
    assert_eq!(h.record_count, 2);
    assert!(batch.crc_is_valid());

    let records: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(records[0].offset, 100);
    assert_eq!(records[0].timestamp, 1000);
    assert_eq!(records[0].key, None);
    assert_eq!(records[0].value.as_deref(), Some(&b"hi"[..]));
    assert_eq!(records[1].offset, 101);
    assert_eq!(records[1].timestamp, 995);
    assert_eq!(records[1].timestamp_delta, -5);
    assert_eq!(records[1].timestamp_type, TimestampType::CreateTime);
    assert_eq!(records[1].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(records[1].value, None);
    assert_eq!(
        records[1].headers,
        [Header::new("h", None::<&[u8]>), Header::new("x", Some("y"))]
    );
    // Zero-copy: the value is a slice of the input buffer.
    let value = records[0].value.as_ref().unwrap();
    assert!(bytes.as_ptr_range().contains(&value.as_ptr()));
}

#[test]
fn builder_reproduces_hand_built_v2_batch() {
    let mut builder = RecordBatchBuilder::new(100)
        .with_partition_leader_epoch(5)
        .with_transactional(true)
        .with_producer(42, 3, 7);
    builder.append(1000, None, Some(b"hi"), &[] as &[Header]);
    builder.append(
        995,
        Some(b"k"),
        None,
        &[("h", None), ("x", Some(&b"y"[..]))],
    );
    // The builder takes the first record's timestamp as base and the
    // largest as max, as the hand-built batch does.
    assert_eq!(builder.build().unwrap(), hex(V2_BATCH));
}

#[test]
fn decodes_hand_built_legacy_messages() {
    let v1 = hex("0000000000000007000000185abedbab010000000000000004d2000000016b0000000176");
    let v0 = hex("00000000000000030000001143dc3faf0000ffffffff00000003616263");
    let mut both = v1.to_vec();
    both.extend_from_slice(&v0);
    let batches: Vec<_> = BatchReader::new(both.into())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 2);
    let r1: Vec<_> = batches[0].records().map(Result::unwrap).collect();
    assert_eq!(batches[0].magic(), 1);
    assert_eq!(r1[0].offset, 7);
    assert_eq!(r1[0].timestamp, 1234);
    assert_eq!(r1[0].timestamp_type, TimestampType::CreateTime);
    assert_eq!(r1[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(r1[0].value.as_deref(), Some(&b"v"[..]));
    let r0: Vec<_> = batches[1].records().map(Result::unwrap).collect();
    assert_eq!(batches[1].magic(), 0);
    assert_eq!(r0[0].offset, 3);
    assert_eq!(r0[0].timestamp, -1);
    assert_eq!(r0[0].timestamp_type, TimestampType::NoTimestamp);
    assert_eq!(r0[0].key, None);
    assert_eq!(r0[0].value.as_deref(), Some(&b"abc"[..]));

    let mut written = Vec::new();
    let m1 = LegacyMessage {
        offset: 7,
        timestamp: 1234,
        key: Some(b"k"),
        value: Some(b"v"),
    };
    write_message_set(
        &mut written,
        1,
        Compression::None,
        None,
        TimestampType::CreateTime,
        &[m1],
    )
    .unwrap();
    assert_eq!(written, v1);
}

#[test]
fn control_batch_carries_typed_marker() {
    for (marker, kind) in [
        (ControlRecord::commit(9), ControlRecordType::Commit),
        (ControlRecord::abort(11), ControlRecordType::Abort),
    ] {
        let mut builder = RecordBatchBuilder::new(50)
            .with_transactional(true)
            .with_control(true)
            .with_producer(7, 1, -1);
        builder.append_control(5, &marker);
        let Some(Ok(Batch::V2(batch))) = BatchReader::new(builder.build().unwrap()).next() else {
            panic!("expected a batch");
        };
        assert!(batch.is_control());
        let parsed = batch.control_record().unwrap().unwrap();
        assert_eq!(parsed.kind, kind);
        assert_eq!(parsed.coordinator_epoch, marker.coordinator_epoch);
        assert_eq!(parsed, marker);
    }
}

#[test]
fn log_append_time_replaces_record_timestamps() {
    let mut builder = RecordBatchBuilder::new(0).with_log_append_time(77_000);
    builder.append(1, None, Some(b"a"), &[] as &[Header]);
    builder.append(2, None, Some(b"b"), &[] as &[Header]);
    let Some(Ok(batch)) = BatchReader::new(builder.build().unwrap()).next() else {
        panic!("expected a batch");
    };
    for record in batch.records() {
        let record = record.unwrap();
        assert_eq!(record.timestamp, 77_000);
        assert_eq!(record.timestamp_type, TimestampType::LogAppendTime);
    }
}

#[test]
fn legacy_compressed_wrappers_resolve_offsets() {
    let messages: Vec<LegacyMessage> = (0..5)
        .map(|i| LegacyMessage {
            offset: 1000 + i,
            timestamp: 10 * i,
            key: None,
            value: Some(b"payload"),
        })
        .collect();
    for magic in [0, 1] {
        for compression in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut bytes = Vec::new();
            write_message_set(
                &mut bytes,
                magic,
                compression,
                None,
                TimestampType::CreateTime,
                &messages,
            )
            .unwrap();
            let batch = BatchReader::new(bytes.into()).next().unwrap().unwrap();
            assert_eq!(batch.compression(), compression);
            assert_eq!(batch.last_offset(), 1004);
            let offsets: Vec<i64> = batch.records().map(|r| r.unwrap().offset).collect();
            assert_eq!(
                offsets,
                [1000, 1001, 1002, 1003, 1004],
                "magic {magic} {compression}"
            );
        }
    }
}

#[test]
fn magic1_wrapper_with_log_append_time_stamps_inner_records() {
    let messages = [
        LegacyMessage {
            offset: 0,
            timestamp: 5,
            key: None,
            value: Some(b"a"),
        },
        LegacyMessage {
            offset: 1,
            timestamp: 9,
            key: None,
            value: Some(b"b"),
        },
    ];
    let mut bytes = Vec::new();
    write_message_set(
        &mut bytes,
        1,
        Compression::Gzip,
        None,
        TimestampType::LogAppendTime,
        &messages,
    )
    .unwrap();
    let batch = BatchReader::new(bytes.into()).next().unwrap().unwrap();
    for record in batch.records() {
        let record = record.unwrap();
        assert_eq!(record.timestamp, 9);
        assert_eq!(record.timestamp_type, TimestampType::LogAppendTime);
    }
}

#[test]
fn legacy_lz4_ignores_broken_header_checksum() {
    // Old clients computed the lz4 header checksum over the wrong bytes
    // (KIP-57); flip it and the legacy reader must still decode.
    let messages = [LegacyMessage {
        offset: 0,
        timestamp: 1,
        key: None,
        value: Some(b"x"),
    }];
    let mut bytes = Vec::new();
    write_message_set(
        &mut bytes,
        1,
        Compression::Lz4,
        None,
        TimestampType::CreateTime,
        &messages,
    )
    .unwrap();
    // Entry header 12, crc 4, magic, attributes, timestamp 8, key 4, value length 4, then the frame.
    let frame_at = 12 + 4 + 1 + 1 + 8 + 4 + 4;
    bytes[frame_at + 6] ^= 0x5a;
    let options = ReadOptions {
        verify_crc: false,
        ..ReadOptions::default()
    };
    let batch = BatchReader::with_options(bytes.into(), options)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.records().count(), 1);
}

#[test]
fn snappy_reads_java_xerial_framing_and_raw_blocks() {
    use ferrokafka_records::compression::{Codec, SnappyCodec};
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut framed = Vec::new();
    SnappyCodec.compress(&data, &mut framed).unwrap();
    assert_eq!(&framed[..16], b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01");
    // Java's block size is 32 KiB of input: 100,000 bytes make 4 blocks.
    let mut blocks = 0;
    let mut at = 16;
    while at < framed.len() {
        let len = i32::from_be_bytes(framed[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len;
        blocks += 1;
    }
    assert_eq!(blocks, 4);
    assert_eq!(SnappyCodec.decompress(&framed, 1 << 20).unwrap(), data);
    let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    assert_eq!(SnappyCodec.decompress(&raw, 1 << 20).unwrap(), data);
}

#[test]
fn rewriting_the_hand_built_batch_gives_the_same_bytes() {
    let bytes = hex(V2_BATCH);
    let batch =
        ferrokafka_records::RecordBatch::decode(bytes.clone(), &ReadOptions::default()).unwrap();
    let mut builder = RecordBatchBuilder::with_header(batch.header(), None).unwrap();
    for record in batch.records() {
        builder.append_record(&record.unwrap());
    }
    assert_eq!(builder.build().unwrap(), bytes);
}

#[test]
fn lz4_frames_look_like_the_java_clients() {
    let mut out = Vec::new();
    let data = vec![7_u8; 200_000];
    ferrokafka_records::compress(Compression::Lz4, None, &data, &mut out).unwrap();
    assert_eq!(out[..4], [0x04, 0x22, 0x4d, 0x18]);
    // FLG: version 01, independent blocks, no checksums or size; BD: 64 KiB.
    assert_eq!(out[4], 0x60);
    assert_eq!(out[5], 0x40);
}

#[test]
fn compressed_batches_slice_one_decompression_buffer() {
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut builder = RecordBatchBuilder::new(0).with_compression(compression, None);
        for i in 0..10_u8 {
            builder.append(0, Some(&[i]), Some(b"value"), &[("h", Some(&b"hv"[..]))]);
        }
        let batch = ferrokafka_records::RecordBatch::decode(
            builder.build().unwrap(),
            &ReadOptions::default(),
        )
        .unwrap();
        let buffer = batch.records_bytes().as_ptr_range();
        for record in batch.records() {
            let record = record.unwrap();
            assert!(
                buffer.contains(&record.key.unwrap().as_ptr()),
                "{compression}"
            );
            assert!(
                buffer.contains(&record.value.unwrap().as_ptr()),
                "{compression}"
            );
            let header_value = record.headers[0].value.clone().unwrap();
            assert!(buffer.contains(&header_value.as_ptr()), "{compression}");
        }
    }
}
