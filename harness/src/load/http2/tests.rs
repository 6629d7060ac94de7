//! The connection against a server played by hand on an in-memory pipe:
//! each test writes the frames a server may send (padding, CONTINUATION,
//! GOAWAY, windows of zero...) and checks what the connection reports and
//! what it writes back.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::frame::{self, Head, code, flag, kind, setting};
use super::hpack::{Encoder, Field};
use super::{Config, Connection, Event};

const CONFIG: Config = Config {
    stream_window: 1 << 20,
    connection_window: 1 << 20,
    header_table: 4_096,
};

/// The server's end of the pipe.
struct Server {
    io: DuplexStream,
    buf: BytesMut,
    encoder: Encoder,
}

fn field(name: &str, value: &str) -> Field {
    (Bytes::from(name.to_owned()), Bytes::from(value.to_owned()))
}

impl Server {
    /// A connection whose server sent `settings` first, handshaken.
    async fn connect(settings: &[(u16, u32)]) -> (Connection, Server) {
        let (client, io) = tokio::io::duplex(1 << 20);
        let mut server = Server {
            io,
            buf: BytesMut::new(),
            encoder: Encoder::default(),
        };
        let mut first = BytesMut::new();
        frame::put_settings(&mut first, settings);
        server.send(&first).await;
        let connection = bounded(Connection::handshake(Box::new(client), CONFIG))
            .await
            .expect("the handshake");
        let mut preface = vec![0u8; frame::PREFACE.len()];
        server.io.read_exact(&mut preface).await.expect("preface");
        assert_eq!(preface, frame::PREFACE);
        let (head, payload) = server.frame().await;
        assert_eq!((head.kind, head.flags), (kind::SETTINGS, 0), "{payload:?}");
        (connection, server)
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("the pipe");
    }

    /// The next frame the client wrote.
    async fn frame(&mut self) -> (Head, Bytes) {
        bounded(async {
            loop {
                if self.buf.len() >= frame::HEAD {
                    let head = Head::parse(&self.buf);
                    if self.buf.len() >= frame::HEAD + head.length {
                        let mut whole = self.buf.split_to(frame::HEAD + head.length);
                        return (head, whole.split_off(frame::HEAD).freeze());
                    }
                }
                let read = self.io.read_buf(&mut self.buf).await.expect("the pipe");
                assert!(read > 0, "the client closed the pipe");
            }
        })
        .await
    }

    /// The next frame of `wanted` kind, skipping others (ACKs, updates).
    async fn frame_of(&mut self, wanted: u8) -> (Head, Bytes) {
        loop {
            let (head, payload) = self.frame().await;
            if head.kind == wanted {
                return (head, payload);
            }
        }
    }

    fn block(&mut self, fields: &[Field]) -> Vec<u8> {
        let mut block = Vec::new();
        self.encoder.encode(fields, &mut block);
        block
    }

    async fn headers(&mut self, stream: u32, fields: &[Field], flags: u8) {
        let block = self.block(fields);
        let mut out = BytesMut::new();
        frame::put_head(
            &mut out,
            block.len(),
            kind::HEADERS,
            flags | flag::END_HEADERS,
            stream,
        );
        out.put_slice(&block);
        self.send(&out).await;
    }

    async fn data(&mut self, stream: u32, data: &[u8], flags: u8) {
        let mut out = BytesMut::new();
        frame::put_head(&mut out, data.len(), kind::DATA, flags, stream);
        out.put_slice(data);
        self.send(&out).await;
    }
}

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .expect("within 5 s")
}

async fn next(connection: &mut Connection) -> Result<Event, String> {
    bounded(std::future::poll_fn(|cx| connection.poll_event(cx))).await
}

/// Lets the connection write what it buffered (nothing is due to it).
async fn flush(connection: &mut Connection) {
    let quiet = tokio::time::timeout(
        Duration::from_millis(20),
        std::future::poll_fn(|cx| connection.poll_event(cx)),
    )
    .await;
    assert!(quiet.is_err(), "no event was due: {quiet:?}");
}

fn open(connection: &mut Connection, token: usize, body: &'static [u8]) -> u32 {
    assert!(connection.can_open());
    let mut block = Vec::new();
    connection.encoder().encode(
        &[field(":method", "POST"), field(":path", "/a")],
        &mut block,
    );
    connection.open(token, &block, Bytes::from_static(body))
}

