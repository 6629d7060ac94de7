//! Runs a schedule on one shared channel and records what each RPC observed.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::grpc_testing::{
    EchoStatus, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
    StreamingOutputCallRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::metadata::MetadataValue;

use super::schedule::{Fault, Kind, Rpc, Schedule};
use crate::drivers::{payload, test_client, within};
use crate::target::TargetSession;

/// The deadline a `Fault::Deadline` RPC carries.
pub const DEADLINE: Duration = Duration::from_millis(100);
/// The server-side interval that makes a deadline RPC certainly late.
const SLOW_INTERVAL: Duration = Duration::from_millis(400);
/// Bound on any one RPC of a schedule.
const RPC_BOUND: Duration = Duration::from_secs(15);

/// What one RPC observed.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub code: Option<Code>,
    pub message: String,
    pub replies: Vec<usize>,
    pub aggregated: Option<usize>,
    pub echo: Option<String>,
    /// The client cancelled it, as the schedule asked.
    pub cancelled: bool,
    /// It did not finish within the bound.
    pub stalled: bool,
}

fn interval(rpc: &Rpc) -> Duration {
    match (rpc.fault, rpc.kind) {
        (Fault::Deadline, _) => SLOW_INTERVAL,
        (Fault::CancelBeforeFirstReply, Kind::ServerStreaming) => Duration::from_millis(300),
        (Fault::CancelMidStream, _) | (Fault::CancelAfterHalfClose, _) => {
            Duration::from_millis(20).max(Duration::from_millis(u64::from(rpc.interval_ms)))
        }
        _ => Duration::from_millis(u64::from(rpc.interval_ms)),
    }
}

fn requested_status(rpc: &Rpc) -> Option<EchoStatus> {
    match rpc.fault {
        Fault::Status(code) => Some(EchoStatus {
            code,
            message: format!("injected {code}"),
        }),
        _ => None,
    }
}

fn output_request(
    rpc: &Rpc,
    messages: usize,
    status: Option<EchoStatus>,
) -> StreamingOutputCallRequest {
    let interval_us = i32::try_from(interval(rpc).as_micros()).unwrap_or(i32::MAX);
    StreamingOutputCallRequest {
        response_parameters: (0..messages)
            .map(|_| ResponseParameters {
                size: i32::try_from(rpc.size).unwrap_or(i32::MAX),
                interval_us,
                compressed: None,
            })
            .collect(),
        response_status: status,
        ..StreamingOutputCallRequest::default()
    }
}

fn tag<T>(request: &mut tonic::Request<T>, index: usize) {
    if let Ok(value) = MetadataValue::try_from(format!("rpc-{index}")) {
        request
            .metadata_mut()
            .insert(conformance::proto::ECHO_INITIAL, value);
    }
}

