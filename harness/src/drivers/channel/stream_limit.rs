//! `stream-limit`: more concurrent RPCs than the server's advertised
//! SETTINGS_MAX_CONCURRENT_STREAMS queue on the client and all complete; the
//! server never has more than the limit in flight.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::probe::{GaugeRequest, HoldMode};
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, hold_request, probe_client, within,
};
use crate::verdict::Finding;

pub struct StreamLimit;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// How long each RPC stays in the handler.
    pub hold_ms: u64,
    /// Highest advertised limit the scenario will exceed.
    pub max_limit: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            hold_ms: 300,
            max_limit: 2_048,
        }
    }
}

impl Driver for StreamLimit {
    const NAME: &'static str = "stream-limit";
    const DOC: &'static str = include_str!("stream_limit.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let Some(limit) = ctx.target().advertised_max_streams else {
            return Ok(Finding::skip(
                "the target advertises no SETTINGS_MAX_CONCURRENT_STREAMS (or it could not be read, as over TLS)",
            ));
        };
        if limit > params.max_limit {
            return Ok(Finding::skip(format!(
                "the target advertises {limit} concurrent streams, above this scenario's bound of {}",
                params.max_limit
            )));
        }
        let issued = limit as usize + (limit as usize / 4).max(8);
        let channel = ctx.channel()?;
        let scope = ctx.unique("limit");
        let hold = Duration::from_millis(params.hold_ms);
        let rpc_limit = ctx.remaining().saturating_sub(Duration::from_secs(2));
        let mut calls = Vec::new();
        for index in 0..issued {
            let mut probe = probe_client(channel.handle());
            let request = hold_request("", HoldMode::Sleep, hold, &scope);
            let span = ctx.timeline().start(format!("Hold #{index}"));
            calls.push(tokio::spawn(async move {
                let outcome = within(rpc_limit, "Hold", probe.hold(request)).await;
                let ok = matches!(outcome, Ok(Ok(_)));
                span.end(ok);
                match outcome {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(status)) => Err(brief(&status)),
                    Err(stalled) => Err(stalled.to_string()),
                }
            }));
        }
        let mut failures = Vec::new();
        for call in calls {
            if let Err(reason) = call
                .await
                .map_err(|join| DriverError::harness(format!("task failed: {join}")))?
            {
                failures.push(reason);
            }
        }
        let mut control = probe_client(ctx.control()?);
        let gauge = within(
            Duration::from_secs(5),
            "Gauge",
            control.gauge(GaugeRequest {
                scope,
                reset_max: false,
            }),
        )
        .await
        .map_err(|stalled| DriverError::target(stalled.to_string()))?
        .map_err(|status| DriverError::target(format!("Gauge failed: {}", brief(&status))))?
        .into_inner();
        let finding = if !failures.is_empty() {
            Finding::fail(format!(
                "{} of {issued} RPCs failed instead of queueing behind the advertised limit of {limit}; first: {}",
                failures.len(),
                failures[0]
            ))
        } else if gauge.max_in_flight > limit {
            Finding::fail(format!(
                "the server had {} RPCs in flight on one connection, above its advertised limit of {limit}",
                gauge.max_in_flight
            ))
        } else {
            Finding::pass().evidence(format!(
                "{issued} RPCs against an advertised limit of {limit}: all completed, the server never had more than {} in flight",
                gauge.max_in_flight
            ))
        };
        Ok(finding
            .figure("advertised_limit", f64::from(limit))
            .figure("issued", issued as f64)
            .figure("failed", failures.len() as f64)
            .figure("server_max_in_flight", f64::from(gauge.max_in_flight)))
    }
}
