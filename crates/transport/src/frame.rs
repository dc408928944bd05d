//! Kafka's framing: every request and response is a big-endian `int32` size
//! followed by that many bytes.

use bytes::{BufMut as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::TransportError;

/// Bytes reserved at the front of an outgoing frame for its size.
pub const SIZE_PREFIX: usize = 4;

/// Reserve before reading a frame at most this much at once, so a peer that
/// announces a large frame and then sends nothing gets no large allocation.
const FIRST_RESERVE: usize = 1 << 20;

/// A buffer holding a size placeholder, ready for a frame body to be appended.
pub fn start(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX + capacity);
    buf.put_i32(0);
    buf
}

/// Writes the size of the body into the placeholder that [`start`] left.
///
/// # Panics
/// If `frame` is shorter than the placeholder (a bug in the caller), or the
/// body exceeds `i32::MAX` bytes.
pub fn finish(frame: &mut BytesMut) {
    let body =
        i32::try_from(frame.len() - SIZE_PREFIX).expect("a Kafka frame body fits an int32 size");
    frame[..SIZE_PREFIX].copy_from_slice(&body.to_be_bytes());
}

/// Where a request header keeps its correlation id: after the size, the
/// API key (int16) and the API version (int16), in every header version.
const CORRELATION_ID_AT: usize = SIZE_PREFIX + 4;

/// Writes `id` into the request header of a frame [`start`]ed earlier.
///
/// # Panics
/// If the frame holds no request header yet (a bug in the caller).
pub fn set_correlation_id(frame: &mut BytesMut, id: i32) {
    frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4].copy_from_slice(&id.to_be_bytes());
}

/// Reads one frame body. `Ok(None)` is a clean end of stream between frames.
pub async fn read<R: AsyncRead + Unpin>(
    reader: &mut R,
    broker: &str,
    max: usize,
) -> Result<Option<BytesMut>, TransportError> {
    let mut size = [0u8; SIZE_PREFIX];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(TransportError::io(broker, &e)),
    }
    let size = i32::from_be_bytes(size);
    let Ok(len) = usize::try_from(size) else {
        return Err(TransportError::Protocol {
            broker: broker.to_string(),
            reason: format!("negative frame size {size}"),
        });
    };
    if len > max {
        return Err(TransportError::FrameTooLarge {
            broker: broker.to_string(),
            size: i64::from(size),
            max,
        });
    }
    let mut body = BytesMut::with_capacity(len.min(FIRST_RESERVE));
    while body.len() < len {
        if body.capacity() == body.len() {
            // Grow with what has actually arrived, never past the frame.
            body.reserve((len - body.len()).min(body.len().max(FIRST_RESERVE)));
        }
        let room = (len - body.len()).min(body.capacity() - body.len());
        let read = (&mut *reader)
            .take(room as u64)
            .read_buf(&mut body)
            .await
            .map_err(|e| TransportError::io(broker, &e))?;
        if read == 0 {
            return Err(TransportError::Closed {
                broker: broker.to_string(),
                reason: format!(
                    "the broker closed the connection {} bytes into a {len}-byte frame",
                    body.len()
                ),
            });
        }
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_a_clean_end() {
        let mut frame = start(3);
        frame.put_slice(b"abc");
        finish(&mut frame);
        let mut input: &[u8] = &frame;
        assert_eq!(
            read(&mut input, "b", 10).await.unwrap().unwrap(),
            &b"abc"[..]
        );
        assert!(read(&mut input, "b", 10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn refuses_oversized_and_negative_sizes_before_allocating() {
        let mut input: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read(&mut input, "b", 1 << 20).await,
            Err(TransportError::FrameTooLarge {
                size: 2_147_483_647,
                ..
            })
        ));
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            read(&mut input, "b", 10).await,
            Err(TransportError::Protocol { .. })
        ));
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_error() {
        let mut input: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(
            read(&mut input, "b", 10).await,
            Err(TransportError::Closed { .. })
        ));
    }
}
