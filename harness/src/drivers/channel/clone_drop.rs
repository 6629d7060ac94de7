//! `clone-drop`: tasks clone and drop channel handles while RPCs are in
//! flight; no RPC fails and the connection survives (method:
//! clone_drop.md).

use std::collections::BTreeSet;

use super::duplex::Held;
use super::workers::{OnFailure, in_turn, short_rpc};
use crate::drivers::prelude::*;

pub struct CloneDrop;

#[derive(Debug, Deserialize, Serialize)]
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
        let has_probe = ctx.target().has(Capability::Probe);
        // At least one stream slot must stay free for the tasks' RPCs.
        let streams = ctx.open_together(params.streams, 1, "long streams");
        let label = |index: usize| format!("long stream #{index}");
        let long = match Held::open_all(&ctx, &channel, streams, label).await {
            Ok(long) => long,
            Err((index, err)) => {
                return Ok(Finding::fail(format!(
                    "{} did not answer: {err}",
                    label(index)
                )));
            }
        };
        let limit = ctx.rpc_limit();
        let turns = in_turn(
            &ctx,
            params.tasks,
            params.cycles,
            limit,
            OnFailure::Stop,
            |_, cycle| {
                // A fresh clone for every RPC, dropped when it ends; every
                // other one a Hold, which reports its connection.
                let identify = has_probe && cycle % 2 == 1;
                short_rpc(channel.handle(), identify, 8, limit)
            },
        )
        .await;
        let identities: BTreeSet<String> = turns.values.into_iter().flatten().collect();
        let survived = Held::finish_all(long).await;

        let opened = channel.connections_opened();
        let mut checks = Checks::new();
        if !turns.workers.all_passed() {
            checks.problem(turns.workers.line("tasks saw a failed RPC"));
        }
        if !survived.all_passed() {
            checks.problem(survived.line("long streams broke"));
        }
        if opened != 1 || identities.len() > 1 {
            checks.problem(format!(
                "the client opened {opened} TCP connections and the server saw {} connection identities, where one channel should keep one connection",
                identities.len()
            ));
        }
        let finding = checks.finding(
            "while channel handles were cloned and dropped",
            format!(
                "{} clone-call-drop cycles while {streams} streams stayed open: no failure, one connection",
                turns.calls.total()
            ),
        );
        Ok(finding
            .figure("client_connections", opened as f64)
            .figure("server_connection_identities", identities.len() as f64)
            .figure("failed", turns.workers.failed() as f64))
    }
}
