//! `parallelism-factor`: N StreamingOutputCalls with server-side intervals on
//! one channel; the parallelism factor (sum of RPC durations / wall time) is
//! measured and reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Ctx, Driver, DriverError, DriverResult, brief, output_request, test_client, within};
use crate::verdict::Finding;

pub struct ParallelismFactor;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Concurrent RPCs.
    pub rpcs: usize,
    /// Responses per RPC.
    pub responses: usize,
    /// Server-side wait before each response.
    pub interval_ms: u64,
    /// Verdict threshold on the factor (generous: N/4 by default).
    pub min_factor: Option<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            rpcs: 16,
            responses: 5,
            interval_ms: 50,
            min_factor: None,
        }
    }
}

impl Driver for ParallelismFactor {
    const NAME: &'static str = "parallelism-factor";
    const METHOD: &'static str = "Starts N StreamingOutputCall RPCs at once on one channel, each asking for K responses with a server-side interval, so each is active for (K-1)×interval from its first response to its end. The parallelism factor is the sum of these active spans divided by the wall time from the first first-response to the last end: about N when the RPCs run in parallel, at most 1 when serialised (time an RPC spends queued before its first response is not counted as work). This is a timing ratio, so the verdict uses a generous margin: pass when the factor is at least the threshold (N/4 unless set); the figure is always reported.";
    const EVIDENCE: &'static str = "The parallelism factor, the sum of durations, the wall time, the threshold, and a timeline (overlapping bars when parallel, a staircase when serialised).";
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let rpcs = params.rpcs.max(1);
        let interval = Duration::from_millis(params.interval_ms);
        let sizes = vec![16; params.responses.max(1)];
        let limit = ctx.remaining().saturating_sub(Duration::from_millis(500));
        let mut tasks = Vec::new();
        for index in 0..rpcs {
            let mut client = test_client(channel.handle());
            let request = output_request(&sizes, interval);
            let mut span = ctx.timeline().start(format!("StreamingOutputCall #{index}"));
            tasks.push(tokio::spawn(async move {
                let mut first = None;
                let outcome = within(limit, "StreamingOutputCall", async {
                    let mut stream = client.streaming_output_call(request).await?.into_inner();
                    let mut count = 0;
                    while stream.message().await?.is_some() {
                        span.first_message();
                        first.get_or_insert_with(Instant::now);
                        count += 1;
                    }
                    Ok::<_, tonic::Status>(count)
                })
                .await;
                let ok = matches!(outcome, Ok(Ok(_)));
                span.end(ok);
                // The RPC's active span: first response to end. Time spent
                // queued before the first response does not count as work.
                (first.map(|first| (first, Instant::now())), outcome)
            }));
        }
        let mut sum = Duration::ZERO;
        let mut window: Option<(Instant, Instant)> = None;
        let mut failures = Vec::new();
        for task in tasks {
            let (active, outcome) = task.await.map_err(|join| DriverError::harness(format!("task failed: {join}")))?;
            if let Some((first, end)) = active {
                sum += end - first;
                window = Some(match window {
                    None => (first, end),
                    Some((lo, hi)) => (lo.min(first), hi.max(end)),
                });
            }
            match outcome {
                Ok(Ok(count)) if count == sizes.len() => {}
                Ok(Ok(count)) => failures.push(format!("{count} of {} responses", sizes.len())),
                Ok(Err(status)) => failures.push(brief(&status)),
                Err(stalled) => failures.push(stalled.to_string()),
            }
        }
        let wall = window.map_or(Duration::ZERO, |(lo, hi)| hi - lo);
        let factor = sum.as_secs_f64() / wall.as_secs_f64().max(1e-6);
        let threshold = params.min_factor.unwrap_or(rpcs as f64 / 4.0).max(1.0);
        let finding = if !failures.is_empty() {
            Finding::fail(format!("{} of {rpcs} RPCs failed; first: {}", failures.len(), failures[0]))
        } else if factor < threshold {
            Finding::fail(format!(
                "parallelism factor {factor:.2} is below {threshold:.1} for {rpcs} concurrent RPCs: they ran (nearly) one after another"
            ))
        } else {
            Finding::pass().evidence(format!(
                "parallelism factor {factor:.2} for {rpcs} concurrent RPCs (threshold {threshold:.1}; {rpcs} would be perfectly parallel)"
            ))
        };
        Ok(finding
            .evidence(format!(
                "sum of active spans (first response to end) {:.0} ms over a wall time of {:.0} ms",
                sum.as_secs_f64() * 1000.0,
                wall.as_secs_f64() * 1000.0
            ))
            .figure("parallelism_factor", (factor * 100.0).round() / 100.0)
            .figure("threshold", threshold)
            .figure("wall_ms", (wall.as_secs_f64() * 1000.0).round()))
    }
}
