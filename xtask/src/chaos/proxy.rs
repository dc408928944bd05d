//! A fault-injecting TCP proxy in front of each broker: the brokers
//! advertise the proxies' ports, so every client connection (and the
//! replication between brokers, which uses the same listener) goes through
//! one, and the campaign can cut a broker off, slow its traffic, or let its
//! connections go silent, then heal it; and an [`EndTxnTrap`] holds one
//! EndTxn request past the client's request timeout and delivers it late.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// The API key of EndTxn.
const END_TXN: i16 = 26;
/// A request frame longer than this means the proxy lost the framing (it
/// then forwards the rest of the connection as it comes).
const MAX_FRAME: usize = 256 << 20;

/// The late-EndTxn trap, shared by every proxy of a cluster: once armed,
/// the next EndTxn request any client sends is held for the armed delay
/// (past the client's request timeout, so the client gives the connection
/// up and retries on another), then delivered to the coordinator anyway:
/// a commit or abort marker that arrives after the client moved on, the
/// case where a client that reuses the epoch lets an old transaction's
/// EndTxn end the next one.
#[derive(Debug)]
pub struct EndTxnTrap {
    armed: Mutex<Option<(Duration, String)>>,
    held: watch::Sender<u64>,
    answered: watch::Sender<u64>,
}

impl Default for EndTxnTrap {
    fn default() -> Self {
        EndTxnTrap {
            armed: Mutex::new(None),
            held: watch::channel(0).0,
            answered: watch::channel(0).0,
        }
    }
}

impl EndTxnTrap {
    /// Holds the next EndTxn request of the client named `client_id` (the
    /// request header's) for `delay`; other clients' pass.
    pub fn arm(&self, delay: Duration, client_id: &str) {
        *self
            .armed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((delay, client_id.to_string()));
    }

    /// Lets EndTxn requests pass again, if none was caught.
    pub fn disarm(&self) {
        *self
            .armed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The delay, when `frame` (a whole request) is the armed client's EndTxn.
    fn take(&self, frame: &[u8]) -> Option<Duration> {
        let api_key = frame.get(4..6)?;
        if i16::from_be_bytes([api_key[0], api_key[1]]) != END_TXN {
            return None;
        }
        // Request header v1 and v2 both have the client id, a nullable
        // string, after the correlation id.
        let length = frame.get(12..14)?;
        let length = usize::try_from(i16::from_be_bytes([length[0], length[1]])).ok()?;
        let client_id = frame.get(14..14 + length)?;
        let mut armed = self
            .armed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*armed {
            Some((_, id)) if id.as_bytes() == client_id => armed.take().map(|(delay, _)| delay),
            _ => None,
        }
    }

    /// EndTxn requests held so far.
    pub fn held(&self) -> u64 {
        *self.held.borrow()
    }

    /// Held EndTxn requests the broker has answered (once delivered late),
    /// as a count that can be awaited.
    pub fn answered(&self) -> watch::Receiver<u64> {
        self.answered.subscribe()
    }
}

/// One connection's late EndTxn: written to the broker, and answered.
#[derive(Debug, Default)]
struct Late {
    written: AtomicBool,
    answered: AtomicBool,
    answer: Notify,
}

/// What a proxy does with the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards everything.
    Pass,
    /// Closes every connection and refuses new ones: the broker is cut off.
    Cut,
    /// Keeps connections open but forwards nothing, as a black hole does.
    Blackhole,
    /// Forwards each chunk after this delay.
    Delay(Duration),
}

/// A running proxy; it ends with the runtime it was started on.
#[derive(Debug)]
pub struct Proxy {
    /// The port clients connect to (and the broker advertises).
    pub port: u16,
    mode: watch::Sender<Mode>,
    trap: Arc<EndTxnTrap>,
}

impl Proxy {
    /// Binds a free port now (so the brokers can be told it before they
    /// start); forwards to the broker once [`Proxy::forward_to`] says where.
    pub async fn bind() -> anyhow::Result<(Proxy, TcpListener)> {
        Self::bind_port(0).await
    }

