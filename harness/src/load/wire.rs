//! One RPC of the load in HTTP/2 terms: the request's header fields and
//! message, prepared once per load (a worker's header block is encoded once
//! and sent again while the encoder's table stays as it is), and the answer
//! checked as its frames arrive: HTTP status, the echo, each message decoded
//! and its size checked, grpc-status in the trailers. A generated tonic
//! client would decode into owned messages, box every body and future and
//! pass each call through a tower stack; none of that is needed to check a
//! load's answers, and on two cores every cycle the client spends is one the
//! server under test does not get.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use prost::Message;

use conformance::proto::ECHO_INITIAL;
use conformance::proto::grpc_testing::{SimpleResponse, StreamingOutputCallResponse};

use super::Call;
use super::http2::frame::{code, code_name};
use super::http2::hpack::{Encoder, Field};
use super::message::{Compressed, MessageReader, prefixed};
use crate::drivers::{brief, output_request, unary_request};

pub(crate) const GRPC_STATUS: &str = "grpc-status";

/// Why one RPC of the load did not succeed.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server refused the stream before processing it (RST_STREAM
    /// REFUSED_STREAM, or a GOAWAY that left it out): nothing happened,
    /// the RPC may be sent again.
    Refused,
    /// The RPC failed or answered wrongly.
    Rpc(String),
}

/// What every RPC of one load sends and expects.
#[derive(Debug, Clone)]
pub(super) struct Wire {
    /// The request's header fields but the echo.
    fields: Vec<Field>,
    /// The request message with its prefix, shared by every RPC.
    message: Bytes,
    expect: Expect,
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
        let (scheme, authority) = origin(target)?;
        let field = |name: &'static str, value: String| {
            (Bytes::from_static(name.as_bytes()), Bytes::from(value))
        };
        Ok(Self {
            fields: vec![
                field(":method", "POST".to_owned()),
                field(":scheme", scheme.to_owned()),
                field(":path", path.to_owned()),
                field(":authority", authority.to_string()),
                field("content-type", "application/grpc".to_owned()),
                field("te", "trailers".to_owned()),
            ],
            message: prefixed(&body),
            expect,
        })
    }

    /// The method's name, for spans and failures.
    pub(super) fn label(&self) -> &'static str {
        match self.expect {
            Expect::Unary { .. } => "UnaryCall",
            Expect::Stream { .. } => "StreamingOutputCall",
        }
    }

    pub(super) fn message(&self) -> Bytes {
        self.message.clone()
    }

    /// The request head of a worker whose RPCs carry `tag` as their echo.
    pub(super) fn head(&self, tag: Option<&Bytes>) -> RequestHead {
        let mut fields = self.fields.clone();
        if let Some(tag) = tag {
            fields.push((Bytes::from_static(ECHO_INITIAL.as_bytes()), tag.clone()));
        }
        RequestHead {
            fields,
            block: Vec::new(),
            valid_in: None,
        }
    }

    /// The checker of one RPC's answer.
    pub(super) fn answer(&self, tag: Option<Bytes>) -> Answer {
        Answer {
            expect: self.expect,
            tag,
            messages: MessageReader::default(),
            seen: 0,
            head_seen: false,
            echoed: Ok(()),
        }
    }
}

/// A worker's request headers and their encoded block.
#[derive(Debug)]
pub(super) struct RequestHead {
    fields: Vec<Field>,
    block: Vec<u8>,
    /// The encoder generation the block stays valid in: one that added
    /// nothing to the table (a block that adds entries must not be sent
    /// twice).
    valid_in: Option<u64>,
}

impl RequestHead {
    /// The header block for the next request.
    pub(super) fn block(&mut self, encoder: &mut Encoder) -> &[u8] {
        let generation = encoder.generation();
        if self.valid_in != Some(generation) {
            self.block.clear();
            encoder.encode(&self.fields, &mut self.block);
            self.valid_in = (encoder.generation() == generation).then_some(generation);
        }
        &self.block
    }
}

/// Where an RPC's answer stands.
#[derive(Debug)]
pub(super) enum Progress {
    Open,
    Done(Result<(), Failure>),
}

/// One RPC's answer, checked frame by frame.
#[derive(Debug)]
pub(super) struct Answer {
    expect: Expect,
    tag: Option<Bytes>,
    messages: MessageReader,
    seen: usize,
    head_seen: bool,
    /// The echo check, reported after the status so that a failed RPC's
    /// status is what it is named by.
    echoed: Result<(), String>,
}

