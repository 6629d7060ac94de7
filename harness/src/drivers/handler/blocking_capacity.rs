//! `blocking-capacity`: how many handlers may block their OS thread at once
//! before a sibling RPC on the same connection stalls; one blocking handler
//! must never stall every other RPC.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::probe::HoldMode;
use serde::Deserialize;

use crate::drivers::{
    Ctx, DriverError, DriverResult, RpcError, hold_request, probe_client, read_gauge, test_client,
    unary_request, wait_gauge,
};
use crate::verdict::Finding;

pub struct BlockingCapacity;

#[derive(Debug, Deserialize, serde::Serialize)]
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

/// What happened at one level.
enum Level {
    /// The sibling completed while all L handlers were provably inside.
    Held,
    /// It did not (reason).
    Stalled(String),
}

impl crate::drivers::Driver for BlockingCapacity {
    const NAME: &'static str = "blocking-capacity";
    const DOC: &'static str = include_str!("blocking_capacity.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut control = probe_client(ctx.control()?);
        let hold = Duration::from_millis(params.hold_ms);
        let entry_timeout = Duration::from_millis(params.entry_timeout_ms);
        let sibling_timeout = Duration::from_millis(params.sibling_timeout_ms);
        let gauge_timeout = Duration::from_millis(params.gauge_timeout_ms);
        // Generous: on a thread-pool server, holds past the pool's size queue
        // behind the others, and they are waited out before returning.
        let hold_limit = hold * 3 + Duration::from_secs(2);

        let mut notes = Vec::new();
        let mut levels: Vec<u32> = params.levels.iter().copied().filter(|&l| l > 0).collect();
        if let Some(limit) = ctx.target().advertised_max_streams {
            let before = levels.len();
            levels.retain(|&level| level < limit);
            if levels.len() < before {
                notes.push(format!(
                    "levels of {limit} or more not tried: the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit} (a level needs one more stream for the sibling)"
                ));
            }
        }

        let mut holds = Vec::new();
        let mut early_ok = 0usize;
        let mut capacity = 0u32;
        let mut stalled_at = None;
        let mut lines = Vec::new();
        for &level in &levels {
            let scope = ctx.unique(&format!("block-{level}"));
            let first_of_level = holds.len();
            for index in 0..level {
                let mut probe = probe_client(channel.handle());
                let tag = ctx.unique(&format!("block-{level}-{index}"));
                let request = hold_request(&tag, HoldMode::BlockThread, hold, &scope);
                holds.push(ctx.spawn_within(
                    format!("level {level}: Hold BLOCK_THREAD #{index}"),
                    hold_limit,
                    async move { probe.hold(request).await },
                ));
            }
            let outcome = match wait_gauge(&mut control, &scope, entry_timeout, |n| n >= level)
                .await
            {
                Err(reason) => {
                    // A hold that already failed is the target refusing it,
                    // not a stall.
                    if let Some(index) =
                        (first_of_level..holds.len()).find(|&i| holds[i].is_finished())
                    {
                        if let Err(RpcError::Status(status)) = holds.swap_remove(index).join().await
                        {
                            return Err(DriverError::target(format!(
                                "Hold BLOCK_THREAD failed: {}",
                                crate::drivers::brief(&status)
                            )));
                        }
                        early_ok += 1;
                    }
                    Level::Stalled(format!(
                        "the {level} blocking handlers were not seen inside together: {reason}"
                    ))
                }
                Ok(_) => {
                    let mut test = test_client(channel.handle());
                    let started = std::time::Instant::now();
                    let sibling = ctx.spawn_within(
                        format!("level {level}: sibling UnaryCall"),
                        sibling_timeout,
                        async move { test.unary_call(unary_request(16, 0)).await },
                    );
                    match sibling.join().await {
                        Err(err) => Level::Stalled(format!("sibling UnaryCall: {err}")),
                        Ok(_) => {
                            let latency = started.elapsed();
                            match read_gauge(&mut control, &scope, gauge_timeout).await {
                                Ok(after) if after.in_flight >= level => {
                                    lines.push(format!(
                                        "level {level}: gauge read {level} in flight, the sibling completed in {:.1} ms, the gauge still read {} afterwards",
                                        latency.as_secs_f64() * 1000.0,
                                        after.in_flight
                                    ));
                                    Level::Held
                                }
                                Ok(after) => Level::Stalled(format!(
                                    "the sibling completed in {} ms but the gauge then read only {} of {level} in flight: no proof that the blocking handlers were inside meanwhile (raise hold_ms)",
                                    latency.as_millis(),
                                    after.in_flight
                                )),
                                Err(reason) => {
                                    Level::Stalled(format!("after the sibling: {reason}"))
                                }
                            }
                        }
                    }
                }
            };
            match outcome {
                Level::Held => capacity = level,
                Level::Stalled(reason) => {
                    lines.push(format!("level {level}: stalled: {reason}"));
                    stalled_at = Some(level);
                    break;
                }
            }
        }

        // Wait the blocking handlers out, so the server recovers.
        let mut ended_ok = early_ok;
        let mut hold_failures = Vec::new();
        let total_holds = holds.len() + early_ok;
        for task in holds {
            match task.join().await {
                Ok(_) => ended_ok += 1,
                Err(err) => hold_failures.push(err.to_string()),
            }
        }

        let rule = format!(
            "capacity = largest level whose sibling completed while all its blocking handlers were inside; required >= {}",
            params.min_capacity
        );
        let mut finding = if capacity < params.min_capacity {
            let reason = if capacity == 0 {
                "one blocking handler stalls every other RPC: a sibling UnaryCall on the same connection did not complete while a single handler blocked its thread".to_owned()
            } else {
                format!(
                    "only {capacity} handlers may block their threads before sibling RPCs stall (required: {})",
                    params.min_capacity
                )
            };
            Finding::fail(reason)
        } else {
            Finding::pass().evidence(match stalled_at {
                Some(level) => format!("capacity {capacity}: siblings completed with up to {capacity} handlers blocking their threads; level {level} stalled"),
                None => format!("capacity at least {capacity}: siblings completed at every level tried"),
            })
        };
        finding = finding.evidence(rule);
        for line in lines.into_iter().chain(notes) {
            finding = finding.evidence(line);
        }
        finding = finding.evidence(format!(
            "{ended_ok} of {total_holds} blocking handlers ended OK{}",
            hold_failures
                .first()
                .map(|first| format!(" (first failure: {first})"))
                .unwrap_or_default()
        ));
        Ok(finding
            .figure("capacity", f64::from(capacity))
            .figure("stalled_at_level", stalled_at.map_or(0.0, f64::from))
            .figure("hold_ms", params.hold_ms as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}
