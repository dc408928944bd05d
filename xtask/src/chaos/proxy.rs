//! A fault-injecting TCP proxy in front of each broker: the brokers
//! advertise the proxies' ports, so every client connection (and the
//! replication between brokers, which uses the same listener) goes through
//! one, and the campaign can cut a broker off, slow its traffic, or let its
//! connections go silent, then heal it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
        Ok((Proxy { port, mode }, listener))
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
            for node in 1..=nodes as u16 {
                match Self::bind_port(prefix * 10 + node).await {
                    Ok(proxy) => bound.push(proxy),
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
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *modes.borrow() == Mode::Cut {
                    continue; // dropped: refused
                }
                let modes = modes.clone();
                tokio::spawn(async move {
                    if let Ok(broker) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = broker.set_nodelay(true);
                        let (client_read, client_write) = client.into_split();
                        let (broker_read, broker_write) = broker.into_split();
                        // Either direction ending ends the connection.
                        tokio::select! {
                            () = pump(client_read, broker_write, modes.clone()) => {}
                            () = pump(broker_read, client_write, modes) => {}
                        }
                    }
                });
            }
        });
    }

    /// Sets what the proxy does from now on.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut modes: watch::Receiver<Mode>) {
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
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
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
        if to.write_all(&buffer[..n]).await.is_err() {
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
}
