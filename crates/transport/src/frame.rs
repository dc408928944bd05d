//! Kafka's framing: every request and response is a big-endian `int32` size
//! followed by that many bytes.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::TransportError;
use crate::low_water::{self, LowWater};

/// Bytes reserved at the front of an outgoing frame for its size.
pub const SIZE_PREFIX: usize = 4;

/// Reserve before reading a frame at most this much at once, so a peer that
/// announces a large frame and then sends nothing gets no large allocation.
const FIRST_RESERVE: usize = 1 << 20;

/// Past [`FIRST_RESERVE`], a frame's buffer grows to at most this many
/// times what has arrived (never past the frame): few growths, each a copy
/// of what arrived and fresh pages, while a peer that stops sending still
/// holds a bounded multiple of what it sent.
const GROWTH: usize = 8;

/// A buffer holding a size placeholder, ready for a frame body to be appended.
pub fn start(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX + capacity);
    buf.put_i32(0);
    buf
}

/// Frame buffers kept after their frames were written, for the next
/// requests on the same connection. A producer sends frames of about the
/// same size again and again; a fresh buffer for each costs an allocation
/// and, once frames pass the allocator's trim threshold (128 KiB by
/// default), a page fault for every 4 KiB the request carries, because
/// the freed buffer goes back to the kernel each time.
#[derive(Debug, Default)]
pub(crate) struct FramePool {
    spare: std::sync::Mutex<Vec<BytesMut>>,
}

/// Buffers a pool keeps at most: a connection's frames in flight at once
/// (`max_in_flight_requests_per_connection` 5) seldom exceed this.
const POOLED_FRAMES: usize = 4;
/// The largest buffer a pool keeps, so that one huge request does not stay
/// allocated for the life of the connection.
const LARGEST_POOLED: usize = 4 << 20;

impl FramePool {
    /// [`start`], in a kept buffer when one is large enough.
    pub(crate) fn start(&self, capacity: usize) -> BytesMut {
        let wanted = SIZE_PREFIX + capacity;
        let reused = {
            let mut spare = self.spare();
            spare
                .iter()
                .position(|buffer| buffer.capacity() >= wanted)
                .map(|at| spare.swap_remove(at))
        };
        let Some(mut buf) = reused else {
            return start(capacity);
        };
        buf.put_i32(0);
        buf
    }

    /// Keeps a written frame's buffer for a later [`FramePool::start`], in
    /// place of the smallest kept one when the pool is full.
    pub(crate) fn recycle(&self, mut frame: BytesMut) {
        if frame.capacity() > LARGEST_POOLED {
            return;
        }
        frame.clear();
        let mut spare = self.spare();
        if spare.len() < POOLED_FRAMES {
            spare.push(frame);
        } else if let Some(smallest) = spare.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < frame.capacity()
        {
            *smallest = frame;
        }
    }

    fn spare(&self) -> std::sync::MutexGuard<'_, Vec<BytesMut>> {
        self.spare
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Buffers of large frames read earlier, for the next frames read on the
/// same connection once nothing holds their bytes any more. A consumer's
/// fetch answers are up to 16 MiB each; records hand
/// out slices of them, so a buffer is free only when its last record is
/// dropped. A fresh buffer for each answer costs a page fault for every
/// 4 KiB read, as one past the allocator's mmap threshold (32 MiB at most)
/// goes back to the kernel when freed: at 4,000 partitions that was the
/// largest cost a consumer had beyond the records themselves.
///
/// Two are kept, as a consumer reads the next answer while handing out the
/// last: the one before that is free by then. A connection that reads no
/// frame for [`KEPT_IDLE`] lets those it no longer uses go, so a consumer
/// that stops fetching (paused, idle, done) does not hold two answers'
/// worth of memory until it closes.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffers {
    kept: std::collections::VecDeque<Bytes>,
}