impl Answer {
    /// Whether a whole message arrived.
    pub(super) fn has_message(&self) -> bool {
        self.seen > 0
    }

    /// A header block: the response's head, or its trailers (`end`).
    pub(super) fn headers(&mut self, fields: &[Field], end: bool) -> Progress {
        if self.head_seen {
            if !end {
                return failed("a second header block that did not end the response".to_owned());
            }
            return Progress::Done(self.trailers(fields));
        }
        match find(fields, ":status") {
            Some(status) if &status[..] == b"200" => {}
            // Informational (1xx): the real head follows.
            Some(status) if status.first() == Some(&b'1') && !end => return Progress::Open,
            Some(status) => {
                return failed(format!("HTTP status {}", String::from_utf8_lossy(status)));
            }
            None => return failed("a response without :status".to_owned()),
        }
        self.head_seen = true;
        if end {
            // Trailers-only: the status came with the head.
            return Progress::Done(match grpc_status_of(fields) {
                Ok(()) => Err(Failure::Rpc(
                    "the response ended with its headers, before any message".to_owned(),
                )),
                Err(failure) => Err(failure),
            });
        }
        self.echoed = self.check_echo(fields);
        Progress::Open
    }

    fn trailers(&mut self, fields: &[Field]) -> Result<(), Failure> {
        grpc_status_of(fields)?;
        std::mem::replace(&mut self.echoed, Ok(())).map_err(Failure::Rpc)?;
        self.finish()
    }

    /// Data of the response body.
    pub(super) fn data(&mut self, data: Bytes, end: bool) -> Progress {
        if !self.head_seen {
            return failed("data before the response's headers".to_owned());
        }
        self.messages.push(data);
        loop {
            match self.messages.next_message() {
                Ok(Some(message)) => {
                    if let Err(failure) = self.check(message) {
                        return Progress::Done(Err(failure));
                    }
                }
                Ok(None) => break,
                Err(Compressed) => {
                    return failed(
                        "a compressed response, which the load did not ask for".to_owned(),
                    );
                }
            }
        }
        if end {
            return failed("the response ended without trailers".to_owned());
        }
        Progress::Open
    }