fn echo_of(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    metadata
        .get(conformance::proto::ECHO_INITIAL)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn ended(observed: &mut Observed, status: &tonic::Status) {
    observed.code = Some(status.code());
    observed.message = status.message().chars().take(120).collect();
}

async fn run_one(channel: crate::client::Channel, index: usize, rpc: Rpc) -> Observed {
    let mut client = test_client(channel);
    let mut seen = Observed::default();
    match rpc.kind {
        Kind::Unary => {
            let mut request = tonic::Request::new(SimpleRequest {
                response_size: i32::try_from(rpc.size).unwrap_or(i32::MAX),
                response_status: requested_status(&rpc),
                ..SimpleRequest::default()
            });
            tag(&mut request, index);
            match client.unary_call(request).await {
                Ok(response) => {
                    seen.echo = echo_of(response.metadata());
                    seen.replies
                        .push(response.into_inner().payload.map_or(0, |p| p.body.len()));
                    seen.code = Some(Code::Ok);
                }
                Err(status) => ended(&mut seen, &status),
            }
        }
        Kind::ServerStreaming => {
            let mut request =
                tonic::Request::new(output_request(&rpc, rpc.messages, requested_status(&rpc)));
            if rpc.fault == Fault::Deadline {
                request.set_timeout(DEADLINE);
            }
            let replies = &mut seen.replies;
            let call = async {
                let mut stream = client.streaming_output_call(request).await?.into_inner();
                loop {
                    if rpc.fault == Fault::CancelMidStream && replies.len() == 1 {
                        return Ok(true);
                    }
                    match stream.message().await? {
                        Some(reply) => replies.push(reply.payload.map_or(0, |p| p.body.len())),
                        None => return Ok(false),
                    }
                }
            };
            let outcome = if rpc.fault == Fault::CancelBeforeFirstReply {
                // Dropping the call before its first (slow) reply cancels it.
                within(Duration::from_millis(100), "first reply", call)
                    .await
                    .ok()
            } else if rpc.fault == Fault::Deadline {
                within(DEADLINE * 20, "deadline", call).await.ok()
            } else {
                Some(call.await)
            };
            match outcome {
                None => seen.cancelled = rpc.fault == Fault::CancelBeforeFirstReply,
                Some(Ok(cancelled)) => {
                    seen.cancelled = cancelled;
                    seen.code = Some(Code::Ok);
                }
                Some(Err(status)) => ended(&mut seen, &status),
            }
        }
        Kind::ClientStreaming => {
            let (requests, outbound) = mpsc::channel(2);
            let call = tokio::spawn(async move {
                client
                    .streaming_input_call(ReceiverStream::new(outbound))
                    .await
            });
            let sending = if rpc.fault == Fault::CancelBeforeFirstReply {
                rpc.messages / 2
            } else {
                rpc.messages
            };
            for _ in 0..sending {
                let message = StreamingInputCallRequest {
                    payload: payload(rpc.size, 3),
                    expect_compressed: None,
                };
                if requests.send(message).await.is_err() {
                    break;
                }
            }
            if rpc.fault == Fault::CancelBeforeFirstReply {
                call.abort();
                seen.cancelled = true;
            } else {
                drop(requests);
                match call.await {
                    Ok(Ok(response)) => {
                        seen.aggregated =
                            usize::try_from(response.into_inner().aggregated_payload_size).ok();
                        seen.code = Some(Code::Ok);
                    }
                    Ok(Err(status)) => ended(&mut seen, &status),
                    Err(join) => seen.message = format!("task failed: {join}"),
                }
            }
        }
        Kind::Bidi => {
            let (requests, outbound) = mpsc::channel(rpc.messages + 1);
            let last = rpc.messages.saturating_sub(1);
            let request_for = |position: usize| {
                output_request(
                    &rpc,
                    1,
                    if position == last {
                        requested_status(&rpc)
                    } else {
                        None
                    },
                )
            };
            let _ = requests.send(request_for(0)).await;
            let mut request = tonic::Request::new(ReceiverStream::new(outbound));
            tag(&mut request, index);
            if rpc.fault == Fault::Deadline {
                request.set_timeout(DEADLINE);
            }
            let replies = &mut seen.replies;
            let echo = &mut seen.echo;
            let call = async {
                let response = client.full_duplex_call(request).await?;
                *echo = echo_of(response.metadata());
                let mut stream = response.into_inner();
                // Ping: the first reply before anything else is sent.
                match stream.message().await? {
                    Some(reply) => replies.push(reply.payload.map_or(0, |p| p.body.len())),
                    None => return Ok(false),
                }
                if rpc.fault == Fault::CancelMidStream {
                    return Ok(true);
                }
                for position in 1..rpc.messages {
                    if requests.send(request_for(position)).await.is_err() {
                        break;
                    }
                }
                drop(requests); // half-close with replies still owed
                if rpc.fault == Fault::CancelAfterHalfClose {
                    return Ok(true);
                }
                while let Some(reply) = stream.message().await? {
                    replies.push(reply.payload.map_or(0, |p| p.body.len()));
                }
                Ok::<_, tonic::Status>(false)
            };
            let outcome = if rpc.fault == Fault::Deadline {
                within(DEADLINE * 20, "deadline", call)
                    .await
                    .unwrap_or(Ok(false))
            } else {
                call.await
            };
            match outcome {
                Ok(cancelled) => {
                    seen.cancelled = cancelled;
                    seen.code = Some(Code::Ok);
                }
                Err(status) => ended(&mut seen, &status),
            }
        }
    }
    seen
}

/// What a schedule's run observed.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    pub rpcs: Vec<Observed>,
    /// How the exchange went, if the schedule has one.
    pub exchange: Option<Result<(), String>>,
}

/// Runs every RPC of the schedule, and its exchange, concurrently on one
/// new channel.
pub async fn execute(target: &Arc<TargetSession>, schedule: &Schedule) -> Execution {
    let options = crate::client::ChannelOptions::default();
    let channel = match target.dial.channel(&options) {
        Ok(channel) => channel,
        Err(err) => {
            let rpcs = schedule
                .rpcs
                .iter()
                .map(|_| Observed {
                    message: format!("no channel: {err}"),
                    ..Observed::default()
                })
                .collect();
            return Execution {
                rpcs,
                exchange: schedule.exchange.map(|_| Err(format!("no channel: {err}"))),
            };
        }
    };
    let exchange = schedule.exchange.map(|exchange| {
        let handle = channel.handle();
        let control = target
            .dial
            .channel(&options)
            .map(|control| control.handle());
        tokio::spawn(async move {
            let control = control.map_err(|err| format!("no control channel: {err}"))?;
            run_exchange(handle, control, exchange).await
        })
    });
    let tasks: Vec<_> = schedule
        .rpcs
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, rpc)| {
            let handle = channel.handle();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(u64::from(rpc.delay_ms))).await;
                match tokio::time::timeout(RPC_BOUND, run_one(handle, index, rpc)).await {
                    Ok(observed) => observed,
                    Err(_) => Observed {
                        stalled: true,
                        ..Observed::default()
                    },
                }
            })
        })
        .collect();
    // A failed exchange decides the case: the schedule's RPCs are then
    // abandoned (aborted, not awaited), so that shrinking stays quick.
    let exchange = match exchange {
        Some(task) => Some(
            task.await
                .unwrap_or_else(|join| Err(format!("task failed: {join}"))),
        ),
        None => None,
    };
    if let Some(Err(_)) = &exchange {
        for task in &tasks {
            task.abort();
        }
        return Execution {
            rpcs: Vec::new(),
            exchange,
        };
    }
    let mut observed = Vec::with_capacity(tasks.len());
    for task in tasks {
        observed.push(task.await.unwrap_or_else(|join| Observed {
            message: format!("task failed: {join}"),
            ..Observed::default()
        }));
    }
    Execution {
        rpcs: observed,
        exchange,
    }
}

