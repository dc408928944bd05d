//! A request frame on its way out. Its size, header and body are in one
//! buffer, except for the large segments of the record sets a Produce
//! request carries: those stay in the buffers their batches were encoded in
//! (or the large values the caller handed over) and are written from there
//! in the same vectored write. Copying every batch into the
//! request, once per attempt, cost a producer a copy of every byte it sent,
//! and a page fault for every 4 KiB of each request buffer it had not used
//! before.

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::{EncodeErrorKind, RecordSet, Sink};

use crate::frame::SIZE_PREFIX;

/// Record set segments of at least this many bytes are written from their
/// own buffers; smaller ones are copied, as a write segment of their own
/// costs more than copying a few hundred bytes.
const BY_REFERENCE_FROM: usize = 1024;

/// Whether a frame keeps `segment` by reference (the frame and its size
/// count, [`OwnBytes`], must agree).
fn by_reference(segment: &Bytes) -> bool {
    segment.len() >= BY_REFERENCE_FROM
}

/// Where a request header keeps its correlation id: after the size, the
/// API key (int16) and the API version (int16), in every header version.
const CORRELATION_ID_AT: usize = SIZE_PREFIX + 4;

/// A request frame: a size placeholder, then the request header and body,
/// with the large segments of record sets kept by reference (see the
/// module's doc).
#[derive(Debug, Default)]
pub struct RequestFrame {
    bytes: BytesMut,
    /// Record set segments kept by reference, each with the offset in
    /// `bytes` it comes after, in order.
    records: Vec<(usize, Bytes)>,
    records_len: usize,
}

impl RequestFrame {
    /// A frame writing into `bytes`, which holds the size placeholder (as
    /// [`crate::frame::start`] makes it).
    pub fn new(bytes: BytesMut) -> Self {
        RequestFrame {
            bytes,
            records: Vec::new(),
            records_len: 0,
        }
    }

    /// The frame's length, size prefix included.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.records_len
    }

    /// Whether the frame holds nothing, not even its size placeholder.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the body's size into the placeholder.
    ///
    /// # Panics
    /// If the frame is shorter than the placeholder (a bug in the caller),
    /// or the body exceeds `i32::MAX` bytes.
    pub fn finish(&mut self) {
        let len = self.len();
        crate::frame::write_size(&mut self.bytes, len);
    }

    /// Writes `id` into the request header.
    ///
    /// # Panics
    /// If the frame holds no request header yet (a bug in the caller).
    pub fn set_correlation_id(&mut self, id: i32) {
        self.bytes[CORRELATION_ID_AT..CORRELATION_ID_AT + 4].copy_from_slice(&id.to_be_bytes());
    }

    /// The frame's bytes in order, as slices for a vectored write.
    pub fn segments(&self) -> Vec<IoSlice<'_>> {
        let mut segments = Vec::with_capacity(2 * self.records.len() + 1);
        let mut from = 0;
        for (at, records) in &self.records {
            if *at > from {
                segments.push(IoSlice::new(&self.bytes[from..*at]));
            }
            segments.push(IoSlice::new(records));
            from = *at;
        }
        if self.bytes.len() > from {
            segments.push(IoSlice::new(&self.bytes[from..]));
        }
        segments
    }

    /// Lets go of the record sets the frame refers to, once it is written:
    /// what stays is the frame's own buffer, which its length and segments
    /// then describe (for [`RequestFrame::into_buffer`]).
    pub(crate) fn let_go_of_records(&mut self) {
        self.records.clear();
        self.records_len = 0;
    }

    /// The whole frame in one buffer (the record sets copied in).
    pub fn into_contiguous(self) -> BytesMut {
        if self.records.is_empty() {
            return self.bytes;
        }
        let mut whole = BytesMut::with_capacity(self.len());
        for segment in self.segments() {
            bytes::BufMut::put_slice(&mut whole, &segment);
        }
        whole
    }

    /// The frame's own buffer, for a later frame; the record sets it
    /// referred to are let go.
    pub(crate) fn into_buffer(self) -> BytesMut {
        self.bytes
    }
}

impl Sink for RequestFrame {
    fn put_slice(&mut self, bytes: &[u8]) {
        bytes::BufMut::put_slice(&mut self.bytes, bytes);
    }

    fn put_records(&mut self, records: &RecordSet, compact: bool) -> Result<(), EncodeErrorKind> {
        self.put_len(records.len(), compact)?;
        for segment in records.segments() {
            if by_reference(segment) {
                self.records.push((self.bytes.len(), segment.clone()));
                self.records_len += segment.len();
            } else {
                self.put_slice(segment);
            }
        }
        Ok(())
    }
}

