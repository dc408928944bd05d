//! Writes valid inputs for the fuzz targets, so fuzzing starts from real
//! batches instead of having to discover CRCs and lengths:
//! `cargo run -p ferrokafka-records --example fuzz_seeds -- crates/records/fuzz/corpus`.

use std::path::{Path, PathBuf};

use ferrokafka_records::legacy::write_message_set;
use ferrokafka_records::{
    Compression, ControlRecord, LegacyMessage, RecordBatchBuilder, TimestampType, compress,
};

fn batch(compression: Compression) -> Vec<u8> {
    let mut builder = RecordBatchBuilder::new(10)
        .with_compression(compression, None)
        .with_producer(5, 1, 0);
    builder.append(
        1000,
        Some(b"key"),
        Some(b"value value"),
        &[("h", Some(&b"v"[..]))],
    );
    builder.append(990, None, None, &[] as &[(&str, Option<&[u8]>)]);
    builder.build().expect("batch encodes").to_vec()
}

fn control() -> Vec<u8> {
    let mut builder = RecordBatchBuilder::new(12)
        .with_transactional(true)
        .with_control(true);
    builder.append_control(1, &ControlRecord::abort(3));
    builder.build().expect("batch encodes").to_vec()
}

fn legacy(magic: i8, compression: Compression) -> Vec<u8> {
    let messages = [
        LegacyMessage {
            offset: 0,
            timestamp: 1,
            key: Some(b"k"),
            value: Some(b"v"),
        },
        LegacyMessage {
            offset: 1,
            timestamp: 2,
            key: None,
            value: Some(b"w"),
        },
    ];
    let mut out = Vec::new();
    write_message_set(
        &mut out,
        magic,
        compression,
        None,
        TimestampType::CreateTime,
        &messages,
    )
    .expect("message set encodes");
    out
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("seed-{name}")), bytes)
}

fn main() -> std::io::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/corpus"), PathBuf::from);
    let mut all = Vec::new();
    for compression in Compression::ALL {
        let bytes = batch(compression);
        write(&dir, "record_batch", compression.name(), &bytes)?;
        write(&dir, "batch_reader", compression.name(), &bytes)?;
        all.extend_from_slice(&bytes);
        let mut packed = Vec::new();
        compress(
            compression,
            None,
            b"some data some data some data",
            &mut packed,
        )
        .expect("compresses");
        let mut input = vec![match compression {
            Compression::Gzip => 0,
            Compression::Snappy => 1,
            Compression::Lz4 => 2,
            _ => 4,
        }];
        input.extend_from_slice(&packed);
        write(&dir, "decompress", compression.name(), &input)?;
    }
    write(&dir, "record_batch", "control", &control())?;
    for magic in [0, 1] {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
        ] {
            let bytes = legacy(magic, compression);
            let name = format!("v{magic}-{}", compression.name());
            write(&dir, "legacy_message", &name, &bytes)?;
            write(&dir, "batch_reader", &name, &bytes)?;
            all.extend_from_slice(&bytes);
        }
    }
    write(&dir, "batch_reader", "mixed", &all)?;
    Ok(())
}
