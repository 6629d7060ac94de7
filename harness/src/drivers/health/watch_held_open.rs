//! `health-watch-held-open`: N Health.Watch streams held open together on
//! one channel each receive their first status, and Check calls complete
//! while they are open, all on one connection (method: watch_held_open.md).

use conformance::proto::health::HealthCheckRequest;

use super::watchers::Watchers;
use crate::drivers::prelude::*;

pub struct WatchHeldOpen;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Watch streams held open together (fewer where the target advertises
    /// a lower stream limit).
    pub streams: usize,
    /// Check calls made while they are open.
    pub checks: usize,
    /// The service name watched and checked ("" is the whole server).
    pub service: String,
    /// How long every stream has to receive its first status.
    pub first_ms: u64,
    /// How long each Check has to answer.
    pub check_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            streams: 100,
            checks: 8,
            service: String::new(),
            first_ms: 5_000,
            check_ms: 2_000,
        }
    }
}

impl Driver for WatchHeldOpen {
    const NAME: &'static str = "health-watch-held-open";
    const DOC: &'static str = include_str!("watch_held_open.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let streams = ctx.open_together(params.streams.max(1), params.checks, "Watch streams");
        let channel = ctx.channel()?;
        let hold_limit = ctx.remaining().saturating_sub(Duration::from_secs(2));
        let mut watchers = Watchers::new();
        let started = Instant::now();
        watchers.open(&ctx, &channel, streams, &params.service, hold_limit);
        let first_limit = Duration::from_millis(params.first_ms);
        let firsts = watchers.wait_first(streams, first_limit).await;
        let all_first_ms = started.elapsed().as_millis();

        // Checks while every stream is still held open: a held-open Watch
        // handler must not stall its siblings. Streams proven stalled
        // already decide the verdict; no Check is made beside them.
        let stalled = watchers.stall.is_some();
        let check_count = if stalled { 0 } else { params.checks };
        let checks = (0..check_count)
            .map(|index| {
                let mut health = health_client(channel.handle());
                let request = HealthCheckRequest {
                    service: params.service.clone(),
                };
                ctx.spawn_within(
                    format!("Check #{index}"),
                    Duration::from_millis(params.check_ms),
                    async move {
                        match health.check(request).await {
                            Ok(_) => Ok(()),
                            // An answer all the same: the overall status is not registered.
                            Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
                            Err(status) => Err(RpcError::from(status)),
                        }
                    },
                )
            })
            .collect();
        let (checked, _) = Tally::join(checks).await;
        let connections_opened = channel.connections_opened();
        let shortfall = watchers.shortfall(first_limit);
        let (held, statuses) = watchers.finish().await;

        let mut result = Checks::new();
        result.expect(
            firsts == streams,
            format!("{streams} Watch streams open together each received a first status within {all_first_ms} ms"),
            || format!("{firsts} of {streams} Watch streams held open together received a first status {shortfall}"),
        );
        if stalled {
            result.line("no Check calls made: the Watch streams had stalled");
        } else {
            result.expect(
                checked.all_passed(),
                format!(
                    "{} Check calls completed while the streams were open",
                    checked.total()
                ),
                || checked.line("Check calls did not complete while Watch streams were open"),
            );
        }
        result.expect(
            held.all_passed(),
            "every Watch stream stayed open until the client ended it",
            || held.line("Watch streams failed while held open"),
        );
        result.expect(connections_opened == 1, connections(&channel), || {
            format!("the channel opened {connections_opened} TCP connections, not one")
        });
        if let Some(status) = statuses.first() {
            result.line(format!("first status: {status}"));
        }
        Ok(result
            .finding(
                "health handlers did not run side by side on one connection",
                "health handlers ran side by side",
            )
            .figure("streams", streams as f64)
            .figure("first_statuses", firsts as f64)
            .figure("all_first_ms", all_first_ms as f64)
            .figure("checks_ok", checked.succeeded() as f64)
            .figure("connections", connections_opened as f64))
    }
}
