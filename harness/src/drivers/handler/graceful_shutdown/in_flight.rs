//! The RPCs in flight when the stop begins, each proven started, and those
//! the server held back instead of starting.

use tokio::sync::mpsc::UnboundedReceiver;

use crate::client::{ClientChannel, Dial};
use crate::drivers::prelude::*;

use super::{Params, connect};

/// However fast the first RPC started, the others get at least this long to
/// start too before they count as held back. Shorter than [`STALL_FLOOR`]
/// because no verdict rests on it: an RPC counted held back on a merely slow
/// server only leaves the stop with fewer RPCs in flight, which the evidence
/// says.
const HELD_BACK_FLOOR: Duration = Duration::from_millis(250);

/// How long the other RPCs may take to start once the first one started
/// `first_in` after it was sent.
fn held_back_bound(first_in: Duration) -> Duration {
    first_in.saturating_mul(STALL_FACTOR).max(HELD_BACK_FLOOR)
}

/// The RPCs the stop will find in flight.
pub(super) struct InFlight {
    /// Each started RPC, with its index among those sent.
    pub calls: Vec<(usize, Call<StreamDone>)>,
    /// How many were sent (or were to be sent) in all.
    pub asked: usize,
    /// When some were held back: how long they had to start.
    pub held_back_after: Option<Duration>,
}

impl InFlight {
    pub fn held_back(&self) -> usize {
        self.asked - self.calls.len()
    }

    /// The evidence line on the RPCs the server held back, if it did.
    pub fn held_back_line(&self) -> Option<String> {
        let after = self.held_back_after?;
        Some(format!(
            "{} of the {} in-flight RPCs had not started {} ms after the first one had ({STALL_FACTOR}x the time it took, at least {} ms): the server held them back (it runs fewer at once), so they were cancelled and the stop began with {} in flight",
            self.held_back(),
            self.asked,
            after.as_millis(),
            HELD_BACK_FLOOR.as_millis(),
            self.calls.len()
        ))
    }
}

/// Starts `in_flight` RPCs on `channel`: Hold SLEEP calls, each observed
/// RUNNING through another channel to the same server; without
/// ProbeService, StreamingOutputCalls answered at once and then paced, each
/// with its first response. A server that runs them one at a time would
/// make the stop wait for them all to start one after another: those not
/// started within [`held_back_bound`] of the first are cancelled instead.
pub(super) async fn start(
    ctx: &Ctx,
    dial: &Dial,
    channel: &ClientChannel,
    params: &Params,
    has_probe: bool,
) -> Result<InFlight, DriverError> {
    if has_probe {
        start_holds(ctx, dial, channel, params).await
    } else {
        start_streams(ctx, channel, params).await
    }
}

async fn start_streams(
    ctx: &Ctx,
    channel: &ClientChannel,
    params: &Params,
) -> Result<InFlight, DriverError> {
    // Each may outlast the grace period the server is given.
    let limit = Duration::from_millis(params.grace_ms) + ctx.rpc_limit();
    let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel();
    let sizes = vec![16; params.responses.max(2)];
    let interval = Duration::from_millis(params.interval_ms);
    let sent = Instant::now();
    let mut calls: Vec<Option<Call<StreamDone>>> = (0..params.in_flight)
        .map(|index| {
            let label = format!("in-flight StreamingOutputCall #{index}");
            let mut request = output_request(&sizes, interval);
            // The first response at once: each stream is then proven
            // started without a wait.
            if let Some(first) = request.response_parameters.first_mut() {
                first.interval_us = 0;
            }
            let first = Some((index, first_tx.clone()));
            Some(spawn_output_stream(
                ctx,
                channel.handle(),
                label,
                request,
                limit,
                first,
            ))
        })
        .collect();
    drop(first_tx);
    let (started, held_back_after) = first_responses(&mut first_rx, sent, calls.len(), ctx).await;
    if started.is_empty() {
        return Err(DriverError::target(format!(
            "none of {} in-flight streams delivered a first response within {} ms",
            params.in_flight,
            ctx.rpc_limit().as_millis()
        )));
    }
    // Those not started are dropped here, which cancels them.
    let calls = started
        .into_iter()
        .filter_map(|index| Some((index, calls.get_mut(index)?.take()?)))
        .collect();
    Ok(InFlight {
        calls,
        asked: params.in_flight,
        held_back_after,
    })
}

/// Which of `count` streams delivered a first response (signalled on
/// `first`): waits up to the scenario's RPC limit for the first one, then
/// up to [`held_back_bound`] of its time for the others. Returns their
/// indices, and that bound when it ran out with some still missing.
async fn first_responses(
    first: &mut UnboundedReceiver<usize>,
    sent: Instant,
    count: usize,
    ctx: &Ctx,
) -> (Vec<usize>, Option<Duration>) {
    let mut started = Vec::with_capacity(count);
    let first_limit = ctx.rpc_limit();
    match tokio::time::timeout(first_limit, first.recv()).await {
        Ok(Some(index)) => started.push(index),
        _ => return (started, None),
    }
    let bound = held_back_bound(sent.elapsed());
    let until = tokio::time::Instant::now() + bound;
    while started.len() < count {
        match tokio::time::timeout_at(until, first.recv()).await {
            Ok(Some(index)) => started.push(index),
            Ok(None) => break,
            Err(_) => return (started, Some(bound)),
        }
    }
    (started, None)
}

async fn start_holds(
    ctx: &Ctx,
    dial: &Dial,
    channel: &ClientChannel,
    params: &Params,
) -> Result<InFlight, DriverError> {
    let limit = Duration::from_millis(params.grace_ms) + ctx.rpc_limit();
    let wait = ctx.rpc_limit();
    let mut observer = probe_client(connect(dial)?.handle());
    // Observe's latency before anything is held: an Observe left without an
    // answer for many times that while the holds are in flight ends the
    // wait at once (the server stopped answering; no verdict either way).
    let answered_in = observe_latency(&mut observer, wait).await;
    let hold = Duration::from_millis(params.hold_ms);
    let mut calls = Vec::new();
    // How long the first Hold took to be RUNNING.
    let mut first_in: Option<Duration> = None;
    let mut held_back_after = None;
    for index in 0..params.in_flight {
        let tag = ctx.unique(&format!("in-flight-{index}"));
        let mut probe = probe_client(channel.handle());
        let request = hold_request(&tag, HoldMode::Sleep, hold, "");
        let label = format!("in-flight Hold SLEEP #{index}");
        let sent = Instant::now();
        let call = ctx.spawn_within(label, hold + limit, async move {
            probe.hold(request).await?;
            let ended = Instant::now();
            Ok::<_, tonic::Status>(StreamDone { messages: 1, ended })
        });
        // The first Hold has the whole limit; the others as long as the
        // first took, many times over.
        let start_within = first_in.map_or(wait, held_back_bound);
        match await_running(&mut observer, &tag, start_within, answered_in).await {
            Running::Running => {
                first_in.get_or_insert(sent.elapsed());
                calls.push((index, call));
            }
            Running::NotRunning if first_in.is_some() => {
                // Dropping it cancels it; the rest are not sent.
                held_back_after = Some(start_within);
                break;
            }
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
    Ok(InFlight {
        calls,
        asked: params.in_flight,
        held_back_after,
    })
}
