//! One FullDuplexCall of `scale-streams`, spoken straight on an HTTP/2
//! stream of the channel's connection (h2's client, on a connection of
//! its own per channel): ten thousand of these are open at once, and through
//! tonic each would also hold a boxed call future, a request-body pipe
//! task, an encoder and a decoder for as long as it stays open. Here a
//! stream is its h2 handles and the bytes of a message not yet whole; its
//! answers are checked all the same (HTTP status, every message decoded and
//! its payload size checked, grpc-status OK in the trailers).

use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http::header::{CONTENT_TYPE, HeaderValue, TE};
use prost::Message;

use conformance::proto::grpc_testing::StreamingOutputCallResponse;

use crate::client::{Connector, MAX_REFUSED_ATTEMPTS, refused_backoff};
use crate::drivers::output_request;
use crate::load::message::{MessageReader, prefixed};
use crate::load::wire::{GRPC_STATUS, grpc_status, origin};

const FULL_DUPLEX_CALL: &str = "/grpc.testing.TestService/FullDuplexCall";

/// What every stream of one channel sends: the request head and the ping
/// for each reply size, encoded once.
#[derive(Clone)]
pub struct Pings {
    uri: http::Uri,
    /// The ping asking for `index + 1` bytes, with its gRPC prefix.
    by_size: std::sync::Arc<Vec<Bytes>>,
}

impl Pings {
    /// Pings asking for 1 ..= `sizes` bytes, for the target at `target`.
    pub fn new(target: &http::Uri, sizes: usize) -> Result<Self, String> {
        let by_size = (1..=sizes.max(1))
            .map(|size| {
                prefixed(&output_request(&[size], std::time::Duration::ZERO).encode_to_vec())
            })
            .collect();
        Ok(Self {
            uri: method_uri(target, FULL_DUPLEX_CALL)?,
            by_size: std::sync::Arc::new(by_size),
        })
    }

    fn ping(&self, size: usize) -> Result<Bytes, String> {
        size.checked_sub(1)
            .and_then(|index| self.by_size.get(index))
            .cloned()
            .ok_or_else(|| format!("no ping for {size} bytes"))
    }
}

/// An open FullDuplexCall whose ping was answered.
pub struct RawDuplex {
    requests: SendStream<Bytes>,
    replies: RecvStream,
    frames: MessageReader,
}

impl RawDuplex {
    /// Opens the call on `send`'s connection with its ping for `size`
    /// bytes, and waits for the pong, whose size it checks. A stream the
    /// server refused before processing it is opened again, as the
    /// channel does (`client::channel`).
    pub async fn open(
        mut send: SendRequest<Bytes>,
        pings: &Pings,
        size: usize,
    ) -> Result<Self, String> {
        let ping = pings.ping(size)?;
        let mut attempt = 1;
        let (response, requests) = loop {
            std::future::poll_fn(|cx| send.poll_ready(cx))
                .await
                .map_err(|err| failed(&err))?;
            let (response, mut requests) = send
                .send_request(grpc_request(&pings.uri), false)
                .map_err(|err| failed(&err))?;
            requests
                .send_data(ping.clone(), false)
                .map_err(|err| failed(&err))?;
            match response.await {
                Ok(response) => break (response, requests),
                Err(err)
                    if err.reason() == Some(h2::Reason::REFUSED_STREAM)
                        && attempt < MAX_REFUSED_ATTEMPTS =>
                {
                    tokio::time::sleep(refused_backoff(attempt)).await;
                    attempt += 1;
                }
                Err(err) => return Err(failed(&err)),
            }
        };
        let (head, replies) = response.into_parts();
        if head.status != http::StatusCode::OK {
            return Err(format!("the call failed: HTTP status {}", head.status));
        }
        if head.headers.contains_key(GRPC_STATUS) {
            // A trailers-only response: the call ended before any reply.
            let status = grpc_status(&head.headers)
                .err()
                .unwrap_or_else(|| "OK before any reply".to_owned());
            return Err(format!(
                "the call failed: the server ended it with {status}"
            ));
        }
        let mut stream = Self {
            requests,
            replies,
            frames: MessageReader::default(),
        };
        match stream.next_message().await? {
            Some(got) if got == size => Ok(stream),
            Some(_) => Err("a pong of the wrong size".to_owned()),
            None => Err("no pong: the stream ended early".to_owned()),
        }
    }

