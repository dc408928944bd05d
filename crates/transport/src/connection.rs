//! One TCP connection to one broker: many requests in flight, responses
//! routed back by correlation id, a deadline on every request.
//!
//! A writer task drains a queue of encoded frames into the socket and a
//! reader task routes each response frame to the request waiting for it, so
//! callers never hold a lock across I/O. Any error that leaves the stream in
//! an unknown state (a broken frame, an unknown correlation id, a timed-out
//! request) closes the connection and fails every waiting request with it.

use std::collections::HashMap;
use std::io::IoSlice;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, BufWriter, ReadHalf, WriteHalf};
use tokio::net::TcpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::low_water::LowWater;
use crate::{RequestFrame, TransportError, frame};

/// Socket and pipelining settings of one connection, named after the Java
/// client's keys.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `request_timeout_ms`: how long a request waits for its response.
    pub request_timeout: Duration,
    /// How long establishing the TCP connection may take.
    pub connect_timeout: Duration,
    /// `max_in_flight_requests_per_connection`: requests sent and not yet
    /// answered; a further request waits for a slot.
    pub max_in_flight: usize,
    /// `receive_message_max_bytes`: a larger response frame is refused
    /// before anything is allocated for it.
    pub receive_message_max_bytes: usize,
    /// TCP_NODELAY (on: Kafka requests are already batched).
    pub tcp_nodelay: bool,
    /// `send_buffer_bytes` (SO_SNDBUF); `None` leaves the OS default.
    pub send_buffer_bytes: Option<u32>,
    /// `receive_buffer_bytes` (SO_RCVBUF); `None` leaves the OS default.
    pub receive_buffer_bytes: Option<u32>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 5,
            receive_message_max_bytes: 100 * 1024 * 1024,
            tcp_nodelay: true,
            send_buffer_bytes: Some(128 * 1024),
            receive_buffer_bytes: Some(64 * 1024),
        }
    }
}

type Responder = oneshot::Sender<Result<Bytes, TransportError>>;

/// A request queued on a connection whose response is still to come: it
/// holds its in-flight slot until dropped.
pub(crate) struct Pending {
    _permit: OwnedSemaphorePermit,
    response: oneshot::Receiver<Result<Bytes, TransportError>>,
}

struct Outgoing {
    frame: RequestFrame,
    written: Option<oneshot::Sender<Result<(), TransportError>>>,
}

#[derive(Default)]
struct State {
    waiting: HashMap<i32, Responder>,
    next_correlation_id: i32,
    closed: Option<TransportError>,
    tasks: Vec<JoinHandle<()>>,
}

struct Shared {
    broker: String,
    state: Mutex<State>,
    frames: frame::FramePool,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the map usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the connection: every waiting request gets `error`, later ones
    /// get it too, and the socket tasks stop.
    fn close(&self, error: &TransportError) {
        let (waiting, tasks) = {
            let mut state = self.state();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(error.clone());
            (
                std::mem::take(&mut state.waiting),
                std::mem::take(&mut state.tasks),
            )
        };
        debug!(broker = %self.broker, %error, waiting = waiting.len(), "closing connection");
        for (_, responder) in waiting {
            let _ = responder.send(Err(error.clone()));
        }
        for task in tasks {
            task.abort();
        }
    }
}

