//! `failing-sibling`: a handler that ends with an error status ends only its
//! own RPC; sibling streams on the same connection run on to the end, and the
//! connection stays usable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::{EchoStatus, SimpleRequest};
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverResult, RpcError, output_request, spawn_output_stream, test_client,
    unary_request, wait_signals,
};
use crate::verdict::Finding;

pub struct FailingSibling;

#[derive(Debug, Deserialize, serde::Serialize)]
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
        let sizes = vec![16; responses];
        let interval = Duration::from_millis(params.interval_ms);

        // The siblings and the failing call are open together.
        let sibling_count = ctx.open_together(params.siblings, 1, "sibling streams");
        let siblings_sent = Instant::now();
        let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel();
        let siblings: Vec<_> = (0..sibling_count)
            .map(|index| {
                spawn_output_stream(
                    &ctx,
                    channel.handle(),
                    format!("sibling StreamingOutputCall #{index}"),
                    output_request(&sizes, interval),
                    limit,
                    Some((index, first_tx.clone())),
                )
            })
            .collect();
        drop(first_tx);
        let started = wait_signals(&mut first_rx, sibling_count, limit).await;
        let firsts_took = siblings_sent.elapsed();
        if started < sibling_count {
            return Ok(Finding::fail(format!(
                "only {started} of {sibling_count} sibling streams delivered a first response within {} ms (before any failure was triggered)",
                limit.as_millis()
            )));
        }

        // The failing handler.
        let message = ctx.unique("deliberate failure");
        let request = SimpleRequest {
            response_status: Some(EchoStatus {
                code: params.code,
                message: message.clone(),
            }),
            ..unary_request(16, 0)
        };
        let mut test = test_client(channel.handle());
        let failing = ctx.spawn_within("failing UnaryCall", limit, async move {
            test.unary_call(request).await
        });
        let sent_at = Instant::now();
        let failing = failing.join().await;
        let failed_at = Instant::now();
        let mut problems = Vec::new();
        let failure_line = match &failing {
            Ok(_) => {
                problems.push(format!(
                    "the failing call answered OK instead of code {}",
                    params.code
                ));
                "the failing call answered OK".to_owned()
            }
            Err(RpcError::Status(status)) => {
                if i32::from(status.code()) != params.code || status.message() != message {
                    problems.push(format!(
                        "the failing call ended with {} instead of code {} and its own message",
                        crate::drivers::brief(status),
                        params.code
                    ));
                }
                format!(
                    "the failing call ended with {}",
                    crate::drivers::brief(status)
                )
            }
            Err(other) => {
                problems.push(format!(
                    "the failing call did not end with a status: {other}"
                ));
                format!("the failing call: {other}")
            }
        };

        // The siblings must run on to the end.
        // A sibling's handler works at least `responses` intervals from its
        // request (sent after `siblings_sent`), and it had started before
        // the failing call was sent (its first response had arrived). So
        // while that work could not be done before the failing call was
        // answered, the sibling was provably open during the failure,
        // whenever the server flushed its responses.
        let imposed = interval * u32::try_from(responses).unwrap_or(u32::MAX);
        let open_during_failure = siblings_sent + imposed > failed_at;
        let mut completed = 0usize;
        let mut ended_after_failure = 0usize;
        for (index, sibling) in siblings.into_iter().enumerate() {
            match sibling.join().await {
                Ok(done) if done.messages == responses => {
                    completed += 1;
                    if done.ended > failed_at {
                        ended_after_failure += 1;
                    }
                }
                Ok(done) => problems.push(format!(
                    "sibling #{index} ended OK with {} of {responses} responses",
                    done.messages
                )),
                Err(err) => problems.push(format!("sibling #{index} broke: {err}")),
            }
        }

        // The connection still serves.
        let mut test = test_client(channel.handle());
        let follow_up = ctx.spawn_within("follow-up UnaryCall", limit, async move {
            test.unary_call(unary_request(16, 0)).await
        });
        if let Err(err) = follow_up.join().await {
            problems.push(format!(
                "a later UnaryCall on the same channel failed: {err}"
            ));
        }
        let opened = channel.connections_opened();
        if opened != 1 {
            problems.push(format!(
                "the client opened {opened} TCP connections: the first one did not survive the failure"
            ));
        }

        let finding = if let Some(first) = problems.first() {
            Finding::fail(format!(
                "a handler ending with an error status broke other RPCs or its connection: {first}"
            ))
        } else if !open_during_failure {
            let took = failed_at - sent_at;
            let left = interval * u32::try_from(responses - 1).unwrap_or(u32::MAX);
            // Half of it: the last sibling's remaining work began when it
            // sent its first response, a moment before the call was sent.
            // Each first response is due one interval after its request;
            // all of them taking half the siblings' intervals end to end
            // means their handlers' waits ran one after another.
            let serial = interval * u32::try_from(sibling_count).unwrap_or(u32::MAX);
            if sibling_count > 1 && firsts_took >= serial / 2 {
                return Ok(Finding::fail(format!(
                    "the {sibling_count} sibling streams' first responses, each due {} ms after its request, took {} ms to arrive (their intervals end to end: {} ms): the server ran their handlers' waits one after another",
                    interval.as_millis(),
                    firsts_took.as_millis(),
                    serial.as_millis()
                )));
            }
            if took < left / 2 {
                return Err(crate::drivers::DriverError::target(format!(
                    "inconclusive: the siblings' first responses took so long that their imposed work ({} ms) could not outlast the failing call; raise interval_ms (it is {} ms)",
                    imposed.as_millis(),
                    params.interval_ms
                )));
            }
            // The failing call, due at once, took about the paced work each
            // sibling still had when it was sent: its handler waited for
            // theirs.
            Finding::fail(format!(
                "the failing call, due at once, was answered {} ms after it was sent, as late as the {} ms of paced responses each open sibling still had (within half): the server did not run its handler beside the open siblings",
                took.as_millis(),
                left.as_millis()
            ))
        } else {
            Finding::pass().evidence(format!(
                "{completed} sibling streams received all {responses} responses and ended OK; all were provably open during the failure (their imposed work, {responses} × {} ms from their requests, outlasted the failing call's answer) and {ended_after_failure} ended after it at the client",
                interval.as_millis()
            ))
        };
        let mut finding = finding.evidence(failure_line);
        for problem in problems.iter().skip(1) {
            finding = finding.evidence(problem.clone());
        }
        Ok(finding
            .evidence(format!("client opened {opened} TCP connection(s)"))
            .figure("siblings_completed", completed as f64)
            .figure("siblings_open_during_failure", ended_after_failure as f64)
            .figure("client_connections", opened as f64))
    }
}
