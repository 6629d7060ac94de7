//! Clients and request shapes: one builder per request the drivers send.

use std::time::Duration;

use crate::client::Channel;
use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::proto::grpc_testing::{
    Payload, ResponseParameters, SimpleRequest, StreamingOutputCallRequest,
};
use conformance::proto::health::health_client::HealthClient;
use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::proto::probe::{HoldMode, HoldRequest};

/// Largest message the harness sends or accepts.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

pub fn test_client(channel: Channel) -> TestServiceClient<Channel> {
    TestServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

pub fn health_client(channel: Channel) -> HealthClient<Channel> {
    HealthClient::new(channel)
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