/// A connection to one broker. Dropping it closes the socket and fails the
/// requests still waiting.
pub struct Connection {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    in_flight: Arc<Semaphore>,
    config: ConnectionConfig,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.shared.broker)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `broker` (`host:port`), over TLS when `tls` is given.
    pub async fn connect(
        broker: &str,
        config: ConnectionConfig,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> Result<Self, TransportError> {
        let stream = Self::connect_tcp(broker, &config).await?;
        let Some(tls) = tls else {
            let low_water = LowWater::of(&stream);
            return Ok(Self::start_with(broker, stream, config, Some(low_water)));
        };
        let host = broker.rsplit_once(':').map_or(broker, |(host, _)| host);
        let name = crate::tls::server_name(host).map_err(|e| TransportError::Tls {
            broker: broker.to_string(),
            reason: e.to_string(),
        })?;
        let handshake = tokio::time::timeout(config.connect_timeout, tls.connect(name, stream));
        match handshake.await {
            Ok(Ok(stream)) => Ok(Self::start(broker, stream, config)),
            Ok(Err(e)) => Err(TransportError::Tls {
                broker: broker.to_string(),
                reason: e.to_string(),
            }),
            Err(_) => Err(TransportError::Tls {
                broker: broker.to_string(),
                reason: format!("no TLS handshake within {:?}", config.connect_timeout),
            }),
        }
    }

    async fn connect_tcp(
        broker: &str,
        config: &ConnectionConfig,
    ) -> Result<tokio::net::TcpStream, TransportError> {
        let addrs: Vec<_> = tokio::net::lookup_host(broker)
            .await
            .map_err(|e| TransportError::io(broker, &e))?
            .collect();
        let mut last_error = None;
        for addr in addrs {
            match tokio::time::timeout(config.connect_timeout, Self::connect_addr(addr, config))
                .await
            {
                Ok(Ok(stream)) => {
                    debug!(broker, %addr, "connected");
                    return Ok(stream);
                }
                Ok(Err(e)) => last_error = Some(TransportError::io(broker, &e)),
                Err(_) => {
                    last_error = Some(TransportError::Io {
                        broker: broker.to_string(),
                        message: format!("no TCP connection within {:?}", config.connect_timeout),
                        kind: std::io::ErrorKind::TimedOut,
                    });
                }
            }
        }
        Err(last_error.unwrap_or_else(|| TransportError::Io {
            broker: broker.to_string(),
            message: "the name resolves to no address".to_string(),
            kind: std::io::ErrorKind::NotFound,
        }))
    }

    async fn connect_addr(
        addr: std::net::SocketAddr,
        config: &ConnectionConfig,
    ) -> std::io::Result<tokio::net::TcpStream> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(bytes) = config.send_buffer_bytes {
            socket.set_send_buffer_size(bytes)?;
        }
        if let Some(bytes) = config.receive_buffer_bytes {
            socket.set_recv_buffer_size(bytes)?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(config.tcp_nodelay)?;
        Ok(stream)
    }

    /// Runs the connection over an established stream (plain TCP, TLS, or an
    /// in-memory pipe in tests).
    pub fn start<S>(broker: &str, stream: S, config: ConnectionConfig) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        Self::start_with(broker, stream, config, None)
    }

    /// [`Connection::start`], with the low-water mark of a plain TCP
    /// stream's socket for the reader to set.
    fn start_with<S>(
        broker: &str,
        stream: S,
        config: ConnectionConfig,
        low_water: Option<LowWater>,
    ) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            broker: broker.to_string(),
            state: Mutex::new(State::default()),
            frames: frame::FramePool::default(),
        });
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(Arc::clone(&shared), write_half, queue));
        let reader = tokio::spawn(read_loop(
            Arc::clone(&shared),
            read_half,
            config.receive_message_max_bytes,
            low_water,
        ));
        shared.state().tasks = vec![writer, reader];
        Connection {
            shared,
            outgoing,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
        }
    }

    /// The broker's address as given to [`Connection::connect`].
    pub fn broker(&self) -> &str {
        &self.shared.broker
    }

    /// A request frame with room for `capacity` bytes after the size
    /// placeholder, in the buffer of a frame this connection wrote earlier
    /// when one is large enough (see [`frame::start`]).
    pub(crate) fn start_frame(&self, capacity: usize) -> BytesMut {
        self.shared.frames.start(capacity)
    }

    /// Whether the connection was closed (by an error or by the broker).
    pub fn is_closed(&self) -> bool {
        self.shared.state().closed.is_some()
    }

    /// Sends a request and waits for its response frame (starting with the
    /// correlation id). `frame` is a whole request frame, begun in a
    /// buffer as [`frame::start`] makes one: the size placeholder, then the
    /// request header (whose correlation id this connection fills in) and
    /// body.
    pub async fn round_trip(
        &self,
        api: &'static str,
        frame: RequestFrame,
    ) -> Result<Bytes, TransportError> {
        let pending = self.submit(frame).await?;
        self.wait(api, pending).await
    }

    /// [`Connection::round_trip`], waiting `timeout` for the response
    /// instead of `request_timeout_ms`: for a request the broker may
    /// rightly hold longer (a JoinGroup, up to the group's rebalance
    /// timeout). Past it, the request fails and the connection closes, as
    /// one past `request_timeout_ms` does.
    pub async fn round_trip_within(
        &self,
        api: &'static str,
        frame: RequestFrame,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        let pending = self.submit(frame).await?;
        self.wait_within(api, pending, timeout).await
    }

    /// The first half of [`Connection::round_trip`]: takes an in-flight
    /// slot and queues the request. Apart from the wait so that a caller
    /// can hold a lock only while its request joins the queue (the
    /// re-authentication gate of KIP-368, which must see every earlier
    /// request queued before its handshake).
    pub(crate) async fn submit(&self, frame: RequestFrame) -> Result<Pending, TransportError> {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| self.closed_error())?;
        let (responder, response) = oneshot::channel();
        self.enqueue(frame, Some(responder), None)?;
        Ok(Pending {
            _permit: permit,
            response,
        })
    }

    /// The second half of [`Connection::round_trip`]: waits for the
    /// response of a submitted request, within `request_timeout_ms`.
    pub(crate) async fn wait(
        &self,
        api: &'static str,
        pending: Pending,
    ) -> Result<Bytes, TransportError> {
        self.wait_within(api, pending, self.config.request_timeout)
            .await
    }

    /// [`Connection::wait`] with a deadline of the request's own, for a
    /// request the broker may rightly hold past `request_timeout_ms` (a
    /// JoinGroup, held up to the group's rebalance timeout).
    pub(crate) async fn wait_within(
        &self,
        api: &'static str,
        pending: Pending,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        match tokio::time::timeout(timeout, pending.response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                let error = TransportError::Timeout {
                    broker: self.shared.broker.clone(),
                    api: api.to_string(),
                    after: timeout,
                };
                warn!(broker = %self.shared.broker, api, "request timed out; closing the connection");
                self.shared.close(&TransportError::Closed {
                    broker: self.shared.broker.clone(),
                    reason: format!("an earlier {api} request timed out"),
                });
                Err(error)
            }
        }
    }

    /// Closes the connection: waiting and later requests fail with `error`.
    pub(crate) fn close(&self, error: &TransportError) {
        self.shared.close(error);
    }

    /// Sends a request that gets no response (a Produce with `acks=0`);
    /// returns once it is written to the socket.
    pub async fn send_one_way(&self, frame: RequestFrame) -> Result<(), TransportError> {
        let (written, done) = oneshot::channel();
        self.enqueue(frame, None, Some(written))?;
        done.await.map_err(|_| self.closed_error())?
    }

    /// Gives `frame` the next correlation id, registers who waits for the
    /// response (if anyone), and queues it for the writer task.
    fn enqueue(
        &self,
        mut frame: RequestFrame,
        responder: Option<Responder>,
        written: Option<oneshot::Sender<Result<(), TransportError>>>,
    ) -> Result<(), TransportError> {
        {
            let mut state = self.shared.state();
            if let Some(error) = &state.closed {
                return Err(error.clone());
            }
            let id = state.next_correlation_id;
            state.next_correlation_id = id.wrapping_add(1) & i32::MAX;
            if let Some(responder) = responder {
                state.waiting.insert(id, responder);
            }
            frame.set_correlation_id(id);
        }
        frame.finish();
        self.outgoing
            .send(Outgoing { frame, written })
            .map_err(|_| self.closed_error())
    }

    fn closed_error(&self) -> TransportError {
        self.shared
            .state()
            .closed
            .clone()
            .unwrap_or_else(|| TransportError::Closed {
                broker: self.shared.broker.clone(),
                reason: "the connection's tasks ended".to_string(),
            })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close(&TransportError::Closed {
            broker: self.shared.broker.clone(),
            reason: "the connection was dropped by this client".to_string(),
        });
    }
}

