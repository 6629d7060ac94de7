//! `failing-sibling`: a handler that ends with an error status ends only its
//! own RPC; sibling streams on the same connection run on to the end, and the
//! connection stays usable.

mod failing;
mod pacing;

use self::pacing::Pacing;
use super::common::spawn_unary;
use crate::drivers::prelude::*;

pub struct FailingSibling;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Sibling StreamingOutputCalls in flight when the failure happens.
    pub siblings: usize,
    /// Responses each sibling streams.
    pub responses: usize,
    /// Server-side delay before each sibling response.
    pub interval_ms: u64,
    /// The status code the failing handler is asked to end with.
    pub code: i32,
    /// How long any one RPC may take.
    pub timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            siblings: 8,
            responses: 3,
            interval_ms: 150,
            code: 13,
            timeout_ms: 5_000,
        }
    }
}

impl Driver for FailingSibling {
    const NAME: &'static str = "failing-sibling";
    const DOC: &'static str = include_str!("failing_sibling.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_millis(params.timeout_ms);
        let responses = params.responses.max(2);
        let interval = Duration::from_millis(params.interval_ms);

        // The siblings and the failing call are open together.
        let count = ctx.open_together(params.siblings, 1, "sibling streams");
        let siblings_sent = Instant::now();
        let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel();
        let siblings: Vec<_> = (0..count)
            .map(|index| {
                let label = format!("sibling StreamingOutputCall #{index}");
                let request = output_request(&vec![16; responses], interval);
                let first = Some((index, first_tx.clone()));
                spawn_output_stream(&ctx, channel.handle(), label, request, limit, first)
            })
            .collect();
        drop(first_tx);
        let settled_after = pacing::firsts_settled_after(count, responses, interval);
        let wait = settled_after.map_or(limit, |settled| settled.min(limit));
        let started = wait_signals(&mut first_rx, count, wait).await;
        let firsts_took = siblings_sent.elapsed();
        if started < count && wait < limit {
            // Returning drops the siblings, which cancels them.
            return Ok(Finding::fail(format!(
                "only {started} of {count} sibling streams' first responses, each due {} ms after its request, had arrived {} ms after they were sent (their intervals end to end: {} ms): the server ran their handlers' waits one after another (the siblings were then cancelled)",
                interval.as_millis(),
                firsts_took.as_millis(),
                (interval * u32::try_from(count).unwrap_or(u32::MAX)).as_millis()
            ))
            .evidence(connections(&channel)));
        }
        if started < count {
            return Ok(Finding::fail(format!(
                "only {started} of {count} sibling streams delivered a first response within {} ms (before any failure was triggered)",
                limit.as_millis()
            )));
        }

        // The failing handler.
        let message = ctx.unique("deliberate failure");
        let request = failing::request(params.code, &message);
        let sent_at = Instant::now();
        let failing = spawn_unary(&ctx, channel.handle(), "failing UnaryCall", limit, request);
        let failing = failing.join().await;
        let failed_at = Instant::now();
        let mut checks = Checks::new();
        let failure_line = failing::judge(&failing, params.code, &message, &mut checks);

        // The siblings must run on to the end.
        let (mut completed, mut ended_after_failure) = (0usize, 0usize);
        for (index, sibling) in siblings.into_iter().enumerate() {
            match sibling.join().await {
                Ok(done) if done.messages == responses => {
                    completed += 1;
                    ended_after_failure += usize::from(done.ended > failed_at);
                }
                Ok(done) => checks.problem(format!(
                    "sibling #{index} ended OK with {} of {responses} responses",
                    done.messages
                )),
                Err(err) => checks.problem(format!("sibling #{index} broke: {err}")),
            }
        }

        // The connection still serves.
        let follow_up = spawn_unary(
            &ctx,
            channel.handle(),
            "follow-up UnaryCall",
            limit,
            unary_request(16, 0),
        );
        if let Err(err) = follow_up.join().await {
            checks.problem(format!(
                "a later UnaryCall on the same channel failed: {err}"
            ));
        }
        let opened = channel.connections_opened();
        if opened != 1 {
            checks.problem(format!(
                "the client opened {opened} TCP connections: the first one did not survive the failure"
            ));
        }

        let pacing = Pacing {
            siblings: count,
            responses,
            interval,
            sent: siblings_sent,
            firsts_took,
        };
        let finding = if checks.passed() && !pacing.open_during(failed_at) {
            pacing.serial(failed_at - sent_at)?.evidence(failure_line)
        } else {
            checks.finding(
                "a handler ending with an error status broke other RPCs or its connection",
                format!(
                    "{completed} sibling streams received all {responses} responses and ended OK; all were provably open during the failure (their imposed work, {responses} × {} ms from their requests, outlasted the failing call's answer) and {ended_after_failure} ended after it at the client",
                    interval.as_millis()
                ),
            )
        };
        Ok(finding
            .evidence(connections(&channel))
            .figure("siblings_completed", completed as f64)
            .figure("siblings_open_during_failure", ended_after_failure as f64)
            .figure("client_connections", opened as f64))
    }
}
