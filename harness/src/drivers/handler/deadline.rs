//! `deadline-propagation`: a call's deadline (grpc-timeout) reaches its
//! handler and ends that call alone; a sibling without a deadline, started at
//! the same time on the same connection, runs on to its end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::proto::probe::{HandlerState, HoldMode};
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverResult, RpcError, brief, hold_request, observe, output_request,
    probe_client, spawn_output_stream, test_client,
};
use crate::scenario::Capability;
use crate::verdict::Finding;

pub struct DeadlinePropagation;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The deadline of the call that must end (ProbeService variant).
    pub deadline_ms: u64,
    /// Upper bound of the held handler (far beyond the deadline).
    pub hold_ms: u64,
    /// How long the sibling sleeps (beyond the deadline).
    pub sibling_hold_ms: u64,
    /// How long the server has to record the cancellation.
    pub observe_wait_ms: u64,
    /// The deadline of the FullDuplexCall (TestService-only variant).
    pub portable_deadline_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            deadline_ms: 500,
            hold_ms: 10_000,
            sibling_hold_ms: 800,
            observe_wait_ms: 2_000,
            portable_deadline_ms: 300,
        }
    }
}

/// Whether a client-side outcome is the deadline ending the call.
fn deadline_ended<T>(outcome: &Result<T, RpcError>) -> Result<String, String> {
    match outcome {
        Err(RpcError::Status(status))
            if matches!(
                status.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ) =>
        {
            Ok(brief(status))
        }
        Ok(_) => Err("the call with a deadline ended OK instead of at its deadline".to_owned()),
        Err(err) => Err(format!(
            "the call with a deadline did not end with DEADLINE_EXCEEDED: {err}"
        )),
    }
}

impl Driver for DeadlinePropagation {
    const NAME: &'static str = "deadline-propagation";
    const DOC: &'static str = include_str!("deadline.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        if ctx.target().has(Capability::Probe) {
            with_probe(ctx, &params).await
        } else {
            portable(ctx, &params).await
        }
    }
}

async fn with_probe(ctx: Ctx, params: &Params) -> DriverResult {
    let channel = ctx.channel()?;
    let mut control = probe_client(ctx.control()?);
    let deadline = Duration::from_millis(params.deadline_ms);
    let observe_wait = Duration::from_millis(params.observe_wait_ms);
    let sibling_hold = Duration::from_millis(params.sibling_hold_ms);

    let mut probe = probe_client(channel.handle());
    let request = hold_request(&ctx.unique("sibling"), HoldMode::Sleep, sibling_hold, "");
    let sibling = ctx.spawn_within(
        "sibling Hold SLEEP (no deadline)",
        sibling_hold + observe_wait,
        async move {
            probe
                .hold(request)
                .await
                .map(|response| response.map(|_| Instant::now()))
        },
    );
    let tag = ctx.unique("deadline");
    let mut probe = probe_client(channel.handle());
    let mut request = tonic::Request::new(hold_request(
        &tag,
        HoldMode::UntilCancelled,
        Duration::from_millis(params.hold_ms),
        "",
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
    let timed = timed.join().await;
    let timed_ended = Instant::now();

    let mut problems = Vec::new();
    let mut lines = Vec::new();
    match deadline_ended(&timed) {
        Ok(status) => lines.push(format!(
            "the call with a deadline ended with {status} at the client"
        )),
        Err(problem) => problems.push(problem),
    }
    let mut seen_deadline = 0;
    match observe(&mut control, &tag, observe_wait).await {
        Ok(observed) => {
            seen_deadline = observed.deadline_ms;
            let deadline_ms = u32::try_from(params.deadline_ms).unwrap_or(u32::MAX);
            if observed.state() != HandlerState::Cancelled {
                problems.push(format!(
                    "the handler whose deadline passed was still {:?} {} ms later: it did not see the cancellation",
                    observed.state(),
                    observe_wait.as_millis()
                ));
            } else if !(1..=deadline_ms).contains(&observed.deadline_ms) {
                problems.push(format!(
                    "the handler saw a deadline of {} ms, not one in 1..={deadline_ms}: the grpc-timeout did not reach it",
                    observed.deadline_ms
                ));
            } else {
                lines.push(format!(
                    "the handler saw a deadline of {} ms and was observed CANCELLED after {} ms",
                    observed.deadline_ms, observed.elapsed_ms
                ));
            }
        }
        Err(status) => problems.push(format!("Observe failed: {}", brief(&status))),
    }
    let mut sibling_after = false;
    match sibling.join().await {
        Ok(response) => {
            sibling_after = response.into_inner() > timed_ended;
            lines.push(format!(
                "the sibling without a deadline ended OK{}",
                if sibling_after {
                    ", after the deadline call had ended"
                } else {
                    ""
                }
            ));
        }
        Err(err) => problems.push(format!("the sibling without a deadline failed: {err}")),
    }
    Ok(verdict(problems, lines, "the deadline reached the handler and ended its own call; the sibling without a deadline was left alone")
        .figure("handler_deadline_ms", f64::from(seen_deadline))
        .figure("sibling_outlasted_deadline", if sibling_after { 1.0 } else { 0.0 }))
}

async fn portable(ctx: Ctx, params: &Params) -> DriverResult {
    let channel = ctx.channel()?;
    let deadline = Duration::from_millis(params.portable_deadline_ms);
    let margin = Duration::from_secs(3);
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
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(outbound));
    request.set_timeout(deadline);
    let timed = ctx.spawn_within(
        format!("FullDuplexCall (deadline {} ms)", deadline.as_millis()),
        deadline + margin,
        async move {
            let mut replies = test.full_duplex_call(request).await?.into_inner();
            while replies.message().await?.is_some() {}
            Ok::<_, tonic::Status>(tonic::Response::new(()))
        },
    );
    let timed = timed.join().await;
    let timed_ended = Instant::now();
    let mut problems = Vec::new();
    let mut lines = vec!["TestService-only variant (the target has no ProbeService)".to_owned()];
    match deadline_ended(&timed) {
        Ok(status) => lines.push(format!(
            "the FullDuplexCall with a deadline ended with {status}"
        )),
        Err(problem) => problems.push(problem),
    }
    let mut sibling_after = false;
    match sibling.join().await {
        Ok(done) if done.messages == 3 => {
            sibling_after = done.ended > timed_ended;
            lines.push(format!(
                "the sibling StreamingOutputCall received 3 responses and ended OK{}",
                if sibling_after {
                    ", after the deadline call had ended"
                } else {
                    ""
                }
            ));
        }
        Ok(done) => problems.push(format!(
            "the sibling ended OK with {} of 3 responses",
            done.messages
        )),
        Err(err) => problems.push(format!("the sibling without a deadline failed: {err}")),
    }
    Ok(verdict(
        problems,
        lines,
        "the deadline ended its own call; the sibling without a deadline was left alone",
    )
    .figure(
        "sibling_outlasted_deadline",
        if sibling_after { 1.0 } else { 0.0 },
    ))
}

fn verdict(problems: Vec<String>, lines: Vec<String>, summary: &str) -> Finding {
    let mut finding = match problems.first() {
        Some(first) => Finding::fail(format!(
            "a deadline did not end its own call alone: {first}"
        )),
        None => Finding::pass().evidence(summary),
    };
    for line in problems.iter().skip(1).chain(&lines) {
        finding = finding.evidence(line.clone());
    }
    finding
}
