//! One level of blocking handlers: which levels are tried, and the sibling
//! that must complete while all of a level's handlers are inside.

use conformance::proto::probe::probe_service_client::ProbeServiceClient;

use super::Params;
use crate::drivers::handler::common::spawn_unary;
use crate::drivers::prelude::*;

/// The levels to try: each needs one more stream, for the sibling.
pub(super) fn levels(ctx: &Ctx, params: &Params) -> Vec<u32> {
    let mut levels: Vec<u32> = params.levels.iter().copied().filter(|&l| l > 0).collect();
    if let Some(limit) = ctx.target().advertised_max_streams {
        let before = levels.len();
        levels.retain(|&level| level < limit);
        if levels.len() < before {
            ctx.note(format!(
                "levels of {limit} or more not tried: the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit} (a level needs one more stream for the sibling)"
            ));
        }
    }
    levels
}

/// With all `level` handlers inside: a sibling UnaryCall must complete,
/// and the gauge must still read `level` afterwards. The level's line, or
/// why it stalled.
pub(super) async fn sibling(
    ctx: &Ctx,
    channel: Channel,
    control: &mut ProbeServiceClient<Channel>,
    level: u32,
    scope: &str,
    params: &Params,
) -> Result<String, String> {
    let label = format!("level {level}: sibling UnaryCall");
    let limit = Duration::from_millis(params.sibling_timeout_ms);
    let started = Instant::now();
    let call = spawn_unary(ctx, channel, label, limit, unary_request(16, 0));
    call.join()
        .await
        .map_err(|err| format!("sibling UnaryCall: {err}"))?;
    let latency = started.elapsed();
    let gauge_limit = Duration::from_millis(params.gauge_timeout_ms);
    let after = read_gauge(control, scope, gauge_limit)
        .await
        .map_err(|reason| format!("after the sibling: {reason}"))?;
    if after.in_flight < level {
        return Err(format!(
            "the sibling completed in {} ms but the gauge then read only {} of {level} in flight: no proof that the blocking handlers were inside meanwhile (raise hold_ms)",
            latency.as_millis(),
            after.in_flight
        ));
    }
    Ok(format!(
        "level {level}: gauge read {level} in flight, the sibling completed in {:.1} ms, the gauge still read {} afterwards",
        latency.as_secs_f64() * 1000.0,
        after.in_flight
    ))
}
