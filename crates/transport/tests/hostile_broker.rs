//! A connection facing a broker that misbehaves: every misbehaviour is a
//! typed error, no panic, and other connections keep working.

use std::time::Duration;

use bytes::{BufMut as _, Bytes};
use ferrokafka_transport::{Connection, ConnectionConfig, TransportError, frame};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the fake broker does with each request it reads.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers `[correlation id][payload]`, in order.
    Echo,
    /// Reads `n` requests, then answers them in reverse order.
    EchoReversedInGroupsOf(usize),
    /// Answers with these raw bytes, whatever was asked.
    Send(&'static [u8]),
    /// Answers with the correlation id plus one, then the payload.
    WrongCorrelationId,
    /// Writes half a frame, then closes.
    HalfFrameThenClose,
    /// Reads and never answers.
    Silent,
    /// Answers as `Echo` does, this long after each request.
    EchoAfter(Duration),
}

async fn fake_broker(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, behaviour));
        }
    });
    addr
}

/// A request's correlation id and payload (after api key and version).
async fn read_request(socket: &mut TcpStream) -> Option<Vec<u8>> {
    let size = socket.read_i32().await.ok()?;
    let mut body = vec![0; usize::try_from(size).ok()?];
    socket.read_exact(&mut body).await.ok()?;
    Some(body.split_off(4))
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

async fn serve(mut socket: TcpStream, behaviour: Behaviour) {
    let mut held = Vec::new();
    while let Some(request) = read_request(&mut socket).await {
        let reply = match behaviour {
            Behaviour::Echo => framed(&request),
            Behaviour::EchoReversedInGroupsOf(n) => {
                held.push(request);
                if held.len() < n {
                    continue;
                }
                let mut out = Vec::new();
                for request in held.drain(..).rev() {
                    out.extend(framed(&request));
                }
                out
            }
            Behaviour::Send(bytes) => bytes.to_vec(),
            Behaviour::WrongCorrelationId => {
                let id = i32::from_be_bytes(request[..4].try_into().unwrap()) + 1;
                let mut body = id.to_be_bytes().to_vec();
                body.extend_from_slice(&request[4..]);
                framed(&body)
            }
            Behaviour::HalfFrameThenClose => {
                let whole = framed(&request);
                let _ = socket.write_all(&whole[..whole.len() / 2 + 2]).await;
                return;
            }
            Behaviour::Silent => continue,
            Behaviour::EchoAfter(delay) => {
                tokio::time::sleep(delay).await;
                framed(&request)
            }
        };
        if socket.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        request_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    }
}

async fn ask(connection: &Connection, payload: &[u8]) -> Result<Bytes, TransportError> {
    connection.round_trip("Test", request(payload)).await
}

fn request(payload: &[u8]) -> ferrokafka_transport::RequestFrame {
    let mut frame = frame::start(8 + payload.len());
    frame.put_i16(18); // api key
    frame.put_i16(0); // api version
    frame.put_i32(0); // correlation id, set by the connection
    frame.put_slice(payload);
    ferrokafka_transport::RequestFrame::new(frame)
}

#[tokio::test]
async fn echo_round_trip_returns_the_response_frame() {
    let connection = Connection::connect(&fake_broker(Behaviour::Echo).await, config(), None)
        .await
        .unwrap();
    let response = ask(&connection, b"hello").await.unwrap();
    assert_eq!(&response[4..], b"hello");
}

type ErrorCheck = fn(&TransportError) -> bool;

#[tokio::test]
async fn garbage_is_a_typed_error_and_other_connections_keep_working() {
    let healthy = Connection::connect(&fake_broker(Behaviour::Echo).await, config(), None)
        .await
        .unwrap();
    let cases: [(&[u8], ErrorCheck); 3] = [
        // An HTTP server's answer: "HTTP" read as a size is about 1.2 GB.
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", |e| {
            matches!(e, TransportError::FrameTooLarge { .. })
        }),
        // A frame claiming 2^31-1 bytes.
        (&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0], |e| {
            matches!(
                e,
                TransportError::FrameTooLarge {
                    size: 2_147_483_647,
                    ..
                }
            )
        }),
        // A frame too short to hold a correlation id.
        (&[0, 0, 0, 2, 0, 0], |e| {
            matches!(e, TransportError::Protocol { .. })
        }),
    ];
    for (bytes, expected) in cases {
        let hostile =
            Connection::connect(&fake_broker(Behaviour::Send(bytes)).await, config(), None)
                .await
                .unwrap();
        let error = ask(&hostile, b"x").await.unwrap_err();
        assert!(expected(&error), "{bytes:?} gave {error:?}");
        assert!(hostile.is_closed());
        // A closed connection fails later requests at once, with the same error.
        assert_eq!(
            ask(&hostile, b"y").await.unwrap_err().to_string(),
            error.to_string()
        );
        assert_eq!(
            &ask(&healthy, b"still fine").await.unwrap()[4..],
            b"still fine"
        );
    }
}