/// Frames read into kept buffers: those of at least this many bytes.
const KEPT_FROM: usize = FIRST_RESERVE;
/// Buffers of read frames kept at most.
const KEPT_READ: usize = 2;
/// How long a connection waits for its next frame before the kept buffers
/// nothing holds any more go back to the allocator.
const KEPT_IDLE: std::time::Duration = std::time::Duration::from_secs(5);

impl ReadBuffers {
    /// A kept buffer with room for `len` bytes whose frame is no longer
    /// held anywhere, emptied.
    fn take(&mut self, len: usize) -> Option<BytesMut> {
        let at = self.kept.iter().position(Bytes::is_unique)?;
        let mut buffer = self.kept.remove(at)?.try_into_mut().ok()?;
        buffer.clear();
        // One too small is dropped: a fresh one of the new size follows.
        (buffer.capacity() >= len).then_some(buffer)
    }

    /// Keeps `frame`'s buffer (shared with it) when it is large, in place of
    /// the oldest one kept.
    fn keep(&mut self, frame: &Bytes) {
        if frame.len() < KEPT_FROM {
            return;
        }
        if self.kept.len() == KEPT_READ {
            self.kept.pop_front();
        }
        self.kept.push_back(frame.clone());
    }

    /// Lets the kept buffers that nothing else holds go.
    fn release_unused(&mut self) {
        self.kept.retain(|buffer| !buffer.is_unique());
    }
}

/// Writes the size of the body into the placeholder that [`start`] left.
///
/// # Panics
/// If `frame` is shorter than the placeholder (a bug in the caller), or the
/// body exceeds `i32::MAX` bytes.
pub fn finish(frame: &mut BytesMut) {
    let len = frame.len();
    write_size(frame, len);
}

/// Writes into the placeholder at the front of `frame` the size of a body
/// that makes the whole frame `len` bytes long.
pub(crate) fn write_size(frame: &mut [u8], len: usize) {
    let body = i32::try_from(len - SIZE_PREFIX).expect("a Kafka frame body fits an int32 size");
    frame[..SIZE_PREFIX].copy_from_slice(&body.to_be_bytes());
}

/// Reads one frame body, into a buffer of `buffers` when one is free.
/// `Ok(None)` is a clean end of stream between frames.
pub(crate) async fn read<R: AsyncRead + Unpin>(
    reader: &mut R,
    broker: &str,
    max: usize,
    buffers: &mut ReadBuffers,
    mut low_water: Option<&mut LowWater>,
) -> Result<Option<Bytes>, TransportError> {
    let Some(size) = read_size(reader, broker, buffers).await? else {
        return Ok(None);
    };
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
    let body = match buffers.take(len) {
        Some(buffer) => read_into(reader, broker, len, buffer, low_water.as_deref_mut())
            .await?
            .freeze(),
        None => Bytes::from(read_body(reader, broker, len, low_water.as_deref_mut()).await?),
    };
    if let Some(low_water) = low_water {
        // The next frame may be a few bytes.
        low_water.wake_at(1);
    }
    buffers.keep(&body);
    Ok(Some(body))
}

/// Reads the size of the next frame (`None` at the end of the stream),
/// letting the unused kept buffers go when it is long in coming.
async fn read_size<R: AsyncRead + Unpin>(
    reader: &mut R,
    broker: &str,
    buffers: &mut ReadBuffers,
) -> Result<Option<[u8; SIZE_PREFIX]>, TransportError> {
    let mut size = [0u8; SIZE_PREFIX];
    let mut filled = 0;
    while filled < SIZE_PREFIX {
        // `read` loses nothing when the idle timer wins the race.
        let read = if buffers.kept.is_empty() {
            reader.read(&mut size[filled..]).await
        } else {
            tokio::select! {
                read = reader.read(&mut size[filled..]) => read,
                () = tokio::time::sleep(KEPT_IDLE) => {
                    buffers.release_unused();
                    continue;
                }
            }
        };
        match read {
            Ok(0) => return Ok(None),
            Ok(read) => filled += read,
            Err(e) => return Err(TransportError::io(broker, &e)),
        }
    }
    Ok(Some(size))
}

