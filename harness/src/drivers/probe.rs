//! Watching handlers from the control connection: ProbeService's Observe
//! and Gauge, bounded, and a quick identifying RPC.

use std::time::Duration;

use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HandlerState, HoldMode, ObserveRequest};

use super::stall::{Arrival, Arrivals};
use super::{brief, hold_request, probe_client, stall_bound, test_client, unary_request, within};
use crate::client::Channel;

/// Waits until the handler recorded under `tag` is RUNNING on the server.
/// Returns false if it is not within `limit`.
pub async fn wait_running(
    probe: &mut ProbeServiceClient<Channel>,
    tag: &str,
    limit: Duration,
) -> bool {
    matches!(
        await_running(probe, tag, limit, None).await,
        Running::Running
    )
}

/// How a wait for a handler to be RUNNING ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    Running,
    /// Observe answered, but not RUNNING within the limit.
    NotRunning,
    /// One Observe got no answer for `after`, [`stall_bound`] of the
    /// `answered_in` the control connection took before the handler was
    /// started: the server stopped answering other connections.
    Unanswered {
        after: Duration,
        answered_in: Duration,
    },
}

/// How long the control connection takes to answer one Observe, measured
/// before a handler is held: what a later Observe may be compared with
/// (see [`await_running`]). None when it does not answer within `limit`.
pub async fn observe_latency(
    probe: &mut ProbeServiceClient<Channel>,
    limit: Duration,
) -> Option<Duration> {
    let started = std::time::Instant::now();
    let request = ObserveRequest {
        tag: String::new(),
        wait_ms: 0,
    };
    match within(limit, "Observe", probe.observe(request)).await {
        Ok(Ok(_)) => Some(started.elapsed()),
        _ => None,
    }
}

/// [`wait_running`], and with `answered_in` (from [`observe_latency`]) the
/// proof that the server stopped answering: one Observe without an answer
/// for [`stall_bound`] of it ends the wait at once with
/// [`Running::Unanswered`] instead of waiting out `limit`.
pub async fn await_running(
    probe: &mut ProbeServiceClient<Channel>,
    tag: &str,
    limit: Duration,
    answered_in: Option<Duration>,
) -> Running {
    let give_up = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < give_up {
        let request = ObserveRequest {
            tag: tag.to_owned(),
            wait_ms: 0,
        };
        // Each call bounded too: a stalled server stalls Observe as well.
        let bound = answered_in.map(stall_bound);
        let until = bound.map_or(give_up, |bound| {
            give_up.min(tokio::time::Instant::now() + bound)
        });
        match tokio::time::timeout_at(until, probe.observe(request)).await {
            Ok(Ok(observed)) if observed.get_ref().state() == HandlerState::Running => {
                return Running::Running;
            }
            Err(_) if until < give_up => {
                if let (Some(after), Some(answered_in)) = (bound, answered_in) {
                    return Running::Unanswered { after, answered_in };
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Running::NotRunning
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

/// What the gauge of a scope showed while handlers of it were sent and
/// could not leave before all of them were inside (a barrier's parties).
#[derive(Debug, Clone, Copy)]
pub enum Admission {
    /// The gauge got no answer for `after`, [`stall_bound`] of the
    /// `answered_in` it took before the handlers were sent: the server
    /// stopped answering other connections.
    Unanswered {
        after: Duration,
        answered_in: Duration,
    },
    /// `inside` of `wanted` handlers were inside, blocked waiting for the
    /// others, and no more arrived for `quiet` ([`stall_bound`] of the
    /// `slowest` admission step, from the sending to the first arrival and
    /// between arrivals).
    Stuck {
        inside: u32,
        wanted: u32,
        quiet: Duration,
        slowest: Duration,
    },
}

impl std::fmt::Display for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Admission::Unanswered { after, answered_in } => write!(
                f,
                "the server did not answer ProbeService.Gauge on another connection within {} ms while they were in flight ({}x the {} ms it took before they were sent, at least {} ms)",
                after.as_millis(),
                super::STALL_FACTOR,
                answered_in.as_millis(),
                super::STALL_FLOOR.as_millis()
            ),
            Admission::Stuck {
                inside,
                wanted,
                quiet,
                slowest,
            } => write!(
                f,
                "the server held only {inside} of the {wanted} inside, blocked waiting for the others, and admitted no more for {} ms ({}x its slowest admission step, {} ms, at least {} ms)",
                quiet.as_millis(),
                super::STALL_FACTOR,
                slowest.as_millis(),
                super::STALL_FLOOR.as_millis()
            ),
        }
    }
}

/// Watches the gauge of `scope` once `wanted` handlers of it were sent
/// (at `sent`), handlers that cannot leave before all are inside: resolves
/// with the proof that they never will be ([`Admission`]), and never while
/// the server keeps admitting them, answers with an error, or lets any
/// leave (the calls' own outcomes decide then). `answered_in` is the
/// gauge's latency measured before they were sent.
pub async fn admission_stalled(
    probe: &mut ProbeServiceClient<Channel>,
    scope: &str,
    wanted: u32,
    answered_in: Duration,
    sent: std::time::Instant,
) -> Admission {
    let mut arrivals = Arrivals::new(sent, answered_in);
    loop {
        let asked = std::time::Instant::now();
        let bound = arrivals.bound();
        match read_gauge(probe, scope, bound).await {
            Ok(gauge) => {
                if arrivals.observe(gauge.in_flight as usize) == Arrival::Fewer {
                    break;
                }
                if let Some(stuck) = arrivals.stuck(wanted as usize) {
                    return Admission::Stuck {
                        inside: stuck.inside as u32,
                        wanted,
                        quiet: stuck.quiet,
                        slowest: stuck.slowest,
                    };
                }
            }
            Err(_) if asked.elapsed() >= bound => {
                return Admission::Unanswered {
                    after: bound,
                    answered_in,
                };
            }
            Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::future::pending().await
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