#[tokio::test]
async fn a_request_and_its_answer_with_padding_priority_and_continuation() {
    let (mut connection, mut server) = Server::connect(&[]).await;
    let id = open(&mut connection, 7, b"hello");
    flush(&mut connection).await;
    let (head, _) = server.frame_of(kind::HEADERS).await;
    assert_eq!((head.stream, head.flags), (id, flag::END_HEADERS));
    let (head, body) = server.frame_of(kind::DATA).await;
    assert_eq!((head.flags, &body[..]), (flag::END_STREAM, &b"hello"[..]));

    // Response headers: padded, with a priority, cut across a CONTINUATION.
    let block = server.block(&[field(":status", "200"), field("x-echo", "w7")]);
    let (one, two) = block.split_at(2);
    let mut out = BytesMut::new();
    frame::put_head(
        &mut out,
        1 + 5 + one.len() + 3,
        kind::HEADERS,
        flag::PADDED | flag::PRIORITY,
        id,
    );
    out.put_u8(3);
    out.put_slice(&[0, 0, 0, 0, 16]);
    out.put_slice(one);
    out.put_slice(&[0, 0, 0]);
    frame::put_head(
        &mut out,
        two.len(),
        kind::CONTINUATION,
        flag::END_HEADERS,
        id,
    );
    out.put_slice(two);
    server.send(&out).await;
    match next(&mut connection).await {
        Ok(Event::Headers {
            token: 7,
            fields,
            end: false,
        }) => {
            assert_eq!(fields, [field(":status", "200"), field("x-echo", "w7")]);
        }
        other => panic!("response headers expected: {other:?}"),
    }
    // Padded data, then trailers that end the stream.
    let mut out = BytesMut::new();
    frame::put_head(&mut out, 1 + 4 + 2, kind::DATA, flag::PADDED, id);
    out.put_u8(2);
    out.put_slice(b"pong\0\0");
    server.send(&out).await;
    match next(&mut connection).await {
        Ok(Event::Data {
            token: 7,
            data,
            end: false,
        }) => assert_eq!(&data[..], b"pong"),
        other => panic!("data expected: {other:?}"),
    }
    server
        .headers(id, &[field("grpc-status", "0")], flag::END_STREAM)
        .await;
    match next(&mut connection).await {
        Ok(Event::Headers {
            token: 7,
            fields,
            end: true,
        }) => {
            assert_eq!(fields, [field("grpc-status", "0")]);
        }
        other => panic!("trailers expected: {other:?}"),
    }
    assert!(connection.streams.is_empty(), "the stream closed");
}

#[tokio::test]
async fn the_stream_limit_holds_and_a_ping_and_settings_are_answered() {
    let (mut connection, mut server) =
        Server::connect(&[(setting::MAX_CONCURRENT_STREAMS, 1)]).await;
    let id = open(&mut connection, 0, b"x");
    assert!(!connection.can_open(), "one stream is the server's limit");
    let mut out = BytesMut::new();
    frame::put_head(&mut out, 8, kind::PING, 0, 0);
    out.put_slice(b"12345678");
    frame::put_settings(&mut out, &[(setting::MAX_CONCURRENT_STREAMS, 2)]);
    server.send(&out).await;
    flush(&mut connection).await;
    let (head, payload) = server.frame_of(kind::PING).await;
    assert_eq!((head.flags, &payload[..]), (flag::ACK, &b"12345678"[..]));
    let (head, _) = server.frame_of(kind::SETTINGS).await;
    assert_eq!(head.flags, flag::ACK);
    assert!(connection.can_open(), "the limit rose to 2");
    server
        .headers(id, &[field(":status", "200")], flag::END_STREAM)
        .await;
    assert!(matches!(
        next(&mut connection).await,
        Ok(Event::Headers { end: true, .. })
    ));
}

#[tokio::test]
async fn a_body_waits_for_window_and_goes_when_the_server_grants_it() {
    let (mut connection, mut server) = Server::connect(&[(setting::INITIAL_WINDOW_SIZE, 3)]).await;
    let id = open(&mut connection, 0, b"abcdefgh");
    flush(&mut connection).await;
    let (head, body) = server.frame_of(kind::DATA).await;
    assert_eq!(
        (head.flags, &body[..]),
        (0, &b"abc"[..]),
        "3 bytes of window"
    );
    let mut out = BytesMut::new();
    frame::put_window_update(&mut out, id, 100);
    server.send(&out).await;
    flush(&mut connection).await;
    let (head, body) = server.frame_of(kind::DATA).await;
    assert_eq!((head.flags, &body[..]), (flag::END_STREAM, &b"defgh"[..]));
}

