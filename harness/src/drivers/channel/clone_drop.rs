//! `clone-drop`: tasks clone and drop channel handles while RPCs are in
//! flight; no RPC fails and the connection survives.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, quick_rpc, test_client, within,
};
use crate::scenario::Capability;
use crate::verdict::Finding;

pub struct CloneDrop;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Tasks cloning and dropping handles.
    pub tasks: usize,
    /// Clone-call-drop cycles per task.
    pub cycles: usize,
    /// Long streams kept open across all of it.
    pub streams: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            tasks: 32,
            cycles: 16,
            streams: 4,
        }
    }
}

impl Driver for CloneDrop {
    const NAME: &'static str = "clone-drop";
    const DOC: &'static str = include_str!("clone_drop.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_secs(10);
        let has_probe = ctx.target().has(Capability::Probe);
        // The long streams stay open while the tasks' RPCs come and go:
        // at least one stream slot must stay free for those.
        let streams = ctx.open_together(params.streams, 1, "long streams");
        let mut long = Vec::new();
        for index in 0..streams {
            let mut client = test_client(channel.handle());
            let (requests, outbound) = mpsc::channel(2);
            let _ = requests.send(output_request(&[4], Duration::ZERO)).await;
            let mut replies = match within(
                limit,
                "FullDuplexCall",
                client.full_duplex_call(ReceiverStream::new(outbound)),
            )
            .await
            {
                Ok(Ok(response)) => response.into_inner(),
                Ok(Err(status)) => {
                    return Ok(Finding::fail(format!(
                        "FullDuplexCall failed: {}",
                        brief(&status)
                    )));
                }
                Err(stalled) => return Ok(Finding::fail(stalled.to_string())),
            };
            if !matches!(
                within(limit, "reply", replies.message()).await,
                Ok(Ok(Some(_)))
            ) {
                return Ok(Finding::fail(format!(
                    "long stream #{index} did not answer"
                )));
            }
            long.push((
                requests,
                replies,
                ctx.timeline().start(format!("long stream #{index}")),
            ));
        }
        let mut tasks = Vec::new();
        for task in 0..params.tasks {
            let shared = channel.clone();
            let cycles = params.cycles;
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for cycle in 0..cycles {
                    // A fresh clone for every RPC, dropped right after it.
                    let identify = has_probe && cycle % 2 == 1;
                    match quick_rpc(shared.handle(), identify, 8, limit).await {
                        Ok(id) => ids.extend(id),
                        Err(reason) => return Err(format!("task {task} cycle {cycle}: {reason}")),
                    }
                }
                Ok(ids)
            }));
        }
        let mut identities = BTreeSet::new();
        let mut failures = Vec::new();
        for task in tasks {
            match task
                .await
                .map_err(|join| DriverError::harness(format!("task failed: {join}")))?
            {
                Ok(ids) => identities.extend(ids),
                Err(reason) => failures.push(reason),
            }
        }
        let mut broken_streams = 0;
        for (requests, mut replies, span) in long {
            let alive = requests
                .send(output_request(&[4], Duration::ZERO))
                .await
                .is_ok()
                && matches!(
                    within(limit, "reply", replies.message()).await,
                    Ok(Ok(Some(_)))
                );
            drop(requests);
            let ended = matches!(within(limit, "end", replies.message()).await, Ok(Ok(None)));
            span.end(alive && ended);
            if !(alive && ended) {
                broken_streams += 1;
            }
        }
        let opened = channel.connections_opened();
        let finding = if !failures.is_empty() {
            Finding::fail(format!(
                "{} tasks saw a failed RPC; first: {}",
                failures.len(),
                failures[0]
            ))
        } else if broken_streams > 0 {
            Finding::fail(format!(
                "{broken_streams} long streams broke while handles were cloned and dropped"
            ))
        } else if opened != 1 || identities.len() > 1 {
            Finding::fail(format!(
                "cloning and dropping handles cost the shared connection: the client opened {opened} TCP connections and the server saw {} connection identities",
                identities.len()
            ))
        } else {
            Finding::pass().evidence(format!(
                "{} clone-call-drop cycles while {} streams stayed open: no failure, one connection",
                params.tasks * params.cycles,
                streams
            ))
        };
        Ok(finding
            .figure("client_connections", opened as f64)
            .figure("server_connection_identities", identities.len() as f64)
            .figure("failed", failures.len() as f64))
    }
}
