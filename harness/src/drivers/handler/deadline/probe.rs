//! With ProbeService: the handler's view of the deadline and its
//! cancellation are observed.

use super::{Params, flag, sibling_line, verdict};
use crate::drivers::handler::cancellation::{deadline_ended, spawn_deadline_hold};
use crate::drivers::prelude::*;

pub(super) async fn with_probe(ctx: Ctx, params: &Params) -> DriverResult {
    let channel = ctx.channel()?;
    let mut control = probe_client(ctx.control()?);
    let deadline = Duration::from_millis(params.deadline_ms);
    let wait = Duration::from_millis(params.observe_wait_ms);
    let sibling_hold = Duration::from_millis(params.sibling_hold_ms);

    let mut probe = probe_client(channel.handle());
    let request = hold_request(&ctx.unique("sibling"), HoldMode::Sleep, sibling_hold, "");
    let label = "sibling Hold SLEEP (no deadline)";
    let sibling = ctx.spawn_within(label, sibling_hold + wait, async move {
        probe.hold(request).await?;
        Ok::<_, tonic::Status>(Instant::now())
    });
    let tag = ctx.unique("deadline");
    let hold = Duration::from_millis(params.hold_ms);
    let request = hold_request(&tag, HoldMode::UntilCancelled, hold, "");
    let timed = spawn_deadline_hold(&ctx, channel.handle(), request, deadline, wait);
    let timed = timed.join().await;
    let timed_ended = Instant::now();

    let mut checks = Checks::new();
    match deadline_ended(&timed) {
        Ok(status) => checks.line(format!(
            "the call with a deadline ended with {status} at the client"
        )),
        Err(problem) => checks.problem(problem),
    }
    let mut seen_deadline = 0;
    match observe(&mut control, &tag, wait).await {
        Ok(observed) => {
            seen_deadline = observed.deadline_ms;
            let deadline_ms = u32::try_from(params.deadline_ms).unwrap_or(u32::MAX);
            if observed.state() == HandlerState::Unknown {
                checks.problem(format!(
                    "the handler with a deadline never started: ProbeService.Observe did not know its tag {} ms after the deadline passed (a server that queues a handler, e.g. behind the sibling's, lets its deadline expire before it runs)",
                    wait.as_millis()
                ));
            } else if observed.state() != HandlerState::Cancelled {
                checks.problem(format!(
                    "the handler whose deadline passed was still {:?} {} ms later: it did not see the cancellation",
                    observed.state(),
                    wait.as_millis()
                ));
            } else if !(1..=deadline_ms).contains(&observed.deadline_ms) {
                checks.problem(format!(
                    "the handler saw a deadline of {} ms, not one in 1..={deadline_ms}: the grpc-timeout did not reach it",
                    observed.deadline_ms
                ));
            } else {
                checks.line(format!(
                    "the handler saw a deadline of {} ms and was observed CANCELLED after {} ms",
                    observed.deadline_ms, observed.elapsed_ms
                ));
            }
        }
        Err(status) => checks.problem(format!("Observe failed: {}", brief(&status))),
    }
    let sibling_after = match sibling.join().await {
        Ok(ended) => {
            let after = ended > timed_ended;
            checks.line(sibling_line("the sibling without a deadline", after));
            after
        }
        Err(err) => {
            checks.problem(format!("the sibling without a deadline failed: {err}"));
            false
        }
    };
    Ok(verdict(
        checks,
        "the deadline reached the handler and ended its own call; the sibling without a deadline was left alone",
    )
    .figure("handler_deadline_ms", f64::from(seen_deadline))
    .figure("sibling_outlasted_deadline", flag(sibling_after)))
}
