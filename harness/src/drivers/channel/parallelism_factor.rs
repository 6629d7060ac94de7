//! `parallelism-factor`: paced StreamingOutputCalls on one channel; the
//! parallelism factor is measured and reported (method:
//! parallelism_factor.md).

use crate::drivers::prelude::*;

pub struct ParallelismFactor;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Concurrent RPCs.
    pub rpcs: usize,
    /// Responses per RPC.
    pub responses: usize,
    /// Server-side wait before each response.
    pub interval_ms: u64,
    /// Verdict threshold on the factor (default: see parallelism_factor.md).
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
    const DOC: &'static str = include_str!("parallelism_factor.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let rpcs = params.rpcs.max(1);
        let effective = ctx.stream_limit().map_or(rpcs, |limit| limit.min(rpcs));
        if effective < 2 {
            return Ok(Finding::skip(format!(
                "the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {effective}: one connection cannot carry RPCs in parallel"
            )));
        }
        let interval = Duration::from_millis(params.interval_ms);
        let sizes = vec![16; params.responses.max(1)];
        // The RPCs are the measurement: they may use the whole budget but
        // for a moment left for the verdict.
        let limit = ctx.remaining().saturating_sub(Duration::from_millis(500));
        let sent = Instant::now();
        let tasks: Vec<_> = (0..rpcs)
            .map(|index| {
                spawn_output_stream(
                    &ctx,
                    channel.handle(),
                    format!("StreamingOutputCall #{index}"),
                    output_request(&sizes, interval),
                    limit,
                    None,
                )
            })
            .collect();
        let work = interval * u32::try_from(sizes.len() * rpcs).unwrap_or(u32::MAX);
        let threshold = params
            .min_factor
            .unwrap_or(1.0 + (effective as f64 - 1.0) / 4.0)
            .max(1.0);
        // The factor is the imposed work over the wall time to the last
        // end: once more than work / threshold has passed with RPCs still
        // running, it can only end below the threshold, so the verdict is
        // settled then, not when the serialised RPCs finally end.
        let settled_at = sent + work.div_f64(threshold) + Duration::from_millis(1);
        let handles: Vec<_> = tasks.iter().map(Call::abort_handle).collect();
        let mut failed = Tally::new();
        let mut last_end = sent;
        let mut joined = Box::pin(async {
            for (index, task) in tasks.into_iter().enumerate() {
                let outcome = task.join().await.and_then(|done| {
                    if done.messages == sizes.len() {
                        Ok(done.ended)
                    } else {
                        let asked = sizes.len();
                        Err(RpcError::wrong(format!(
                            "{} of {asked} responses",
                            done.messages
                        )))
                    }
                });
                let label = format!("StreamingOutputCall #{index}");
                if let Some(ended) = failed.count(&label, outcome) {
                    last_end = last_end.max(ended);
                }
            }
        });
        let all_ended = tokio::select! {
            () = &mut joined => true,
            () = tokio::time::sleep_until(settled_at.into()) => false,
        };
        // Counted before the calls not yet joined are dropped, which
        // cancels them (`Call`'s Drop).
        let still_running = handles.iter().filter(|task| !task.is_finished()).count();
        drop(joined);
        // The factor itself, or (RPCs still running) its proven bound.
        let (finding, factor_name, factor, wall, wall_to) = if all_ended {
            if !failed.all_passed() {
                return Ok(Finding::fail(failed.line("RPCs failed")));
            }
            let wall = last_end - sent;
            let factor = work.as_secs_f64() / wall.as_secs_f64().max(1e-6);
            let finding = if factor < threshold {
                Finding::fail(format!(
                    "parallelism factor {factor:.2} is below {threshold:.2} for {rpcs} concurrent RPCs (effective {effective}): their handlers ran (nearly) one after another"
                ))
            } else {
                Finding::pass().evidence(format!(
                    "parallelism factor {factor:.2} for {rpcs} concurrent RPCs (threshold {threshold:.2}; {effective} would be perfectly parallel)"
                ))
            };
            (finding, "parallelism_factor", factor, wall, "the last end")
        } else {
            let wall = sent.elapsed();
            let bound = work.as_secs_f64() / wall.as_secs_f64().max(1e-6);
            let finding = Finding::fail(format!(
                "parallelism factor at most {bound:.2}, below {threshold:.2}, for {rpcs} concurrent RPCs (effective {effective}): {} ms after the first request, more than the {} ms a factor of {threshold:.2} allows, {still_running} of the {rpcs} RPCs were still running (then cancelled): their handlers ran (nearly) one after another",
                wall.as_millis(),
                work.div_f64(threshold).as_millis(),
            ));
            let to = "the moment RPCs still running settled the verdict";
            (finding, "parallelism_factor_at_most", bound, wall, to)
        };
        Ok(finding
            .evidence(format!(
                "imposed work {} ms ({rpcs} RPCs × {} responses × {} ms) over a wall time of {} ms from the first request sent to {wall_to}",
                work.as_millis(),
                sizes.len(),
                interval.as_millis(),
                wall.as_millis()
            ))
            .figure(factor_name, (factor * 100.0).round() / 100.0)
            .figure("threshold", (threshold * 100.0).round() / 100.0)
            .figure("effective_rpcs", effective as f64)
            .figure("wall_ms", wall.as_millis() as f64))
    }
}
