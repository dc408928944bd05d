//! Segments written by real clients and brokers (`fixtures/records/`, made
//! by `cargo xtask golden records`): every batch decodes with a valid CRC,
//! and rewriting it from its decoded header and records gives the same
//! bytes (the same records section, for compressed batches, whose
//! compressor differs from the writer's). Skipped while no fixtures exist.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferrokafka_records::{
    Batch, BatchReader, Compression, ReadOptions, RecordBatch, RecordBatchBuilder,
};

fn segments(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            segments(&path, found);
        } else if path.extension().is_some_and(|e| e == "log") {
            found.push(path);
        }
    }
}

#[test]
fn golden_segments_decode_and_rewrite_identically() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/records");
    let mut found = Vec::new();
    segments(&root, &mut found);
    if found.is_empty() {
        eprintln!("no golden segments under {}; skipped", root.display());
        return;
    }
    for path in found {
        let bytes = Bytes::from(std::fs::read(&path).unwrap());
        let mut reader = BatchReader::new(bytes);
        for batch in reader.by_ref() {
            let batch = batch.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(batch.crc_is_valid());
            let records: Vec<_> = batch
                .records()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let Batch::V2(batch) = batch else { continue };
            assert_eq!(records.len(), batch.header().record_count as usize);
            let mut builder = RecordBatchBuilder::with_header(batch.header(), None).unwrap();
            for record in &records {
                builder.append_record(record);
            }
            let rewritten = builder.build().unwrap();
            if batch.compression() == Compression::None {
                assert_eq!(&rewritten, batch.as_bytes(), "{}", path.display());
            } else {
                let again = RecordBatch::decode(rewritten, &ReadOptions::default()).unwrap();
                assert_eq!(
                    again.records_bytes(),
                    batch.records_bytes(),
                    "{}",
                    path.display()
                );
            }
        }
        assert_eq!(reader.partial_tail(), 0, "{}", path.display());
    }
}
