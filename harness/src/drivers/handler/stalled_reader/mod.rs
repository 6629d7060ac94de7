//! `stalled-reader`: a stream whose handler has stopped reading (it is
//! blocked writing to a client that does not read) must not stall sibling
//! RPCs on the same connection: the server's connection-level receive window
//! must leave room for the other streams.

mod stalled;

use self::stalled::{Stalled, accepted, not_stalled, wait_stalled};
use super::common::{calibrated_siblings, spawn_owed_unary};
use crate::client::ChannelOptions;
use crate::drivers::prelude::*;

pub struct StalledReader;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Streams stalled at once (why 2: see the driver's Method).
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
        let limit = Duration::from_millis(params.sibling_timeout_ms);
        let sibling = || unary_request(16, params.sibling_payload_bytes);
        let group = calibrated_siblings(&ctx, channel.handle(), limit, sibling()).await;

        // The stalled streams: responses never read, requests pushed until
        // every sender blocks.
        let streams: Vec<Stalled> = (0..params.stalled_streams.max(1))
            .map(|index| Stalled::start(&ctx, channel.handle(), index, &params))
            .collect();
        let give_up = ctx.rpc_limit();
        let stalled = wait_stalled(&streams, stall, give_up).await;
        let accepted_before = accepted(&streams);
        if !stalled {
            return not_stalled(streams, &accepted_before, &params, give_up).await;
        }

        let siblings = (0..params.siblings)
            .map(|index| {
                let label = format!("sibling UnaryCall #{index}");
                let (channel, request) = (channel.handle(), sibling());
                spawn_owed_unary(&ctx, channel, label, limit, request, &group)
            })
            .collect();
        // Siblings without an answer for many times the one before the
        // streams stalled end the wait on that proof (the streams are shown
        // still stalled below, as for every verdict).
        let siblings = match join_unless_stalled(siblings, group.stalled()).await {
            Ok(siblings) => siblings,
            Err(proof) => {
                let mut tally = Tally::new();
                for _ in 0..params.siblings.saturating_sub(proof.owed) {
                    tally.pass();
                }
                for _ in 0..proof.owed {
                    tally.fail(format!(
                        "no answer for {} ms, although the server answered the same UnaryCall on this connection in {} ms before the streams stalled ({STALL_FACTOR}x that, at least {} ms)",
                        proof.quiet.as_millis(),
                        proof.slowest.as_millis(),
                        STALL_FLOOR.as_millis()
                    ));
                }
                tally
            }
        };
        let accepted_after = accepted(&streams);
        // Still stalled: every sender is still blocked with requests unsent
        // (a server that grows its windows meanwhile, as grpc-go's BDP
        // estimation does, may have taken a few more).
        let still_stalled = streams.iter().all(Stalled::blocked);
        for stream in streams {
            let _ = stream.stop().await;
        }

        let count = accepted_before.len();
        let finding = if !siblings.all_passed() {
            let what = format!(
                "sibling RPCs did not complete while {count} streams on the same connection had stopped reading"
            );
            Finding::fail(format!(
                "{}: the stalled streams block the connection",
                siblings.line(&what)
            ))
        } else if !still_stalled {
            return Err(DriverError::target(format!(
                "inconclusive: a stalled stream sent all its requests while the siblings ran ({accepted_before:?} accepted before, {accepted_after:?} after), so it was not provably stalled"
            )));
        } else {
            Finding::pass().evidence(format!(
                "{} sibling UnaryCalls with {} byte requests completed while the stalled streams stayed stalled (afterwards their senders were still blocked, requests unsent)",
                siblings.succeeded(),
                params.sibling_payload_bytes
            ))
        };
        let accepted_total: usize = accepted_before.iter().sum();
        Ok(finding
            .evidence(format!(
                "the {count} stalled streams accepted {accepted_before:?} requests of {} bytes before sending stopped making progress for {} ms; {accepted_after:?} afterwards",
                params.payload_bytes, params.stall_ms
            ))
            .evidence(format!(
                "client windows: stream {} bytes, connection {} bytes",
                params.client_stream_window, params.client_connection_window
            ))
            .figure("stalled_requests_accepted", accepted_total as f64)
            .figure("siblings_completed", siblings.succeeded() as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}
