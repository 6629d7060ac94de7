//! `cancel-sibling`: a handler whose call is cancelled (the client drops it,
//! or its deadline passes) sees the cancellation and leaves; siblings on the
//! same connection are not affected.

use super::cancellation::{deadline_ended, observe_cancelled, spawn_deadline_hold};
use super::common::{checked, hold_running, spawn_hold};
use crate::drivers::prelude::*;

pub struct CancelSibling;

#[derive(Debug, Deserialize, Serialize)]
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
        let wait = Duration::from_millis(params.observe_wait_ms);
        let cancelled_scope = ctx.unique("cancelled");
        let mut checks = Checks::new();

        // (a) The client drops the call.
        let tag = ctx.unique("dropped");
        let request = hold_request(&tag, HoldMode::UntilCancelled, hold, &cancelled_scope);
        let label = "Hold UNTIL_CANCELLED (dropped)";
        let what = "the handler to cancel";
        let dropped = match hold_running(&ctx, channel.handle(), label, request, wait, what).await {
            Ok(call) => call,
            Err(early) => return early,
        };
        dropped.abort();
        let dropped_at = Instant::now();
        let still = |state| {
            let waited = wait.as_millis();
            format!(
                "the handler of a dropped call was still {state:?} {waited} ms after the client dropped it"
            )
        };
        let observed = observe_cancelled(&mut control, &tag, wait, still).await;
        let drop_to_cancelled = checked(&mut checks, observed).map(|_| {
            let latency = dropped_at.elapsed();
            checks.line(format!(
                "dropped call: observed CANCELLED {} ms after the client dropped it",
                latency.as_millis()
            ));
            latency.as_secs_f64() * 1000.0
        });

        // (b) The deadline passes, siblings run beside it.
        let sibling_scope = ctx.unique("siblings");
        let sibling_hold = Duration::from_millis(params.sibling_hold_ms);
        let siblings = (0..params.siblings)
            .map(|index| {
                let tag = ctx.unique(&format!("sibling-{index}"));
                let request = hold_request(&tag, HoldMode::Sleep, sibling_hold, &sibling_scope);
                let label = format!("sibling Hold SLEEP #{index}");
                spawn_hold(&ctx, channel.handle(), label, sibling_hold + wait, request)
            })
            .collect();
        let deadline = Duration::from_millis(params.deadline_ms);
        let tag = ctx.unique("deadline");
        let request = hold_request(&tag, HoldMode::UntilCancelled, hold, &cancelled_scope);
        let timed = spawn_deadline_hold(&ctx, channel.handle(), request, deadline, wait);
        match deadline_ended(&timed.join().await) {
            Ok(status) => checks.line(format!("deadline call: the client got {status}")),
            Err(problem) => checks.problem(problem),
        }
        let still = |state| {
            let waited = wait.as_millis();
            format!("the handler whose deadline passed was still {state:?} {waited} ms later")
        };
        let observed = observe_cancelled(&mut control, &tag, wait, still).await;
        let deadline_elapsed = checked(&mut checks, observed).map(|observed| {
            checks.line(format!(
                "deadline call: observed CANCELLED after {} ms in the handler (deadline {} ms)",
                observed.elapsed_ms,
                deadline.as_millis()
            ));
            f64::from(observed.elapsed_ms)
        });
        let (siblings, _) = Tally::join(siblings).await;
        if !siblings.all_passed() {
            checks.problem(siblings.line("sibling holds failed"));
        }
        checks.line(format!(
            "{} of {} sibling holds ended OK",
            siblings.succeeded(),
            siblings.total()
        ));

        // The cancelled handlers left.
        let drain = Duration::from_millis(params.drain_timeout_ms);
        match wait_gauge(&mut control, &cancelled_scope, drain, |n| n == 0).await {
            Ok(_) => checks.line("the cancelled calls' gauge returned to 0 in flight"),
            Err(reason) => {
                checks.problem(format!("the cancelled handlers stayed in flight: {reason}"))
            }
        }

        let mut finding = checks.finding(
            "a cancelled handler did not see its cancellation or disturbed others",
            "both cancelled handlers saw their cancellation and left; the siblings were unaffected",
        );
        if let Some(ms) = drop_to_cancelled {
            finding = finding.figure("drop_to_cancelled_ms", ms);
        }
        if let Some(ms) = deadline_elapsed {
            finding = finding.figure("deadline_handler_elapsed_ms", ms);
        }
        Ok(finding.figure("siblings_completed", siblings.succeeded() as f64))
    }
}
