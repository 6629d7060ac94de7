//! One RPC of the load, spoken straight on an HTTP/2 stream: the request's
//! message is encoded once per load and shared by every RPC, the headers
//! are a fixed set plus the RPC's own echo tag, and the response is checked
//! as it arrives (status, echo, each message's size, the trailers' status).
//! A generated tonic client would decode into owned messages, box every
//! body and future and pass each call through a tower stack; none of that
//! is needed to check a load's answers, and on two cores every cycle the
//! client spends is one the server under test does not get.

use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, TE};
use prost::Message;

use conformance::proto::ECHO_INITIAL;
use conformance::proto::grpc_testing::{SimpleResponse, StreamingOutputCallResponse};

use super::Call;
use super::frames::{Compressed, Frames, prefixed};
use crate::drivers::{brief, output_request, unary_request};

pub(crate) const GRPC_STATUS: &str = "grpc-status";

/// Why one RPC of the load did not succeed.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server refused the stream before processing it (RST_STREAM
    /// REFUSED_STREAM): nothing happened, the RPC may be sent again.
    Refused,
    /// The connection is gone: no later RPC can succeed on it.
    Connection(String),
    /// The RPC failed or answered wrongly.
    Rpc(String),
}

/// What every RPC of one load sends and expects.
#[derive(Debug, Clone)]
pub(super) struct Wire {
    uri: http::Uri,
    /// The request message with its prefix, shared by every RPC.
    message: Bytes,
    expect: Expect,
    echo: HeaderName,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// One SimpleResponse carrying `size` payload bytes.
    Unary { size: usize },
    /// `messages` StreamingOutputCallResponses of `size` bytes each.
    Stream { messages: usize, size: usize },
}

impl Wire {
    /// The RPCs of `call` on the target at `target` (`scheme://authority`).
    pub(super) fn new(target: &http::Uri, call: Call) -> Result<Self, String> {
        let (path, body, expect) = match call {
            Call::Unary {
                request_size,
                response_size,
            } => (
                "/grpc.testing.TestService/UnaryCall",
                unary_request(response_size, request_size).encode_to_vec(),
                Expect::Unary {
                    size: response_size,
                },
            ),
            Call::ServerStream { messages, size } => (
                "/grpc.testing.TestService/StreamingOutputCall",
                output_request(&vec![size; messages], std::time::Duration::ZERO).encode_to_vec(),
                Expect::Stream { messages, size },
            ),
        };
        let uri = method_uri(target, path)?;
        Ok(Self {
            uri,
            message: prefixed(&body),
            expect,
            echo: HeaderName::from_static(ECHO_INITIAL),
        })
    }

    /// The method's name, for spans and failures.
    pub(super) fn label(&self) -> &'static str {
        match self.expect {
            Expect::Unary { .. } => "UnaryCall",
            Expect::Stream { .. } => "StreamingOutputCall",
        }
    }

    /// The request headers of one RPC: the method, gRPC's two headers and,
    /// when the load checks echoes, the RPC's own tag.
    fn request(&self, tag: Option<&HeaderValue>) -> http::Request<()> {
        let mut request = grpc_request(&self.uri);
        if let Some(tag) = tag {
            request.headers_mut().insert(self.echo.clone(), tag.clone());
        }
        request
    }

    /// Makes one RPC on `send`'s connection and checks its answer; `first`
    /// is set when its first whole message has arrived.
    pub(super) async fn call(
        &self,
        send: &mut SendRequest<Bytes>,
        tag: Option<&HeaderValue>,
        first: &mut Option<Instant>,
    ) -> Result<(), Failure> {
        let request = self.request(tag);
        std::future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(|err| connection_failure(&err))?;
        let (response, mut body) = send
            .send_request(request, false)
            .map_err(|err| stream_failure(&err))?;
        body.send_data(self.message.clone(), true)
            .map_err(|err| stream_failure(&err))?;
        let response = response.await.map_err(|err| stream_failure(&err))?;
        let (head, mut body) = response.into_parts();
        if head.status != http::StatusCode::OK {
            return Err(Failure::Rpc(format!("HTTP status {}", head.status)));
        }
        // A trailers-only response: the status came with the headers.
        if head.headers.contains_key(GRPC_STATUS) {
            return match status_of(&head.headers) {
                Ok(()) => Err(Failure::Rpc(
                    "the response ended with its headers, before any message".to_owned(),
                )),
                Err(failure) => Err(failure),
            };
        }
        let echoed = check_echo(&head.headers, tag);
        let mut reader = Messages::new(self.expect);
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|err| stream_failure(&err))?;
            // Credit the bytes back at once: the load reads everything.
            let _ = body.flow_control().release_capacity(chunk.len());
            reader.push(chunk)?;
            if first.is_none() && reader.seen > 0 {
                *first = Some(Instant::now());
            }
        }
        let trailers = body.trailers().await.map_err(|err| stream_failure(&err))?;
        match &trailers {
            Some(trailers) => status_of(trailers)?,
            None => {
                return Err(Failure::Rpc(
                    "the response ended without trailers".to_owned(),
                ));
            }
        }
        echoed?;
        reader.finish()
    }
}

