//! `stalled-reader`: a stream whose handler has stopped reading (it is
//! blocked writing to a client that does not read) must not stall sibling
//! RPCs on the same connection: the server's connection-level receive window
//! must leave room for the other streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::{
    ResponseParameters, StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{ChannelOptions, ClientChannel};
use crate::drivers::{Ctx, Driver, DriverError, DriverResult, payload, test_client, unary_request};
use crate::timeline::SpanHandle;
use crate::verdict::Finding;

pub struct StalledReader;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Streams stalled at once (see METHOD for why 2).
    pub stalled_streams: usize,
    /// Payload of each request on a stalled stream, and of each response
    /// it asks for.
    pub payload_bytes: usize,
    /// Most requests pushed into each stalled stream.
    pub max_requests: usize,
    /// Sending counts as stalled when no request is accepted for this long.
    pub stall_ms: u64,
    /// Sibling UnaryCalls issued once the stream is stalled.
    pub siblings: usize,
    /// Request payload of each sibling (it must cross the server's
    /// connection window).
    pub sibling_payload_bytes: usize,
    /// How long each sibling may take.
    pub sibling_timeout_ms: u64,
    /// The client's HTTP/2 stream window (small: the server blocks writing).
    pub client_stream_window: u32,
    /// The client's HTTP/2 connection window (large: the client is not the
    /// bottleneck for the siblings' responses).
    pub client_connection_window: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            stalled_streams: 2,
            payload_bytes: 64 * 1024,
            max_requests: 256,
            stall_ms: 300,
            siblings: 20,
            sibling_payload_bytes: 16 * 1024,
            sibling_timeout_ms: 5_000,
            client_stream_window: 64 * 1024,
            client_connection_window: 16 * 1024 * 1024,
        }
    }
}