    async fn bind_port(port: u16) -> anyhow::Result<(Proxy, TcpListener)> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let (mode, _) = watch::channel(Mode::Pass);
        let trap = Arc::default();
        Ok((Proxy { port, mode, trap }, listener))
    }

    /// One proxy per node of a cluster of `nodes` (at most 9), node `n` on
    /// port `<prefix>n`, and the broker property that makes each node
    /// advertise its own: the harness writes `{node_id}` in a property as
    /// each node's id, so ports that end in the node id need no other
    /// per-node setting.
    pub async fn bind_per_node(
        nodes: usize,
    ) -> anyhow::Result<(Vec<(Proxy, TcpListener)>, (String, String))> {
        anyhow::ensure!((1..=9).contains(&nodes), "1 to 9 nodes, not {nodes}");
        for prefix in 2000u16..6500 {
            let mut bound = Vec::new();
            let trap = Arc::new(EndTxnTrap::default());
            for node in 1..=nodes as u16 {
                match Self::bind_port(prefix * 10 + node).await {
                    Ok((mut proxy, listener)) => {
                        proxy.trap = trap.clone();
                        bound.push((proxy, listener));
                    }
                    Err(_) => break,
                }
            }
            if bound.len() == nodes {
                let advertised = (
                    "advertised.listeners".to_string(),
                    format!("PLAINTEXT://127.0.0.1:{prefix}{{node_id}}"),
                );
                return Ok((bound, advertised));
            }
        }
        anyhow::bail!("no free run of {nodes} ports ending in 1..{nodes} on 127.0.0.1")
    }

    /// Starts forwarding what `listener` accepts to `upstream`.
    pub fn forward_to(&self, listener: TcpListener, upstream: SocketAddr) {
        let modes = self.mode.subscribe();
        let trap = self.trap.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *modes.borrow() == Mode::Cut {
                    continue; // dropped: refused
                }
                let modes = modes.clone();
                let trap = trap.clone();
                tokio::spawn(async move {
                    if let Ok(broker) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = broker.set_nodelay(true);
                        let (client_read, client_write) = client.into_split();
                        let (broker_read, broker_write) = broker.into_split();
                        let late = Arc::new(Late::default());
                        let requests = Requests {
                            trap: &trap,
                            late: &late,
                            pending: Vec::new(),
                            framed: true,
                        };
                        // Either direction ending ends the connection.
                        tokio::select! {
                            () = pump(client_read, broker_write, modes.clone(), Side::Requests(requests)) => {}
                            () = pump(broker_read, client_write, modes, Side::Answers(&trap, &late)) => {}
                        }
                    }
                });
            }
        });
    }

    /// The late-EndTxn trap (the same for every proxy of a cluster).
    pub fn end_txn_trap(&self) -> Arc<EndTxnTrap> {
        self.trap.clone()
    }

    /// Sets what the proxy does from now on.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Which way a pump carries the bytes, and what it watches for.
enum Side<'a> {
    /// Client to broker: requests, split into frames to catch an EndTxn.
    Requests(Requests<'a>),
    /// Broker to client: the first bytes after a late EndTxn are its answer
    /// (the client had given the connection up, so nothing else is asked
    /// on it after the EndTxn).
    Answers(&'a EndTxnTrap, &'a Late),
}

struct Requests<'a> {
    trap: &'a EndTxnTrap,
    late: &'a Late,
    /// The start of a frame not complete yet.
    pending: Vec<u8>,
    /// False once a frame's length made no sense: the rest passes as it comes.
    framed: bool,
}

