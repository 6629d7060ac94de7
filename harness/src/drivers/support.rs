//! Helpers shared by drivers: clients, request builders, bounded waits.

use std::future::Future;
use std::time::Duration;

use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::proto::grpc_testing::{
    Payload, ResponseParameters, SimpleRequest, StreamingOutputCallRequest,
};
use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HandlerState, HoldMode, HoldRequest, ObserveRequest};
use tonic::transport::Channel;

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
        let observed = probe
            .observe(ObserveRequest {
                tag: tag.to_owned(),
                wait_ms: 0,
            })
            .await;
        if let Ok(observed) = observed {
            if observed.get_ref().state() == HandlerState::Running {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
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
