//! `sustained-load`: a bounded closed-loop load of UnaryCalls on one
//! channel; every RPC must succeed with its own answer (method:
//! sustained_load.md).

use crate::drivers::prelude::*;
use crate::load::{self, LoadClient, LoadSpec};

pub struct SustainedLoad;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// RPCs kept in flight.
    pub in_flight: usize,
    /// Longest the load runs.
    pub max_duration_ms: u64,
    /// Most RPCs issued.
    pub max_rpcs: u64,
    /// Bytes each response carries.
    pub response_size: usize,
    /// How long one RPC may take before it counts as failed.
    pub rpc_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            in_flight: 64,
            max_duration_ms: 5_000,
            max_rpcs: 200_000,
            response_size: 32,
            rpc_timeout_ms: 5_000,
        }
    }
}

impl Driver for SustainedLoad {
    const NAME: &'static str = "sustained-load";
    const DOC: &'static str = include_str!("sustained_load.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let in_flight = ctx.open_together(params.in_flight.max(1), 0, "RPCs in flight");
        // The load stops in time for the RPCs still in flight at its end to
        // finish, with a second left for the verdict.
        let rpc_timeout = Duration::from_millis(params.rpc_timeout_ms);
        let max_duration = Duration::from_millis(params.max_duration_ms).min(
            ctx.remaining()
                .saturating_sub(rpc_timeout + Duration::from_secs(1)),
        );
        let spec = LoadSpec {
            in_flight,
            max_rpcs: params.max_rpcs,
            max_duration,
            rpc_timeout,
            call: load::Call::Unary {
                request_size: 0,
                response_size: params.response_size,
            },
            check_echo: true,
        };
        let channel = ctx.channel()?;
        // No connection, no load: the run reaches no verdict.
        let client = LoadClient::connect(channel.connector())
            .await
            .map_err(DriverError::target)?;
        let outcome = client.run(ctx.timeline(), &spec).await;
        let issued = outcome.issued();
        // Milliseconds, to the microsecond.
        let millis =
            |latency: Option<Duration>| latency.map_or(0.0, |d| d.as_micros() as f64 / 1e3);
        let p50 = millis(outcome.latency(0.50));
        let p99 = millis(outcome.latency(0.99));
        let finding = if issued == 0 {
            Finding::fail("the load issued no RPC at all")
        } else if outcome.failed > 0 {
            // The load counts its RPCs itself: the standard line, written
            // out (a Tally counts outcomes one by one).
            Finding::fail(format!(
                "{} of {issued} RPCs under a sustained load of {in_flight} in flight failed (first: {})",
                outcome.failed,
                outcome.first_failure.as_deref().unwrap_or("(no detail)")
            ))
        } else {
            Finding::pass().evidence(format!(
                "all {issued} RPCs succeeded with their own answer under a sustained load of {in_flight} in flight for {} ms",
                outcome.elapsed.as_millis()
            ))
        };
        let finding = if outcome.refused > 0 {
            finding.evidence(format!(
                "the server refused {} stream(s) before processing them; each was sent again",
                outcome.refused
            ))
        } else {
            finding
        };
        Ok(finding
            .evidence(format!(
                "{:.0} RPCs/s, latency p50 {p50:.2} ms, p99 {p99:.2} ms (figures, not part of the verdict)",
                outcome.rpcs_per_second()
            ))
            .evidence(connections(&channel))
            .figure("in_flight", in_flight as f64)
            .figure("issued", issued as f64)
            .figure("succeeded", outcome.succeeded as f64)
            .figure("failed", outcome.failed as f64)
            .figure("wall_ms", outcome.elapsed.as_millis() as f64)
            .figure("rpcs_per_second", outcome.rpcs_per_second().round())
            .figure("latency_p50_ms", p50)
            .figure("latency_p99_ms", p99))
    }
}
