//! What the client drivers share: giving the adapter an instruction, reading
//! the server's ledger, and turning a broken adapter into a verdict.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use conformance::proto::probe::client_observer_client::ClientObserverClient;
use conformance::proto::probe::{
    BreakRequest, Instruction, InstructionResult, SeenCall, SeenRequest, SeenResponse, instruction,
};

use crate::client_target::AdapterError;
use crate::drivers::prelude::*;
use crate::drivers::stall::Arrivals;
use crate::verdict::{ReasonKind, Verdict};

/// Time the adapter has, beyond the RPCs' own deadline, to report.
pub(crate) const REPORT_MARGIN: Duration = Duration::from_secs(5);

/// Gives the adapter `work` with every RPC's `deadline`; waits up to the
/// deadline plus [`REPORT_MARGIN`], within the scenario's budget.
pub(crate) async fn instruct(
    ctx: &Ctx,
    work: instruction::Work,
    deadline: Duration,
) -> Result<Result<InstructionResult, AdapterError>, DriverError> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let client = ctx.target().client().ok_or_else(|| {
        DriverError::harness("a client scenario ran with no client adapter attached")
    })?;
    let server = ctx
        .target()
        .dial
        .uri
        .trim_start_matches("http://")
        .to_owned();
    let instruction = Instruction {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        server,
        deadline_ms: u32::try_from(deadline.as_millis()).unwrap_or(u32::MAX),
        work: Some(work),
    };
    let limit =
        (deadline + REPORT_MARGIN).min(ctx.remaining().saturating_sub(Duration::from_secs(1)));
    let span = ctx.timeline().start("adapter: instruction");
    let result = client.adapter.run(instruction, limit).await;
    span.end(result.is_ok());
    Ok(result)
}

/// Gives the adapter `work` ([`instruct`]) whose calls meet at the barrier
/// of `group` (`parties` of them), watching the server's ledger meanwhile:
/// once the barrier is proven never to fill ([`BarrierStall`]) the server
/// breaks it, so the calls inside and those still to come end ABORTED and
/// the adapter reports at once instead of at the calls' deadline. Returns
/// the adapter's outcome and what the server saw.
pub(crate) async fn instruct_at_barrier(
    ctx: &Ctx,
    work: instruction::Work,
    deadline: Duration,
    group: &str,
    parties: usize,
) -> Result<(Result<InstructionResult, AdapterError>, BarrierSeen), DriverError> {
    let mut observer = ClientObserverClient::new(ctx.control()?);
    let instruction = instruct(ctx, work, deadline);
    tokio::pin!(instruction);
    let (outcome, stall) = tokio::select! {
        outcome = &mut instruction => (outcome?, None),
        stall = barrier_stalled(&mut observer, group, parties, Instant::now()) => {
            ctx.timeline().start("server: barrier broken").end(false);
            (instruction.await?, Some(stall))
        }
    };
    let mut server = BarrierSeen::of(&seen(ctx, group, Duration::ZERO).await?.calls);
    server.stall = stall;
    Ok((outcome, server))
}

/// The proof that a group's barrier will not fill: some of its calls
/// entered, blocked waiting for the others, and no more came for
/// [`stall_bound`] of the slowest step between arrivals (from the
/// instruction to the first, and between arrivals).
#[derive(Debug, Clone)]
pub(crate) struct BarrierStall {
    pub entered: usize,
    pub parties: usize,
    pub quiet: Duration,
    pub slowest: Duration,
}

impl std::fmt::Display for BarrierStall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} calls had entered the server's barrier, blocked waiting for the others, and no more came for {} ms ({STALL_FACTOR}x the slowest step between arrivals, {} ms, at least {} ms): the server broke the barrier instead of waiting out the calls' deadline",
            self.entered,
            self.parties,
            self.quiet.as_millis(),
            self.slowest.as_millis(),
            STALL_FLOOR.as_millis()
        )
    }
}