async fn write_loop<S: AsyncWrite>(
    shared: Arc<Shared>,
    socket: WriteHalf<S>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
) {
    // A socket that takes vectored writes (TCP) gets every frame queued, the
    // record sets they refer to included, in one write; another (a stream
    // that cannot) gets them copied through the buffer.
    let vectored = socket.is_write_vectored();
    let mut writer = BufWriter::with_capacity(64 * 1024, socket);
    while let Some(first) = queue.recv().await {
        // Write everything already queued at once: pipelined requests
        // leave in as few segments as the socket allows.
        let mut batch = vec![first];
        while let Ok(next) = queue.try_recv() {
            batch.push(next);
        }
        let result = if vectored {
            write_vectored(writer.get_mut(), &mut batch).await
        } else {
            write_copied(&mut writer, &mut batch).await
        };
        match result {
            Ok(()) => {
                for Outgoing { frame, written } in batch {
                    if let Some(written) = written {
                        let _ = written.send(Ok(()));
                    }
                    shared.frames.recycle(frame.into_buffer());
                }
            }
            Err(e) => {
                let error = TransportError::io(&shared.broker, &e);
                for outgoing in batch {
                    if let Some(written) = outgoing.written {
                        let _ = written.send(Err(error.clone()));
                    }
                }
                shared.close(&error);
                return;
            }
        }
    }
}

/// The most segments one vectored write is given (Linux's `IOV_MAX`).
const MAX_SEGMENTS: usize = 1024;

