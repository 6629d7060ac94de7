//! `health-beyond-stream-limit`: with the advertised stream limit K filled
//! by held-open Health.Watch streams, more Watch streams queue on the
//! client and start as held ones end (method: beyond_limit.md).

use super::watchers::Watchers;
use crate::drivers::channel::stream_limit::limit_to_exceed;
use crate::drivers::prelude::*;

pub struct BeyondLimit;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Highest advertised limit the scenario will fill.
    pub max_limit: u32,
    /// The service name watched ("" is the whole server).
    pub service: String,
    /// How long each group of streams has to receive its first statuses.
    pub first_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            max_limit: 2_048,
            service: String::new(),
            first_ms: 8_000,
        }
    }
}

impl Driver for BeyondLimit {
    const NAME: &'static str = "health-beyond-stream-limit";
    const DOC: &'static str = include_str!("beyond_limit.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let limit = match limit_to_exceed(&ctx, params.max_limit) {
            Ok(limit) => limit,
            Err(skip) => return Ok(skip),
        };
        let held = usize::try_from(limit).unwrap_or(usize::MAX);
        let extra = (held / 4).clamp(1, 64);
        let first_limit = Duration::from_millis(params.first_ms);
        let channel = ctx.channel()?;
        let hold_limit = ctx.remaining().saturating_sub(Duration::from_secs(2));
        let mut watchers = Watchers::new();
        watchers.open(&ctx, &channel, held, &params.service, hold_limit);
        let filled = watchers.wait_first(held, first_limit).await;
        let mut result = Checks::new();
        let mut started = 0;
        if filled == held {
            result.line(format!(
                "{held} Watch streams held open fill the advertised limit of {limit}"
            ));
            // These cannot start until held streams end: the client queues
            // them within the limit instead of failing them.
            watchers.open(&ctx, &channel, extra, &params.service, hold_limit);
            watchers.release(extra);
            started = watchers.wait_first(held + extra, first_limit).await - filled;
            result.expect(
                started == extra,
                format!("{extra} more Watch streams queued and received their first status as {extra} held ones ended"),
                || format!("{started} of {extra} Watch streams beyond the limit received a first status after held ones ended, {}", watchers.shortfall(first_limit)),
            );
        } else {
            result.problem(format!(
                "{filled} of {held} Watch streams (the advertised limit) held open together received a first status {}",
                watchers.shortfall(first_limit)
            ));
        }
        let connections_opened = channel.connections_opened();
        let refused = channel.refused_streams();
        let (tally, _) = watchers.finish().await;
        // Streams ended before their first status are counted above; the
        // tally adds any that failed with a status of their own.
        result.expect(
            tally.all_passed() || filled < held || started < extra,
            "no Watch stream failed",
            || tally.line("Watch streams failed instead of queueing"),
        );
        result.expect(connections_opened == 1, connections(&channel), || {
            format!("the channel opened {connections_opened} TCP connections, not one")
        });
        if refused > 0 {
            result.line(format!(
                "the server refused {refused} stream(s), each retried"
            ));
        }
        Ok(result
            .finding(
                "Watch streams beyond the advertised limit did not queue and complete",
                "Watch streams beyond the advertised limit queued and completed",
            )
            .figure("advertised_limit", f64::from(limit))
            .figure("held", filled as f64)
            .figure("beyond_limit_started", started as f64)
            .figure("refused", refused as f64)
            .figure("connections", connections_opened as f64))
    }
}
