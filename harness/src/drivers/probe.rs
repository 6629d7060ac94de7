//! Watching handlers from the control connection: ProbeService's Observe
//! and Gauge, bounded, and a quick identifying RPC.

use std::time::Duration;

use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HandlerState, HoldMode, ObserveRequest};

use super::{brief, hold_request, probe_client, test_client, unary_request, within};
use crate::client::Channel;

/// Waits until the handler recorded under `tag` is RUNNING on the server.
/// Returns false if it is not within `limit`.
pub async fn wait_running(
    probe: &mut ProbeServiceClient<Channel>,
    tag: &str,
    limit: Duration,
) -> bool {
    let give_up = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < give_up {
        let request = ObserveRequest {
            tag: tag.to_owned(),
            wait_ms: 0,
        };
        // Each call bounded too: a stalled server stalls Observe as well.
        let observed = tokio::time::timeout_at(give_up, probe.observe(request)).await;
        if let Ok(Ok(observed)) = observed
            && observed.get_ref().state() == HandlerState::Running
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// After a held handler was not seen RUNNING: when the server does not
/// even answer an Observe on the control connection while `what` is in
/// flight, that is the finding (one handler stalls other RPCs). None when
/// Observe answers (the handler simply did not start).
pub async fn unanswered_while_held(
    probe: &mut ProbeServiceClient<Channel>,
    what: &str,
) -> Option<crate::verdict::Finding> {
    const LIMIT: Duration = Duration::from_secs(1);
    let request = ObserveRequest {
        tag: String::new(),
        wait_ms: 0,
    };
    match within(LIMIT, "Observe", probe.observe(request)).await {
        Err(_) => Some(crate::verdict::Finding::fail(format!(
            "while {what} was in flight, the server did not answer ProbeService.Observe on another connection within {} ms: one handler stalls other RPCs",
            LIMIT.as_millis()
        ))),
        Ok(_) => None,
    }
}

/// Observes a handler, waiting up to `wait` for it to settle.
pub async fn observe(
    probe: &mut ProbeServiceClient<Channel>,
    tag: &str,
    wait: Duration,
) -> Result<conformance::proto::probe::ObserveResponse, tonic::Status> {
    probe
        .observe(ObserveRequest {
            tag: tag.to_owned(),
            wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Reads the in-flight gauge of `scope`, the call bounded by `limit` (a
/// stalled server stalls its gauge too).
pub async fn read_gauge(
    probe: &mut ProbeServiceClient<Channel>,
    scope: &str,
    limit: Duration,
) -> Result<conformance::proto::probe::GaugeResponse, String> {
    let request = conformance::proto::probe::GaugeRequest {
        scope: scope.to_owned(),
        reset_max: false,
    };
    match within(limit, format!("Gauge({scope})"), probe.gauge(request)).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(format!("Gauge failed: {}", brief(&status))),
        Err(stalled) => Err(stalled.to_string()),
    }
}

/// Polls the gauge of `scope` until `done(in_flight)` holds, for at most
/// `limit` in all (each call bounded too). The error says what was seen last.
pub async fn wait_gauge(
    probe: &mut ProbeServiceClient<Channel>,
    scope: &str,
    limit: Duration,
    done: impl Fn(u32) -> bool,
) -> Result<conformance::proto::probe::GaugeResponse, String> {
    let give_up = tokio::time::Instant::now() + limit;
    loop {
        let left = give_up.saturating_duration_since(tokio::time::Instant::now());
        let gauge = read_gauge(probe, scope, left.max(Duration::from_millis(1))).await?;
        if done(gauge.in_flight) {
            return Ok(gauge);
        }
        if tokio::time::Instant::now() >= give_up {
            return Err(format!(
                "the gauge still read {} in flight after {} ms",
                gauge.in_flight,
                limit.as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One short RPC on `channel`, bounded by `limit`: with `identify`, a
/// ProbeService.Hold that returns at once and reports the connection it ran
/// on; otherwise a UnaryCall asking for `size` bytes. Returns the connection
/// identity when there is one, or why the RPC failed.
pub async fn quick_rpc(
    channel: Channel,
    identify: bool,
    size: usize,
    limit: Duration,
) -> Result<Option<String>, String> {
    let outcome = if identify {
        let mut probe = probe_client(channel);
        let request = hold_request("", HoldMode::Unspecified, Duration::ZERO, "");
        within(limit, "Hold", probe.hold(request))
            .await
            .map(|r| r.map(|response| Some(response.into_inner().connection_id)))
    } else {
        let mut test = test_client(channel);
        within(limit, "UnaryCall", test.unary_call(unary_request(size, 0)))
            .await
            .map(|r| r.map(|_| None))
    };
    match outcome {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(status)) => Err(brief(&status)),
        Err(stalled) => Err(stalled.to_string()),
    }
}