/// Writes `batch`'s frames in as few writes as the socket takes, letting go
/// of each frame's record sets once it is written whole: its answer can
/// come back while later frames are still being written, and the producer
/// reuses a batch's buffer only when nothing else holds it.
async fn write_vectored<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &mut [Outgoing],
) -> std::io::Result<()> {
    // The first frame not yet written whole, and how much of it is.
    let (mut next, mut into) = (0, 0);
    while next < batch.len() {
        let written = {
            let mut segments: Vec<IoSlice<'_>> = batch[next..]
                .iter()
                .flat_map(|o| o.frame.segments())
                .take(MAX_SEGMENTS)
                .collect();
            let mut remaining = &mut segments[..];
            IoSlice::advance_slices(&mut remaining, into);
            writer.write_vectored(remaining).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        into += written;
        while let Some(outgoing) = batch.get_mut(next)
            && into >= outgoing.frame.len()
        {
            into -= outgoing.frame.len();
            outgoing.frame.let_go_of_records();
            next += 1;
        }
    }
    Ok(())
}

async fn write_copied<W: AsyncWrite + Unpin>(
    writer: &mut BufWriter<W>,
    batch: &mut [Outgoing],
) -> std::io::Result<()> {
    for outgoing in batch {
        for segment in outgoing.frame.segments() {
            writer.write_all(&segment).await?;
        }
        // Copied on: see `write_vectored`.
        outgoing.frame.let_go_of_records();
    }
    writer.flush().await
}

async fn read_loop<S: AsyncRead>(
    shared: Arc<Shared>,
    mut socket: ReadHalf<S>,
    max_frame: usize,
    mut low_water: Option<LowWater>,
) {
    let mut buffers = frame::ReadBuffers::default();
    loop {
        let read = frame::read(
            &mut socket,
            &shared.broker,
            max_frame,
            &mut buffers,
            low_water.as_mut(),
        );
        let error = match read.await {
            Ok(Some(body)) => match route(&shared, body) {
                Ok(()) => continue,
                Err(error) => error,
            },
            Ok(None) => TransportError::Closed {
                broker: shared.broker.clone(),
                reason: "the broker closed the connection".to_string(),
            },
            Err(error) => error,
        };
        if matches!(
            error,
            TransportError::Protocol { .. } | TransportError::FrameTooLarge { .. }
        ) {
            warn!(broker = %shared.broker, %error, "closing the connection");
        }
        shared.close(&error);
        return;
    }
}

fn route(shared: &Shared, body: Bytes) -> Result<(), TransportError> {
    let Some(id) = body
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return Err(TransportError::Protocol {
            broker: shared.broker.clone(),
            reason: format!("a {}-byte response frame has no correlation id", body.len()),
        });
    };
    let responder = shared.state().waiting.remove(&id);
    match responder {
        Some(responder) => {
            let _ = responder.send(Ok(body));
            Ok(())
        }
        None => Err(TransportError::Protocol {
            broker: shared.broker.clone(),
            reason: format!(
                "a response carries correlation id {id}, which no request waiting here has"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use ferrokafka_protocol::{RecordSet, Sink as _};

    use super::*;

    /// A socket taking at most `chunk` bytes per write.
    struct Trickle {
        chunk: usize,
        taken: Vec<u8>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.chunk);
            self.taken.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.chunk - n);
                self.taken.extend_from_slice(&buf[..take]);
                n += take;
                if n == self.chunk {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn outgoing(header: u8, records: &Bytes) -> Outgoing {
        let mut frame = RequestFrame::new(frame::start(16));
        frame.put_slice(&[header; 8]);
        frame
            .put_records(&RecordSet::from(records.clone()), false)
            .unwrap();
        Outgoing {
            frame,
            written: None,
        }
    }

    /// Written in pieces that straddle frames, every byte arrives in order,
    /// and each frame's record sets are let go as soon as it is written,
    /// while its batch of frames is still held.
    #[tokio::test]
    async fn frames_written_in_pieces_let_go_of_their_records_as_they_go() {
        let first = Bytes::from(vec![1u8; 5000]);
        let second = Bytes::from(vec![2u8; 7000]);
        let mut batch = vec![outgoing(9, &first), outgoing(8, &second)];
        let expected: Vec<u8> = batch
            .iter()
            .flat_map(|o| o.frame.segments())
            .flat_map(|segment| segment.to_vec())
            .collect();
        let mut socket = Trickle {
            chunk: 1500,
            taken: Vec::new(),
        };
        write_vectored(&mut socket, &mut batch).await.unwrap();
        assert_eq!(socket.taken, expected);
        assert!(
            first.is_unique() && second.is_unique(),
            "no frame holds them"
        );
        // The batch still holds the frames (their buffers go back to the
        // connection), which now measure only what they keep.
        let kept: usize = batch.iter().map(|o| o.frame.len()).sum();
        assert_eq!(kept, expected.len() - first.len() - second.len());
    }
}