/// Polls the ledger of `group` from `sent`, the moment the instruction went
/// out; once it holds the proof of a [`BarrierStall`], breaks the barrier
/// and resolves with it. Never while calls keep arriving, once all
/// `parties` have, or when the ledger cannot be read.
async fn barrier_stalled(
    observer: &mut ClientObserverClient<crate::client::Channel>,
    group: &str,
    parties: usize,
    sent: Instant,
) -> BarrierStall {
    const POLL: Duration = Duration::from_millis(5);
    let mut arrivals = Arrivals::new(sent, Duration::ZERO);
    loop {
        let request = SeenRequest {
            name: group.to_owned(),
            wait_ms: 0,
        };
        let Ok(Ok(seen)) = tokio::time::timeout(REPORT_MARGIN, observer.seen(request)).await else {
            break;
        };
        // The ledger keeps every call that entered, so its count never
        // falls; once all parties are in, the barrier has filled.
        let entered = seen.get_ref().calls.len();
        if entered >= parties {
            break;
        }
        arrivals.observe(entered);
        if let Some(stuck) = arrivals.stuck(parties) {
            let request = BreakRequest {
                group: group.to_owned(),
            };
            if tokio::time::timeout(REPORT_MARGIN, observer.r#break(request))
                .await
                .is_ok_and(|answer| answer.is_ok())
            {
                return BarrierStall {
                    entered: stuck.inside,
                    parties,
                    quiet: stuck.quiet,
                    slowest: stuck.slowest,
                };
            }
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    std::future::pending().await
}

/// What the reference server saw under `name`, waiting up to `wait` for its
/// streams to end.
pub(crate) async fn seen(
    ctx: &Ctx,
    name: &str,
    wait: Duration,
) -> Result<SeenResponse, DriverError> {
    let request = SeenRequest {
        name: name.to_owned(),
        wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
    };
    let mut observer = ClientObserverClient::new(ctx.control()?);
    let answer = tokio::time::timeout(wait + Duration::from_secs(2), observer.seen(request)).await;
    match answer {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(DriverError::harness(format!(
            "ClientObserver.Seen failed: {status}"
        ))),
        Err(_) => Err(DriverError::harness("ClientObserver.Seen did not answer")),
    }
}

/// A broken adapter with no proof of a violation: an `error` on the target
/// (the adapter), with its stderr tail as evidence.
pub(crate) fn adapter_broke(ctx: &Ctx, err: &AdapterError) -> Finding {
    let tail = ctx
        .target()
        .client()
        .map(|c| c.adapter.tail_text())
        .unwrap_or_default();
    let finding = Finding::with(Verdict::Error, ReasonKind::Target, err.to_string());
    if tail.is_empty() {
        finding
    } else {
        finding.evidence(format!("adapter stderr (last lines):\n{tail}"))
    }
}

/// The server's view of a barrier group: calls that entered, that it
/// released together, and the connections they came on.
pub(crate) struct BarrierSeen {
    pub entered: usize,
    pub released: usize,
    pub connections: BTreeSet<String>,
    /// Why the harness had the server break the barrier, if it did.
    pub stall: Option<BarrierStall>,
}

impl BarrierSeen {
    pub(crate) fn of(calls: &[SeenCall]) -> Self {
        Self {
            entered: calls.len(),
            released: calls.iter().filter(|call| call.released).count(),
            connections: calls
                .iter()
                .map(|call| call.connection_id.clone())
                .collect(),
            stall: None,
        }
    }

    /// The failure the server's view proves, if any, for `parties` calls
    /// of one channel (`what` names them).
    pub(crate) fn violation(&self, parties: usize, what: &str) -> Option<Finding> {
        if self.connections.len() > 1 {
            return Some(Finding::fail(format!(
                "the {what} of one channel reached the server on {} connections: the channel does not share one connection",
                self.connections.len()
            )));
        }
        if self.released < parties {
            return Some(Finding::fail(format!(
                "only {} of {parties} {what} were released by the server's barrier ({} entered it in all): the channel did not have them in flight together",
                self.released, self.entered
            )));
        }
        None
    }

    /// The adapter's result, once the server's view proves no violation;
    /// otherwise the finding to end with: the violation (also when the
    /// adapter stalled: a serialising client stalls), or the broken adapter.
    pub(crate) fn judge(
        &self,
        ctx: &Ctx,
        outcome: Result<InstructionResult, AdapterError>,
        parties: usize,
        what: &str,
    ) -> Result<InstructionResult, Finding> {
        match outcome {
            Ok(result) => match self.violation(parties, what) {
                Some(finding) => Err(self.record(finding)),
                None => Ok(result),
            },
            Err(err @ AdapterError::Stalled { .. }) => {
                let finding = self
                    .violation(parties, what)
                    .unwrap_or_else(|| adapter_broke(ctx, &err));
                Err(self.record(finding).evidence(format!("adapter: {err}")))
            }
            Err(err) => Err(self.record(adapter_broke(ctx, &err))),
        }
    }

    pub(crate) fn record(&self, finding: Finding) -> Finding {
        let finding = match &self.stall {
            Some(stall) => finding.evidence(stall.to_string()),
            None => finding,
        };
        finding
            .figure("entered", self.entered as f64)
            .figure("released_together", self.released as f64)
            .figure("connections", self.connections.len() as f64)
            .evidence(format!(
                "server: {} entered the barrier, {} released together, on {} connection(s)",
                self.entered,
                self.released,
                self.connections.len()
            ))
    }
}
