//! `graceful-shutdown`: a server asked to stop gracefully refuses new
//! connections promptly but lets every RPC in flight finish, then exits
//! cleanly.

mod in_flight;
mod stop;

use crate::client::{ChannelOptions, ClientChannel, Dial};
use crate::drivers::prelude::*;

pub struct GracefulShutdown;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// RPCs in flight when the stop begins.
    pub in_flight: usize,
    /// How long each in-flight Hold sleeps (ProbeService variant).
    pub hold_ms: u64,
    /// Responses and their spacing of each in-flight StreamingOutputCall
    /// (TestService-only variant).
    pub responses: usize,
    pub interval_ms: u64,
    /// The grace period the server is given.
    pub grace_ms: u64,
    /// How soon a new connection must be refused once the stop began.
    pub refuse_within_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            in_flight: 4,
            hold_ms: 1_500,
            responses: 3,
            interval_ms: 400,
            grace_ms: 5_000,
            refuse_within_ms: 3_000,
        }
    }
}

impl Driver for GracefulShutdown {
    const NAME: &'static str = "graceful-shutdown";
    const DOC: &'static str = include_str!("graceful_shutdown.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let server =
            ctx.target().spawn_private().await.map_err(|err| {
                DriverError::target(format!("cannot start a private server: {err}"))
            })?;
        let dial = Dial {
            uri: server.uri(),
            tls: None,
            client_defects: vec![],
        };
        let channel = connect(&dial)?;
        let has_probe = ctx.target().has(Capability::Probe);
        let in_flight = match in_flight::start(&ctx, &dial, &channel, &params, has_probe).await {
            Ok(calls) => calls,
            Err(err) => return Err(stop::stop_after(server, err).await),
        };

        let grace = Duration::from_millis(params.grace_ms);
        let stop_began = Instant::now();
        let stopping = stop::begin(&ctx, server, grace);
        let mut checks = Checks::new();
        let refuse_within = Duration::from_millis(params.refuse_within_ms);
        let refused = stop::refused(&ctx, &dial, stop_began, refuse_within, &mut checks).await?;
        let (mut completed, mut after_stop) = (0usize, 0usize);
        let held_back = in_flight.held_back();
        let held_back_line = in_flight.held_back_line();
        let started = in_flight.calls.len();
        for (index, call) in in_flight.calls {
            match call.join().await {
                Ok(done) => {
                    completed += 1;
                    after_stop += usize::from(done.ended > stop_began);
                }
                Err(err) => checks.problem(format!("in-flight RPC #{index} did not finish: {err}")),
            }
        }
        checks.line(format!(
            "{completed} of {started} in-flight RPCs ended OK, {after_stop} of them after the stop began"
        ));
        let stop_ms = stop::ended(stopping, &mut checks).await?;

        if checks.passed() && after_stop == 0 {
            return Err(DriverError::target(
                "inconclusive: every in-flight RPC ended before the stop began (raise hold_ms / interval_ms)",
            ));
        }
        let mut finding = checks.finding(
            "the graceful shutdown was not graceful",
            "new connections were refused, every in-flight RPC finished, the server stopped",
        );
        if let Some(line) = held_back_line {
            finding = finding.evidence(line);
        }
        Ok(finding
            .evidence(format!(
                "in-flight RPCs: {}",
                if has_probe {
                    "ProbeService.Hold SLEEP, observed RUNNING"
                } else {
                    "StreamingOutputCall, first response received"
                }
            ))
            .figure("in_flight_completed", completed as f64)
            .figure("in_flight_held_back", held_back as f64)
            .figure(
                "refused_after_ms",
                refused.map_or(-1.0, |after| after.as_secs_f64() * 1000.0),
            )
            .figure("stop_ms", stop_ms))
    }
}

/// A new channel to the private server.
fn connect(dial: &Dial) -> Result<ClientChannel, DriverError> {
    dial.channel(&ChannelOptions::default())
        .map_err(|err| DriverError::harness(format!("cannot build a channel: {err}")))
}