#[tokio::test]
async fn an_unknown_correlation_id_closes_the_connection() {
    let connection = Connection::connect(
        &fake_broker(Behaviour::WrongCorrelationId).await,
        config(),
        None,
    )
    .await
    .unwrap();
    let error = ask(&connection, b"x").await.unwrap_err();
    assert!(
        matches!(&error, TransportError::Protocol { reason, .. } if reason.contains("correlation id")),
        "{error:?}"
    );
}

#[tokio::test]
async fn half_a_frame_then_close_is_a_closed_error() {
    let connection = Connection::connect(
        &fake_broker(Behaviour::HalfFrameThenClose).await,
        config(),
        None,
    )
    .await
    .unwrap();
    let error = ask(&connection, b"a payload long enough to cut")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::Closed { reason, .. } if reason.contains("bytes into")),
        "{error:?}"
    );
    assert!(error.is_retriable());
}

/// A request with a deadline of its own takes an answer that comes after
/// `request_timeout_ms`, where a request without one times out (and
/// closes the connection); past its own deadline, it times out too.
#[tokio::test]
async fn a_request_with_its_own_deadline_takes_a_late_answer() {
    let late = Duration::from_millis(300);
    let connect = || async {
        Connection::connect(
            &fake_broker(Behaviour::EchoAfter(late)).await,
            ConnectionConfig {
                request_timeout: Duration::from_millis(100),
                ..config()
            },
            None,
        )
        .await
        .unwrap()
    };
    let connection = connect().await;
    let answer = connection
        .round_trip_within("Test", request(b"late"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&answer[4..], b"late");
    assert!(!connection.is_closed());

    let error = ask(&connection, b"late").await.unwrap_err();
    assert!(
        matches!(&error, TransportError::Timeout { after, .. } if *after == Duration::from_millis(100)),
        "{error:?}"
    );
    assert!(connection.is_closed());

    let connection = connect().await;
    let error = connection
        .round_trip_within("Test", request(b"late"), Duration::from_millis(150))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::Timeout { after, .. } if *after == Duration::from_millis(150)),
        "{error:?}"
    );
    assert!(connection.is_closed());
}

#[tokio::test]
async fn a_broker_that_never_answers_times_out_naming_the_api() {
    let connection = Connection::connect(
        &fake_broker(Behaviour::Silent).await,
        ConnectionConfig {
            request_timeout: Duration::from_millis(200),
            ..config()
        },
        None,
    )
    .await
    .unwrap();
    let error = ask(&connection, b"x").await.unwrap_err();
    assert!(
        matches!(&error, TransportError::Timeout { api, .. } if api == "Test"),
        "{error:?}"
    );
    assert!(error.to_string().contains("request_timeout_ms"));
    assert!(connection.is_closed());
}

#[tokio::test]
async fn ten_thousand_pipelined_requests_each_get_their_own_response() {
    let connection = std::sync::Arc::new(
        Connection::connect(
            &fake_broker(Behaviour::EchoReversedInGroupsOf(100)).await,
            ConnectionConfig {
                max_in_flight: 10_000,
                ..config()
            },
            None,
        )
        .await
        .unwrap(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000u32 {
        let connection = std::sync::Arc::clone(&connection);
        tasks.spawn(async move {
            let payload = i.to_be_bytes();
            let response = ask(&connection, &payload).await.unwrap();
            // The fake answers out of order: only routing by correlation id
            // puts each payload back with the request that sent it.
            assert_eq!(&response[4..], &payload);
        });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
        done += 1;
    }
    assert_eq!(done, 10_000);
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_an_io_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = Connection::connect(&format!("127.0.0.1:{port}"), config(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::Io {
                kind: std::io::ErrorKind::ConnectionRefused,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn frame_helpers_write_the_size() {
    let mut buf = frame::start(2);
    buf.put_slice(b"ab");
    frame::finish(&mut buf);
    assert_eq!(&buf[..], &[0, 0, 0, 2, b'a', b'b']);
}
