//! A lean HTTP/2 client connection (RFC 9113) for the load generator. One
//! task owns it: there is no connection task beside the load, no lock, no
//! wake-up per stream. Requests go out as prepared header blocks with their
//! message, what the server sends comes back as [`Event`]s, and writes wait
//! until every frame already read is handled, so that one read's worth of
//! answers and the requests that replace them leave in one write.
//!
//! It keeps to what a gRPC client needs: flow control both ways, the
//! server's SETTINGS (stream limit, windows, frame size, header table),
//! PING, GOAWAY, RST_STREAM, padding and CONTINUATION. It refuses server
//! push in its SETTINGS and ignores priorities.

pub(crate) mod frame;
pub(crate) mod hpack;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::AsyncWrite;

use self::frame::{Head, code, code_name, flag, kind, setting};
use self::hpack::{Decoder, Encoder, Field};
use crate::client::Io;

/// What this side of the connection advertises.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE).
    pub stream_window: u32,
    /// The connection's receive window.
    pub connection_window: u32,
    /// The header table the server may use for what it sends
    /// (SETTINGS_HEADER_TABLE_SIZE).
    pub header_table: u32,
}

/// What the server sent on a stream of this side's, named by the token the
/// stream was opened with.
#[derive(Debug)]
pub(crate) enum Event {
    /// A header block (response headers or trailers); `end` when it ends
    /// the stream.
    Headers {
        token: usize,
        fields: Vec<Field>,
        end: bool,
    },
    /// Data, without padding; `end` when it ends the stream.
    Data {
        token: usize,
        data: Bytes,
        end: bool,
    },
    /// The stream was reset with `code`: by RST_STREAM, or (REFUSED_STREAM)
    /// by a GOAWAY that left it unprocessed.
    Reset { token: usize, code: u32 },
}

/// The server's limits on what this side sends.
#[derive(Debug)]
struct Peer {
    max_streams: Option<usize>,
    initial_window: i64,
    max_frame: usize,
}

#[derive(Debug)]
struct Stream {
    token: usize,
    send_window: i64,
    /// The request body not yet sent (its last frame ends the stream);
    /// None once all of it went out.
    unsent: Option<Bytes>,
    /// Bytes received and not yet given back with a WINDOW_UPDATE.
    unacked: u32,
}

/// A header block still waiting for its CONTINUATION frames.
#[derive(Debug)]
struct Partial {
    stream: u32,
    end: bool,
    block: BytesMut,
}

enum Parsed {
    Event(Event),
    /// A frame was handled without anything to report.
    Nothing,
    /// No whole frame is buffered.
    NeedMore,
}

