//! `conformance.v1.ProbeService`: rendezvous, holds, observation and gauges,
//! as documented in `proto/conformance/v1/probe.proto`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::client_observer::arrive;
use super::connection::ConnectionInfo;
use super::defects::Defect;
use super::dispatch::CallDeadline;
use super::test_service::DROP_EVERY;
use super::{MAX_HOLD, Shared, TONIC_VERSION};
use crate::proto::probe::probe_service_server::ProbeService;
use crate::proto::probe::{
    GaugeRequest, GaugeResponse, HandlerState as WireState, HoldMode, HoldRequest, HoldResponse,
    InfoRequest, InfoResponse, ObserveRequest, ObserveResponse, PipeRequest, PipeResponse,
    RendezvousRequest, RendezvousResponse,
};
use crate::sync::gauge::GaugeGuard;
use crate::sync::outcome::{HandlerRecord, HandlerState};

/// How often Observe looks again while a handler is still running.
const OBSERVE_POLL: Duration = Duration::from_millis(2);
/// How long a handler that ignores cancellation (defect) runs on.
const IGNORED_CANCELLATION_RUN_ON: Duration = Duration::from_secs(30);

pub(crate) struct Probe {
    shared: Arc<Shared>,
}

impl Probe {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The connection identity of a request (its peer address).
pub(crate) fn connection_id<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<Arc<ConnectionInfo>>()
        .map(|connection| connection.connection_id())
        .unwrap_or_default()
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

pub(crate) fn capped(duration_ms: u32) -> Duration {
    Duration::from_millis(u64::from(duration_ms)).min(MAX_HOLD)
}

/// Blocks the current OS thread for `duration`, the way a careless handler
/// does. The healthy server hands its other tasks to another thread first
/// (`block_in_place`); under `single-worker` it does not.
fn block_thread(shared: &Shared, duration: Duration, spin: bool) {
    let work = move || {
        if spin {
            let until = Instant::now() + duration;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(duration);
        }
    };
    if shared.config.has(Defect::SingleWorker) {
        work();
    } else {
        tokio::task::block_in_place(work);
    }
}

/// Runs one hold, holding its gauge and record until it ends.
async fn hold(
    shared: Arc<Shared>,
    mode: HoldMode,
    duration: Duration,
    tag: String,
    record: HandlerRecord,
    gauge: GaugeGuard,
) {
    match mode {
        HoldMode::Unspecified => {}
        HoldMode::Sleep | HoldMode::UntilCancelled => tokio::time::sleep(duration).await,
        HoldMode::BlockThread => block_thread(&shared, duration, false),
        HoldMode::Spin => block_thread(&shared, duration, true),
        // An unwind like any panic's (the dispatcher's catch_unwind sees the
        // same payload), started without the panic hook, which would print
        // a message and backtrace for a panic the run asked for.
        HoldMode::Panic => std::panic::resume_unwind(Box::new(format!(
            "ProbeService.Hold was asked to panic (tag {tag:?})"
        ))),
    }
    record.finish();
    drop(gauge);
}

#[tonic::async_trait]
impl ProbeService for Probe {
    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let workers = self.shared.config.effective_worker_threads();
        let blocking = if self.shared.config.has(Defect::SingleWorker) {
            "blocking holds block the worker"
        } else {
            "blocking holds hand the worker's tasks to another thread (block_in_place)"
        };
        Ok(Response::new(InfoResponse {
            implementation: "tonic".to_owned(),
            version: TONIC_VERSION.to_owned(),
            unsafe_holds_enabled: self.shared.config.enable_unsafe_probes,
            handler_threads: 0,
            threading: format!(
                "tokio multi-thread runtime with {workers} worker(s), one task per RPC; {blocking}"
            ),
        }))
    }

    async fn rendezvous(
        &self,
        request: Request<RendezvousRequest>,
    ) -> Result<Response<RendezvousResponse>, Status> {
        let connection_id = connection_id(&request);
        let request = request.into_inner();
        if request.parties == 0 {
            return Err(Status::invalid_argument(
                "rendezvous needs at least 1 party",
            ));
        }
        let timeout = capped(request.timeout_ms);
        let barrier = self
            .shared
            .barriers
            .get(&request.group, request.parties)
            .map_err(|err| Status::invalid_argument(err.to_string()))?;
        let (_gauge, _) = self.shared.gauges.get(&request.scope).enter();
        let slot = self
            .shared
            .seen
            .enter(&request.group, "Rendezvous", "", &connection_id);
        let arrived = arrive(&self.shared, &request.group, &barrier, timeout).await;
        let others = barrier.waiting();
        drop(barrier);
        self.shared.barriers.prune();
        match arrived {
            Ok(arrival) => {
                self.shared.seen.released(&slot);
                Ok(Response::new(RendezvousResponse {
                    arrival,
                    connection_id,
                }))
            }
            Err(why) => Err(why.status(
                &format!("rendezvous {:?}", request.group),
                others + 1,
                request.parties,
            )),
        }
    }