/// The response's messages, checked one by one as their bytes arrive.
struct Messages {
    expect: Expect,
    frames: Frames,
    seen: usize,
}

impl Messages {
    fn new(expect: Expect) -> Self {
        Self {
            expect,
            frames: Frames::default(),
            seen: 0,
        }
    }

    fn push(&mut self, chunk: Bytes) -> Result<(), Failure> {
        self.frames.push(chunk);
        while let Some(message) = self.frames.next_message().map_err(|Compressed| {
            Failure::Rpc("a compressed response, which the load did not ask for".to_owned())
        })? {
            self.check(message)?;
        }
        Ok(())
    }

    fn check(&mut self, message: Bytes) -> Result<(), Failure> {
        self.seen += 1;
        let (size, wanted) = match self.expect {
            Expect::Unary { size } => {
                if self.seen > 1 {
                    return Err(Failure::Rpc(
                        "more than one message back from a unary call".to_owned(),
                    ));
                }
                let response = SimpleResponse::decode(message)
                    .map_err(|err| Failure::Rpc(format!("an undecodable response: {err}")))?;
                (response.payload.map_or(0, |p| p.body.len()), size)
            }
            Expect::Stream { size, .. } => {
                let response = StreamingOutputCallResponse::decode(message)
                    .map_err(|err| Failure::Rpc(format!("an undecodable response: {err}")))?;
                (response.payload.map_or(0, |p| p.body.len()), size)
            }
        };
        if size == wanted {
            Ok(())
        } else {
            Err(Failure::Rpc(format!(
                "message {} carried {size} bytes instead of {wanted}",
                self.seen
            )))
        }
    }

    fn finish(self) -> Result<(), Failure> {
        if self.frames.leftover() > 0 {
            return Err(Failure::Rpc(format!(
                "the response ended inside a message ({} bytes left over)",
                self.frames.leftover()
            )));
        }
        let wanted = match self.expect {
            Expect::Unary { .. } => 1,
            Expect::Stream { messages, .. } => messages,
        };
        if self.seen == wanted {
            Ok(())
        } else {
            Err(Failure::Rpc(format!(
                "{} messages instead of {wanted}",
                self.seen
            )))
        }
    }
}

/// The EmptyCall a new connection makes before the load starts: once its
/// response headers are in, the server's SETTINGS (its stream limit) are
/// known, so the load's first burst is queued within that limit rather than
/// refused.
pub(super) async fn settle(
    send: &mut SendRequest<Bytes>,
    target: &http::Uri,
) -> Result<(), String> {
    let uri = method_uri(target, conformance::proto::EMPTY_CALL_PATH)?;
    let request = conformance::proto::grpc_post(uri.to_string())
        .body(())
        .map_err(|err| format!("the settling EmptyCall could not be built: {err}"))?;
    std::future::poll_fn(|cx| send.poll_ready(cx))
        .await
        .map_err(|err| format!("the connection failed before the load started: {err}"))?;
    let (response, mut body) = send
        .send_request(request, false)
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
pub(crate) fn grpc_request(uri: &http::Uri) -> http::Request<()> {
    let mut request = http::Request::new(());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    request
}

pub(crate) fn method_uri(target: &http::Uri, path: &str) -> Result<http::Uri, String> {
    let scheme = target.scheme_str().unwrap_or("http");
    let authority = target
        .authority()
        .ok_or_else(|| format!("the target {target} names no host"))?;
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|err| format!("no URI for {path} on {target}: {err}"))
}