/// Stream ids are odd numbers counting up: a multiplicative hash spreads
/// them over the whole range (the map's control bytes use the high bits).
#[derive(Default)]
struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8 | u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) struct Connection {
    io: Box<dyn Io>,
    read: BytesMut,
    write: BytesMut,
    decoder: Decoder,
    encoder: Encoder,
    config: Config,
    peer: Peer,
    /// Whether the server's preface (its first SETTINGS) arrived.
    preface_seen: bool,
    send_window: i64,
    /// Connection bytes received and not yet given back.
    unacked: u32,
    next_id: u32,
    streams: HashMap<u32, Stream, BuildHasherDefault<StreamIdHasher>>,
    /// Streams whose body waits for window, oldest first.
    blocked: VecDeque<u32>,
    /// Events one frame produced beyond the first.
    events: VecDeque<Event>,
    partial: Option<Partial>,
    /// Why no new stream may open (GOAWAY).
    closing: Option<String>,
    /// Why the connection is unusable; sticky.
    failed: Option<String>,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("streams", &self.streams.len())
            .field("closing", &self.closing)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Bytes kept free in the read buffer for the next read.
const READ_ROOM: usize = 32 * 1024;

/// The largest header block this side assembles from CONTINUATION frames:
/// a gRPC response's headers are a few hundred bytes.
const MAX_HEADER_BLOCK: usize = 256 * 1024;

impl Connection {
    /// Sends the preface and this side's SETTINGS on `io`, and waits for
    /// the server's SETTINGS (its limits hold before the first request).
    pub(crate) async fn handshake(io: Box<dyn Io>, config: Config) -> Result<Self, String> {
        let mut connection = Self {
            io,
            read: BytesMut::with_capacity(2 * READ_ROOM),
            write: BytesMut::with_capacity(READ_ROOM),
            decoder: Decoder::new(config.header_table as usize),
            encoder: Encoder::default(),
            config,
            peer: Peer {
                max_streams: None,
                initial_window: i64::from(frame::DEFAULT_WINDOW),
                max_frame: frame::DEFAULT_MAX_FRAME,
            },
            preface_seen: false,
            send_window: i64::from(frame::DEFAULT_WINDOW),
            unacked: 0,
            next_id: 1,
            streams: HashMap::default(),
            blocked: VecDeque::new(),
            events: VecDeque::new(),
            partial: None,
            closing: None,
            failed: None,
            scratch: Vec::with_capacity(256),
        };
        connection.write.put_slice(frame::PREFACE);
        frame::put_settings(
            &mut connection.write,
            &[
                (setting::ENABLE_PUSH, 0),
                (setting::INITIAL_WINDOW_SIZE, config.stream_window),
                (setting::HEADER_TABLE_SIZE, config.header_table),
            ],
        );
        if config.connection_window > frame::DEFAULT_WINDOW {
            frame::put_window_update(
                &mut connection.write,
                0,
                config.connection_window - frame::DEFAULT_WINDOW,
            );
        }
        std::future::poll_fn(|cx| connection.poll_preface(cx)).await?;
        Ok(connection)
    }

    fn poll_preface(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        while !self.preface_seen {
            match self.parse_frame() {
                Ok(Parsed::NeedMore) => {
                    if let Err(reason) = ready!(self.poll_fill(cx)) {
                        return Poll::Ready(Err(self.fail(reason)));
                    }
                }
                Ok(_) => {}
                Err(reason) => return Poll::Ready(Err(self.fail(reason))),
            }
        }
        // This side's SETTINGS and the ACK of the server's go out now.
        if let Err(reason) = self.flush_some(cx) {
            return Poll::Ready(Err(self.fail(reason)));
        }
        Poll::Ready(Ok(()))
    }

    /// The encoder of this side's header blocks.
    pub(crate) fn encoder(&mut self) -> &mut Encoder {
        &mut self.encoder
    }

    /// Whether a stream may open now: the connection is usable and below
    /// the server's stream limit.
    pub(crate) fn can_open(&self) -> bool {
        self.closed().is_none()
            && self
                .peer
                .max_streams
                .is_none_or(|max| self.streams.len() < max)
    }

    /// Why no stream will ever open again on this connection, if so.
    pub(crate) fn closed(&self) -> Option<&str> {
        // A GOAWAY explains a closed connection better than its end does.
        if let Some(reason) = self.closing.as_deref().or(self.failed.as_deref()) {
            return Some(reason);
        }
        (self.next_id > frame::MAX_STREAM_ID).then_some("the connection used up its stream ids")
    }

    /// Opens a stream with the header `block` (encoded with
    /// [`Connection::encoder`]) and `body`, which ends it; its events
    /// carry `token`. Call only when [`Connection::can_open`].
    pub(crate) fn open(&mut self, token: usize, block: &[u8], body: Bytes) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        self.scratch.clear();
        self.encoder.take_size_update(&mut self.scratch);
        if self.scratch.is_empty() {
            Self::put_headers(&mut self.write, self.peer.max_frame, id, block);
        } else {
            self.scratch.extend_from_slice(block);
            Self::put_headers(&mut self.write, self.peer.max_frame, id, &self.scratch);
        }
        self.streams.insert(
            id,
            Stream {
                token,
                send_window: self.peer.initial_window,
                unsent: Some(body),
                unacked: 0,
            },
        );
        if !self.send_body(id) {
            self.blocked.push_back(id);
        }
        id
    }

    /// Resets stream `id` with `code`; nothing more is reported of it.
    pub(crate) fn reset(&mut self, id: u32, code: u32) {
        if self.streams.remove(&id).is_some() {
            frame::put_rst_stream(&mut self.write, id, code);
        }
    }

    /// The next event. Frames that need an answer (PING, SETTINGS) are
    /// answered on the way; buffered writes go out before the connection
    /// is read again. An error is the connection's failure, for good.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event, String>> {
        if let Some(reason) = &self.failed {
            return Poll::Ready(Err(reason.clone()));
        }
        loop {
            match self.parse_frame() {
                Ok(Parsed::Event(event)) => return Poll::Ready(Ok(event)),
                Ok(Parsed::Nothing) => continue,
                Ok(Parsed::NeedMore) => {}
                Err(reason) => return Poll::Ready(Err(self.fail(reason))),
            }
            if let Err(reason) = ready!(self.poll_fill(cx)) {
                return Poll::Ready(Err(self.fail(reason)));
            }
        }
    }

    fn fail(&mut self, reason: String) -> String {
        self.failed.get_or_insert(reason).clone()
    }

    /// Writes what is buffered (as far as the socket takes it), then reads.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.flush_some(cx)?;
        if self.read.capacity() - self.read.len() < READ_ROOM / 2 {
            self.read.reserve(READ_ROOM);
        }
        let read = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut self.read
        ));
        Poll::Ready(match read {
            Ok(0) => Err("the server closed the connection".to_owned()),
            Ok(_) => Ok(()),
            Err(err) => Err(format!("reading from the connection failed: {err}")),
        })
    }

    /// Writes as much of the buffer as the socket takes now; what it does
    /// not take waits for the next call (the task is woken when it can).
    fn flush_some(&mut self, cx: &mut Context<'_>) -> Result<(), String> {
        while !self.write.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.write) {
                Poll::Ready(Ok(0)) => return Err("the connection stopped taking writes".to_owned()),
                Poll::Ready(Ok(written)) => self.write.advance(written),
                Poll::Ready(Err(err)) => {
                    return Err(format!("writing to the connection failed: {err}"));
                }
                Poll::Pending => return Ok(()),
            }
        }
        // A TLS stream holds written bytes until flushed.
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Ready(Err(err)) => Err(format!("writing to the connection failed: {err}")),
            _ => Ok(()),
        }
    }

    fn put_headers(out: &mut BytesMut, max_frame: usize, id: u32, block: &[u8]) {
        let mut chunks = block.chunks(max_frame.max(1)).peekable();
        let first = chunks.next().unwrap_or_default();
        let flags = if chunks.peek().is_none() {
            flag::END_HEADERS
        } else {
            0
        };
        frame::put_head(out, first.len(), kind::HEADERS, flags, id);
        out.put_slice(first);
        while let Some(chunk) = chunks.next() {
            let flags = if chunks.peek().is_none() {
                flag::END_HEADERS
            } else {
                0
            };
            frame::put_head(out, chunk.len(), kind::CONTINUATION, flags, id);
            out.put_slice(chunk);
        }
    }

    /// Sends what the windows allow of stream `id`'s body; true once all
    /// of it (and the end of the stream) went out.
    fn send_body(&mut self, id: u32) -> bool {
        let Some(stream) = self.streams.get_mut(&id) else {
            return true;
        };
        let Some(body) = &mut stream.unsent else {
            return true;
        };
        loop {
            let room = self.send_window.min(stream.send_window).max(0) as usize;
            let length = body.len().min(self.peer.max_frame).min(room);
            if length == 0 && !body.is_empty() {
                return false;
            }
            let chunk = body.split_to(length);
            let end = body.is_empty();
            frame::put_head(
                &mut self.write,
                length,
                kind::DATA,
                if end { flag::END_STREAM } else { 0 },
                id,
            );
            self.write.put_slice(&chunk);
            self.send_window -= length as i64;
            stream.send_window -= length as i64;
            if end {
                stream.unsent = None;
                return true;
            }
        }
    }

    fn send_blocked(&mut self) {
        for _ in 0..self.blocked.len() {
            let Some(id) = self.blocked.pop_front() else {
                break;
            };
            if !self.send_body(id) {
                self.blocked.push_back(id);
            }
        }
    }

    /// The server ended stream `id`: it is closed (a body still unsent is
    /// abandoned, and the stream reset, as the server needs no more of it).
    fn end_remote(&mut self, id: u32) {
        if let Some(stream) = self.streams.remove(&id)
            && stream.unsent.is_some()
        {
            frame::put_rst_stream(&mut self.write, id, code::CANCEL);
        }
    }

    /// Handles the next whole frame in the read buffer, if there is one.
    fn parse_frame(&mut self) -> Result<Parsed, String> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Parsed::Event(event));
        }
        if self.read.len() < frame::HEAD {
            return Ok(Parsed::NeedMore);
        }
        let head = Head::parse(&self.read);
        if !self.preface_seen && (head.kind != kind::SETTINGS || head.has(flag::ACK)) {
            return Err(
                "the server's first frame was not SETTINGS: it does not speak HTTP/2 as a server"
                    .to_owned(),
            );
        }
        if head.length > frame::DEFAULT_MAX_FRAME {
            return Err(format!(
                "the server sent a frame of {} bytes, more than the {} allowed (FRAME_SIZE_ERROR)",
                head.length,
                frame::DEFAULT_MAX_FRAME
            ));
        }
        if self.read.len() < frame::HEAD + head.length {
            self.read
                .reserve(frame::HEAD + head.length - self.read.len());
            return Ok(Parsed::NeedMore);
        }
        self.read.advance(frame::HEAD);
        let payload = self.read.split_to(head.length).freeze();
        self.preface_seen = true;
        if let Some(partial) = &self.partial
            && (head.kind != kind::CONTINUATION || head.stream != partial.stream)
        {
            return Err(
                "the server interrupted a header block with another frame (PROTOCOL_ERROR)"
                    .to_owned(),
            );
        }
        match head.kind {
            kind::DATA => self.on_data(head, payload),
            kind::HEADERS => self.on_headers(head, payload),
            kind::CONTINUATION => self.on_continuation(head, payload),
            kind::RST_STREAM => self.on_rst_stream(head, &payload),
            kind::SETTINGS => self.on_settings(head, &payload),
            kind::PING => self.on_ping(head, &payload),
            kind::GOAWAY => self.on_goaway(&payload),
            kind::WINDOW_UPDATE => self.on_window_update(head, &payload),
            kind::PUSH_PROMISE => {
                Err("the server pushed a stream, which this side's SETTINGS refused".to_owned())
            }
            // PRIORITY, and types this side does not know, are ignored.
            _ => Ok(Parsed::Nothing),
        }
    }

    /// The payload without its padding (and the pad length).
    fn unpadded(head: Head, mut payload: Bytes) -> Result<Bytes, String> {
        if !head.has(flag::PADDED) {
            return Ok(payload);
        }
        let pad = usize::from(
            *payload
                .first()
                .ok_or("a padded frame without its pad length")?,
        );
        if pad >= payload.len() {
            return Err("a frame's padding is longer than the frame (PROTOCOL_ERROR)".to_owned());
        }
        payload.truncate(payload.len() - pad);
        payload.advance(1);
        Ok(payload)
    }

    fn on_data(&mut self, head: Head, payload: Bytes) -> Result<Parsed, String> {
        if head.stream == 0 {
            return Err("DATA on stream 0 (PROTOCOL_ERROR)".to_owned());
        }
        // The whole payload counts against the windows, padding included.
        let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let data = Self::unpadded(head, payload)?;
        self.unacked += length;
        if self.unacked >= self.config.connection_window / 2 {
            frame::put_window_update(&mut self.write, 0, self.unacked);
            self.unacked = 0;
        }
        let end = head.has(flag::END_STREAM);
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            return Ok(Parsed::Nothing);
        };
        let token = stream.token;
        if end {
            self.end_remote(head.stream);
        } else {
            stream.unacked += length;
            if stream.unacked >= self.config.stream_window / 2 {
                frame::put_window_update(&mut self.write, head.stream, stream.unacked);
                stream.unacked = 0;
            }
        }
        Ok(Parsed::Event(Event::Data { token, data, end }))
    }

    fn on_headers(&mut self, head: Head, payload: Bytes) -> Result<Parsed, String> {
        if head.stream == 0 {
            return Err("HEADERS on stream 0 (PROTOCOL_ERROR)".to_owned());
        }
        let mut fragment = Self::unpadded(head, payload)?;
        if head.has(flag::PRIORITY) {
            if fragment.len() < 5 {
                return Err(
                    "a HEADERS frame too short for its priority (FRAME_SIZE_ERROR)".to_owned(),
                );
            }
            fragment.advance(5);
        }
        let end = head.has(flag::END_STREAM);
        if head.has(flag::END_HEADERS) {
            return self.headers_done(head.stream, end, fragment);
        }
        self.partial = Some(Partial {
            stream: head.stream,
            end,
            block: BytesMut::from(&fragment[..]),
        });
        Ok(Parsed::Nothing)
    }

    fn on_continuation(&mut self, head: Head, payload: Bytes) -> Result<Parsed, String> {
        let Some(partial) = &mut self.partial else {
            return Err("a CONTINUATION frame outside a header block (PROTOCOL_ERROR)".to_owned());
        };
        partial.block.extend_from_slice(&payload);
        if partial.block.len() > MAX_HEADER_BLOCK {
            return Err(format!(
                "the server sent a header block of more than {MAX_HEADER_BLOCK} bytes"
            ));
        }
        if !head.has(flag::END_HEADERS) {
            return Ok(Parsed::Nothing);
        }
        let Some(Partial { stream, end, block }) = self.partial.take() else {
            return Ok(Parsed::Nothing);
        };
        self.headers_done(stream, end, block.freeze())
    }

    fn headers_done(&mut self, id: u32, end: bool, block: Bytes) -> Result<Parsed, String> {
        // Every block is decoded, also one of a stream this side already
        // reset: the decoder's table must follow the server's encoder.
        let mut fields = Vec::with_capacity(8);
        self.decoder.decode(block, &mut fields).map_err(|err| {
            format!("a header block could not be decoded (COMPRESSION_ERROR): {err}")
        })?;
        let Some(stream) = self.streams.get(&id) else {
            return Ok(Parsed::Nothing);
        };
        let token = stream.token;
        if end {
            self.end_remote(id);
        }
        Ok(Parsed::Event(Event::Headers { token, fields, end }))
    }

    fn on_rst_stream(&mut self, head: Head, payload: &[u8]) -> Result<Parsed, String> {
        let Ok(code) = <[u8; 4]>::try_from(payload) else {
            return Err("an RST_STREAM frame not 4 bytes long (FRAME_SIZE_ERROR)".to_owned());
        };
        Ok(match self.streams.remove(&head.stream) {
            Some(stream) => Parsed::Event(Event::Reset {
                token: stream.token,
                code: u32::from_be_bytes(code),
            }),
            None => Parsed::Nothing,
        })
    }

    fn on_settings(&mut self, head: Head, payload: &[u8]) -> Result<Parsed, String> {
        if head.has(flag::ACK) {
            return Ok(Parsed::Nothing);
        }
        if !payload.len().is_multiple_of(6) {
            return Err(
                "a SETTINGS frame of a length not a multiple of 6 (FRAME_SIZE_ERROR)".to_owned(),
            );
        }
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            match id {
                setting::HEADER_TABLE_SIZE => self.encoder.peer_limit(value as usize),
                setting::MAX_CONCURRENT_STREAMS => self.peer.max_streams = Some(value as usize),
                setting::INITIAL_WINDOW_SIZE => {
                    let window = i64::from(value);
                    if window > frame::MAX_WINDOW {
                        return Err(format!(
                            "the server set an initial window of {value} (FLOW_CONTROL_ERROR)"
                        ));
                    }
                    let change = window - self.peer.initial_window;
                    self.peer.initial_window = window;
                    for stream in self.streams.values_mut() {
                        stream.send_window += change;
                    }
                }
                setting::MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME..=(1 << 24) - 1).contains(&(value as usize)) {
                        return Err(format!(
                            "the server set a maximum frame size of {value} (PROTOCOL_ERROR)"
                        ));
                    }
                    self.peer.max_frame = value as usize;
                }
                _ => {}
            }
        }
        frame::put_head(&mut self.write, 0, kind::SETTINGS, flag::ACK, 0);
        self.send_blocked();
        Ok(Parsed::Nothing)
    }

    fn on_ping(&mut self, head: Head, payload: &[u8]) -> Result<Parsed, String> {
        if payload.len() != 8 {
            return Err("a PING frame not 8 bytes long (FRAME_SIZE_ERROR)".to_owned());
        }
        if !head.has(flag::ACK) {
            frame::put_head(&mut self.write, 8, kind::PING, flag::ACK, 0);
            self.write.put_slice(payload);
        }
        Ok(Parsed::Nothing)
    }

    fn on_goaway(&mut self, payload: &[u8]) -> Result<Parsed, String> {
        if payload.len() < 8 {
            return Err("a GOAWAY frame shorter than 8 bytes (FRAME_SIZE_ERROR)".to_owned());
        }
        let last =
            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
        let error = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
        let debug = String::from_utf8_lossy(&payload[8..]);
        let debug: String = debug.chars().take(200).collect();
        self.closing = Some(if debug.is_empty() {
            format!("the server sent GOAWAY ({})", code_name(error))
        } else {
            format!("the server sent GOAWAY ({}: {debug})", code_name(error))
        });
        // Streams past the last one the server processed were not: they
        // may be sent again (on another connection).
        let mut unprocessed: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|&id| id > last)
            .collect();
        unprocessed.sort_unstable();
        for id in unprocessed {
            if let Some(stream) = self.streams.remove(&id) {
                self.events.push_back(Event::Reset {
                    token: stream.token,
                    code: code::REFUSED_STREAM,
                });
            }
        }
        Ok(Parsed::Nothing)
    }

    fn on_window_update(&mut self, head: Head, payload: &[u8]) -> Result<Parsed, String> {
        let Ok(increment) = <[u8; 4]>::try_from(payload) else {
            return Err("a WINDOW_UPDATE frame not 4 bytes long (FRAME_SIZE_ERROR)".to_owned());
        };
        let increment = i64::from(u32::from_be_bytes(increment) & 0x7fff_ffff);
        if head.stream == 0 {
            self.send_window += increment;
            if self.send_window > frame::MAX_WINDOW {
                return Err(
                    "the server overflowed the connection's window (FLOW_CONTROL_ERROR)".to_owned(),
                );
            }
        } else if let Some(stream) = self.streams.get_mut(&head.stream) {
            stream.send_window += increment;
        }
        self.send_blocked();
        Ok(Parsed::Nothing)
    }
}

#[cfg(test)]
mod tests;
