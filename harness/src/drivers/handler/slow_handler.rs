//! `slow-handler`: one RPC is held open on the server while many sibling RPCs
//! on the same connection complete; afterwards the held RPC is shown to be
//! still open.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::probe::{HandlerState, HoldMode};
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, hold_request, observe, output_request,
    probe_client, test_client, unary_request, wait_running, within,
};
use crate::verdict::Finding;

pub struct SlowHandler;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Sibling RPCs issued while the slow one is held.
    pub siblings: usize,
    /// How long the slow handler is held at most.
    pub hold_ms: u64,
    /// How long each sibling may take.
    pub sibling_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            siblings: 100,
            hold_ms: 15_000,
            sibling_timeout_ms: 5_000,
        }
    }
}

impl Driver for SlowHandler {
    const NAME: &'static str = "slow-handler";
    const DOC: &'static str = include_str!("slow_handler.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let hold = Duration::from_millis(params.hold_ms);
        let has_probe = ctx.target().has(crate::scenario::Capability::Probe);
        let tag = ctx.unique("slow");

        // Start the slow RPC and prove it is open.
        let mut slow_span = ctx.timeline().start("slow RPC (held open)");
        let mut first_missing = false;
        let mut pending_call: Option<tokio::task::JoinHandle<_>> = None;
        let (slow_task, mut slow_stream) = if has_probe {
            let mut probe = probe_client(channel.handle());
            let request = hold_request(&tag, HoldMode::UntilCancelled, hold, "");
            let task = tokio::spawn(async move { probe.hold(request).await.map(|_| ()) });
            let mut observer = probe_client(ctx.control()?);
            if !wait_running(&mut observer, &tag, Duration::from_secs(5)).await {
                if let Some(stalled) =
                    crate::drivers::unanswered_while_held(&mut observer, "the held handler").await
                {
                    task.abort();
                    return Ok(stalled);
                }
                task.abort();
                return Err(DriverError::target(
                    "the held handler was not observed RUNNING within 5 s",
                ));
            }
            (Some(task), None)
        } else {
            let mut test = test_client(channel.handle());
            let request = output_request(&[1, 1], Duration::ZERO);
            let mut request = request;
            request.response_parameters[1].interval_us =
                i32::try_from(hold.as_micros()).unwrap_or(i32::MAX);
            // The call and its first response in a task of their own: a
            // server that stalls even these keeps the stream open, and
            // whether it still serves the siblings is the finding.
            let mut call = tokio::spawn(async move {
                let mut stream = test.streaming_output_call(request).await?.into_inner();
                let first = stream.message().await?;
                Ok::<_, tonic::Status>((stream, first))
            });
            let stream = match within(Duration::from_secs(5), "first response", &mut call).await {
                Ok(Ok(Ok((stream, Some(_))))) => Some(stream),
                Err(stalled) => {
                    ctx.note(format!(
                        "the slow stream's first response did not arrive ({stalled}) although it was due at once"
                    ));
                    first_missing = true;
                    pending_call = Some(call);
                    None
                }
                Ok(Ok(Err(status))) => {
                    return Err(DriverError::target(format!(
                        "StreamingOutputCall failed: {}",
                        brief(&status)
                    )));
                }
                other => {
                    return Err(DriverError::target(format!(
                        "the slow stream's first response did not arrive: {:?}",
                        other.map(|joined| joined.map(|outcome| outcome.map(|(_, first)| first)))
                    )));
                }
            };
            (None, stream)
        };
        slow_span.first_message();

        // Siblings on the same connection.
        let sibling_timeout = Duration::from_millis(params.sibling_timeout_ms);
        let mut siblings = Vec::new();
        for index in 0..params.siblings {
            let mut test = test_client(channel.handle());
            let span = ctx.timeline().start(format!("sibling #{index}"));
            siblings.push(tokio::spawn(async move {
                let outcome = within(
                    sibling_timeout,
                    "sibling UnaryCall",
                    test.unary_call(unary_request(64, 0)),
                )
                .await;
                let ok = matches!(outcome, Ok(Ok(_)));
                span.end(ok);
                match outcome {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(status)) => Err(brief(&status)),
                    Err(stalled) => Err(stalled.to_string()),
                }
            }));
        }
        let mut completed = 0usize;
        let mut failures = Vec::new();
        for sibling in siblings {
            match sibling.await {
                Ok(Ok(())) => completed += 1,
                Ok(Err(reason)) => failures.push(reason),
                Err(join) => failures.push(format!("task failed: {join}")),
            }
        }

        // Is the slow one still open?
        let still_open = if has_probe {
            let mut observer = probe_client(ctx.control()?);
            match observe(&mut observer, &tag, Duration::ZERO).await {
                Ok(observed) => observed.state() == HandlerState::Running,
                Err(_) => false,
            }
        } else if let Some(call) = &pending_call {
            // Still waiting for its first response: open, not ended.
            !call.is_finished()
        } else if let Some(stream) = slow_stream.as_mut() {
            // Nothing may have arrived (the second response is far away).
            within(
                Duration::from_millis(1),
                "second response",
                stream.message(),
            )
            .await
            .is_err()
        } else {
            false
        };
        if let Some(task) = slow_task {
            task.abort();
        }
        drop(slow_stream);
        if let Some(call) = pending_call {
            call.abort();
        }
        slow_span.end(still_open);

        let finding = if !failures.is_empty() {
            Finding::fail(format!(
                "{} of {} sibling RPCs on the same connection did not complete while one handler was held open (first: {}){}",
                failures.len(),
                params.siblings,
                failures[0],
                if first_missing {
                    "; the held stream's own first response, due at once, did not arrive either: the server stalled while one handler waited"
                } else {
                    ""
                }
            ))
        } else if !still_open {
            Finding::fail(
                "the slow handler was no longer open after the siblings: the evidence that siblings completed while it was open is missing",
            )
        } else {
            Finding::pass().evidence(format!(
                "{completed} sibling RPCs on the same connection completed while the slow handler was provably still open"
            ))
        };
        Ok(finding
            .evidence(format!(
                "slow handler held by {}",
                if has_probe {
                    "ProbeService.Hold UNTIL_CANCELLED (Observe: RUNNING before and after the siblings)"
                } else {
                    "StreamingOutputCall with a far-off second response"
                }
            ))
            .evidence(format!("client opened {} TCP connection(s)", channel.connections_opened()))
            .figure("siblings_completed", completed as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}
