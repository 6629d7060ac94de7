//! `shared-use`: many tasks share one channel through cloned stubs and issue
//! mixed RPCs, each with a unique identity; every reply must be its own.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::grpc_testing::{StreamingInputCallRequest, StreamingOutputCallResponse};
use serde::Deserialize;
use tonic::metadata::MetadataValue;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, payload, test_client,
    unary_request, within,
};
use crate::verdict::Finding;

pub struct SharedUse;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Tasks sharing the channel.
    pub tasks: usize,
    /// RPCs per task (unary, server-streaming and client-streaming in turn).
    pub rpcs_per_task: usize,
    /// Bound on each RPC.
    pub rpc_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            tasks: 64,
            rpcs_per_task: 16,
            rpc_timeout_ms: 10_000,
        }
    }
}

/// One RPC's identity: sizes and the echoed header derive from it.
fn identity(task: usize, index: usize, per_task: usize) -> usize {
    task * per_task + index
}

async fn one_rpc(
    mut client: conformance::proto::grpc_testing::test_service_client::TestServiceClient<
        crate::client::Channel,
    >,
    id: usize,
    limit: Duration,
) -> Result<(), String> {
    let tag = format!("rpc-{id}");
    let header = MetadataValue::try_from(tag.as_str()).map_err(|err| err.to_string())?;
    match id % 3 {
        0 => {
            let size = 1 + id % 4096;
            let mut request = tonic::Request::new(unary_request(size, 0));
            request
                .metadata_mut()
                .insert(conformance::proto::ECHO_INITIAL, header);
            let response = within(limit, "UnaryCall", client.unary_call(request))
                .await
                .map_err(|s| s.to_string())?
                .map_err(|status| format!("UnaryCall {tag}: {}", brief(&status)))?;
            let echoed = response
                .metadata()
                .get(conformance::proto::ECHO_INITIAL)
                .cloned();
            let got = response.into_inner().payload.map_or(0, |p| p.body.len());
            if got != size {
                return Err(format!(
                    "UnaryCall {tag}: asked {size} bytes, got {got}: a reply of another request"
                ));
            }
            if echoed.as_ref().and_then(|v| v.to_str().ok()) != Some(tag.as_str()) {
                return Err(format!(
                    "UnaryCall {tag}: echoed metadata {echoed:?} belongs to another request"
                ));
            }
        }
        1 => {
            let sizes = [1 + id % 997, 2 + id % 991];
            let mut stream = within(
                limit,
                "StreamingOutputCall",
                client.streaming_output_call(output_request(&sizes, Duration::ZERO)),
            )
            .await
            .map_err(|s| s.to_string())?
            .map_err(|status| format!("StreamingOutputCall {tag}: {}", brief(&status)))?
            .into_inner();
            let mut got = Vec::new();
            loop {
                let next = within(limit, "stream message", stream.message())
                    .await
                    .map_err(|s| s.to_string())?
                    .map_err(|status| format!("StreamingOutputCall {tag}: {}", brief(&status)))?;
                match next {
                    Some(StreamingOutputCallResponse { payload }) => {
                        got.push(payload.map_or(0, |p| p.body.len()))
                    }
                    None => break,
                }
            }
            if got != sizes {
                return Err(format!(
                    "StreamingOutputCall {tag}: asked sizes {sizes:?}, got {got:?}"
                ));
            }
        }
        _ => {
            let sizes = [1 + id % 509, 3 + id % 503, 5 + id % 499];
            let requests = sizes.map(|size| StreamingInputCallRequest {
                payload: payload(size, (id % 251) as u8),
                expect_compressed: None,
            });
            let total: usize = sizes.iter().sum();
            let response = within(
                limit,
                "StreamingInputCall",
                client.streaming_input_call(tokio_stream::iter(requests)),
            )
            .await
            .map_err(|s| s.to_string())?
            .map_err(|status| format!("StreamingInputCall {tag}: {}", brief(&status)))?;
            let got = usize::try_from(response.into_inner().aggregated_payload_size)
                .unwrap_or(usize::MAX);
            if got != total {
                return Err(format!(
                    "StreamingInputCall {tag}: sent {total} bytes, server counted {got}"
                ));
            }
        }
    }
    Ok(())
}

impl Driver for SharedUse {
    const NAME: &'static str = "shared-use";
    const DOC: &'static str = include_str!("shared_use.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_millis(params.rpc_timeout_ms);
        let per_task = params.rpcs_per_task;
        let mut tasks = Vec::new();
        for task in 0..params.tasks {
            let client = test_client(channel.handle());
            let timeline = ctx.timeline().clone();
            tasks.push(tokio::spawn(async move {
                let mut errors = Vec::new();
                for index in 0..per_task {
                    let id = identity(task, index, per_task);
                    let span = timeline.start(format!("task {task} rpc {index}"));
                    let outcome = one_rpc(client.clone(), id, limit).await;
                    span.end(outcome.is_ok());
                    if let Err(error) = outcome {
                        errors.push(error);
                    }
                }
                errors
            }));
        }
        let mut errors = Vec::new();
        for task in tasks {
            errors.extend(
                task.await
                    .map_err(|join| DriverError::harness(format!("task failed: {join}")))?,
            );
        }
        let total = params.tasks * per_task;
        let finding = if errors.is_empty() {
            Finding::pass().evidence(format!(
                "{total} RPCs from {} tasks sharing one channel each got their own reply (sizes and echoed metadata matched)",
                params.tasks
            ))
        } else {
            let mut finding = Finding::fail(format!(
                "{} of {total} RPCs on the shared channel failed or got another request's reply; first: {}",
                errors.len(),
                errors[0]
            ));
            for error in errors.iter().skip(1).take(4) {
                finding = finding.evidence(error.clone());
            }
            finding
        };
        Ok(finding
            .evidence(format!(
                "client opened {} TCP connection(s)",
                channel.connections_opened()
            ))
            .figure("rpcs", total as f64)
            .figure("failed", errors.len() as f64))
    }
}
