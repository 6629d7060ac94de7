//! Helpers shared by drivers: clients, request builders, bounded waits.

use std::future::Future;
use std::time::Duration;

use crate::client::Channel;
use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::proto::grpc_testing::{
    Payload, ResponseParameters, SimpleRequest, StreamingOutputCallRequest,
};
use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HandlerState, HoldMode, HoldRequest, ObserveRequest};

/// Largest message the harness sends or accepts.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

pub fn test_client(channel: Channel) -> TestServiceClient<Channel> {
    TestServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

pub fn probe_client(channel: Channel) -> ProbeServiceClient<Channel> {
    ProbeServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// A payload of `size` bytes, each `fill`.
pub fn payload(size: usize, fill: u8) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![fill; size],
    })
}

/// A unary request asking for `response_size` bytes back.
pub fn unary_request(response_size: usize, request_size: usize) -> SimpleRequest {
    SimpleRequest {
        response_size: i32::try_from(response_size).unwrap_or(i32::MAX),
        payload: if request_size > 0 {
            payload(request_size, 0x5a)
        } else {
            None
        },
        ..SimpleRequest::default()
    }
}

/// A streaming request asking for one response per size, each after
/// `interval` on the server.
pub fn output_request(sizes: &[usize], interval: Duration) -> StreamingOutputCallRequest {
    let interval_us = i32::try_from(interval.as_micros()).unwrap_or(i32::MAX);
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size: i32::try_from(size).unwrap_or(i32::MAX),
                interval_us,
                compressed: None,
            })
            .collect(),
        ..StreamingOutputCallRequest::default()
    }
}

pub fn hold_request(tag: &str, mode: HoldMode, duration: Duration, scope: &str) -> HoldRequest {
    HoldRequest {
        tag: tag.to_owned(),
        mode: mode as i32,
        duration_ms: u32::try_from(duration.as_millis()).unwrap_or(u32::MAX),
        scope: scope.to_owned(),
    }
}

/// A wait that did not finish in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: no answer within {} ms", .after.as_millis())]
pub struct Stalled {
    pub what: String,
    pub after: Duration,
}

/// Runs `future` for at most `limit`; a stall names what was awaited.
pub async fn within<T>(
    limit: Duration,
    what: impl Into<String>,
    future: impl Future<Output = T>,
) -> Result<T, Stalled> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| Stalled {
            what: what.into(),
            after: limit,
        })
}

/// One line describing a gRPC status.
pub fn brief(status: &tonic::Status) -> String {
    let message = status.message();
    if message.is_empty() {
        format!("{:?}", status.code())
    } else {
        format!(
            "{:?} \"{}\"",
            status.code(),
            message.chars().take(200).collect::<String>()
        )
    }
}

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

// ---- Handler-isolation helpers (bounded RPCs in tasks, gauges, streams) ----

/// How a bounded RPC ended when it did not answer OK.
#[derive(Debug)]
pub enum RpcError {
    /// The target answered with a status (or the transport failed).
    Status(tonic::Status),
    /// No answer within the limit.
    Stalled(Stalled),
    /// The task running the RPC failed (a harness problem).
    Task(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Status(status) => f.write_str(&brief(status)),
            RpcError::Stalled(stalled) => stalled.fmt(f),
            RpcError::Task(reason) => write!(f, "task failed: {reason}"),
        }
    }
}

impl RpcError {
    /// The status the RPC ended with, if it ended with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            RpcError::Status(status) => Some(status),
            _ => None,
        }
    }
}

/// True when a status comes from a broken transport rather than from the
/// server's handler: UNAVAILABLE, or any status the client library made up
/// from an underlying error (connection reset, stream reset, I/O error).
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable || std::error::Error::source(status).is_some()
}

/// Runs one RPC in its own task for at most `limit`, drawn on the timeline
/// as `label`.
pub fn spawn_rpc<T, F>(
    ctx: &super::Ctx,
    label: impl Into<String>,
    limit: Duration,
    call: F,
) -> tokio::task::JoinHandle<Result<tonic::Response<T>, RpcError>>
where
    T: Send + 'static,
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
{
    let label = label.into();
    let span = ctx.timeline().start(label.clone());
    tokio::spawn(async move {
        let outcome = match within(limit, label, call).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(status)) => Err(RpcError::Status(status)),
            Err(stalled) => Err(RpcError::Stalled(stalled)),
        };
        span.end(outcome.is_ok());
        outcome
    })
}

/// Awaits a task started by [`spawn_rpc`] (or [`spawn_output_stream`]).
pub async fn join_rpc<T>(
    task: tokio::task::JoinHandle<Result<T, RpcError>>,
) -> Result<T, RpcError> {
    task.await
        .unwrap_or_else(|join| Err(RpcError::Task(join.to_string())))
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

/// How a server stream ended well.
#[derive(Debug, Clone, Copy)]
pub struct StreamDone {
    /// Messages received.
    pub messages: usize,
    /// When the stream ended with status OK.
    pub ended: std::time::Instant,
}

/// Runs one StreamingOutputCall in its own task for at most `limit` in all,
/// reading every response; `first` (if given) is told `index` when the first
/// response arrives. Drawn on the timeline as `label`.
pub fn spawn_output_stream(
    ctx: &super::Ctx,
    channel: Channel,
    label: impl Into<String>,
    request: StreamingOutputCallRequest,
    limit: Duration,
    first: Option<(usize, tokio::sync::mpsc::UnboundedSender<usize>)>,
) -> tokio::task::JoinHandle<Result<StreamDone, RpcError>> {
    let label = label.into();
    let mut span = ctx.timeline().start(label.clone());
    tokio::spawn(async move {
        let mut test = test_client(channel);
        let read = async {
            let mut stream = test.streaming_output_call(request).await?.into_inner();
            let mut messages = 0usize;
            while stream.message().await?.is_some() {
                messages += 1;
                if messages == 1 {
                    span.first_message();
                    if let Some((index, first)) = &first {
                        let _ = first.send(*index);
                    }
                }
            }
            Ok::<_, tonic::Status>(messages)
        };
        let outcome = match within(limit, label, read).await {
            Ok(Ok(messages)) => Ok(StreamDone {
                messages,
                ended: std::time::Instant::now(),
            }),
            Ok(Err(status)) => Err(RpcError::Status(status)),
            Err(stalled) => Err(RpcError::Stalled(stalled)),
        };
        span.end(outcome.is_ok());
        outcome
    })
}

/// Waits until `count` signals arrived on `signals`, for at most `limit`;
/// returns how many did.
pub async fn wait_signals(
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<usize>,
    count: usize,
    limit: Duration,
) -> usize {
    let mut seen = 0usize;
    let _ = within(limit, "signals", async {
        while seen < count && signals.recv().await.is_some() {
            seen += 1;
        }
    })
    .await;
    seen
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
