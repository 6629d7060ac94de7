//! The RPCs in flight when the stop begins, each proven started.

use crate::client::{ClientChannel, Dial};
use crate::drivers::prelude::*;

use super::{Params, connect};

/// Starts `in_flight` RPCs on `channel`: Hold SLEEP calls, each observed
/// RUNNING through another channel to the same server; without
/// ProbeService, StreamingOutputCalls answered at once and then paced, each
/// with its first response.
pub(super) async fn start(
    ctx: &Ctx,
    dial: &Dial,
    channel: &ClientChannel,
    params: &Params,
    has_probe: bool,
) -> Result<Vec<Call<StreamDone>>, DriverError> {
    // Each may outlast the grace period the server is given.
    let limit = Duration::from_millis(params.grace_ms) + ctx.rpc_limit();
    let wait = ctx.rpc_limit();
    if !has_probe {
        let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel();
        let sizes = vec![16; params.responses.max(2)];
        let interval = Duration::from_millis(params.interval_ms);
        let calls = (0..params.in_flight)
            .map(|index| {
                let label = format!("in-flight StreamingOutputCall #{index}");
                let mut request = output_request(&sizes, interval);
                // The first response at once: each stream is then proven
                // started without a wait, and a server that runs them one at
                // a time starts the next after (responses - 1) intervals
                // instead of all of them.
                if let Some(first) = request.response_parameters.first_mut() {
                    first.interval_us = 0;
                }
                let first = Some((index, first_tx.clone()));
                spawn_output_stream(ctx, channel.handle(), label, request, limit, first)
            })
            .collect();
        drop(first_tx);
        let started = wait_signals(&mut first_rx, params.in_flight, wait).await;
        if started < params.in_flight {
            return Err(DriverError::target(format!(
                "only {started} of {} in-flight streams delivered a first response within {} ms",
                params.in_flight,
                wait.as_millis()
            )));
        }
        return Ok(calls);
    }
    let mut observer = probe_client(connect(dial)?.handle());
    // Observe's latency before anything is held: an Observe left without an
    // answer for many times that while the holds are in flight ends the
    // wait at once (the server stopped answering; no verdict either way).
    let answered_in = observe_latency(&mut observer, wait).await;
    let hold = Duration::from_millis(params.hold_ms);
    let mut calls = Vec::new();
    for index in 0..params.in_flight {
        let tag = ctx.unique(&format!("in-flight-{index}"));
        let mut probe = probe_client(channel.handle());
        let request = hold_request(&tag, HoldMode::Sleep, hold, "");
        let label = format!("in-flight Hold SLEEP #{index}");
        calls.push(ctx.spawn_within(label, hold + limit, async move {
            probe.hold(request).await?;
            let ended = Instant::now();
            Ok::<_, tonic::Status>(StreamDone { messages: 1, ended })
        }));
        match await_running(&mut observer, &tag, wait, answered_in).await {
            Running::Running => {}
            Running::NotRunning => {
                return Err(DriverError::target(format!(
                    "in-flight RPC #{index} was not observed RUNNING within {} ms",
                    wait.as_millis()
                )));
            }
            Running::Unanswered { after, answered_in } => {
                return Err(DriverError::target(format!(
                    "in-flight RPC #{index} was not observed RUNNING: the server did not answer ProbeService.Observe on another connection within {} ms ({STALL_FACTOR}x the {} ms it took before the holds, at least {} ms) while the holds were in flight",
                    after.as_millis(),
                    answered_in.as_millis(),
                    STALL_FLOOR.as_millis()
                )));
            }
        }
    }
    Ok(calls)
}
