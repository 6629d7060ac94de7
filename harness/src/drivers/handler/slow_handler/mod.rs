//! `slow-handler`: one RPC is held open on the server while many sibling RPCs
//! on the same connection complete; afterwards the held RPC is shown to be
//! still open.

mod stream;

use super::common::{calibrated_siblings, hold_running, spawn_owed_unary};
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
        let limit = Duration::from_millis(params.sibling_timeout_ms);
        let group = calibrated_siblings(&ctx, channel.handle(), limit, unary_request(64, 0)).await;
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

        let siblings = (0..params.siblings)
            .map(|index| {
                let label = format!("sibling #{index}");
                let request = unary_request(64, 0);
                spawn_owed_unary(&ctx, channel.handle(), label, limit, request, &group)
            })
            .collect();
        let proof = join_unless_stalled(siblings, group.stalled()).await;

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

        let completed = match &proof {
            Ok(siblings) => siblings.succeeded(),
            Err(proof) => params.siblings.saturating_sub(proof.owed),
        };
        let finding = match proof {
            Err(proof) if still_open => Finding::fail(format!(
                "{} sibling RPC(s) on the same connection got no answer for {} ms while the slow handler was provably open, although the server answered the same UnaryCall on that connection in {} ms before the hold ({STALL_FACTOR}x that, at least {} ms): a slow handler stalls its connection",
                proof.owed,
                proof.quiet.as_millis(),
                proof.slowest.as_millis(),
                STALL_FLOOR.as_millis()
            )),
            Err(_) => Finding::fail(
                "sibling RPCs on the same connection went unanswered, and the slow handler was no longer open when that was seen: the evidence that it stalled them is missing",
            ),
            Ok(siblings) => verdict(&siblings, still_open, first_missing),
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
            .figure("siblings_completed", completed as f64)
            .figure("client_connections", opened as f64))
    }
}

/// The finding once every sibling ended (answered, failed or stalled).
fn verdict(siblings: &Tally, still_open: bool, first_missing: bool) -> Finding {
    if !siblings.all_passed() {
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
    }
}
