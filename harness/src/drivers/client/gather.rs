//! `client-gather`: N calls (or N held streams) of one client channel meet at
//! the server's barrier, each answered with its own caller's identity.

use conformance::proto::probe::{Call, Calls, GatherRequest, call, instruction};

use super::common::instruct_at_barrier;
use crate::drivers::Subject;
use crate::drivers::prelude::*;

pub struct Gather;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Calls that must be in flight together on the one channel.
    pub calls: u32,
    /// Hold each call as a stream (GatherStream) instead of a unary call.
    pub streams: bool,
    /// How long the server-side barrier waits.
    pub barrier_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            calls: 32,
            streams: false,
            barrier_ms: 3_000,
        }
    }
}

impl Driver for Gather {
    const NAME: &'static str = "client-gather";
    const DOC: &'static str = include_str!("gather.md");
    const SUBJECT: Subject = Subject::Client;
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let parties = params.calls.max(1);
        let group = ctx.unique("gather");
        let calls = (0..parties)
            .map(|index| {
                let caller = format!("task-{index}");
                let request = GatherRequest {
                    group: group.clone(),
                    parties,
                    timeout_ms: params.barrier_ms,
                    caller: caller.clone(),
                };
                let rpc = if params.streams {
                    call::Rpc::GatherStream(request)
                } else {
                    call::Rpc::Gather(request)
                };
                Call {
                    caller,
                    rpc: Some(rpc),
                }
            })
            .collect();
        let work = instruction::Work::Calls(Calls { calls });
        let deadline = Duration::from_millis(u64::from(params.barrier_ms)) + Duration::from_secs(2);
        let parties = parties as usize;
        let (outcome, server) = instruct_at_barrier(&ctx, work, deadline, &group, parties).await?;
        let what = if params.streams { "streams" } else { "calls" };
        let result = match server.judge(&ctx, outcome, parties, what) {
            Ok(result) => result,
            Err(finding) => return Ok(finding),
        };
        let mut checks = Checks::new();
        for call in &result.calls {
            if call.code != 0 {
                checks.problem(format!(
                    "{} ended with status {}: {}",
                    call.caller, call.code, call.message
                ));
            } else if call.reply_caller != call.caller {
                checks.problem(format!(
                    "{} received the reply meant for {:?}: replies reached the wrong caller",
                    call.caller, call.reply_caller
                ));
            }
        }
        if result.calls.len() != parties {
            checks.problem(format!(
                "the adapter reported {} of {parties} calls",
                result.calls.len()
            ));
        }
        let finding = checks.finding(
            "the server saw the calls together, but the client's report disagrees",
            format!(
            "all {parties} {what} of one channel were inside the server together (its barrier released them), on one connection, each answered with its own caller's identity"
            ),
        );
        Ok(server.record(finding))
    }
}
