//! `cancel-sibling`: a handler whose call is cancelled (the client drops it,
//! or its deadline passes) sees the cancellation and leaves; siblings on the
//! same connection are not affected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::proto::probe::{HandlerState, HoldMode};
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, RpcError, brief, hold_request, observe, probe_client,
    wait_gauge, wait_running,
};
use crate::verdict::Finding;

pub struct CancelSibling;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Upper bound of the cancelled holds (they are meant to be cancelled
    /// long before).
    pub hold_ms: u64,
    /// The deadline (grpc-timeout) of the second cancelled call.
    pub deadline_ms: u64,
    /// Sibling holds running next to the deadline call.
    pub siblings: usize,
    /// How long each sibling sleeps.
    pub sibling_hold_ms: u64,
    /// How long the server has to record the cancellation.
    pub observe_wait_ms: u64,
    /// How long the cancelled calls' gauge has to return to 0.
    pub drain_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            hold_ms: 20_000,
            deadline_ms: 400,
            siblings: 4,
            sibling_hold_ms: 300,
            observe_wait_ms: 3_000,
            drain_timeout_ms: 3_000,
        }
    }
}

impl Driver for CancelSibling {
    const NAME: &'static str = "cancel-sibling";
    const DOC: &'static str = include_str!("cancel_sibling.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut control = probe_client(ctx.control()?);
        let hold = Duration::from_millis(params.hold_ms);
        let observe_wait = Duration::from_millis(params.observe_wait_ms);
        let deadline = Duration::from_millis(params.deadline_ms);
        let cancelled_scope = ctx.unique("cancelled");
        let mut problems = Vec::new();
        let mut lines = Vec::new();
        let mut finding = Finding::pass();

        // (a) The client drops the call.
        let dropped_tag = ctx.unique("dropped");
        let mut probe = probe_client(channel.handle());
        let request = hold_request(
            &dropped_tag,
            HoldMode::UntilCancelled,
            hold,
            &cancelled_scope,
        );
        let dropped = ctx.spawn_within("Hold UNTIL_CANCELLED (dropped)", hold, async move {
            probe.hold(request).await
        });
        if !wait_running(&mut control, &dropped_tag, observe_wait).await {
            if let Some(stalled) =
                crate::drivers::unanswered_while_held(&mut control, "the handler to cancel").await
            {
                dropped.abort();
                return Ok(stalled);
            }
            dropped.abort();
            return Err(DriverError::target(
                "the handler to cancel was not observed RUNNING",
            ));
        }
        dropped.abort();
        let cancelled_at = Instant::now();
        match observe(&mut control, &dropped_tag, observe_wait).await {
            Ok(observed) if observed.state() == HandlerState::Cancelled => {
                let latency = cancelled_at.elapsed();
                lines.push(format!(
                    "dropped call: observed CANCELLED {} ms after the client dropped it",
                    latency.as_millis()
                ));
                finding = finding.figure("drop_to_cancelled_ms", latency.as_secs_f64() * 1000.0);
            }
            Ok(observed) => problems.push(format!(
                "the handler of a dropped call was still {:?} {} ms after the client dropped it",
                observed.state(),
                observe_wait.as_millis()
            )),
            Err(status) => problems.push(format!("Observe failed: {}", brief(&status))),
        }

        // (b) The deadline passes, siblings run beside it.
        let sibling_scope = ctx.unique("siblings");
        let sibling_hold = Duration::from_millis(params.sibling_hold_ms);
        let siblings: Vec<_> = (0..params.siblings)
            .map(|index| {
                let mut probe = probe_client(channel.handle());
                let request = hold_request(
                    &ctx.unique(&format!("sibling-{index}")),
                    HoldMode::Sleep,
                    sibling_hold,
                    &sibling_scope,
                );
                ctx.spawn_within(
                    format!("sibling Hold SLEEP #{index}"),
                    sibling_hold + observe_wait,
                    async move { probe.hold(request).await },
                )
            })
            .collect();
        let deadline_tag = ctx.unique("deadline");
        let mut probe = probe_client(channel.handle());
        let mut request = tonic::Request::new(hold_request(
            &deadline_tag,
            HoldMode::UntilCancelled,
            hold,
            &cancelled_scope,
        ));
        request.set_timeout(deadline);
        let timed = ctx.spawn_within(
            format!(
                "Hold UNTIL_CANCELLED (deadline {} ms)",
                deadline.as_millis()
            ),
            deadline + observe_wait,
            async move { probe.hold(request).await },
        );
        match timed.join().await {
            Err(RpcError::Status(status))
                if matches!(
                    status.code(),
                    tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
                ) =>
            {
                lines.push(format!("deadline call: the client got {}", brief(&status)));
            }
            Ok(_) => problems.push(
                "the call with a deadline answered OK instead of ending at its deadline".to_owned(),
            ),
            Err(err) => problems.push(format!(
                "the call with a deadline did not end with DEADLINE_EXCEEDED: {err}"
            )),
        }
        match observe(&mut control, &deadline_tag, observe_wait).await {
            Ok(observed) if observed.state() == HandlerState::Cancelled => {
                lines.push(format!(
                    "deadline call: observed CANCELLED after {} ms in the handler (deadline {} ms)",
                    observed.elapsed_ms,
                    deadline.as_millis()
                ));
                finding = finding.figure(
                    "deadline_handler_elapsed_ms",
                    f64::from(observed.elapsed_ms),
                );
            }
            Ok(observed) => problems.push(format!(
                "the handler whose deadline passed was still {:?} {} ms later",
                observed.state(),
                observe_wait.as_millis()
            )),
            Err(status) => problems.push(format!("Observe failed: {}", brief(&status))),
        }
        let mut completed = 0usize;
        for (index, sibling) in siblings.into_iter().enumerate() {
            match sibling.join().await {
                Ok(_) => completed += 1,
                Err(err) => problems.push(format!("sibling #{index} failed: {err}")),
            }
        }
        lines.push(format!(
            "{completed} of {} sibling holds ended OK",
            params.siblings
        ));

        // The cancelled handlers left.
        let drain = Duration::from_millis(params.drain_timeout_ms);
        match wait_gauge(&mut control, &cancelled_scope, drain, |n| n == 0).await {
            Ok(_) => lines.push("the cancelled calls' gauge returned to 0 in flight".to_owned()),
            Err(reason) => {
                problems.push(format!("the cancelled handlers stayed in flight: {reason}"))
            }
        }

        finding = match problems.first() {
            Some(first) => {
                let mut failed = Finding::fail(format!("a cancelled handler did not see its cancellation or disturbed others: {first}"));
                failed.figures = finding.figures;
                for problem in problems.iter().skip(1) {
                    failed = failed.evidence(problem.clone());
                }
                failed
            }
            None => finding.evidence("both cancelled handlers saw their cancellation and left; the siblings were unaffected"),
        };
        for line in lines {
            finding = finding.evidence(line);
        }
        Ok(finding.figure("siblings_completed", completed as f64))
    }
}
