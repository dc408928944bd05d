//! Kafka record formats with no I/O: record batches (magic 2), legacy
//! message sets (magic 0 and 1), their CRCs, control records, and the
//! compression codecs (gzip, snappy, lz4, zstd).
//!
//! It deliberately does not read files or sockets: it decodes and encodes
//! bytes it is handed, so a segment-file reader, a fetcher and a producer
//! can all share it.
