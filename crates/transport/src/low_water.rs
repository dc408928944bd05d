//! The socket's receive low-water mark (`SO_RCVLOWAT`) while a large frame
//! arrives: the kernel then wakes the reader once the rest of the frame is
//! in, where it woke it for every few segments, each wake-up a task switch.
//! A consumer's fetch answers (megabytes each) arrived in one to two dozen
//! reads per megabyte.
//!
//! The mark is only ever set to bytes the current frame still owes, never
//! more, so the reader is never left waiting for bytes that are not coming;
//! the kernel also caps it at half the largest receive buffer. Plain TCP
//! only: under TLS the bytes on the socket are not the frame's.

/// Frames with at least this many bytes still to come get the mark: below
/// it the two system calls cost more than the wake-ups they save.
pub(crate) const FROM: usize = 256 * 1024;

/// The mark of one connection's socket, as last set.
#[derive(Debug)]
pub(crate) struct LowWater {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
    set: usize,
}

impl LowWater {
    /// The mark of `stream`'s socket, which must outlive it: the reader
    /// holding both keeps the stream open.
    pub(crate) fn of(stream: &tokio::net::TcpStream) -> Self {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd as _;
            LowWater {
                fd: stream.as_raw_fd(),
                set: 1,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stream;
            LowWater { set: 1 }
        }
    }

    /// Wakes the reader only once `bytes` (at least one) can be read; a
    /// refusal leaves the mark as it was, which costs wake-ups only.
    pub(crate) fn wake_at(&mut self, bytes: usize) {
        let bytes = bytes.max(1);
        if bytes != self.set && self.apply(bytes) {
            self.set = bytes;
        }
    }

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn apply(&self, bytes: usize) -> bool {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is the open socket of the stream the reader holds
        // (see `of`); the option value is a c_int read for its size.
        let done = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        done == 0
    }

    #[cfg(not(target_os = "linux"))]
    fn apply(&self, _bytes: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt as _;

    use super::*;
    use crate::frame::{self, ReadBuffers};

    fn framed(len: usize, byte: u8) -> Vec<u8> {
        let mut frame = i32::try_from(len).unwrap().to_be_bytes().to_vec();
        frame.resize(frame::SIZE_PREFIX + len, byte);
        frame
    }

    /// Large frames trickling in, each followed by a frame of a few bytes:
    /// every one arrives whole, and the small ones are not held back by a
    /// mark left from the large frame before them (the reader would wait
    /// for bytes that never come, and the test time out).
    #[tokio::test]
    async fn frames_large_and_small_arrive_whole_with_the_mark_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let sizes = [3 << 20, 10, FROM + 1, 4, 2 * FROM, FROM - 1, 1];
        let writer = tokio::spawn(async move {
            let (mut broker, _) = listener.accept().await.unwrap();
            for (n, &len) in sizes.iter().enumerate() {
                let frame = framed(len, n as u8);
                for piece in frame.chunks(64 << 10) {
                    broker.write_all(piece).await.unwrap();
                    broker.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            broker
        });
        let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut low_water = LowWater::of(&socket);
        let mut buffers = ReadBuffers::default();
        for (n, &len) in sizes.iter().enumerate() {
            let read = frame::read(
                &mut socket,
                "b",
                8 << 20,
                &mut buffers,
                Some(&mut low_water),
            );
            let body = tokio::time::timeout(Duration::from_secs(20), read)
                .await
                .unwrap_or_else(|_| panic!("frame {n} ({len} bytes) never came"))
                .unwrap()
                .unwrap();
            assert_eq!(body.len(), len);
            assert!(body.iter().all(|&b| b == n as u8), "frame {n}");
            assert_eq!(
                low_water.set, 1,
                "the mark is back at one byte after frame {n}"
            );
        }
        drop(writer.await.unwrap());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_mark_is_set_on_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut low_water = LowWater::of(&socket);
        low_water.wake_at(FROM);
        assert_eq!(low_water.set, FROM);
        low_water.wake_at(0);
        assert_eq!(low_water.set, 1, "never below one byte");
    }
}
