//! `one-connection`: all RPCs of one channel ride one HTTP/2 connection,
//! counted on the client (a counting connector) and on the server
//! (ProbeService's connection identity).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::drivers::{Ctx, Driver, DriverError, DriverResult, quick_rpc};
use crate::scenario::Capability;
use crate::verdict::Finding;

pub struct OneConnection;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Tasks, each with its own clone of the channel.
    pub tasks: usize,
    /// RPCs per task.
    pub rpcs_per_task: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            tasks: 64,
            rpcs_per_task: 4,
        }
    }
}

impl Driver for OneConnection {
    const NAME: &'static str = "one-connection";
    const DOC: &'static str = include_str!("one_connection.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let has_probe = ctx.target().has(Capability::Probe);
        let limit = Duration::from_secs(10);
        let mut tasks = Vec::new();
        for task in 0..params.tasks {
            let handle = channel.handle();
            let rpcs = params.rpcs_per_task;
            let timeline = ctx.timeline().clone();
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for index in 0..rpcs {
                    let span = timeline.start(format!("task {task} rpc {index}"));
                    let identify = has_probe && index % 2 == 1;
                    let outcome = quick_rpc(handle.clone(), identify, 32, limit).await;
                    span.end(outcome.is_ok());
                    ids.extend(outcome?);
                }
                Ok::<_, String>(ids)
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
        let opened = channel.connections_opened();
        let finding = if !failures.is_empty() {
            Finding::fail(format!(
                "{} tasks saw failed RPCs; first: {}",
                failures.len(),
                failures[0]
            ))
        } else if opened != 1 {
            Finding::fail(format!(
                "the channel opened {opened} TCP connections for {} concurrent tasks: its RPCs were not multiplexed on one connection",
                params.tasks
            ))
        } else if has_probe && identities.len() != 1 {
            Finding::fail(format!(
                "the server saw {} different connections for one channel",
                identities.len()
            ))
        } else {
            Finding::pass().evidence(format!(
                "{} RPCs from {} tasks rode one TCP connection{}",
                params.tasks * params.rpcs_per_task,
                params.tasks,
                if has_probe {
                    " (client count 1, server saw 1 connection identity)"
                } else {
                    " (client count)"
                }
            ))
        };
        Ok(finding
            .figure("client_connections", opened as f64)
            .figure("server_connection_identities", identities.len() as f64))
    }
}
