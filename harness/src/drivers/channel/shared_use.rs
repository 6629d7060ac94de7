//! `shared-use`: many tasks share one channel through cloned stubs; every
//! reply must be its own (method: shared_use.md).

use tonic::metadata::MetadataValue;

use super::kinds::{self, Client};
use super::workers::{OnFailure, in_turn};
use crate::drivers::prelude::*;

pub struct SharedUse;

#[derive(Debug, Deserialize, Serialize)]
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

/// RPC `id`: its kind, the sizes it asks for or sends and its echoed header
/// all derive from its identity, so that a reply shows whose it is.
async fn one_rpc(client: Client, id: usize) -> Result<(), RpcError> {
    let tag = format!("rpc-{id}");
    let outcome = match id % 3 {
        0 => unary_echo(client, &tag, 1 + id % 4096).await,
        1 => kinds::server_streaming(client, &[1 + id % 997, 2 + id % 991], Duration::ZERO).await,
        _ => {
            let sizes = [1 + id % 509, 3 + id % 503, 5 + id % 499];
            kinds::client_streaming(client, &sizes, (id % 251) as u8).await
        }
    };
    let kind = ["UnaryCall", "StreamingOutputCall", "StreamingInputCall"][id % 3];
    outcome.map_err(|err| RpcError::wrong(format!("{kind} {tag}: {err}")))
}

/// A UnaryCall for `size` bytes carrying `tag` in x-grpc-test-echo-initial,
/// which the server must echo back.
async fn unary_echo(client: Client, tag: &str, size: usize) -> Result<(), RpcError> {
    let header = MetadataValue::try_from(tag).map_err(|err| RpcError::Task(err.to_string()))?;
    let mut request = tonic::Request::new(unary_request(size, 0));
    request
        .metadata_mut()
        .insert(conformance::proto::ECHO_INITIAL, header);
    let metadata = kinds::unary(client, request, size).await?;
    let echoed = metadata.get(conformance::proto::ECHO_INITIAL);
    if echoed.and_then(|value| value.to_str().ok()) == Some(tag) {
        Ok(())
    } else {
        Err(RpcError::wrong(format!(
            "echoed metadata {echoed:?} belongs to another request"
        )))
    }
}

impl Driver for SharedUse {
    const NAME: &'static str = "shared-use";
    const DOC: &'static str = include_str!("shared_use.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let per_task = params.rpcs_per_task;
        // Each task's own stub, cloned for each of its RPCs.
        let stubs: Vec<Client> = (0..params.tasks)
            .map(|_| test_client(channel.handle()))
            .collect();
        let turns = in_turn(
            &ctx,
            params.tasks,
            per_task,
            Duration::from_millis(params.rpc_timeout_ms),
            OnFailure::GoOn,
            |task, index| one_rpc(stubs[task].clone(), task * per_task + index),
        )
        .await;
        let calls = &turns.calls;
        let finding = if calls.all_passed() {
            Finding::pass().evidence(format!(
                "{} RPCs from {} tasks sharing one channel each got their own reply (sizes and echoed metadata matched)",
                calls.total(),
                params.tasks
            ))
        } else {
            calls.fail_finding("RPCs on the shared channel failed or got another request's reply")
        };
        Ok(finding
            .evidence(connections(&channel))
            .figure("rpcs", calls.total() as f64)
            .figure("failed", calls.failed() as f64))
    }
}
