//! `blocking-capacity`: how many handlers may block their OS thread at once
//! before a sibling RPC on the same connection stalls; one blocking handler
//! must never stall every other RPC.

mod level;

use self::level::{levels, sibling};
use super::common::spawn_hold;
use crate::drivers::prelude::*;

pub struct BlockingCapacity;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Numbers of thread-blocking handlers tried, in increasing order.
    pub levels: Vec<u32>,
    /// How long each handler blocks its thread; must exceed
    /// `entry_timeout_ms + sibling_timeout_ms + gauge_timeout_ms`.
    pub hold_ms: u64,
    /// How long the blocking handlers of one level may take to be all inside.
    pub entry_timeout_ms: u64,
    /// How long the sibling RPC may take.
    pub sibling_timeout_ms: u64,
    /// How long one Gauge call may take (a stalled server stalls it too).
    pub gauge_timeout_ms: u64,
    /// The verdict fails below this capacity.
    pub min_capacity: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            levels: vec![1, 2, 4, 8, 16, 32],
            hold_ms: 2_500,
            entry_timeout_ms: 1_000,
            sibling_timeout_ms: 700,
            gauge_timeout_ms: 500,
            min_capacity: 1,
        }
    }
}

impl Driver for BlockingCapacity {
    const NAME: &'static str = "blocking-capacity";
    const DOC: &'static str = include_str!("blocking_capacity.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut control = probe_client(ctx.control()?);
        let hold = Duration::from_millis(params.hold_ms);
        let entry = Duration::from_millis(params.entry_timeout_ms);
        // Generous: on a thread-pool server, holds past the pool's size queue
        // behind the others, and they are waited out before returning.
        let hold_limit = hold * 3 + Duration::from_secs(2);
        let (mut holds, mut ended_early) = (Vec::new(), Vec::new());
        let (mut capacity, mut stalled_at, mut lines) = (0u32, None, Vec::new());
        for level in levels(&ctx, &params) {
            let scope = ctx.unique(&format!("block-{level}"));
            let first_of_level = holds.len();
            holds.extend((0..level).map(|index| {
                let tag = ctx.unique(&format!("block-{level}-{index}"));
                let request = hold_request(&tag, HoldMode::BlockThread, hold, &scope);
                let label = format!("level {level}: Hold BLOCK_THREAD #{index}");
                spawn_hold(&ctx, channel.handle(), label, hold_limit, request)
            }));
            let held = match wait_gauge(&mut control, &scope, entry, |n| n >= level).await {
                Ok(_) => {
                    sibling(&ctx, channel.handle(), &mut control, level, &scope, &params).await
                }
                Err(reason) => {
                    // A hold that already failed is the target refusing it,
                    // not a stall.
                    let finished = (first_of_level..holds.len()).find(|&i| holds[i].is_finished());
                    if let Some(index) = finished {
                        match holds.swap_remove(index).join().await {
                            Err(RpcError::Status(status)) => {
                                let refused =
                                    format!("Hold BLOCK_THREAD failed: {}", brief(&status));
                                return Err(DriverError::target(refused));
                            }
                            outcome => ended_early.push(outcome),
                        }
                    }
                    Err(format!(
                        "the {level} blocking handlers were not seen inside together: {reason}"
                    ))
                }
            };
            match held {
                Ok(line) => {
                    lines.push(line);
                    capacity = level;
                }
                Err(reason) => {
                    lines.push(format!("level {level}: stalled: {reason}"));
                    stalled_at = Some(level);
                    break;
                }
            }
        }
        // Wait the blocking handlers out, so the server recovers.
        let (ended, _) = Tally::of(ended_early.into_iter().chain(join_all(holds).await));

        let finding = if capacity >= params.min_capacity {
            Finding::pass().evidence(match stalled_at {
                Some(level) => format!("capacity {capacity}: siblings completed with up to {capacity} handlers blocking their threads; level {level} stalled"),
                None => format!("capacity at least {capacity}: siblings completed at every level tried"),
            })
        } else if capacity == 0 {
            Finding::fail(
                "one blocking handler stalls every other RPC: a sibling UnaryCall on the same connection did not complete while a single handler blocked its thread",
            )
        } else {
            Finding::fail(format!(
                "only {capacity} handlers may block their threads before sibling RPCs stall (required: {})",
                params.min_capacity
            ))
        };
        let rule = format!(
            "capacity = largest level whose sibling completed while all its blocking handlers were inside; required >= {}",
            params.min_capacity
        );
        Ok(lines
            .into_iter()
            .fold(finding.evidence(rule), Finding::evidence)
            .evidence(ended.line("blocking handlers failed"))
            .figure("capacity", f64::from(capacity))
            .figure("stalled_at_level", stalled_at.map_or(0.0, f64::from))
            .figure("hold_ms", params.hold_ms as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}
