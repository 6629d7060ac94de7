//! `slow-handler`: one RPC is held open on the server while many sibling RPCs
//! on the same connection complete; afterwards the held RPC is shown to be
//! still open.

mod stream;

use super::common::{hold_running, spawn_unary};
use crate::drivers::prelude::*;

pub struct SlowHandler;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Sibling RPCs issued while the slow one is held.
    pub siblings: usize,
    /// How long the slow handler is held at most.
    pub hold_ms: u64,
    /// How long each sibling may take.
    pub sibling_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            siblings: 100,
            hold_ms: 15_000,
            sibling_timeout_ms: 5_000,
        }
    }
}

/// The slow RPC, once it is provably open.
enum Slow {
    /// A Hold UNTIL_CANCELLED observed RUNNING.
    Held(Call<conformance::proto::probe::HoldResponse>),
    /// A StreamingOutputCall whose second response is far off; the call
    /// ends when that response (or the end of the stream) arrives.
    Streaming { call: Call<()>, first_missing: bool },
}

impl Driver for SlowHandler {
    const NAME: &'static str = "slow-handler";
    const DOC: &'static str = include_str!("slow_handler.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let hold = Duration::from_millis(params.hold_ms);
        let has_probe = ctx.target().has(Capability::Probe);
        let tag = ctx.unique("slow");
        let label = "slow RPC (held open)";
        let slow = if has_probe {
            let request = hold_request(&tag, HoldMode::UntilCancelled, hold, "");
            let wait = ctx.rpc_limit();
            match hold_running(
                &ctx,
                channel.handle(),
                label,
                request,
                wait,
                "the held handler",
            )
            .await
            {
                Ok(call) => Slow::Held(call),
                Err(early) => return early,
            }
        } else {
            stream::slow_stream(&ctx, channel.handle(), label, hold).await?
        };

        let limit = Duration::from_millis(params.sibling_timeout_ms);
        let siblings = (0..params.siblings)
            .map(|index| {
                let label = format!("sibling #{index}");
                spawn_unary(&ctx, channel.handle(), label, limit, unary_request(64, 0))
            })
            .collect();
        let (siblings, _) = Tally::join(siblings).await;

        let (still_open, first_missing) = match &slow {
            Slow::Held(call) => {
                let mut control = probe_client(ctx.control()?);
                let observed = observe(&mut control, &tag, Duration::ZERO).await;
                call.abort();
                let running = observed.is_ok_and(|o| o.state() == HandlerState::Running);
                (running, false)
            }
            Slow::Streaming {
                call,
                first_missing,
            } => {
                // Still waiting for a response (the first, or the far-off
                // second): open, not ended.
                let open = !call.is_finished();
                call.abort();
                (open, *first_missing)
            }
        };

        let finding = if !siblings.all_passed() {
            Finding::fail(format!(
                "{}{}",
                siblings.line(
                    "sibling RPCs on the same connection did not complete while one handler was held open"
                ),
                if first_missing {
                    "; the held stream's own first response, due at once, did not arrive either: the server stalled while one handler waited"
                } else {
                    ""
                }
            ))
        } else if !still_open {
            Finding::fail(
                "the slow handler was no longer open after the siblings: the evidence that siblings completed while it was open is missing",
            )
        } else {
            Finding::pass().evidence(format!(
                "{} sibling RPCs on the same connection completed while the slow handler was provably still open",
                siblings.succeeded()
            ))
        };
        let opened = channel.connections_opened();
        Ok(finding
            .evidence(format!(
                "slow handler held by {}",
                if has_probe {
                    "ProbeService.Hold UNTIL_CANCELLED (Observe: RUNNING before and after the siblings)"
                } else {
                    "StreamingOutputCall with a far-off second response"
                }
            ))
            .evidence(connections(&channel))
            .figure("siblings_completed", siblings.succeeded() as f64)
            .figure("client_connections", opened as f64))
    }
}
