//! Encode and decode of the two largest messages on a client's hot path: a
//! Produce request and a Fetch response, each carrying 1 MiB of records
//! (16 partitions x 64 KiB). Reports time per message; allocations per
//! message are printed once (`stats_alloc` wraps the system allocator).

// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use std::alloc::System;
use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrokafka_protocol::Message;
use ferrokafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use ferrokafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::messages::{FetchResponse, ProduceRequest};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PARTITIONS: i32 = 16;
const RECORDS_PER_PARTITION: usize = 64 * 1024;

fn records() -> Bytes {
    Bytes::from(
        (0..RECORDS_PER_PARTITION)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn produce() -> ProduceRequest {
    let records = records();
    ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: (0..PARTITIONS)
                .map(|index| PartitionProduceData {
                    index,
                    records: Some(records.clone().into()),
                    ..PartitionProduceData::default()
                })
                .collect(),
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    }
}

fn fetch() -> FetchResponse {
    let records = records();
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            // Fetch v13+ names topics by id (KIP-516).
            topic_id: ferrokafka_protocol::Uuid([7; 16]),
            partitions: (0..PARTITIONS)
                .map(|partition_index| PartitionData {
                    partition_index,
                    high_watermark: 1_000_000,
                    records: Some(records.clone().into()),
                    ..PartitionData::default()
                })
                .collect(),
            ..FetchableTopicResponse::default()
        }],
        ..FetchResponse::default()
    }
}

fn report_allocations<M: Message>(name: &str, message: &M, version: i16) {
    let region = Region::new(GLOBAL);
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version).unwrap();
    let encode = region.change();
    let bytes = buf.freeze();
    let region = Region::new(GLOBAL);
    let decoded = M::decode(bytes.clone(), version).unwrap();
    let decode = region.change();
    assert!(decoded == *message, "{name} does not round-trip");
    println!(
        "{name} v{version}: {} bytes; encode {} allocations ({} bytes), decode {} allocations ({} bytes)",
        bytes.len(),
        encode.allocations,
        encode.bytes_allocated,
        decode.allocations,
        decode.bytes_allocated
    );
}

fn bench<M: Message>(c: &mut Criterion, name: &str, message: &M, version: i16) {
    report_allocations(name, message, version);
    let mut encoded = BytesMut::new();
    message.encode(&mut encoded, version).unwrap();
    let encoded = encoded.freeze();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut buf = BytesMut::new();
            black_box(message).encode(&mut buf, version).unwrap();
            buf
        });
    });
    group.bench_function("decode", |b| {
        b.iter(|| M::decode(black_box(encoded.clone()), version).unwrap());
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench(c, "produce_request_1MiB", &produce(), 12);
    bench(c, "fetch_response_1MiB", &fetch(), 16);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = codec
}
criterion_main!(benches);
