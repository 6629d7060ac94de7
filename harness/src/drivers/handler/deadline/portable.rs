//! Without ProbeService: a FullDuplexCall that is sent nothing must end at
//! its deadline while a sibling stream runs on (the handler is not seen).

use tokio_stream::wrappers::ReceiverStream;

use super::{Params, flag, sibling_line, verdict};
use crate::drivers::handler::cancellation::{deadline_ended, with_deadline};
use crate::drivers::prelude::*;

pub(super) async fn portable(ctx: Ctx, params: &Params) -> DriverResult {
    let channel = ctx.channel()?;
    let deadline = Duration::from_millis(params.portable_deadline_ms);
    // What each call may take beyond its own time.
    let margin = ctx.rpc_limit();
    // The sibling streams for about three deadlines.
    let interval = deadline.max(Duration::from_millis(100));
    let sibling = spawn_output_stream(
        &ctx,
        channel.handle(),
        "sibling StreamingOutputCall (no deadline)",
        output_request(&[16, 16, 16], interval),
        interval * 3 + margin,
        None,
    );

    // A FullDuplexCall that is sent nothing: only its deadline can end it.
    let (_keep_open, outbound) = tokio::sync::mpsc::channel(1);
    let mut test = test_client(channel.handle());
    let request = with_deadline(ReceiverStream::new(outbound), deadline);
    let label = format!("FullDuplexCall (deadline {} ms)", deadline.as_millis());
    let timed = ctx.spawn_within(label, deadline + margin, async move {
        let mut replies = test.full_duplex_call(request).await?.into_inner();
        while replies.message().await?.is_some() {}
        Ok::<_, tonic::Status>(())
    });
    let timed = timed.join().await;
    let timed_ended = Instant::now();

    let mut checks = Checks::new();
    checks.line("TestService-only variant (the target has no ProbeService)");
    match deadline_ended(&timed) {
        Ok(status) => checks.line(format!(
            "the FullDuplexCall with a deadline ended with {status}"
        )),
        Err(problem) => checks.problem(problem),
    }
    let sibling_after = match sibling.join().await {
        Ok(done) if done.messages == 3 => {
            let after = done.ended > timed_ended;
            let what = "the sibling StreamingOutputCall received 3 responses and";
            checks.line(sibling_line(what, after));
            after
        }
        Ok(done) => {
            checks.problem(format!(
                "the sibling ended OK with {} of 3 responses",
                done.messages
            ));
            false
        }
        Err(err) => {
            checks.problem(format!("the sibling without a deadline failed: {err}"));
            false
        }
    };
    Ok(verdict(
        checks,
        "the deadline ended its own call; the sibling without a deadline was left alone",
    )
    .figure("sibling_outlasted_deadline", flag(sibling_after)))
}
