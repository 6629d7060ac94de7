//! `client-stubs`: stubs of three services on one client channel, their
//! calls in flight together (one barrier joined through two services) and
//! each reply reaching its own caller.

use conformance::proto::probe::{Call, Calls, GatherRequest, RendezvousCall, call, instruction};

use super::common::instruct_at_barrier;
use crate::drivers::Subject;
use crate::drivers::prelude::*;

pub struct Stubs;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Calls through each of the two barrier services (ClientObserver's
    /// Gather, ProbeService's Rendezvous): 2 × this many meet.
    pub per_service: u32,
    /// TestService.UnaryCall calls beside them, each asking for a reply
    /// size of its own.
    pub unary_calls: u32,
    /// How long the server-side barrier waits.
    pub barrier_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            per_service: 8,
            unary_calls: 16,
            barrier_ms: 3_000,
        }
    }
}

/// The reply size the i-th unary call asks for: its identity.
fn reply_size(index: u32) -> u32 {
    1_000 + 7 * index
}

impl Driver for Stubs {
    const NAME: &'static str = "client-stubs";
    const DOC: &'static str = include_str!("stubs.md");
    const SUBJECT: Subject = Subject::Client;
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let per_service = params.per_service.max(1);
        let parties = 2 * per_service;
        let group = ctx.unique("stubs");
        let mut calls = Vec::new();
        for index in 0..per_service {
            let caller = format!("gather-{index}");
            let request = GatherRequest {
                group: group.clone(),
                parties,
                timeout_ms: params.barrier_ms,
                caller: caller.clone(),
            };
            calls.push(Call {
                caller,
                rpc: Some(call::Rpc::Gather(request)),
            });
            let rendezvous = RendezvousCall {
                group: group.clone(),
                parties,
                timeout_ms: params.barrier_ms,
                scope: String::new(),
            };
            calls.push(Call {
                caller: format!("rendezvous-{index}"),
                rpc: Some(call::Rpc::Rendezvous(rendezvous)),
            });
        }
        for index in 0..params.unary_calls {
            calls.push(Call {
                caller: format!("unary-{index}"),
                rpc: Some(call::Rpc::UnaryResponseSize(reply_size(index))),
            });
        }
        let work = instruction::Work::Calls(Calls { calls });
        let deadline = Duration::from_millis(u64::from(params.barrier_ms)) + Duration::from_secs(2);
        let (outcome, server) =
            instruct_at_barrier(&ctx, work, deadline, &group, parties as usize).await?;
        let what = "Gather and Rendezvous calls";
        let result = match server.judge(&ctx, outcome, parties as usize, what) {
            Ok(result) => result,
            Err(finding) => return Ok(finding),
        };
        let mut checks = Checks::new();
        for call in &result.calls {
            let index = call
                .caller
                .strip_prefix("unary-")
                .and_then(|i| i.parse::<u32>().ok());
            if call.code != 0 {
                checks.problem(format!(
                    "{} ended with status {}: {}",
                    call.caller, call.code, call.message
                ));
            } else if call.caller.starts_with("gather-") && call.reply_caller != call.caller {
                checks.problem(format!(
                    "{} received the reply meant for {:?}",
                    call.caller, call.reply_caller
                ));
            } else if let Some(index) = index
                && call.reply_size != reply_size(index)
            {
                checks.problem(format!(
                    "{} asked for {} bytes and received {}: a reply meant for another call",
                    call.caller,
                    reply_size(index),
                    call.reply_size
                ));
            }
        }
        let expected = (parties + params.unary_calls) as usize;
        if result.calls.len() != expected {
            checks.problem(format!(
                "the adapter reported {} of {expected} calls",
                result.calls.len()
            ));
        }
        let finding = checks.finding(
            "the server saw the calls together, but the client's report disagrees",
            format!(
                "ClientObserver and ProbeService stubs of one channel had {parties} calls inside the server together, on one connection, beside {} TestService calls; every reply reached its own caller",
                params.unary_calls
            ),
        );
        Ok(server.record(finding))
    }
}
