//! Encode and decode of one batch of 1,000 records of 100 bytes, per codec.
//!
//! Before the timed runs it prints the allocations one encode and one
//! decode make (`stats_alloc` wraps the system allocator).
//! Criterion reports time per batch; divide by 1,000 for ns per record
//! (the throughput line gives records per second).

use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_main};
use ferrokafka_records::{BatchReader, Compression, ReadOptions, RecordBatchBuilder};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RECORDS: usize = 1_000;
const VALUE_SIZE: usize = 100;

fn values() -> Vec<Vec<u8>> {
    (0..RECORDS)
        .map(|i| {
            let mut value = format!(
                "{{\"id\":{i},\"user\":\"user-{}\",\"event\":\"click\",\"ts\":{}}}",
                i % 37,
                1_700_000_000_000_u64 + i as u64 * 13
            )
            .into_bytes();
            value.resize(VALUE_SIZE, b' ');
            value
        })
        .collect()
}

fn encode(compression: Compression, values: &[Vec<u8>]) -> Bytes {
    let mut builder = RecordBatchBuilder::new(0).with_compression(compression, None);
    builder.reserve(RECORDS * (VALUE_SIZE + 16));
    for (i, value) in values.iter().enumerate() {
        builder.append(
            1_700_000_000_000 + i as i64,
            None,
            Some(value),
            &[] as &[(&[u8], Option<&[u8]>)],
        );
    }
    builder.build().expect("encodes")
}

fn decode(bytes: &Bytes, verify_crc: bool) -> usize {
    let mut total = 0;
    let options = ReadOptions {
        verify_crc,
        ..ReadOptions::default()
    };
    for batch in BatchReader::with_options(bytes.clone(), options) {
        for record in batch.expect("decodes").records() {
            let record = record.expect("record decodes");
            total += record.value.map_or(0, |v| v.len());
        }
    }
    total
}

fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let result = f();
    let change = region.change();
    (result, change.allocations + change.reallocations)
}

fn codecs() -> Vec<Compression> {
    Compression::ALL
        .into_iter()
        .filter(|c| c.is_enabled())
        .collect()
}

fn benches(c: &mut Criterion) {
    let values = values();
    for compression in codecs() {
        let (bytes, encode_allocations) = count_allocations(|| encode(compression, &values));
        let (_, decode_allocations) = count_allocations(|| decode(&bytes, true));
        println!(
            "{compression}: batch {} bytes, allocations per batch: encode {encode_allocations}, decode {decode_allocations}",
            bytes.len()
        );
    }

    let mut group = c.benchmark_group("batch_1000x100B");
    group
        .throughput(Throughput::Elements(RECORDS as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for compression in codecs() {
        group.bench_function(format!("encode/{compression}"), |b| {
            b.iter(|| encode(compression, black_box(&values)));
        });
        let bytes = encode(compression, &values);
        group.bench_function(format!("decode/{compression}"), |b| {
            b.iter(|| decode(black_box(&bytes), true));
        });
        group.bench_function(format!("decode_without_crc/{compression}"), |b| {
            b.iter(|| decode(black_box(&bytes), false));
        });
    }
    group.finish();
}

mod group {
    #![allow(missing_docs)] // criterion's macro makes an undocumented pub fn
    criterion::criterion_group!(batch, super::benches);
}
use group::batch;
criterion_main!(batch);
