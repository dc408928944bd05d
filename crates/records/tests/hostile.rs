//! Corrupt, truncated and hostile input: every case is a typed error (or,
//! for a partial trailing batch, a clean stop), never a panic.

use bytes::Bytes;
use ferrokafka_records::compression::{Codec, GzipCodec, Lz4Codec, SnappyCodec, ZstdCodec};
use ferrokafka_records::legacy::write_message_set;
use ferrokafka_records::{
    BatchReader, Compression, Header, LegacyMessage, ReadOptions, RecordBatch, RecordBatchBuilder,
    RecordsError, TimestampType,
};

fn batch(compression: Compression, values: &[&[u8]]) -> Bytes {
    let mut builder = RecordBatchBuilder::new(500).with_compression(compression, None);
    for value in values {
        builder.append(10, Some(b"key"), Some(value), &[] as &[Header]);
    }
    builder.build().unwrap()
}

fn first(bytes: Vec<u8>) -> Result<ferrokafka_records::Batch, RecordsError> {
    BatchReader::new(bytes.into()).next().expect("an entry")
}

#[test]
fn bad_crc_names_the_base_offset_and_can_be_switched_off() {
    let mut bytes = batch(Compression::None, &[b"value"]).to_vec();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    match first(bytes.clone()) {
        Err(RecordsError::CrcMismatch {
            base_offset: 500, ..
        }) => {}
        other => panic!("expected a CRC mismatch, got {other:?}"),
    }
    let options = ReadOptions {
        verify_crc: false,
        ..ReadOptions::default()
    };
    let batch = BatchReader::with_options(bytes.into(), options)
        .next()
        .unwrap()
        .unwrap();
    assert!(!batch.crc_is_valid());
    assert_eq!(batch.records().count(), 1);
}

#[test]
fn bad_legacy_crc_is_typed() {
    let mut bytes = Vec::new();
    let message = LegacyMessage {
        offset: 9,
        timestamp: 1,
        key: None,
        value: Some(b"v"),
    };
    write_message_set(
        &mut bytes,
        1,
        Compression::None,
        None,
        TimestampType::CreateTime,
        &[message],
    )
    .unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(matches!(
        first(bytes),
        Err(RecordsError::CrcMismatch { base_offset: 9, .. })
    ));
}

#[test]
fn partial_trailing_batch_is_not_an_error() {
    let one = batch(Compression::None, &[b"a", b"b"]);
    for cut in [1, 11, 12, 30, one.len() - 1] {
        let mut fetched = one.to_vec();
        fetched.extend_from_slice(&one[..cut]);
        let mut reader = BatchReader::new(fetched.into());
        assert!(reader.next().unwrap().is_ok());
        assert!(reader.next().is_none(), "cut at {cut}");
        assert_eq!(reader.consumed(), one.len());
        assert_eq!(reader.partial_tail(), cut);
    }
}

#[test]
fn negative_and_tiny_batch_lengths_stop_the_reader() {
    for length in [-1_i32, i32::MIN, 0, 4] {
        let mut bytes = batch(Compression::None, &[b"a"]).to_vec();
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
        let mut reader = BatchReader::new(bytes.into());
        assert!(matches!(
            reader.next(),
            Some(Err(RecordsError::InvalidLength { .. }))
        ));
        assert!(reader.next().is_none());
    }
}

#[test]
fn unknown_magic_is_typed() {
    let mut bytes = batch(Compression::None, &[b"a"]).to_vec();
    bytes[16] = 7;
    assert!(matches!(
        first(bytes),
        Err(RecordsError::UnsupportedMagic { magic: 7, .. })
    ));
}

fn options_without_crc() -> ReadOptions {
    ReadOptions {
        verify_crc: false,
        ..ReadOptions::default()
    }
}

fn records_of(bytes: Vec<u8>) -> Vec<Result<ferrokafka_records::Record, RecordsError>> {
    let batch = RecordBatch::decode(bytes.into(), &options_without_crc()).unwrap();
    batch.records().collect()
}

#[test]
fn record_count_larger_than_records_is_typed() {
    let mut bytes = batch(Compression::None, &[b"a"]).to_vec();
    bytes[57..61].copy_from_slice(&1_000_000_i32.to_be_bytes());
    let records = records_of(bytes);
    assert!(records[0].is_ok());
    assert!(matches!(
        records[1],
        Err(RecordsError::RecordCountMismatch {
            expected: 1_000_000,
            found: 1,
            ..
        })
    ));
    assert_eq!(records.len(), 2);
}

#[test]
fn negative_record_count_is_typed() {
    let mut bytes = batch(Compression::None, &[b"a"]).to_vec();
    bytes[57..61].copy_from_slice(&(-3_i32).to_be_bytes());
    assert!(matches!(
        RecordBatch::decode(bytes.into(), &options_without_crc()),
        Err(RecordsError::InvalidLength {
            what: "record count",
            ..
        })
    ));
}

#[test]
fn record_count_smaller_than_records_is_trailing_bytes() {
    let mut bytes = batch(Compression::None, &[b"a", b"b"]).to_vec();
    bytes[57..61].copy_from_slice(&1_i32.to_be_bytes());
    let records = records_of(bytes);
    assert!(matches!(
        records[1],
        Err(RecordsError::TrailingBytes { .. })
    ));
}