/// Bound on one pong of an exchange: far above a healthy server's answer,
/// far below a blocked thread's hold.
const PONG_BOUND: Duration = Duration::from_millis(1_000);
/// How long the blocking handler of an exchange holds its thread: longer
/// than a pong's bound, so that a server it stalls is caught.
const BLOCK_HOLD: Duration = Duration::from_millis(1_500);

type Pinger = (
    mpsc::Sender<StreamingOutputCallRequest>,
    tonic::Streaming<conformance::proto::grpc_testing::StreamingOutputCallResponse>,
);

fn ping() -> StreamingOutputCallRequest {
    crate::drivers::output_request(&[8], Duration::ZERO)
}

/// Opens the exchange's streams together, then pings them in turn; each
/// pong must arrive within its bound while the other streams stay open.
async fn run_exchange(
    channel: crate::client::Channel,
    control: crate::client::Channel,
    exchange: super::schedule::Exchange,
) -> Result<(), String> {
    let mut blocker = None;
    if exchange.beside_blocked_thread {
        let mut probe = crate::drivers::probe_client(channel.clone());
        let tag = format!("explore-block-{}-{:x}", std::process::id(), rand_suffix());
        let request = crate::drivers::hold_request(
            &tag,
            conformance::proto::probe::HoldMode::BlockThread,
            BLOCK_HOLD,
            "",
        );
        blocker = Some(tokio::spawn(async move { probe.hold(request).await }));
        let mut observer = crate::drivers::probe_client(control);
        if !crate::drivers::wait_running(&mut observer, &tag, Duration::from_secs(3)).await {
            return Err(
                "while one handler blocked its thread, the server did not show it RUNNING to an Observe call on another connection within 3 s: the blocked thread stalled the other handlers"
                    .into(),
            );
        }
    }
    let mut streams: Vec<Pinger> = Vec::new();
    for index in 0..exchange.streams {
        let mut client = test_client(channel.clone());
        let (requests, outbound) = mpsc::channel(2);
        // The first ping goes with the call: a server may send its headers
        // only with its first message.
        let _ = requests.send(ping()).await;
        let call = client.full_duplex_call(ReceiverStream::new(outbound));
        let mut replies = match within(PONG_BOUND, "FullDuplexCall", call).await {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Err(format!("stream #{index} failed: {status}")),
            Err(stalled) => {
                return Err(format!(
                    "stream #{index} did not open while {index} other stream(s) of the channel were open: {stalled}"
                ));
            }
        };
        pong(&mut replies, index, 0, streams.len()).await?;
        streams.push((requests, replies));
    }
    let open = streams.len();
    for round in 1..exchange.rounds {
        for (index, (requests, replies)) in streams.iter_mut().enumerate() {
            requests
                .send(ping())
                .await
                .map_err(|_| format!("stream #{index}: its request stream closed"))?;
            pong(replies, index, round, open - 1).await?;
        }
    }
    for (index, (requests, mut replies)) in streams.into_iter().enumerate() {
        drop(requests);
        match within(PONG_BOUND, "end", replies.message()).await {
            Ok(Ok(None)) => {}
            other => {
                return Err(format!(
                    "stream #{index} did not end OK after its half-close: {other:?}"
                ));
            }
        }
    }
    // The blocking handler's own outcome is not the exchange's business:
    // the case ends without waiting out its hold.
    if let Some(blocker) = blocker {
        blocker.abort();
    }
    Ok(())
}

async fn pong(
    replies: &mut tonic::Streaming<conformance::proto::grpc_testing::StreamingOutputCallResponse>,
    index: usize,
    round: usize,
    others: usize,
) -> Result<(), String> {
    match within(PONG_BOUND, "pong", replies.message()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(format!(
            "stream #{index} ended before its pong of round {round}"
        )),
        Ok(Err(status)) => Err(format!("stream #{index} failed in round {round}: {status}")),
        Err(_) => Err(format!(
            "stream #{index} got no pong within {} ms in round {round} while {others} other stream(s) of the channel were open: the server did not run their handlers at the same time",
            PONG_BOUND.as_millis()
        )),
    }
}

/// A per-call suffix for handler tags (runs never share a tag).
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    now ^ NEXT
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9e37_79b9)
}