impl Requests<'_> {
    async fn forward(&mut self, chunk: &[u8], to: &mut OwnedWriteHalf) -> std::io::Result<()> {
        if !self.framed {
            return to.write_all(chunk).await;
        }
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(header) = self.pending.get(start..start + 4) {
            let length = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
            let Some(length) = usize::try_from(length).ok().filter(|l| *l <= MAX_FRAME) else {
                self.framed = false;
                break;
            };
            let end = start + 4 + length;
            let Some(frame) = self.pending.get(start..end) else {
                break;
            };
            if let Some(delay) = self.trap.take(frame) {
                self.trap.held.send_modify(|n| *n += 1);
                // Held on purpose: the fault is the delay itself.
                tokio::time::sleep(delay).await;
                to.write_all(frame).await?;
                self.late.written.store(true, Ordering::SeqCst);
            } else {
                to.write_all(frame).await?;
            }
            start = end;
        }
        if self.framed {
            self.pending.drain(..start);
            Ok(())
        } else {
            let rest = std::mem::take(&mut self.pending);
            to.write_all(&rest[start..]).await
        }
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut modes: watch::Receiver<Mode>,
    mut side: Side<'_>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            changed = modes.changed() => {
                if changed.is_err() || *modes.borrow() == Mode::Cut {
                    return;
                }
                continue;
            }
        };
        let n = match read {
            Ok(n) if n > 0 => n,
            _ => {
                if let Side::Requests(requests) = &side
                    && requests.late.written.load(Ordering::SeqCst)
                {
                    // The client is gone, but the late EndTxn's answer is
                    // awaited so the broker handles it on a live connection
                    // and the trap can tell when it did.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        requests.late.answer.notified(),
                    )
                    .await;
                }
                return;
            }
        };
        if let Side::Answers(trap, late) = &side
            && late.written.load(Ordering::SeqCst)
            && !late.answered.swap(true, Ordering::SeqCst)
        {
            trap.answered.send_modify(|n| *n += 1);
            late.answer.notify_one();
        }
        loop {
            let mode = *modes.borrow_and_update();
            match mode {
                Mode::Pass => break,
                Mode::Cut => return,
                Mode::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                // Held until the mode changes: nothing passes meanwhile.
                Mode::Blackhole => {
                    if modes.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        let written = match &mut side {
            Side::Requests(requests) => requests.forward(&buffer[..n], &mut to).await,
            Side::Answers(..) => to.write_all(&buffer[..n]).await,
        };
        if written.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    use super::{Mode, Proxy};

    async fn echo_server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<[u8; 4]> {
        stream.write_all(b"ping").await?;
        let mut answer = [0u8; 4];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn passes_then_cuts_then_heals() {
        let (proxy, listener) = Proxy::bind().await.unwrap();
        proxy.forward_to(listener, echo_server().await);
        let address = format!("127.0.0.1:{}", proxy.port);
        let mut stream = TcpStream::connect(&address).await.unwrap();
        assert_eq!(&round_trip(&mut stream).await.unwrap(), b"ping");

        proxy.set(Mode::Cut);
        // The open connection is closed: the read ends (or fails).
        let mut answer = [0u8; 4];
        let _ = stream.write_all(b"ping").await;
        assert!(matches!(stream.read(&mut answer).await, Ok(0) | Err(_)));

        proxy.set(Mode::Pass);
        let mut stream = TcpStream::connect(&address).await.unwrap();
        assert_eq!(&round_trip(&mut stream).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn a_blackhole_forwards_nothing_until_healed() {
        let (proxy, listener) = Proxy::bind().await.unwrap();
        proxy.forward_to(listener, echo_server().await);
        let mut stream = TcpStream::connect(format!("127.0.0.1:{}", proxy.port))
            .await
            .unwrap();
        proxy.set(Mode::Blackhole);
        let silent =
            tokio::time::timeout(Duration::from_millis(300), round_trip(&mut stream)).await;
        assert!(silent.is_err(), "an answer came through the black hole");
        proxy.set(Mode::Pass);
        // The held bytes pass once healed: the echo of the first ping.
        let mut answer = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer))
            .await
            .expect("the held bytes pass once healed")
            .unwrap();
        assert_eq!(&answer, b"ping");
    }

    fn frame(api_key: i16, correlation_id: i32, client_id: &str) -> Vec<u8> {
        let mut body = api_key.to_be_bytes().to_vec();
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&correlation_id.to_be_bytes());
        body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
        body.extend_from_slice(client_id.as_bytes());
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    async fn echoed(stream: &mut TcpStream, sent: &[u8], within: Duration) -> bool {
        let mut echo = vec![0u8; sent.len()];
        match tokio::time::timeout(within, stream.read_exact(&mut echo)).await {
            Ok(read) => {
                read.unwrap();
                assert_eq!(echo, sent);
                true
            }
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn the_trap_holds_one_end_txn_of_its_client_then_delivers_it_and_sees_the_answer() {
        let (proxy, listener) = Proxy::bind().await.unwrap();
        proxy.forward_to(listener, echo_server().await);
        let trap = proxy.end_txn_trap();
        let mut answered = trap.answered();
        let mut stream = TcpStream::connect(format!("127.0.0.1:{}", proxy.port))
            .await
            .unwrap();
        let long = Duration::from_secs(5);
        trap.arm(Duration::from_millis(400), "me");
        // Another request passes; its frame may come in two pieces.
        let produce = frame(0, 1, "me");
        stream.write_all(&produce[..5]).await.unwrap();
        stream.write_all(&produce[5..]).await.unwrap();
        assert!(
            echoed(&mut stream, &produce, long).await,
            "a Produce passes"
        );
        // Another client's EndTxn passes.
        let other = frame(26, 2, "other");
        stream.write_all(&other).await.unwrap();
        assert!(
            echoed(&mut stream, &other, long).await,
            "another's EndTxn passes"
        );
        assert_eq!((trap.held(), *answered.borrow()), (0, 0));

        let held = frame(26, 3, "me");
        stream.write_all(&held).await.unwrap();
        assert!(
            !echoed(&mut stream, &held, Duration::from_millis(200)).await,
            "the EndTxn passed at once"
        );
        assert_eq!(trap.held(), 1);
        tokio::time::timeout(long, answered.wait_for(|n| *n == 1))
            .await
            .expect("the held EndTxn is delivered and answered")
            .unwrap();
        assert!(echoed(&mut stream, &held, long).await, "its answer passes");

        // The trap caught one: the next EndTxn passes.
        let next = frame(26, 4, "me");
        stream.write_all(&next).await.unwrap();
        assert!(
            echoed(&mut stream, &next, long).await,
            "a second EndTxn passes"
        );
        assert_eq!(trap.held(), 1);
    }
}