fn stream_failure(err: &h2::Error) -> Failure {
    if err.reason() == Some(h2::Reason::REFUSED_STREAM) {
        Failure::Refused
    } else if err.is_go_away() || err.is_io() {
        connection_failure(err)
    } else {
        Failure::Rpc(format!("the stream failed: {err}"))
    }
}

fn connection_failure(err: &h2::Error) -> Failure {
    Failure::Connection(format!("the load's connection failed: {err}"))
}

fn status_of(headers: &HeaderMap) -> Result<(), Failure> {
    grpc_status(headers).map_err(Failure::Rpc)
}

/// OK when `headers` carry `grpc-status: 0`; the status and its message in
/// words otherwise. Read without building a `tonic::Status` for the usual
/// OK, which would parse every gRPC header of every RPC.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Result<(), String> {
    match headers.get(GRPC_STATUS) {
        Some(code) if code.as_bytes() == b"0" => Ok(()),
        Some(_) => Err(tonic::Status::from_header_map(headers).map_or_else(
            || "an unreadable grpc-status".to_owned(),
            |status| brief(&status),
        )),
        None => Err("the response ended without a grpc-status".to_owned()),
    }
}

fn check_echo(headers: &HeaderMap, tag: Option<&HeaderValue>) -> Result<(), Failure> {
    let Some(tag) = tag else {
        return Ok(());
    };
    match headers.get(ECHO_INITIAL) {
        Some(echoed) if echoed == tag => Ok(()),
        Some(echoed) => Err(Failure::Rpc(format!(
            "the response echoed {echoed:?}, another RPC's metadata, instead of its own {tag:?}"
        ))),
        None => Err(Failure::Rpc(format!(
            "the response did not echo {ECHO_INITIAL}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use conformance::proto::grpc_testing::Payload;

    fn stream_of(sizes: &[usize]) -> Bytes {
        let mut all = BytesMut::new();
        for &size in sizes {
            let message = StreamingOutputCallResponse {
                payload: Some(Payload {
                    body: vec![7; size],
                    ..Payload::default()
                }),
            };
            all.extend_from_slice(&prefixed(&message.encode_to_vec()));
        }
        all.freeze()
    }

    #[test]
    fn messages_split_across_chunks_are_read_whole() {
        let all = stream_of(&[32, 32, 32]);
        // Every split point, including inside a prefix.
        for cut in 0..=all.len() {
            let mut reader = Messages::new(Expect::Stream {
                messages: 3,
                size: 32,
            });
            reader.push(all.slice(..cut)).expect("first part");
            reader.push(all.slice(cut..)).expect("second part");
            reader.finish().expect("three messages of 32 bytes");
        }
    }

    #[test]
    fn wrong_answers_are_named() {
        let expect = Expect::Stream {
            messages: 3,
            size: 32,
        };
        let mut short = Messages::new(expect);
        short.push(stream_of(&[32, 32])).expect("two messages");
        let Err(Failure::Rpc(reason)) = short.finish() else {
            panic!("two messages of three must fail")
        };
        assert_eq!(reason, "2 messages instead of 3");

        let mut wrong = Messages::new(expect);
        let Err(Failure::Rpc(reason)) = wrong.push(stream_of(&[32, 31])) else {
            panic!("a 31-byte message must fail")
        };
        assert_eq!(reason, "message 2 carried 31 bytes instead of 32");

        let mut cut = Messages::new(expect);
        let all = stream_of(&[32]);
        cut.push(all.slice(..all.len() - 1)).expect("a part");
        assert!(
            matches!(cut.finish(), Err(Failure::Rpc(reason)) if reason.contains("inside a message"))
        );
    }
}
