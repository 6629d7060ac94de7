//! `rendezvous`: N RPCs on one shared channel meet at a ProbeService barrier
//! that only releases when all N are inside the server at the same time.

use std::collections::BTreeSet;
use std::sync::Arc;

use conformance::proto::probe::RendezvousRequest;
use serde::Deserialize;

use std::time::Duration;

use crate::drivers::{Ctx, Driver, DriverError, DriverResult, brief, probe_client, within};
use crate::verdict::Finding;

pub struct Rendezvous;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// RPCs that must be in flight together.
    pub parties: u32,
    /// How long the server-side barrier waits.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
}

fn default_timeout() -> u32 {
    5_000
}

impl Default for Params {
    fn default() -> Self {
        Self {
            parties: 8,
            timeout_ms: default_timeout(),
        }
    }
}

impl Driver for Rendezvous {
    const NAME: &'static str = "rendezvous";
    const DOC: &'static str = include_str!("rendezvous.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let wanted = usize::try_from(params.parties.max(1)).unwrap_or(usize::MAX);
        let parties = ctx.open_together(wanted, 0, "barrier parties");
        let parties = u32::try_from(parties).unwrap_or(u32::MAX);
        let channel = ctx.channel()?;
        let group = ctx.unique("barrier");
        let mut calls = Vec::new();
        for index in 0..parties {
            let mut probe = probe_client(channel.handle());
            let group = group.clone();
            let mut span = ctx.timeline().start(format!("rendezvous #{index}"));
            let timeout_ms = params.timeout_ms;
            // The client gives up a little after the server-side barrier
            // would have: a serialising target then yields a verdict with
            // evidence instead of running into the scenario's budget.
            let limit = Duration::from_millis(u64::from(timeout_ms)) + Duration::from_secs(2);
            calls.push(tokio::spawn(async move {
                let request = RendezvousRequest {
                    group,
                    parties,
                    timeout_ms,
                    scope: String::new(),
                };
                let outcome = match within(limit, "Rendezvous", probe.rendezvous(request)).await {
                    Ok(outcome) => outcome,
                    Err(stalled) => Err(tonic::Status::deadline_exceeded(stalled.to_string())),
                };
                span.first_message();
                span.end(outcome.is_ok());
                outcome
            }));
        }
        let mut released = Vec::new();
        let mut aborted = 0usize;
        let mut other_errors = Vec::new();
        let mut connection_ids = BTreeSet::new();
        for call in calls {
            match call.await {
                Ok(Ok(response)) => {
                    let response = response.into_inner();
                    connection_ids.insert(response.connection_id);
                    released.push(response.arrival);
                }
                Ok(Err(status))
                    if matches!(
                        status.code(),
                        tonic::Code::Aborted | tonic::Code::DeadlineExceeded
                    ) =>
                {
                    aborted += 1;
                }
                Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                    return Ok(Finding::skip(format!(
                        "the target does not implement ProbeService.Rendezvous: {}",
                        brief(&status)
                    )));
                }
                Ok(Err(status)) => other_errors.push(brief(&status)),
                Err(join) => {
                    return Err(DriverError::harness(format!("an RPC task failed: {join}")));
                }
            }
        }
        released.sort_unstable();
        let opened = channel.connections_opened();
        let mut finding = if released.len() == parties as usize {
            Finding::pass().evidence(format!(
                "all {parties} RPCs were inside the server at the same time: the barrier released them together (arrivals 1..{parties})"
            ))
        } else if !other_errors.is_empty() {
            Finding::fail(format!(
                "{} of {parties} RPCs failed with errors (first: {}); {} released, {aborted} aborted",
                other_errors.len(),
                other_errors[0],
                released.len()
            ))
        } else {
            Finding::fail(format!(
                "only {} of {parties} concurrent RPCs on one channel were released by the barrier; {aborted} timed out waiting for the others (ABORTED at the server, or no answer): the RPCs were not in flight in parallel",
                released.len()
            ))
        };
        finding = finding
            .evidence(format!(
                "client opened {opened} TCP connection(s); server reported {} connection identity(ies)",
                connection_ids.len()
            ))
            .figure("parties", f64::from(parties))
            .figure("released", released.len() as f64)
            .figure("aborted", aborted as f64)
            .figure("client_connections", opened as f64);
        Ok(finding)
    }
}
