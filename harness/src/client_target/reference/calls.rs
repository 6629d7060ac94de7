//! `Calls`: every call in a task of its own, all on the instruction's one
//! channel, each through a stub of its service.

use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::SimpleRequest;
use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::proto::probe::client_observer_client::ClientObserverClient;
use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{Call, CallResult, Calls, GatherRequest, RendezvousRequest, call};
use tonic::transport::Channel;

use super::{Channels, GLOBAL_LOCK, status_of};
use crate::defects::AdapterDefect;

pub(super) async fn run(channels: &Channels, calls: Calls, deadline: Duration) -> Vec<CallResult> {
    let shared = channels.shared();
    let lock = channels.has(AdapterDefect::GlobalLock);
    let tasks: Vec<_> = calls
        .calls
        .into_iter()
        .map(|call| {
            let channel = channels.for_call(&shared);
            tokio::spawn(async move {
                let _lock = if lock {
                    Some(GLOBAL_LOCK.lock().await)
                } else {
                    None
                };
                one(call, channel, deadline).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap_or_else(|err| CallResult {
            code: tonic::Code::Internal as i32,
            message: format!("the adapter's task failed: {err}"),
            ..CallResult::default()
        }));
    }
    results
}

fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

async fn one(call: Call, channel: Channel, deadline: Duration) -> CallResult {
    let started = Instant::now();
    let mut result = CallResult {
        caller: call.caller,
        ..CallResult::default()
    };
    let outcome: Result<(String, u32), tonic::Status> = match call.rpc {
        Some(call::Rpc::Gather(request)) => ClientObserverClient::new(channel)
            .gather(with_deadline(request, deadline))
            .await
            .map(|reply| (reply.into_inner().caller, 0)),
        Some(call::Rpc::GatherStream(request)) => gather_stream(channel, request, deadline).await,
        Some(call::Rpc::Rendezvous(call)) => ProbeServiceClient::new(channel)
            .rendezvous(with_deadline(
                RendezvousRequest {
                    group: call.group,
                    parties: call.parties,
                    timeout_ms: call.timeout_ms,
                    scope: call.scope,
                },
                deadline,
            ))
            .await
            .map(|_| (String::new(), 0)),
        Some(call::Rpc::UnaryResponseSize(size)) => {
            let request = SimpleRequest {
                response_size: i32::try_from(size).unwrap_or(i32::MAX),
                ..SimpleRequest::default()
            };
            TestServiceClient::new(channel)
                .unary_call(with_deadline(request, deadline))
                .await
                .map(|reply| {
                    let body = reply.into_inner().payload.map_or(0, |p| p.body.len());
                    (String::new(), u32::try_from(body).unwrap_or(u32::MAX))
                })
        }
        None => Err(tonic::Status::unimplemented("a call with no rpc set")),
    };
    (result.code, result.message) = status_of(&outcome);
    if let Ok((caller, size)) = outcome {
        result.reply_caller = caller;
        result.reply_size = size;
    }
    result.elapsed_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    result
}

/// Sends the one request, reads the one response, half-closes, reads to
/// the end.
async fn gather_stream(
    channel: Channel,
    request: GatherRequest,
    deadline: Duration,
) -> Result<(String, u32), tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.send(request).await;
    let requests = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut replies = ClientObserverClient::new(channel)
        .gather_stream(with_deadline(requests, deadline))
        .await?
        .into_inner();
    let first = replies
        .message()
        .await?
        .ok_or_else(|| tonic::Status::internal("the stream ended with no response"))?;
    drop(tx);
    while replies.message().await?.is_some() {}
    Ok((first.caller, 0))
}