/// Counts the bytes a request puts in a [`RequestFrame`]'s own buffer: all
/// but the record sets it keeps by reference.
#[derive(Debug, Default)]
pub(crate) struct OwnBytes(pub(crate) usize);

impl Sink for OwnBytes {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    fn put_uvarint(&mut self, v: u32) {
        self.0 += ferrokafka_protocol::varint::unsigned_varint_len(v);
    }

    fn put_records(&mut self, records: &RecordSet, compact: bool) -> Result<(), EncodeErrorKind> {
        self.put_len(records.len(), compact)?;
        for segment in records.segments() {
            if !by_reference(segment) {
                self.put_slice(segment);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(parts: &[&[u8]], records: &[Bytes]) -> RequestFrame {
        let mut frame = RequestFrame::new(crate::frame::start(16));
        frame.put_slice(&[0; 8]); // API key, version, correlation id
        for (i, part) in parts.iter().enumerate() {
            frame.put_slice(part);
            if let Some(records) = records.get(i) {
                frame
                    .put_records(&RecordSet::from(records.clone()), false)
                    .unwrap();
            }
        }
        frame
    }

    fn written(frame: &RequestFrame) -> Vec<u8> {
        frame.segments().iter().flat_map(|s| s.to_vec()).collect()
    }

    #[test]
    fn large_record_sets_are_written_from_their_own_buffers_in_place() {
        let big = Bytes::from(vec![7u8; BY_REFERENCE_FROM]);
        let small = Bytes::from_static(b"tiny");
        let mut frame = frame_of(&[b"a", b"bc", b"d"], &[big.clone(), small, big.clone()]);
        frame.set_correlation_id(42);
        frame.finish();

        let mut expected = Vec::new();
        let body_len = 8 + 1 + 4 + big.len() + 2 + 4 + 4 + 1 + 4 + big.len();
        expected.extend_from_slice(&i32::try_from(body_len).unwrap().to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
        for (part, records) in [(&b"a"[..], &big[..]), (b"bc", b"tiny"), (b"d", &big[..])] {
            expected.extend_from_slice(part);
            expected.extend_from_slice(&i32::try_from(records.len()).unwrap().to_be_bytes());
            expected.extend_from_slice(records);
        }
        assert_eq!(written(&frame), expected);
        assert_eq!(frame.len(), expected.len());
        assert_eq!(
            frame.segments().len(),
            4,
            "two sets by reference, and the bytes before each"
        );
        assert_eq!(frame.into_contiguous().to_vec(), expected);
    }

    #[test]
    fn own_bytes_count_what_the_frame_buffer_holds() {
        let big = RecordSet::from(Bytes::from(vec![1u8; 5000]));
        let small = RecordSet::from(Bytes::from(vec![2u8; 10]));
        let split = RecordSet::from_segments(vec![
            Bytes::from(vec![3u8; 70]),
            Bytes::from(vec![4u8; BY_REFERENCE_FROM]),
            Bytes::from(vec![5u8; 3]),
        ]);
        let mut counted = OwnBytes::default();
        counted.put_slice(&[0; 8]);
        let mut frame = RequestFrame::new(BytesMut::new());
        frame.put_slice(&[0; 8]);
        for records in [&big, &small, &split] {
            counted.put_records(records, true).unwrap();
            frame.put_records(records, true).unwrap();
        }
        assert_eq!(counted.0, frame.into_buffer().len());
    }

    #[test]
    fn a_split_record_set_is_written_in_order_its_large_segments_in_place() {
        let large = Bytes::from(vec![9u8; BY_REFERENCE_FROM + 5]);
        let set = RecordSet::from_segments(vec![
            Bytes::from_static(b"head"),
            large.clone(),
            Bytes::from_static(b"tail"),
        ]);
        let mut frame = RequestFrame::new(crate::frame::start(16));
        frame.put_slice(b"x");
        frame.put_records(&set, false).unwrap();
        frame.finish();
        let mut body = b"x".to_vec();
        body.extend_from_slice(&i32::try_from(set.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&set.to_bytes());
        let mut expected = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        expected.extend_from_slice(&body);
        assert_eq!(written(&frame), expected);
        assert_eq!(frame.len(), expected.len());
        let segments = frame.segments();
        assert_eq!(
            segments.len(),
            3,
            "the bytes before, the large one, the tail"
        );
        assert_eq!(segments[1].as_ptr(), large.as_ptr(), "not copied");
    }
}