/// Reads a frame body of `len` bytes into `body`, which has room for it.
async fn read_into<R: AsyncRead + Unpin>(
    reader: &mut R,
    broker: &str,
    len: usize,
    mut body: BytesMut,
    mut low_water: Option<&mut LowWater>,
) -> Result<BytesMut, TransportError> {
    while body.len() < len {
        let arrived = body.len();
        wake_at_the_rest(low_water.as_deref_mut(), len - arrived);
        read_more(reader, broker, &mut body, len - arrived, (arrived, len)).await?;
    }
    Ok(body)
}

/// Appends to `body` what arrives next, at most `room` bytes, of a frame
/// of which `arrived` of `len` bytes are in.
async fn read_more<R: AsyncRead + Unpin>(
    reader: &mut R,
    broker: &str,
    body: &mut impl BufMut,
    room: usize,
    (arrived, len): (usize, usize),
) -> Result<(), TransportError> {
    let read = (&mut *reader)
        .take(room as u64)
        .read_buf(body)
        .await
        .map_err(|e| TransportError::io(broker, &e))?;
    if read == 0 {
        return Err(TransportError::Closed {
            broker: broker.to_string(),
            reason: format!(
                "the broker closed the connection {arrived} bytes into a {len}-byte frame"
            ),
        });
    }
    Ok(())
}

/// Reads a frame body of `len` bytes.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    broker: &str,
    len: usize,
    mut low_water: Option<&mut LowWater>,
) -> Result<Vec<u8>, TransportError> {
    // A Vec, not a BytesMut, for `reserve_exact`: BytesMut's reserve
    // at least doubles, so a frame just past FIRST_RESERVE (a fetch of
    // max_partition_fetch_bytes and its framing) took twice its size.
    let mut body: Vec<u8> = Vec::with_capacity(len.min(FIRST_RESERVE));
    while body.len() < len {
        if body.capacity() == body.len() {
            let mut capacity = grown(body.len(), len);
            if capacity == len && len >= KEPT_FROM {
                // Room for a later, somewhat larger frame in this buffer
                // once it is kept: pages never written are never resident.
                capacity = len + len / 4;
            }
            body.reserve_exact(capacity - body.len());
        }
        let arrived = body.len();
        let room = (len - arrived).min(body.capacity() - arrived);
        wake_at_the_rest(low_water.as_deref_mut(), len - arrived);
        read_more(reader, broker, &mut body, room, (arrived, len)).await?;
    }
    Ok(body)
}

/// While a frame owes many more bytes, has the reader woken only once they
/// are all in; never for more than the frame owes.
fn wake_at_the_rest(low_water: Option<&mut LowWater>, owed: usize) {
    if let Some(low_water) = low_water {
        low_water.wake_at(if owed >= low_water::FROM { owed } else { 1 });
    }
}

