//! What the handler drivers share: calls started in tasks of their own,
//! holds shown RUNNING from the control connection, tallies and checks of
//! their outcomes.

use conformance::proto::grpc_testing::{SimpleRequest, SimpleResponse};
use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HoldRequest, HoldResponse};
use tonic::IntoRequest;

use crate::drivers::prelude::*;

/// One ProbeService.Hold on `channel`, in a task of its own (see
/// [`Ctx::spawn_within`]).
pub fn spawn_hold(
    ctx: &Ctx,
    channel: Channel,
    label: impl Into<String>,
    limit: Duration,
    request: impl IntoRequest<HoldRequest> + Send + 'static,
) -> Call<HoldResponse> {
    let mut probe = probe_client(channel);
    ctx.spawn_within(label, limit, async move {
        probe.hold(request).await.map(tonic::Response::into_inner)
    })
}

/// One TestService.UnaryCall on `channel`, in a task of its own.
pub fn spawn_unary(
    ctx: &Ctx,
    channel: Channel,
    label: impl Into<String>,
    limit: Duration,
    request: impl IntoRequest<SimpleRequest> + Send + 'static,
) -> Call<SimpleResponse> {
    let mut test = test_client(channel);
    ctx.spawn_within(label, limit, async move {
        test.unary_call(request)
            .await
            .map(tonic::Response::into_inner)
    })
}

/// The siblings of a held handler, for [`spawn_owed_unary`]: the work of
/// one sibling, `request`, is first measured on `channel` before anything
/// is held, and that answer stands for the sibling that had its answer (the
/// held handler is the one that waits, provably open). Without an answer
/// the group never counts as stalled and the siblings keep their limit.
pub async fn calibrated_siblings(
    ctx: &Ctx,
    channel: Channel,
    limit: Duration,
    request: SimpleRequest,
) -> Siblings {
    let group = Siblings::new();
    let started = Instant::now();
    let calibration = spawn_unary(ctx, channel, "sibling before the hold", limit, request);
    if calibration.join().await.is_ok() {
        group.owe();
        group.answered(started.elapsed());
    }
    group
}

/// [`spawn_unary`] whose answer is owed to, then answered in, `group`.
pub fn spawn_owed_unary(
    ctx: &Ctx,
    channel: Channel,
    label: impl Into<String>,
    limit: Duration,
    request: SimpleRequest,
    group: &Siblings,
) -> Call<SimpleResponse> {
    let mut test = test_client(channel);
    let group = group.clone();
    group.owe();
    ctx.spawn_within(label, limit, async move {
        let asked = Instant::now();
        let answer = test.unary_call(request).await;
        match &answer {
            Ok(_) => group.answered(asked.elapsed()),
            Err(_) => group.gave_up(),
        }
        answer.map(tonic::Response::into_inner)
    })
}

/// Waits up to `wait` until the control connection observes the handler
/// `tag` RUNNING. Otherwise the scenario ends here (the `Err`): it fails
/// when the server does not even answer Observe while `what` is in flight
/// (see [`unanswered_while_held`]), and reaches no verdict when it answers
/// (the handler simply did not start). With `answered_in`, the Observe
/// latency measured before `what` was sent ([`observe_latency`]), an
/// Observe left unanswered for [`stall_bound`] of it proves the stall at
/// once (see [`await_running`]).
pub async fn ensure_running(
    control: &mut ProbeServiceClient<Channel>,
    tag: &str,
    wait: Duration,
    what: &str,
    answered_in: Option<Duration>,
) -> Result<(), DriverResult> {
    match await_running(control, tag, wait, answered_in).await {
        Running::Running => return Ok(()),
        Running::Unanswered { after, answered_in } => {
            return Err(Ok(Finding::fail(format!(
                "while {what} was in flight, the server did not answer ProbeService.Observe on another connection within {} ms ({STALL_FACTOR}x the {} ms it took to answer one before {what} was sent, at least {} ms): one handler stalls other RPCs",
                after.as_millis(),
                answered_in.as_millis(),
                STALL_FLOOR.as_millis()
            ))));
        }
        Running::NotRunning => {}
    }
    if let Some(stalled) = unanswered_while_held(control, what).await {
        return Err(Ok(stalled));
    }
    Err(Err(DriverError::target(format!(
        "{what} was not observed RUNNING within {} ms",
        wait.as_millis()
    ))))
}

/// Starts `request` (a Hold) on `channel` and waits until it is RUNNING
/// (see [`ensure_running`], the control connection's Observe latency
/// measured first); the hold is cancelled when it is not. Its call may
/// outlive the hold by [`Ctx::rpc_limit`].
pub async fn hold_running(
    ctx: &Ctx,
    channel: Channel,
    label: &str,
    request: HoldRequest,
    wait: Duration,
    what: &str,
) -> Result<Call<HoldResponse>, DriverResult> {
    let mut control = probe_client(ctx.control().map_err(Err)?);
    let answered_in = observe_latency(&mut control, wait).await;
    let tag = request.tag.clone();
    let limit = Duration::from_millis(u64::from(request.duration_ms)) + ctx.rpc_limit();
    let call = spawn_hold(ctx, channel, label, limit, request);
    if let Err(early) = ensure_running(&mut control, &tag, wait, what, answered_in).await {
        call.abort();
        return Err(early);
    }
    Ok(call)
}

/// The value of `outcome`, or None with its error recorded as a problem.
pub fn checked<T>(checks: &mut Checks, outcome: Result<T, String>) -> Option<T> {
    outcome.map_err(|problem| checks.problem(problem)).ok()
}
