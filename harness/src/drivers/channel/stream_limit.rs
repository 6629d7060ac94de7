//! `stream-limit`: more concurrent RPCs than the server's advertised
//! SETTINGS_MAX_CONCURRENT_STREAMS queue on the client and all complete
//! (method: stream_limit.md).

use crate::drivers::prelude::*;

pub struct StreamLimit;

#[derive(Debug, Deserialize, Serialize)]
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

/// The advertised stream limit a scenario queues behind, or the skip of a
/// target that advertises none (or one above `max_limit`).
pub(crate) fn limit_to_exceed(ctx: &Ctx, max_limit: u32) -> Result<u32, Finding> {
    let Some(limit) = ctx.target().advertised_max_streams else {
        return Err(Finding::skip(
            "the target advertises no SETTINGS_MAX_CONCURRENT_STREAMS (or it could not be read, as over TLS): there is no limit to queue behind",
        ));
    };
    if limit > max_limit {
        return Err(Finding::skip(format!(
            "the target advertises {limit} concurrent streams, above this scenario's bound of {max_limit}"
        )));
    }
    Ok(limit)
}

impl Driver for StreamLimit {
    const NAME: &'static str = "stream-limit";
    const DOC: &'static str = include_str!("stream_limit.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let limit = match limit_to_exceed(&ctx, params.max_limit) {
            Ok(limit) => limit,
            Err(skip) => return Ok(skip),
        };
        let streams = usize::try_from(limit).unwrap_or(usize::MAX);
        let issued = streams + (streams / 4).max(8);
        let channel = ctx.channel()?;
        let scope = ctx.unique("limit");
        let hold = Duration::from_millis(params.hold_ms);
        // The RPCs beyond the limit wait their turn behind the others, so
        // each may take most of the budget; two seconds are left for the
        // gauge and the verdict.
        let queued_limit = ctx.remaining().saturating_sub(Duration::from_secs(2));
        let calls = (0..issued)
            .map(|index| {
                let mut probe = probe_client(channel.handle());
                let request = hold_request("", HoldMode::Sleep, hold, &scope);
                let label = format!("Hold #{index}");
                ctx.spawn_within(
                    label,
                    queued_limit,
                    async move { probe.hold(request).await },
                )
            })
            .collect();
        let (completed, _) = Tally::join(calls).await;
        let mut control = probe_client(ctx.control()?);
        let gauge = read_gauge(&mut control, &scope, ctx.rpc_limit())
            .await
            .map_err(DriverError::target)?;
        let finding = if !completed.all_passed() {
            Finding::fail(completed.line(&format!(
                "RPCs failed instead of queueing behind the advertised limit of {limit}"
            )))
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
            .figure("failed", completed.failed() as f64)
            .figure("server_max_in_flight", f64::from(gauge.max_in_flight)))
    }
}