#[test]
fn hostile_record_fields_are_typed() {
    // The first record starts at 61: length varint, attributes, timestamp
    // delta, offset delta, key length (at 65 for small values).
    let base = batch(Compression::None, &[b"value"]).to_vec();
    let cases: [(usize, u8); 4] = [
        (61, 0x7f), // record length -64
        (61, 0x7e), // record length 63, more than present
        (65, 0x05), // key length -3
        (65, 0x7e), // key length 63, past the record
    ];
    for (at, byte) in cases {
        let mut bytes = base.clone();
        bytes[at] = byte;
        let records = records_of(bytes);
        assert!(
            records[0].is_err(),
            "byte {byte:#x} at {at}: {:?}",
            records[0]
        );
    }
    // A varint that never ends.
    let mut bytes = base.clone();
    bytes[62..].fill(0xff);
    assert!(matches!(
        records_of(bytes)[0],
        Err(RecordsError::Varint { .. } | RecordsError::Truncated { .. })
    ));
}

#[test]
fn huge_header_count_does_not_allocate() {
    let mut builder = RecordBatchBuilder::new(0);
    let three: [(&str, Option<&[u8]>); 3] = [("k", None), ("k", None), ("k", None)];
    builder.append(0, None, None, &three);
    let mut bytes = builder.build().unwrap().to_vec();
    // Record: length, attributes, ts delta, offset delta, key, value, header count.
    let count_at = 61 + 1 + 1 + 1 + 1 + 1 + 1;
    assert_eq!(bytes[count_at], 6);
    bytes[count_at..count_at + 5].copy_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x07]);
    let records = records_of(bytes);
    assert!(records[0].is_err());
}

#[test]
fn unknown_compression_id_is_typed() {
    let mut bytes = batch(Compression::None, &[b"a"]).to_vec();
    bytes[22] = 6;
    assert!(matches!(
        RecordBatch::decode(bytes.into(), &options_without_crc()),
        Err(RecordsError::UnknownCompression(6))
    ));
}

#[test]
fn corrupt_compressed_data_is_typed() {
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut bytes = batch(compression, &[b"some value that compresses"]).to_vec();
        // Break the codec's magic and everything after it (a zstd frame
        // without checksum would otherwise pass a payload flip).
        for byte in &mut bytes[61..] {
            *byte ^= 0xa5;
        }
        let result = RecordBatch::decode(bytes.into(), &options_without_crc());
        assert!(
            matches!(result, Err(RecordsError::CorruptCompressed { .. })),
            "{compression}: {result:?}"
        );
    }
}

#[test]
fn decompression_bombs_hit_the_limit() {
    let zeros = vec![0_u8; 4 << 20];
    let codecs: [&dyn Codec; 5] = [
        &GzipCodec::default(),
        &SnappyCodec,
        &Lz4Codec::new(),
        &Lz4Codec::legacy(),
        &ZstdCodec::default(),
    ];
    for codec in codecs {
        let mut bomb = Vec::new();
        codec.compress(&zeros, &mut bomb).unwrap();
        assert!(
            bomb.len() < zeros.len() / 20,
            "{} ratio",
            codec.compression()
        );
        match codec.decompress(&bomb, 1 << 20) {
            Err(RecordsError::DecompressedTooLarge { limit, .. }) => assert_eq!(limit, 1 << 20),
            other => panic!("{}: expected the limit, got {other:?}", codec.compression()),
        }
        assert_eq!(codec.decompress(&bomb, 4 << 20).unwrap().len(), zeros.len());
    }
    // Through the reader, with a configured limit.
    let mut builder = RecordBatchBuilder::new(0).with_compression(Compression::Zstd, None);
    builder.append(0, None, Some(&zeros), &[] as &[Header]);
    let options = ReadOptions {
        max_decompressed_size: 1 << 20,
        ..ReadOptions::default()
    };
    let result = BatchReader::with_options(builder.build().unwrap(), options)
        .next()
        .unwrap();
    assert!(matches!(
        result,
        Err(RecordsError::DecompressedTooLarge {
            codec: Compression::Zstd,
            ..
        })
    ));
}

#[test]
fn legacy_nested_compression_is_rejected() {
    let inner_message = LegacyMessage {
        offset: 0,
        timestamp: 0,
        key: None,
        value: Some(b"x"),
    };
    let mut inner = Vec::new();
    write_message_set(
        &mut inner,
        1,
        Compression::Gzip,
        None,
        TimestampType::CreateTime,
        &[inner_message],
    )
    .unwrap();
    let mut compressed = Vec::new();
    ferrokafka_records::compress(Compression::Gzip, None, &inner, &mut compressed).unwrap();
    // Hand-build a gzip wrapper around the already-compressed message.
    let mut body = vec![1_u8, 1];
    body.extend_from_slice(&0_i64.to_be_bytes());
    body.extend_from_slice(&(-1_i32).to_be_bytes());
    body.extend_from_slice(&(compressed.len() as i32).to_be_bytes());
    body.extend_from_slice(&compressed);
    let mut bytes = 0_i64.to_be_bytes().to_vec();
    bytes.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    bytes.extend_from_slice(&body);
    assert!(matches!(
        first(bytes),
        Err(RecordsError::NestedCompression { .. })
    ));
}

#[test]
fn reader_continues_after_a_corrupt_but_framed_batch() {
    let good = batch(Compression::None, &[b"a"]);
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut both = bad;
    both.extend_from_slice(&good);
    let results: Vec<_> = BatchReader::new(both.into()).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_err());
    assert!(results[1].is_ok());
}
