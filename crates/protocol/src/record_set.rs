//! The value of a `records` field: one buffer, as every decoded record set
//! is, or several in order, as a producer sends a batch whose large values
//! stay in the buffers its caller handed over.

use bytes::{Bytes, BytesMut};

/// The bytes of a `records` field (record batches), held as one buffer or
/// as several read in order.
///
/// A record set decoded from a message is always one buffer, so
/// [`RecordSet::to_bytes`] of it copies nothing. Equality compares the
/// bytes, however they are split.
///
/// ```
/// use bytes::Bytes;
/// use ferrokafka_protocol::RecordSet;
/// let split = RecordSet::from_segments(vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]);
/// assert_eq!(split.len(), 3);
/// assert_eq!(split, RecordSet::from(Bytes::from_static(b"abc")));
/// assert_eq!(split.to_bytes(), Bytes::from_static(b"abc"));
/// ```
#[derive(Clone, Default)]
pub struct RecordSet {
    segments: Segments,
}

#[derive(Clone)]
enum Segments {
    One(Bytes),
    Many { parts: Vec<Bytes>, len: usize },
}

impl Default for Segments {
    fn default() -> Self {
        Segments::One(Bytes::new())
    }
}

impl RecordSet {
    /// The record set made of `segments`, in order (empty ones dropped).
    pub fn from_segments(segments: Vec<Bytes>) -> Self {
        let mut parts: Vec<Bytes> = segments.into_iter().filter(|s| !s.is_empty()).collect();
        let segments = match parts.len() {
            0 => Segments::default(),
            1 => Segments::One(parts.pop().unwrap_or_default()),
            _ => Segments::Many {
                len: parts.iter().map(Bytes::len).sum(),
                parts,
            },
        };
        RecordSet { segments }
    }

    /// Bytes in all.
    pub fn len(&self) -> usize {
        match &self.segments {
            Segments::One(bytes) => bytes.len(),
            Segments::Many { len, .. } => *len,
        }
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its buffers, in order.
    pub fn segments(&self) -> &[Bytes] {
        match &self.segments {
            Segments::One(bytes) => std::slice::from_ref(bytes),
            Segments::Many { parts, .. } => parts,
        }
    }

    /// Its buffers, in order, taken out.
    pub fn into_segments(self) -> Vec<Bytes> {
        match self.segments {
            Segments::One(bytes) => vec![bytes],
            Segments::Many { parts, .. } => parts,
        }
    }

    /// All its bytes in one buffer: shared when it is one already, else
    /// copied into one.
    pub fn to_bytes(&self) -> Bytes {
        match &self.segments {
            Segments::One(bytes) => bytes.clone(),
            Segments::Many { parts, len } => {
                let mut whole = BytesMut::with_capacity(*len);
                for part in parts {
                    whole.extend_from_slice(part);
                }
                whole.freeze()
            }
        }
    }

    /// Whether its bytes are those of `other`, wherever either is split.
    fn same_bytes(&self, other: &RecordSet) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut ours = self.segments().iter().flat_map(|s| s.iter());
        let mut theirs = other.segments().iter().flat_map(|s| s.iter());
        ours.by_ref().zip(theirs.by_ref()).all(|(a, b)| a == b)
    }
}

impl From<Bytes> for RecordSet {
    fn from(bytes: Bytes) -> Self {
        RecordSet {
            segments: Segments::One(bytes),
        }
    }
}

impl PartialEq for RecordSet {
    fn eq(&self, other: &Self) -> bool {
        match (self.segments(), other.segments()) {
            ([a], [b]) => a == b,
            _ => self.same_bytes(other),
        }
    }
}

impl Eq for RecordSet {}

impl std::fmt::Debug for RecordSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.segments() {
            [one] => one.fmt(f),
            parts => f
                .debug_struct("RecordSet")
                .field("len", &self.len())
                .field("segments", &parts.len())
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_are_equal_however_split() {
        let whole = RecordSet::from(Bytes::from_static(b"abcdef"));
        let split = RecordSet::from_segments(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
            Bytes::from_static(b"f"),
        ]);
        assert_eq!(split.segments().len(), 3, "the empty segment is dropped");
        assert_eq!(whole, split);
        assert_eq!(split, whole);
        let other =
            RecordSet::from_segments(vec![Bytes::from_static(b"abc"), Bytes::from_static(b"dex")]);
        assert_ne!(split, other);
        assert_ne!(whole, RecordSet::from(Bytes::from_static(b"abcde")));
    }

    #[test]
    fn one_segment_is_shared_not_copied() {
        let bytes = Bytes::from(vec![1u8; 64]);
        let set = RecordSet::from_segments(vec![bytes.clone()]);
        assert_eq!(set.to_bytes().as_ptr(), bytes.as_ptr());
        assert_eq!(set.into_segments(), vec![bytes]);
        assert!(RecordSet::from_segments(Vec::new()).is_empty());
    }
}