#[tokio::test]
async fn received_data_is_given_back_to_the_server() {
    let (mut connection, mut server) = Server::connect(&[]).await;
    let id = open(&mut connection, 0, b"x");
    server.headers(id, &[field(":status", "200")], 0).await;
    assert!(matches!(
        next(&mut connection).await,
        Ok(Event::Headers { .. })
    ));
    // Past half of the connection's window (and of the stream's).
    let chunk = vec![0u8; frame::DEFAULT_MAX_FRAME];
    let frames = (CONFIG.connection_window as usize / 2).div_ceil(chunk.len());
    for _ in 0..frames {
        server.data(id, &chunk, 0).await;
        assert!(matches!(
            next(&mut connection).await,
            Ok(Event::Data { .. })
        ));
    }
    flush(&mut connection).await;
    let mut given = (0u32, 0u32);
    while given.0 == 0 || given.1 == 0 {
        let (head, payload) = server.frame_of(kind::WINDOW_UPDATE).await;
        let increment = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        if head.stream == 0 {
            given.0 += increment;
        } else {
            assert_eq!(head.stream, id);
            given.1 += increment;
        }
    }
    assert!(
        given.0 as usize >= CONFIG.connection_window as usize / 2,
        "{given:?}"
    );
}

#[tokio::test]
async fn a_reset_and_a_goaway_end_their_streams() {
    let (mut connection, mut server) = Server::connect(&[]).await;
    let one = open(&mut connection, 1, b"x");
    let two = open(&mut connection, 2, b"x");
    let three = open(&mut connection, 3, b"x");
    let mut out = BytesMut::new();
    frame::put_rst_stream(&mut out, one, code::REFUSED_STREAM);
    // The server processed streams up to `two`.
    frame::put_head(&mut out, 8 + 3, kind::GOAWAY, 0, 0);
    out.put_u32(two);
    out.put_u32(code::NO_ERROR);
    out.put_slice(b"bye");
    server.send(&out).await;
    assert!(matches!(
        next(&mut connection).await,
        Ok(Event::Reset {
            token: 1,
            code: code::REFUSED_STREAM
        })
    ));
    assert!(matches!(
        next(&mut connection).await,
        Ok(Event::Reset {
            token: 3,
            code: code::REFUSED_STREAM
        })
    ));
    assert!(!connection.can_open());
    assert_eq!(
        connection.closed(),
        Some("the server sent GOAWAY (NO_ERROR: bye)")
    );
    // The stream it processed still ends normally.
    server
        .headers(two, &[field(":status", "200")], flag::END_STREAM)
        .await;
    assert!(matches!(
        next(&mut connection).await,
        Ok(Event::Headers {
            token: 2,
            end: true,
            ..
        })
    ));
    let _ = three;
}

#[tokio::test]
async fn a_peer_that_is_not_an_http2_server_or_hangs_up_fails_the_connection() {
    let (client, mut io) = tokio::io::duplex(1 << 16);
    io.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        .await
        .expect("pipe");
    let refused = bounded(Connection::handshake(Box::new(client), CONFIG)).await;
    let reason = refused.expect_err("not HTTP/2");
    assert!(reason.contains("first frame was not SETTINGS"), "{reason}");

    let (mut connection, server) = Server::connect(&[]).await;
    drop(server);
    let first = next(&mut connection).await.expect_err("closed");
    assert!(first.contains("closed the connection"), "{first}");
    let again = next(&mut connection).await.expect_err("still closed");
    assert_eq!(first, again);
    assert!(!connection.can_open());
}

#[tokio::test]
async fn a_header_block_that_never_ends_fails_the_connection() {
    let (mut connection, mut server) = Server::connect(&[]).await;
    let id = open(&mut connection, 0, b"x");
    let chunk = vec![0u8; frame::DEFAULT_MAX_FRAME];
    let mut out = BytesMut::new();
    frame::put_head(&mut out, chunk.len(), kind::HEADERS, 0, id);
    out.put_slice(&chunk);
    for _ in 0..(super::MAX_HEADER_BLOCK / chunk.len()) {
        frame::put_head(&mut out, chunk.len(), kind::CONTINUATION, 0, id);
        out.put_slice(&chunk);
    }
    server.send(&out).await;
    let reason = next(&mut connection).await.expect_err("an endless block");
    assert!(reason.contains("header block of more than"), "{reason}");
}
