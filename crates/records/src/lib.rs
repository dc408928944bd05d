//! Kafka record formats with no I/O: record batches (magic 2), legacy
//! message sets (magic 0 and 1), their CRCs, control records, and the
//! compression codecs (gzip, snappy, lz4, zstd).
//!
//! It deliberately does not read files or sockets: it decodes and encodes
//! bytes it is handed, so a segment-file reader, a fetcher and a producer
//! can all share it. Decoding is nom parsers over slices of the input
//! `Bytes` (see `parse.rs`): every length is checked against the bytes
//! present before anything is allocated, bad input is a [`RecordsError`]
//! naming the field, never a panic, and keys, values and headers are
//! shared slices of the input (or of the one decompressed buffer).
//!
//! ```
//! # #[cfg(feature = "gzip")] {
//! use ferrokafka_records::{BatchReader, Compression, Header, RecordBatchBuilder};
//! let mut builder = RecordBatchBuilder::new(0).with_compression(Compression::Gzip, None);
//! builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some("x"))]);
//! let bytes = builder.build().unwrap();
//! for batch in BatchReader::new(bytes) {
//!     for record in batch.unwrap().records() {
//!         assert_eq!(record.unwrap().key.as_deref(), Some(&b"k"[..]));
//!     }
//! }
//! # }
//! ```

mod attributes;
mod batch;
mod builder;
mod checksum;
pub mod compression;
mod control;
mod error;
mod header;
pub mod legacy;
mod parse;
mod reader;
mod record;

pub use attributes::{BatchAttributes, TimestampType};
pub use batch::{IntoRecordIter, RecordBatch, RecordIter};
pub use builder::{RecordBatchBuilder, SHARED_VALUE_FROM};
pub use checksum::{Crc32c, crc32c};
pub use compression::{Codec, Compression, DEFAULT_MAX_DECOMPRESSED_SIZE, compress, decompress};
pub use control::{ControlRecord, ControlRecordType};
pub use error::RecordsError;
pub use header::{BATCH_HEADER_LEN, BatchHeader, LOG_OVERHEAD};
pub use legacy::{LegacyBatch, LegacyMessage};
pub use reader::{Batch, BatchReader, IntoRecords, ReadOptions, Records};
pub use record::{Header, HeaderRef, Record};
