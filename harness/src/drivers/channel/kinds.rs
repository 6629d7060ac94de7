//! TestService RPCs of each kind with their answers checked against what
//! was asked: a reply of another size is another request's (or corrupt).

use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::proto::grpc_testing::{SimpleRequest, StreamingInputCallRequest};

use crate::drivers::prelude::*;

pub type Client = TestServiceClient<Channel>;

/// A UnaryCall that must answer `size` bytes; returns the response
/// metadata for further checks.
pub async fn unary(
    mut client: Client,
    request: impl tonic::IntoRequest<SimpleRequest>,
    size: usize,
) -> Result<tonic::metadata::MetadataMap, RpcError> {
    let (metadata, reply, _) = client.unary_call(request).await?.into_parts();
    let got = reply.payload.map_or(0, |p| p.body.len());
    if got == size {
        Ok(metadata)
    } else {
        Err(RpcError::wrong(format!("asked {size} bytes, got {got}")))
    }
}

/// A StreamingOutputCall that must answer one response per size, in order,
/// each after `interval` on the server.
pub async fn server_streaming(
    mut client: Client,
    sizes: &[usize],
    interval: Duration,
) -> Result<(), RpcError> {
    let request = output_request(sizes, interval);
    let mut stream = client.streaming_output_call(request).await?.into_inner();
    let mut got = Vec::with_capacity(sizes.len());
    while let Some(reply) = stream.message().await? {
        got.push(reply.payload.map_or(0, |p| p.body.len()));
    }
    if got == sizes {
        Ok(())
    } else {
        Err(RpcError::wrong(format!(
            "asked sizes {sizes:?}, got {got:?}"
        )))
    }
}

/// A StreamingInputCall sending one message per size, each byte `fill`;
/// the server must count every byte.
pub async fn client_streaming(
    mut client: Client,
    sizes: &[usize],
    fill: u8,
) -> Result<(), RpcError> {
    let requests: Vec<_> = sizes
        .iter()
        .map(|&size| StreamingInputCallRequest {
            payload: payload(size, fill),
            expect_compressed: None,
        })
        .collect();
    let reply = client
        .streaming_input_call(tokio_stream::iter(requests))
        .await?
        .into_inner();
    let sent: usize = sizes.iter().sum();
    let got = usize::try_from(reply.aggregated_payload_size).unwrap_or(usize::MAX);
    if got == sent {
        Ok(())
    } else {
        Err(RpcError::wrong(format!(
            "sent {sent} bytes, server counted {got}"
        )))
    }
}
