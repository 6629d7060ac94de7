//! `stalled-reader`: a stream whose handler has stopped reading (it is
//! blocked writing to a client that does not read) must not stall sibling
//! RPCs on the same connection: the server's connection-level receive window
//! must leave room for the other streams.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::grpc_testing::{ResponseParameters, StreamingOutputCallRequest};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::{
    Ctx, Driver, DriverError, DriverResult, join_rpc, payload, spawn_rpc, test_client,
    unary_request, within,
};
use crate::client::ChannelOptions;
use crate::verdict::Finding;

pub struct StalledReader;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Payload of each request on the stalled stream, and of each response
    /// it asks for.
    pub payload_bytes: usize,
    /// Most requests pushed into the stalled stream.
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
    const METHOD: &'static str = "Opens a channel whose client stream window is small (64 KiB) and connection window large (16 MiB). On it, a FullDuplexCall is sent requests carrying payload_bytes each and asking for a response of payload_bytes each, and its responses are never read: the server's handler blocks writing into the client's full stream window, stops reading its requests, and the requests pile up in the server's receive window, unread. Sending continues until no request is accepted for stall_ms (bounded by max_requests). Then the sibling UnaryCalls, each with a request payload of sibling_payload_bytes, are issued on the same channel and must all complete within sibling_timeout_ms, while the stalled stream provably stays stalled (afterwards the sender is still blocked on the same request). Unread request data counts against the server's connection-level window until the handler reads it; a server whose connection window is no larger than one stream's lets one stalled stream block every other stream's request data. A server that never stops accepting requests (max_requests reached) is reported as skipped: there is no stalled stream to test against.";
    const EVIDENCE: &'static str = "Requests the stalled stream accepted before and after the siblings, the siblings' outcomes, the client's window settings; a timeline.";
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let options = ChannelOptions {
            initial_stream_window: Some(params.client_stream_window),
            initial_connection_window: Some(params.client_connection_window),
            timeout: None,
        };
        let channel = ctx.channel_with(&options)?;
        let stall = Duration::from_millis(params.stall_ms);
        let size = i32::try_from(params.payload_bytes).unwrap_or(i32::MAX);

        // The stalled stream: responses never read, requests pushed until
        // the sender blocks.
        let (requests, outbound) = mpsc::channel(1);
        let mut test = test_client(channel.handle());
        let stalled_span = ctx.timeline().start("stalled FullDuplexCall (responses never read)");
        let call = tokio::spawn(async move { test.full_duplex_call(ReceiverStream::new(outbound)).await });
        let (progress, mut accepted_rx) = watch::channel(0usize);
        let max_requests = params.max_requests;
        let body = params.payload_bytes;
        let sender = tokio::spawn(async move {
            for index in 0..max_requests {
                let request = StreamingOutputCallRequest {
                    response_parameters: vec![ResponseParameters { size, interval_us: 0, compressed: None }],
                    payload: payload(body, 0xa5),
                    ..StreamingOutputCallRequest::default()
                };
                if requests.send(request).await.is_err() {
                    return Err(index);
                }
                let _ = progress.send(index + 1);
            }
            Ok(max_requests)
        });
        let filling = within(Duration::from_secs(10), "the stalled stream to stop accepting requests", async {
            loop {
                match within(stall, "next request", accepted_rx.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return false, // the sender ended
                    Err(_) => return true,      // no progress for `stall`
                }
            }
        })
        .await;
        let accepted = *accepted_rx.borrow();
        match filling {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                sender.abort();
                call.abort();
                return match sender.await {
                    Ok(Ok(sent)) => Ok(Finding::skip(format!(
                        "the server accepted all {sent} requests of {} bytes without stalling (it reads ahead or buffers): no stalled stream to test against"
                    , params.payload_bytes))),
                    Ok(Err(index)) => Err(DriverError::target(format!(
                        "the FullDuplexCall closed after {index} requests"
                    ))),
                    Err(_) => Err(DriverError::target(format!(
                        "the stalled stream kept accepting requests slowly for 10 s ({accepted} accepted)"
                    ))),
                };
            }
        }

        // Siblings on the same connection.
        let sibling_timeout = Duration::from_millis(params.sibling_timeout_ms);
        let siblings: Vec<_> = (0..params.siblings)
            .map(|index| {
                let mut test = test_client(channel.handle());
                let request = unary_request(16, params.sibling_payload_bytes);
                spawn_rpc(&ctx, format!("sibling UnaryCall #{index}"), sibling_timeout, async move {
                    test.unary_call(request).await
                })
            })
            .collect();
        let mut completed = 0usize;
        let mut failures = Vec::new();
        for sibling in siblings {
            match join_rpc(sibling).await {
                Ok(_) => completed += 1,
                Err(err) => failures.push(err.to_string()),
            }
        }
        let accepted_after = *accepted_rx.borrow();
        let still_stalled = !sender.is_finished() && accepted_after == accepted;
        sender.abort();
        call.abort();
        stalled_span.end(still_stalled);

        let finding = if let Some(first) = failures.first() {
            Finding::fail(format!(
                "{} of {} sibling RPCs did not complete while one stream on the same connection had stopped reading (first: {first}): the stalled stream blocks the connection",
                failures.len(),
                params.siblings
            ))
        } else if !still_stalled {
            return Err(DriverError::target(format!(
                "inconclusive: the stalled stream accepted more requests while the siblings ran ({accepted} before, {accepted_after} after), so it was not provably stalled"
            )));
        } else {
            Finding::pass().evidence(format!(
                "{completed} sibling UnaryCalls with {} byte requests completed while the stalled stream stayed stalled (its sender was still blocked afterwards)",
                params.sibling_payload_bytes
            ))
        };
        Ok(finding
            .evidence(format!(
                "the stalled stream accepted {accepted} requests of {} bytes before sending stopped making progress for {} ms; {accepted_after} afterwards",
                params.payload_bytes, params.stall_ms
            ))
            .evidence(format!(
                "client windows: stream {} bytes, connection {} bytes",
                params.client_stream_window, params.client_connection_window
            ))
            .figure("stalled_requests_accepted", accepted as f64)
            .figure("siblings_completed", completed as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}