    /// Half-closes the call and waits for its clean end: no further reply
    /// and grpc-status OK.
    pub async fn close(mut self) -> Result<(), String> {
        self.requests
            .send_data(Bytes::new(), true)
            .map_err(|err| format!("no clean end: {}", failed(&err)))?;
        if self.next_message().await?.is_some() {
            return Err("no clean end: a reply after the client closed the stream".to_owned());
        }
        if self.frames.leftover() > 0 {
            return Err("no clean end: the stream ended inside a message".to_owned());
        }
        match self.replies.trailers().await {
            Ok(Some(trailers)) => grpc_status(&trailers).map_err(|status| {
                if trailers.contains_key(GRPC_STATUS) {
                    format!("no clean end: the server ended it with {status}")
                } else {
                    format!("no clean end: {status}")
                }
            }),
            Ok(None) => Err("no clean end: the response ended without trailers".to_owned()),
            Err(err) => Err(format!("no clean end: {}", failed(&err))),
        }
    }

    /// The payload size of the next whole reply; None at the end of the
    /// response body.
    async fn next_message(&mut self) -> Result<Option<usize>, String> {
        loop {
            let message = self
                .frames
                .next_message()
                .map_err(|_| "a compressed reply, which the stream did not ask for".to_owned())?;
            if let Some(message) = message {
                let reply = StreamingOutputCallResponse::decode(message)
                    .map_err(|err| format!("an undecodable reply: {err}"))?;
                return Ok(Some(reply.payload.map_or(0, |p| p.body.len())));
            }
            match self.replies.data().await {
                Some(Ok(chunk)) => {
                    let _ = self.replies.flow_control().release_capacity(chunk.len());
                    self.frames.push(chunk);
                }
                Some(Err(err)) => return Err(failed(&err)),
                None => return Ok(None),
            }
        }
    }
}

/// HTTP/2 flow-control windows of a channel's connection: large enough
/// that a pong never waits for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// How long connecting (TCP, TLS, HTTP/2 handshake, the settling call) may
/// take.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// One new connection of `connector`'s channel, handshaken and settled; its
/// connection task runs on the calling runtime.
pub async fn connect(connector: &Connector) -> Result<SendRequest<Bytes>, String> {
    let target = connector.uri();
    let connecting = async {
        let io = connector
            .connect()
            .await
            .map_err(|err| format!("could not connect to {target}: {err}"))?;
        let (mut send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|err| format!("the HTTP/2 handshake with {target} failed: {err}"))?;
        // Ends with the connection; its error shows in the streams it fails.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        settle(&mut send, target).await?;
        Ok(send)
    };
    tokio::time::timeout(CONNECT_LIMIT, connecting)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the connection to {target} was not ready within {CONNECT_LIMIT:?}"
            ))
        })
}

/// The EmptyCall a new connection makes before its streams: once its
/// response headers are in, the server's SETTINGS (its stream limit) are
/// known, so the first burst of streams is queued within that limit rather
/// than refused.
async fn settle(send: &mut SendRequest<Bytes>, target: &http::Uri) -> Result<(), String> {
    let uri = method_uri(target, conformance::proto::EMPTY_CALL_PATH)?;
    std::future::poll_fn(|cx| send.poll_ready(cx))
        .await
        .map_err(|err| format!("the connection failed before its streams opened: {err}"))?;
    let (response, mut body) = send
        .send_request(grpc_request(&uri), false)
        .map_err(|err| format!("the settling EmptyCall could not start: {err}"))?;
    body.send_data(
        Bytes::from_static(&conformance::proto::EMPTY_MESSAGE_FRAME),
        true,
    )
    .map_err(|err| format!("the settling EmptyCall could not be sent: {err}"))?;
    // Its answer does not matter (a server without EmptyCall answers
    // UNIMPLEMENTED): its headers carry the news that SETTINGS came first.
    response
        .await
        .map(drop)
        .map_err(|err| format!("the settling EmptyCall failed: {err}"))
}

/// The head of a gRPC call to `uri`: POST with gRPC's two headers.
fn grpc_request(uri: &http::Uri) -> http::Request<()> {
    let mut request = http::Request::new(());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    request
}

fn method_uri(target: &http::Uri, path: &str) -> Result<http::Uri, String> {
    let (scheme, authority) = origin(target)?;
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|err| format!("no URI for {path} on {target}: {err}"))
}

/// An h2 error with who produced it: the connection, or the stream.
fn failed(err: &h2::Error) -> String {
    if err.is_go_away() || err.is_io() {
        format!("the connection failed ({err})")
    } else {
        format!("the stream failed ({err})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::message::PREFIX;

    #[test]
    fn each_size_has_its_own_ping_and_no_other_exists() {
        let target: http::Uri = "http://127.0.0.1:1".parse().expect("a URI");
        let pings = Pings::new(&target, 64).expect("pings");
        let one = pings.ping(1).expect("a 1-byte ping");
        let last = pings.ping(64).expect("a 64-byte ping");
        assert_ne!(one, last);
        assert_eq!(one[0], 0, "uncompressed");
        assert_eq!(
            u32::from_be_bytes([one[1], one[2], one[3], one[4]]) as usize,
            one.len() - PREFIX
        );
        assert!(pings.ping(0).is_err());
        assert!(pings.ping(65).is_err());
    }
}