    /// The stream was reset with `code`.
    pub(super) fn reset(code: u32) -> Failure {
        if code == code::REFUSED_STREAM {
            Failure::Refused
        } else {
            Failure::Rpc(format!(
                "the stream failed: the server reset it ({})",
                code_name(code)
            ))
        }
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

    fn finish(&self) -> Result<(), Failure> {
        if self.messages.leftover() > 0 {
            return Err(Failure::Rpc(format!(
                "the response ended inside a message ({} bytes left over)",
                self.messages.leftover()
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

    fn check_echo(&self, fields: &[Field]) -> Result<(), String> {
        let Some(tag) = &self.tag else {
            return Ok(());
        };
        match find(fields, ECHO_INITIAL) {
            Some(echoed) if echoed == tag => Ok(()),
            Some(echoed) => Err(format!(
                "the response echoed {:?}, another RPC's metadata, instead of its own {:?}",
                String::from_utf8_lossy(echoed),
                String::from_utf8_lossy(tag)
            )),
            None => Err(format!("the response did not echo {ECHO_INITIAL}")),
        }
    }
}

/// The scheme and authority of the target at `target`
/// (`scheme://authority`, http when it names no scheme).
pub(crate) fn origin(target: &http::Uri) -> Result<(&str, &http::uri::Authority), String> {
    let authority = target
        .authority()
        .ok_or_else(|| format!("the target {target} names no host"))?;
    Ok((target.scheme_str().unwrap_or("http"), authority))
}

fn failed(reason: String) -> Progress {
    Progress::Done(Err(Failure::Rpc(reason)))
}

fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a Bytes> {
    fields
        .iter()
        .find(|(field, _)| &field[..] == name.as_bytes())
        .map(|(_, value)| value)
}

/// OK when the fields carry `grpc-status: 0`; otherwise the status and its
/// message in words, read as tonic reads them (only then is a header map
/// built).
fn grpc_status_of(fields: &[Field]) -> Result<(), Failure> {
    if find(fields, GRPC_STATUS).is_some_and(|code| &code[..] == b"0") {
        return Ok(());
    }
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    grpc_status(&headers).map_err(Failure::Rpc)
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

    fn field(name: &str, value: &str) -> Field {
        (Bytes::from(name.to_owned()), Bytes::from(value.to_owned()))
    }

    fn streaming(messages: usize) -> Wire {
        let target: http::Uri = "http://127.0.0.1:1".parse().expect("a URI");
        Wire::new(&target, Call::ServerStream { messages, size: 32 }).expect("a wire")
    }

    fn head(answer: &mut Answer) {
        let head = [field(":status", "200"), field(ECHO_INITIAL, "w0")];
        assert!(matches!(answer.headers(&head, false), Progress::Open));
    }

    fn done(progress: Progress) -> Result<(), String> {
        match progress {
            Progress::Done(Ok(())) => Ok(()),
            Progress::Done(Err(Failure::Rpc(reason))) => Err(reason),
            other => panic!("a finished answer expected: {other:?}"),
        }
    }

    #[test]
    fn messages_split_across_frames_are_read_whole() {
        let all = stream_of(&[32, 32, 32]);
        // Every split point, including inside a prefix.
        for cut in 0..=all.len() {
            let mut answer = streaming(3).answer(Some(Bytes::from_static(b"w0")));
            head(&mut answer);
            assert!(matches!(
                answer.data(all.slice(..cut), false),
                Progress::Open
            ));
            assert!(matches!(
                answer.data(all.slice(cut..), false),
                Progress::Open
            ));
            let trailers = [field(GRPC_STATUS, "0")];
            assert_eq!(
                done(answer.headers(&trailers, true)),
                Ok(()),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn wrong_answers_are_named() {
        let ok = [field(GRPC_STATUS, "0")];
        let mut short = streaming(3).answer(None);
        head(&mut short);
        assert!(matches!(
            short.data(stream_of(&[32, 32]), false),
            Progress::Open
        ));
        assert_eq!(
            done(short.headers(&ok, true)),
            Err("2 messages instead of 3".to_owned())
        );

        let mut wrong = streaming(3).answer(None);
        head(&mut wrong);
        assert_eq!(
            done(wrong.data(stream_of(&[32, 31]), false)),
            Err("message 2 carried 31 bytes instead of 32".to_owned())
        );

        let mut cut = streaming(1).answer(None);
        head(&mut cut);
        let all = stream_of(&[32]);
        assert!(matches!(
            cut.data(all.slice(..all.len() - 1), false),
            Progress::Open
        ));
        assert!(
            done(cut.headers(&ok, true)).is_err_and(|reason| reason.contains("inside a message"))
        );

        let mut leaked = streaming(1).answer(Some(Bytes::from_static(b"w1")));
        head(&mut leaked);
        assert!(matches!(
            leaked.data(stream_of(&[32]), false),
            Progress::Open
        ));
        assert_eq!(
            done(leaked.headers(&ok, true)),
            Err(
                r#"the response echoed "w0", another RPC's metadata, instead of its own "w1""#
                    .to_owned()
            )
        );

        let mut failing = streaming(1).answer(None);
        head(&mut failing);
        let status = [
            field(GRPC_STATUS, "14"),
            field("grpc-message", "going%20away"),
        ];
        assert!(
            done(failing.headers(&status, true)).is_err_and(|reason| reason.contains("going away"))
        );

        let mut not_found = streaming(1).answer(None);
        assert_eq!(
            done(not_found.headers(&[field(":status", "404")], false)),
            Err("HTTP status 404".to_owned())
        );
        assert!(matches!(
            Answer::reset(code::REFUSED_STREAM),
            Failure::Refused
        ));
    }

    #[test]
    fn a_head_is_encoded_once_while_the_table_stays_the_same() {
        let wire = streaming(1);
        let mut encoder = Encoder::default();
        let mut head = wire.head(Some(&Bytes::from_static(b"w3")));
        let first = head.block(&mut encoder).to_vec();
        assert!(
            head.valid_in.is_none(),
            "the first block added to the table"
        );
        let second = head.block(&mut encoder).to_vec();
        assert!(second.len() < first.len() && head.valid_in.is_some());
        assert_eq!(head.block(&mut encoder), &second[..]);
    }
}