    async fn hold(&self, request: Request<HoldRequest>) -> Result<Response<HoldResponse>, Status> {
        let connection_id = connection_id(&request);
        let deadline = request
            .extensions()
            .get::<CallDeadline>()
            .map(|deadline| deadline.0);
        let request = request.into_inner();
        let mode = HoldMode::try_from(request.mode)
            .map_err(|_| Status::invalid_argument(format!("unknown hold mode {}", request.mode)))?;
        let dangerous = matches!(
            mode,
            HoldMode::BlockThread | HoldMode::Spin | HoldMode::Panic
        );
        if dangerous && !self.shared.config.enable_unsafe_probes {
            return Err(Status::failed_precondition(format!(
                "hold mode {} is disabled on this server; start it with --enable-probes",
                mode.as_str_name()
            )));
        }
        let duration = capped(request.duration_ms);
        let (gauge, in_flight_at_entry) = self.shared.gauges.get(&request.scope).enter();
        let record = self
            .shared
            .outcomes
            .begin(&request.tag, &connection_id, deadline);
        let work = hold(
            Arc::clone(&self.shared),
            mode,
            duration,
            request.tag,
            record,
            gauge,
        );
        if self.shared.config.has(Defect::IgnoreCancellation) && mode == HoldMode::UntilCancelled {
            // The hold runs detached: dropping this handler (cancellation)
            // does not stop it, and it stays counted in flight.
            let _ = tokio::spawn(work).await;
        } else {
            work.await;
        }
        Ok(Response::new(HoldResponse {
            connection_id,
            in_flight_at_entry,
        }))
    }

    async fn observe(
        &self,
        request: Request<ObserveRequest>,
    ) -> Result<Response<ObserveResponse>, Status> {
        let request = request.into_inner();
        let give_up = Instant::now() + capped(request.wait_ms);
        loop {
            let outcome = self.shared.outcomes.get(&request.tag);
            let settled = matches!(&outcome, Some(o) if o.state != HandlerState::Running);
            if settled || Instant::now() >= give_up {
                let response = match outcome {
                    None => ObserveResponse::default(),
                    Some(outcome) => ObserveResponse {
                        state: match outcome.state {
                            HandlerState::Running => WireState::Running,
                            HandlerState::Finished => WireState::Finished,
                            HandlerState::Cancelled => WireState::Cancelled,
                            HandlerState::Panicked => WireState::Panicked,
                        } as i32,
                        connection_id: outcome.connection_id,
                        elapsed_ms: outcome.elapsed.map_or(0, millis),
                        deadline_ms: outcome
                            .deadline
                            .map_or(0, |deadline| millis(deadline + Duration::from_micros(999))),
                    },
                };
                return Ok(Response::new(response));
            }
            tokio::time::sleep(OBSERVE_POLL).await;
        }
    }

    async fn gauge(
        &self,
        request: Request<GaugeRequest>,
    ) -> Result<Response<GaugeResponse>, Status> {
        let request = request.into_inner();
        let gauge = self.shared.gauges.get(&request.scope);
        let counts = if request.reset_max {
            gauge.read_and_reset_max()
        } else {
            gauge.read()
        };
        Ok(Response::new(GaugeResponse {
            in_flight: counts.in_flight,
            max_in_flight: counts.max_in_flight,
        }))
    }

    type PipeStream = BoxStream<'static, Result<PipeResponse, Status>>;

    async fn pipe(
        &self,
        request: Request<Streaming<PipeRequest>>,
    ) -> Result<Response<Self::PipeStream>, Status> {
        let connection_id = connection_id(&request);
        let state = PipeState {
            inbound: request.into_inner(),
            shared: Arc::clone(&self.shared),
            connection_id,
            record: None,
            gauge: None,
            received: 0,
        };
        // Returns at once: response headers go out before the first request
        // arrives, so a client may await the call before sending anything.
        let responses = stream::unfold(state, |mut state| async move {
            loop {
                match state.inbound.message().await {
                    Ok(Some(request)) => {
                        if state.received == 0 {
                            state.start(&request);
                        }
                        state.received += 1;
                        if state.shared.config.has(Defect::DuplexDropMessages)
                            && state.received.is_multiple_of(DROP_EVERY)
                        {
                            continue;
                        }
                        let response = PipeResponse {
                            echo: Some(request),
                            received: state.received,
                            connection_id: state.connection_id.clone(),
                        };
                        return Some((Ok(response), state));
                    }
                    Ok(None) => {
                        // hyper ends the request body cleanly on a client's
                        // RST_STREAM CANCEL as on a half-close, and a reset
                        // processed just before this poll looks like one.
                        // One yield lets the transport see the reset first
                        // (it checks for one before polling this stream
                        // again) and drop this stream: CANCELLED, not a
                        // clean finish.
                        tokio::task::yield_now().await;
                        if let Some(record) = state.record.take() {
                            record.finish();
                        }
                        return None;
                    }
                    Err(status) => {
                        if let Some(record) = state.record.take() {
                            record.cancelled();
                        }
                        state.gauge = None;
                        return Some((Err(status), state));
                    }
                }
            }
        });
        Ok(Response::new(responses.boxed()))
    }
}

/// One Pipe stream's state; dropped with the response stream (the transport
/// drops it when the client cancels).
struct PipeState {
    inbound: Streaming<PipeRequest>,
    shared: Arc<Shared>,
    connection_id: String,
    record: Option<HandlerRecord>,
    gauge: Option<GaugeGuard>,
    received: u64,
}

impl PipeState {
    fn start(&mut self, first: &PipeRequest) {
        let (gauge, _) = self.shared.gauges.get(&first.scope).enter();
        self.gauge = Some(gauge);
        if !first.tag.is_empty() {
            self.record = Some(
                self.shared
                    .outcomes
                    .begin(&first.tag, &self.connection_id, None),
            );
        }
    }
}

impl Drop for PipeState {
    fn drop(&mut self) {
        if !self.shared.config.has(Defect::IgnoreCancellation) {
            return; // the record's own drop marks the stream CANCELLED
        }
        if let (Some(record), gauge) = (self.record.take(), self.gauge.take()) {
            // The defect: the handler runs on after its stream is gone.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    tokio::time::sleep(IGNORED_CANCELLATION_RUN_ON).await;
                    record.finish();
                    drop(gauge);
                });
            }
        }
    }
}
