//! `rendezvous`: N RPCs on one shared channel meet at a ProbeService barrier
//! that only releases when all N are inside the server at the same time.

use std::collections::BTreeSet;

use conformance::proto::probe::RendezvousRequest;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::drivers::prelude::*;

pub struct Rendezvous;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// RPCs that must be in flight together.
    pub parties: u32,
    /// How long the server-side barrier waits.
    pub timeout_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            parties: 8,
            timeout_ms: 5_000,
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
        let channel = ctx.channel()?;
        let scope = ctx.unique("parties");
        let request = RendezvousRequest {
            group: ctx.unique("barrier"),
            parties: u32::try_from(parties).unwrap_or(u32::MAX),
            timeout_ms: params.timeout_ms,
            scope: scope.clone(),
        };
        // The client gives up a little after the server-side barrier would
        // have: a serialising target then yields a verdict with evidence
        // instead of running into the scenario's budget.
        let limit = Duration::from_millis(u64::from(params.timeout_ms)) + Duration::from_secs(2);
        // The parties' gauge, read from the control connection before they
        // are sent: its latency is what a later silence is compared with.
        let mut control = probe_client(ctx.control()?);
        let started = Instant::now();
        let answered_in = read_gauge(&mut control, &scope, limit)
            .await
            .ok()
            .map(|_| started.elapsed());
        let sent = Instant::now();
        let calls: Vec<_> = (0..parties)
            .map(|index| {
                let mut probe = probe_client(channel.handle());
                let request = request.clone();
                ctx.spawn_within(format!("rendezvous #{index}"), limit, async move {
                    probe.rendezvous(request).await
                })
            })
            .collect();
        let cancel: Vec<_> = calls.iter().map(Call::abort_handle).collect();
        // Outcomes as they come: once the barrier has given up on one party
        // it can no longer release all of them, the verdict is certain, and
        // the parties still waiting are cancelled rather than waited out.
        let mut outcomes: FuturesUnordered<_> = calls
            .into_iter()
            .enumerate()
            .map(|(index, call)| async move { (index, call.join().await) })
            .collect();

        // The parties inside cannot leave before all are: fewer inside and
        // no more admitted for long, or a server that stops answering the
        // gauge, proves they never will be (see `admission_stalled`).
        let wanted = request.parties;
        let stuck = async {
            match answered_in {
                Some(answered_in) => {
                    admission_stalled(&mut control, &scope, wanted, answered_in, sent).await
                }
                None => std::future::pending().await,
            }
        };
        let mut errors = Tally::new();
        let (mut released, mut aborted) = (0usize, 0usize);
        let mut gave_up_on = None;
        let mut connection_ids = BTreeSet::new();
        let collect = async {
            while let Some((index, outcome)) = outcomes.next().await {
                match outcome {
                    Ok(response) => {
                        connection_ids.insert(response.into_inner().connection_id);
                        released += 1;
                        errors.pass();
                    }
                    Err(err) if err.is_code(&[tonic::Code::Unimplemented]) => {
                        return Some(format!(
                            "the target does not implement ProbeService.Rendezvous: {err}"
                        ));
                    }
                    Err(err)
                        if matches!(err, RpcError::Stalled(_))
                            || err.is_code(&[
                                tonic::Code::Aborted,
                                tonic::Code::DeadlineExceeded,
                            ]) =>
                    {
                        aborted += 1;
                        errors.pass();
                        if err.is_code(&[tonic::Code::Aborted]) {
                            gave_up_on = Some(index);
                            break;
                        }
                    }
                    Err(err) => errors.fail(err.to_string()),
                }
            }
            None
        };
        let stuck = tokio::select! {
            skip = collect => {
                if let Some(skip) = skip {
                    cancel.iter().for_each(tokio::task::AbortHandle::abort);
                    return Ok(Finding::skip(skip));
                }
                None
            }
            stuck = stuck => Some(stuck),
        };
        let cancelled = outcomes.len();
        cancel.iter().for_each(tokio::task::AbortHandle::abort);
        let finding = if released == parties {
            Finding::pass().evidence(format!(
                "all {parties} RPCs were inside the server at the same time: the barrier released them together (arrivals 1..{parties})"
            ))
        } else if !errors.all_passed() {
            Finding::fail(format!(
                "{}; {released} released, {aborted} aborted",
                errors.line("RPCs failed with errors")
            ))
        } else if let Some(stuck) = stuck {
            Finding::fail(format!(
                "only {released} of {parties} concurrent RPCs on one channel were released by the barrier: {stuck}; the RPCs were not in flight in parallel ({cancelled} still waiting were then cancelled)"
            ))
        } else if let Some(index) = gave_up_on {
            Finding::fail(format!(
                "only {released} of {parties} concurrent RPCs on one channel were released by the barrier: it gave up on rendezvous #{index} (ABORTED at the server after {} ms) before all {parties} were inside together, so it can release no more; the RPCs were not in flight in parallel ({cancelled} still waiting were then cancelled)",
                params.timeout_ms
            ))
        } else {
            Finding::fail(format!(
                "only {released} of {parties} concurrent RPCs on one channel were released by the barrier; {aborted} timed out waiting for the others (ABORTED at the server, or no answer): the RPCs were not in flight in parallel"
            ))
        };
        let opened = channel.connections_opened();
        Ok(finding
            .evidence(format!(
                "client opened {opened} TCP connection(s); server reported {} connection identity(ies)",
                connection_ids.len()
            ))
            .figure("parties", parties as f64)
            .figure("released", released as f64)
            .figure("aborted", aborted as f64)
            .figure("cancelled", cancelled as f64)
            .figure("client_connections", opened as f64))
    }
}
