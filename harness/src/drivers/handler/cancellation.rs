//! Calls that a deadline must end, and the server's view of a cancelled
//! handler (cancel-sibling, deadline-propagation).

use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HoldRequest, HoldResponse, ObserveResponse};

use super::common::spawn_hold;
use crate::drivers::prelude::*;

/// A request that carries `deadline` as its grpc-timeout.
pub fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

/// A Hold (UNTIL_CANCELLED: only its deadline may end it) with `deadline`,
/// given `wait` beyond the deadline to end at the client.
pub fn spawn_deadline_hold(
    ctx: &Ctx,
    channel: Channel,
    request: HoldRequest,
    deadline: Duration,
    wait: Duration,
) -> Call<HoldResponse> {
    let label = format!(
        "Hold UNTIL_CANCELLED (deadline {} ms)",
        deadline.as_millis()
    );
    spawn_hold(
        ctx,
        channel,
        label,
        deadline + wait,
        with_deadline(request, deadline),
    )
}

/// Whether a call with a deadline ended at it, as the client saw it: the
/// status when it is DEADLINE_EXCEEDED (or CANCELLED), else the problem.
pub fn deadline_ended<T>(outcome: &Result<T, RpcError>) -> Result<String, String> {
    match outcome {
        Err(err) if err.is_code(&[tonic::Code::DeadlineExceeded, tonic::Code::Cancelled]) => {
            Ok(err.to_string())
        }
        Ok(_) => Err("the call with a deadline ended OK instead of at its deadline".to_owned()),
        Err(err) => Err(format!(
            "the call with a deadline did not end with DEADLINE_EXCEEDED: {err}"
        )),
    }
}

/// The server's view of the handler `tag`, waiting up to `wait` for it to
/// leave RUNNING: Ok when it is CANCELLED; otherwise the problem, `still`
/// describing a handler found in another state.
pub async fn observe_cancelled(
    control: &mut ProbeServiceClient<Channel>,
    tag: &str,
    wait: Duration,
    still: impl FnOnce(HandlerState) -> String,
) -> Result<ObserveResponse, String> {
    match observe(control, tag, wait).await {
        Ok(observed) if observed.state() == HandlerState::Cancelled => Ok(observed),
        Ok(observed) => Err(still(observed.state())),
        Err(status) => Err(format!("Observe failed: {}", brief(&status))),
    }
}
