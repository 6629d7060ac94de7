//! `one-connection`: all RPCs of one channel ride one HTTP/2 connection
//! (method: one_connection.md).

use std::collections::BTreeSet;

use super::workers::{OnFailure, in_turn, short_rpc};
use crate::drivers::prelude::*;

pub struct OneConnection;

#[derive(Debug, Deserialize, Serialize)]
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
        let limit = ctx.rpc_limit();
        let clones: Vec<Channel> = (0..params.tasks).map(|_| channel.handle()).collect();
        let turns = in_turn(
            &ctx,
            params.tasks,
            params.rpcs_per_task,
            limit,
            OnFailure::Stop,
            |task, index| {
                // Every other RPC a Hold, which reports its connection.
                let identify = has_probe && index % 2 == 1;
                short_rpc(clones[task].clone(), identify, 32, limit)
            },
        )
        .await;
        let identities: BTreeSet<String> = turns.values.into_iter().flatten().collect();
        let opened = channel.connections_opened();
        let finding = if !turns.workers.all_passed() {
            Finding::fail(turns.workers.line("tasks saw failed RPCs"))
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
                turns.calls.total(),
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
