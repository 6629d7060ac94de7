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

/// Waits up to `wait` until the control connection observes the handler
/// `tag` RUNNING. Otherwise the scenario ends here (the `Err`): it fails
/// when the server does not even answer Observe while `what` is in flight
/// (see [`unanswered_while_held`]), and reaches no verdict when it answers
/// (the handler simply did not start).
pub async fn ensure_running(
    control: &mut ProbeServiceClient<Channel>,
    tag: &str,
    wait: Duration,
    what: &str,
) -> Result<(), DriverResult> {
    if wait_running(control, tag, wait).await {
        return Ok(());
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
/// (see [`ensure_running`]); the hold is cancelled when it is not. Its
/// call may outlive the hold by [`Ctx::rpc_limit`].
pub async fn hold_running(
    ctx: &Ctx,
    channel: Channel,
    label: &str,
    request: HoldRequest,
    wait: Duration,
    what: &str,
) -> Result<Call<HoldResponse>, DriverResult> {
    let mut control = probe_client(ctx.control().map_err(Err)?);
    let tag = request.tag.clone();
    let limit = Duration::from_millis(u64::from(request.duration_ms)) + ctx.rpc_limit();
    let call = spawn_hold(ctx, channel, label, limit, request);
    if let Err(early) = ensure_running(&mut control, &tag, wait, what).await {
        call.abort();
        return Err(early);
    }
    Ok(call)
}

/// The value of `outcome`, or None with its error recorded as a problem.
pub fn checked<T>(checks: &mut Checks, outcome: Result<T, String>) -> Option<T> {
    outcome.map_err(|problem| checks.problem(problem)).ok()
}