/// The capacity for a frame of `len` bytes whose first `arrived` bytes
/// fill the buffer.
fn grown(arrived: usize, len: usize) -> usize {
    arrived.saturating_mul(GROWTH).max(FIRST_RESERVE).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_hands_back_a_written_frame_s_buffer_for_one_that_fits() {
        let pool = FramePool::default();
        let mut first = pool.start(100_000);
        first.put_bytes(7, 100_000);
        finish(&mut first);
        let at = first.as_ptr();
        pool.recycle(first);
        let second = pool.start(50_000);
        assert_eq!(second.as_ptr(), at, "the kept buffer is reused");
        assert_eq!(
            &second[..],
            &[0, 0, 0, 0],
            "with only a fresh size placeholder"
        );
        let third = pool.start(10);
        assert_ne!(third.as_ptr(), at, "a buffer is lent once");
        pool.recycle(second);
        let larger = pool.start(200_000);
        assert_ne!(larger.as_ptr(), at, "too small a kept buffer is not used");
        assert!(larger.capacity() >= SIZE_PREFIX + 200_000);
    }

    #[test]
    fn a_full_pool_keeps_its_largest_buffers_and_none_past_the_limit() {
        let pool = FramePool::default();
        for size in [10, 20, 30, 40, 50] {
            pool.recycle(start(size * 1000));
        }
        pool.recycle(start(LARGEST_POOLED + 1));
        let mut kept: Vec<usize> = pool.spare().iter().map(BytesMut::capacity).collect();
        kept.sort_unstable();
        assert_eq!(kept.len(), POOLED_FRAMES);
        assert!(kept[0] >= SIZE_PREFIX + 20_000, "{kept:?}");
        assert!(kept.iter().all(|&c| c <= LARGEST_POOLED), "{kept:?}");
    }

    #[tokio::test]
    async fn reads_frames_and_a_clean_end() {
        let mut frame = start(3);
        frame.put_slice(b"abc");
        finish(&mut frame);
        let mut input: &[u8] = &frame;
        assert_eq!(
            read(&mut input, "b", 10, &mut ReadBuffers::default(), None)
                .await
                .unwrap()
                .unwrap(),
            &b"abc"[..]
        );
        assert!(
            read(&mut input, "b", 10, &mut ReadBuffers::default(), None)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn refuses_oversized_and_negative_sizes_before_allocating() {
        let mut input: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read(&mut input, "b", 1 << 20, &mut ReadBuffers::default(), None).await,
            Err(TransportError::FrameTooLarge {
                size: 2_147_483_647,
                ..
            })
        ));
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            read(&mut input, "b", 10, &mut ReadBuffers::default(), None).await,
            Err(TransportError::Protocol { .. })
        ));
    }

    #[tokio::test]
    async fn a_frame_past_the_first_reserve_is_read_whole_into_its_own_size() {
        use tokio::io::AsyncReadExt as _;
        // A fetch of max_partition_fetch_bytes and its framing, then one
        // that takes several growths.
        for len in [FIRST_RESERVE + 100, 20 * FIRST_RESERVE + 3] {
            let size = u32::try_from(len).unwrap().to_be_bytes();
            let mut input = (&size[..]).chain(tokio::io::repeat(7).take(len as u64));
            let body = read(&mut input, "b", 64 << 20, &mut ReadBuffers::default(), None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(body.len(), len);
            assert!(body.iter().all(|&b| b == 7));
            let mut input = tokio::io::repeat(7).take(len as u64);
            let body = read_body(&mut input, "b", len, None).await.unwrap();
            assert!(
                (len..=len + len / 4).contains(&body.capacity()),
                "room past the frame for a quarter more at most"
            );
        }
    }

    #[test]
    fn growth_is_bounded_by_what_arrived() {
        const MIB: usize = 1 << 20;
        let huge = 100 * MIB;
        // Nothing arrived yet: no more than the first reserve.
        assert_eq!(grown(0, huge), FIRST_RESERVE);
        // Then a bounded multiple of what the peer actually sent.
        assert_eq!(grown(FIRST_RESERVE, huge), GROWTH * FIRST_RESERVE);
        assert_eq!(grown(8 * MIB, huge), GROWTH * 8 * MIB);
        assert_eq!(grown(64 * MIB, huge), huge);
        // Never past the frame.
        assert_eq!(
            grown(FIRST_RESERVE, FIRST_RESERVE + 100),
            FIRST_RESERVE + 100
        );
        assert_eq!(grown(usize::MAX / 2, huge), huge);
    }

    #[tokio::test]
    async fn a_peer_announcing_a_huge_frame_then_stopping_gets_an_error() {
        let mut input: Vec<u8> = (100u32 << 20).to_be_bytes().to_vec();
        input.extend_from_slice(&[1; 1000]);
        let mut input: &[u8] = &input;
        assert!(matches!(
            read(
                &mut input,
                "b",
                200 << 20,
                &mut ReadBuffers::default(),
                None
            )
            .await,
            Err(TransportError::Closed { .. })
        ));
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_error() {
        let mut input: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(
            read(&mut input, "b", 10, &mut ReadBuffers::default(), None).await,
            Err(TransportError::Closed { .. })
        ));
    }

    /// A frame of `len` bytes of `byte`, with its size.
    fn framed(len: usize, byte: u8) -> Vec<u8> {
        let mut wire = u32::try_from(len).unwrap().to_be_bytes().to_vec();
        wire.resize(SIZE_PREFIX + len, byte);
        wire
    }

    #[tokio::test]
    async fn a_large_frame_s_buffer_is_read_into_again_once_nothing_holds_it() {
        let len = 3 * KEPT_FROM;
        let mut buffers = ReadBuffers::default();
        let mut wire: Vec<u8> = Vec::new();
        for byte in 1..=4 {
            wire.extend(framed(len - usize::from(byte), byte));
        }
        let mut input: &[u8] = &wire;
        let first = read(&mut input, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        let at = first.as_ptr();
        let record = first.slice(10..20);
        drop(first);
        // A record of the first frame is still held: a buffer of its own.
        let second = read(&mut input, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(second.as_ptr(), at);
        assert!(second.iter().all(|&b| b == 2));
        assert!(record.iter().all(|&b| b == 1), "the held record is intact");
        drop(record);
        // Now the first frame's buffer is free, and is read into again.
        let third = read(&mut input, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.as_ptr(), at);
        assert_eq!(third.len(), len - 3);
        assert!(third.iter().all(|&b| b == 3));
        // At most two are kept: the second frame's, then the third's.
        drop((second, third));
        assert_eq!(buffers.kept.len(), KEPT_READ);
        let fourth = read(&mut input, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert!(fourth.iter().all(|&b| b == 4));
        assert_eq!(buffers.kept.len(), KEPT_READ);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_idle_for_a_while_lets_its_unused_buffers_go() {
        let len = 2 * KEPT_FROM;
        let mut buffers = ReadBuffers::default();
        let (mut broker, mut socket) = tokio::io::duplex(64 << 10);
        let sent = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            for (byte, wait) in [(1, 0), (2, 0), (3, 3), (4, 2)] {
                tokio::time::sleep(KEPT_IDLE * wait).await;
                broker.write_all(&framed(len, byte)).await.unwrap();
            }
            broker
        });
        let first = read(&mut socket, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        let second = read(&mut socket, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        let record = second.slice(..10);
        drop((first, second));
        // Three idle periods before the third frame: the first frame's
        // buffer goes, the second's is held by its record.
        let third = read(&mut socket, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert!(third.iter().all(|&b| b == 3));
        assert_eq!(buffers.kept.len(), 2, "the second frame's and the third's");
        assert!(
            buffers
                .kept
                .iter()
                .any(|kept| kept.as_ptr() == record.as_ptr())
        );
        drop((record, third));
        let fourth = read(&mut socket, "b", len, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert!(fourth.iter().all(|&b| b == 4));
        assert_eq!(buffers.kept.len(), 1, "only the fourth frame's");
        drop(fourth);
        // The broker closes: the end of the stream, as before.
        drop(sent.await.unwrap());
        assert!(
            read(&mut socket, "b", len, &mut buffers, None)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn small_frames_and_too_small_buffers_are_not_read_into() {
        let mut buffers = ReadBuffers::default();
        let mut wire = framed(100, 1);
        wire.extend(framed(KEPT_FROM, 2));
        wire.extend(framed(2 * KEPT_FROM, 3));
        let mut input: &[u8] = &wire;
        let small = read(&mut input, "b", 4 * KEPT_FROM, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert!(buffers.kept.is_empty(), "a small frame is not kept");
        drop(small);
        let large = read(&mut input, "b", 4 * KEPT_FROM, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        drop(large);
        // Free, but with room for less than the next frame: dropped.
        let larger = read(&mut input, "b", 4 * KEPT_FROM, &mut buffers, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(larger.len(), 2 * KEPT_FROM);
        assert!(larger.iter().all(|&b| b == 3));
        assert_eq!(buffers.kept.len(), 1, "only the larger frame's buffer");
    }
}