impl Driver for StalledReader {
    const NAME: &'static str = "stalled-reader";
    const DOC: &'static str = include_str!("stalled_reader.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let options = ChannelOptions {
            initial_stream_window: Some(params.client_stream_window),
            initial_connection_window: Some(params.client_connection_window),
            timeout: None,
        };
        let channel = ctx.channel_with(&options)?;
        let stall = Duration::from_millis(params.stall_ms);

        // The stalled streams: responses never read, requests pushed until
        // every sender blocks.
        let streams: Vec<Stalled> = (0..params.stalled_streams.max(1))
            .map(|index| Stalled::start(&ctx, &channel, index, &params))
            .collect();
        let accepted = |streams: &[Stalled]| streams.iter().map(Stalled::accepted).sum::<usize>();
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut last = (accepted(&streams), Instant::now());
        let stalled = loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = accepted(&streams);
            if streams.iter().all(|stream| stream.sender.is_finished()) {
                break false;
            }
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() >= stall {
                break true;
            }
            if Instant::now() >= give_up {
                break false;
            }
        };
        let accepted_before: Vec<usize> = streams.iter().map(Stalled::accepted).collect();
        if !stalled {
            let mut outcomes = Vec::new();
            for stream in streams {
                outcomes.push(stream.stop().await);
            }
            return match outcomes.iter().find_map(|outcome| outcome.as_ref().err()) {
                Some(index) => Err(DriverError::target(format!(
                    "a FullDuplexCall closed after {index} requests"
                ))),
                None if outcomes.iter().all(Result::is_ok)
                    && accepted_before.iter().all(|&n| n == params.max_requests) =>
                {
                    Ok(Finding::skip(format!(
                        "the server accepted all {} requests of {} bytes on each stream without stalling (it reads ahead or buffers): no stalled stream to test against",
                        params.max_requests, params.payload_bytes
                    )))
                }
                None => Err(DriverError::target(format!(
                    "the streams kept accepting requests slowly for 10 s ({accepted_before:?} accepted)"
                ))),
            };
        }

        // Siblings on the same connection.
        let sibling_timeout = Duration::from_millis(params.sibling_timeout_ms);
        let siblings: Vec<_> = (0..params.siblings)
            .map(|index| {
                let mut test = test_client(channel.handle());
                let request = unary_request(16, params.sibling_payload_bytes);
                ctx.spawn_within(
                    format!("sibling UnaryCall #{index}"),
                    sibling_timeout,
                    async move { test.unary_call(request).await },
                )
            })
            .collect();
        let mut completed = 0usize;
        let mut failures = Vec::new();
        for sibling in siblings {
            match sibling.join().await {
                Ok(_) => completed += 1,
                Err(err) => failures.push(err.to_string()),
            }
        }
        let accepted_after: Vec<usize> = streams.iter().map(Stalled::accepted).collect();
        // Still stalled: every sender is still blocked with requests unsent
        // (a server that grows its windows meanwhile, as grpc-go's BDP
        // estimation does, may have taken a few more).
        let still_stalled = streams.iter().all(|stream| !stream.sender.is_finished());
        for stream in streams {
            let _ = stream.stop().await;
        }

        let finding = if let Some(first) = failures.first() {
            Finding::fail(format!(
                "{} of {} sibling RPCs did not complete while {} streams on the same connection had stopped reading (first: {first}): the stalled streams block the connection",
                failures.len(),
                params.siblings,
                accepted_before.len()
            ))
        } else if !still_stalled {
            return Err(DriverError::target(format!(
                "inconclusive: a stalled stream sent all its requests while the siblings ran ({accepted_before:?} accepted before, {accepted_after:?} after), so it was not provably stalled"
            )));
        } else {
            Finding::pass().evidence(format!(
                "{completed} sibling UnaryCalls with {} byte requests completed while the stalled streams stayed stalled (afterwards their senders were still blocked, requests unsent)",
                params.sibling_payload_bytes
            ))
        };
        Ok(finding
            .evidence(format!(
                "the {} stalled streams accepted {accepted_before:?} requests of {} bytes before sending stopped making progress for {} ms; {accepted_after:?} afterwards",
                accepted_before.len(), params.payload_bytes, params.stall_ms
            ))
            .evidence(format!(
                "client windows: stream {} bytes, connection {} bytes",
                params.client_stream_window, params.client_connection_window
            ))
            .figure("stalled_requests_accepted", accepted_before.iter().sum::<usize>() as f64)
            .figure("siblings_completed", completed as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}

/// One stream whose responses are never read, and the task pushing
/// requests into it.
struct Stalled {
    call: tokio::task::JoinHandle<
        Result<tonic::Response<tonic::Streaming<StreamingOutputCallResponse>>, tonic::Status>,
    >,
    sender: tokio::task::JoinHandle<Result<usize, usize>>,
    progress: watch::Receiver<usize>,
    span: SpanHandle,
}

impl Stalled {
    fn start(ctx: &Ctx, channel: &ClientChannel, index: usize, params: &Params) -> Self {
        let (requests, outbound) = mpsc::channel(1);
        let mut test = test_client(channel.handle());
        let span = ctx.timeline().start(format!(
            "stalled FullDuplexCall #{index} (responses never read)"
        ));
        let call =
            tokio::spawn(async move { test.full_duplex_call(ReceiverStream::new(outbound)).await });
        let (progress, accepted) = watch::channel(0usize);
        let max_requests = params.max_requests;
        let body = params.payload_bytes;
        let size = i32::try_from(body).unwrap_or(i32::MAX);
        let sender = tokio::spawn(async move {
            for sent in 0..max_requests {
                let request = StreamingOutputCallRequest {
                    response_parameters: vec![ResponseParameters {
                        size,
                        interval_us: 0,
                        compressed: None,
                    }],
                    payload: payload(body, 0xa5),
                    ..StreamingOutputCallRequest::default()
                };
                if requests.send(request).await.is_err() {
                    return Err(sent);
                }
                let _ = progress.send(sent + 1);
            }
            Ok(max_requests)
        });
        Self {
            call,
            sender,
            progress: accepted,
            span,
        }
    }

    /// Requests the stream has accepted so far.
    fn accepted(&self) -> usize {
        *self.progress.borrow()
    }

    /// Ends the stream; returns how its sender ended (Err: the stream closed
    /// after that many requests).
    async fn stop(self) -> Result<usize, usize> {
        let finished = self.sender.is_finished();
        self.sender.abort();
        self.call.abort();
        self.span.end(!finished);
        match self.sender.await {
            Ok(outcome) => outcome,
            Err(_) => Ok(*self.progress.borrow()),
        }
    }
}
