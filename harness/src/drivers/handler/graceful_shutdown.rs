//! `graceful-shutdown`: a server asked to stop gracefully refuses new
//! connections promptly but lets every RPC in flight finish, then exits
//! cleanly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::Empty;
use conformance::proto::probe::HoldMode;
use serde::Deserialize;

use crate::client::{ChannelOptions, Dial};
use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, StreamDone, hold_request, output_request, probe_client,
    spawn_output_stream, test_client, wait_running, wait_signals, within,
};
use crate::scenario::Capability;
use crate::verdict::Finding;

pub struct GracefulShutdown;

#[derive(Debug, Deserialize, serde::Serialize)]
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
        let connect = |dial: &Dial| {
            dial.channel(&ChannelOptions::default())
                .map_err(|err| DriverError::harness(format!("cannot build a channel: {err}")))
        };
        let channel = connect(&dial)?;
        let has_probe = ctx.target().has(Capability::Probe);
        let limit = Duration::from_millis(params.grace_ms) + Duration::from_secs(5);

        // The in-flight RPCs, proven started.
        let mut in_flight: Vec<crate::drivers::Call<StreamDone>> = Vec::new();
        if has_probe {
            let mut observer = probe_client(connect(&dial)?.handle());
            let hold = Duration::from_millis(params.hold_ms);
            for index in 0..params.in_flight {
                let tag = ctx.unique(&format!("in-flight-{index}"));
                let mut probe = probe_client(channel.handle());
                let request = hold_request(&tag, HoldMode::Sleep, hold, "");
                let call = ctx.spawn_within(
                    format!("in-flight Hold SLEEP #{index}"),
                    hold + limit,
                    async move {
                        probe.hold(request).await.map(|_| StreamDone {
                            messages: 1,
                            ended: Instant::now(),
                        })
                    },
                );
                in_flight.push(call);
                if !wait_running(&mut observer, &tag, Duration::from_secs(5)).await {
                    return Err(stop_after(
                        server,
                        DriverError::target(format!(
                            "in-flight RPC #{index} was not observed RUNNING within 5 s"
                        )),
                    )
                    .await);
                }
            }
        } else {
            let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel();
            let sizes = vec![16; params.responses.max(2)];
            let interval = Duration::from_millis(params.interval_ms);
            for index in 0..params.in_flight {
                in_flight.push(spawn_output_stream(
                    &ctx,
                    channel.handle(),
                    format!("in-flight StreamingOutputCall #{index}"),
                    output_request(&sizes, interval),
                    limit,
                    Some((index, first_tx.clone())),
                ));
            }
            let started =
                wait_signals(&mut first_rx, params.in_flight, Duration::from_secs(5)).await;
            if started < params.in_flight {
                return Err(stop_after(server, DriverError::target(format!("only {started} of {} in-flight streams delivered a first response within 5 s", params.in_flight))).await);
            }
        }

        // The stop.
        let grace = Duration::from_millis(params.grace_ms);
        let stop_began = Instant::now();
        let stopping = tokio::spawn(async move {
            let exit = server.stop_gracefully(grace).await;
            (exit, stop_began.elapsed())
        });

        // New connections must be refused promptly.
        let refuse_within = Duration::from_millis(params.refuse_within_ms);
        let mut refused = None;
        let mut last = String::from("no attempt made");
        while stop_began.elapsed() < refuse_within {
            let fresh = connect(&dial)?;
            let mut test = test_client(fresh.handle());
            match within(
                Duration::from_secs(1),
                "EmptyCall on a new connection",
                test.empty_call(Empty {}),
            )
            .await
            {
                Ok(Err(status)) => {
                    refused = Some((stop_began.elapsed(), crate::drivers::brief(&status)));
                    break;
                }
                Ok(Ok(_)) => last = "a new connection was still served".to_owned(),
                Err(stalled) => last = format!("{stalled} (the attempt hung)"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut problems = Vec::new();
        let mut lines = Vec::new();
        match &refused {
            Some((after, how)) => lines.push(format!(
                "a new connection's RPC failed {} ms after the stop began: {how}",
                after.as_millis()
            )),
            None => problems.push(format!(
                "new connections were not refused within {} ms of the graceful stop: {last}",
                refuse_within.as_millis()
            )),
        }
        let mut completed = 0usize;
        let mut after_stop = 0usize;
        for (index, call) in in_flight.into_iter().enumerate() {
            match call.join().await {
                Ok(done) => {
                    completed += 1;
                    if done.ended > stop_began {
                        after_stop += 1;
                    }
                }
                Err(err) => problems.push(format!("in-flight RPC #{index} did not finish: {err}")),
            }
        }
        lines.push(format!(
            "{completed} of {} in-flight RPCs ended OK, {after_stop} of them after the stop began",
            params.in_flight
        ));
        let mut stop_ms = 0.0;
        match within(
            grace + Duration::from_secs(10),
            "the graceful stop",
            stopping,
        )
        .await
        {
            Ok(Ok((exit, took))) => {
                stop_ms = took.as_secs_f64() * 1000.0;
                match exit {
                    Some(exit) if exit.success => lines.push(format!("the server process exited cleanly ({}) {} ms after the stop began", exit.status, took.as_millis())),
                    Some(exit) => problems.push(format!("the server process did not exit cleanly: {exit}")),
                    None => lines.push(format!("the embedded server stopped {} ms after the stop began (no process exit status)", took.as_millis())),
                }
            }
            Ok(Err(join)) => {
                return Err(DriverError::harness(format!(
                    "the stop task failed: {join}"
                )));
            }
            Err(stalled) => problems.push(stalled.to_string()),
        }

        let mut finding = match problems.first() {
            Some(first) => {
                Finding::fail(format!("the graceful shutdown was not graceful: {first}"))
            }
            None if after_stop == 0 => {
                return Err(DriverError::target(
                    "inconclusive: every in-flight RPC ended before the stop began (raise hold_ms / interval_ms)",
                ));
            }
            None => Finding::pass().evidence(
                "new connections were refused, every in-flight RPC finished, the server stopped",
            ),
        };
        for line in problems.iter().skip(1).chain(&lines) {
            finding = finding.evidence(line.clone());
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
            .figure(
                "refused_after_ms",
                refused.map_or(-1.0, |(after, _)| after.as_secs_f64() * 1000.0),
            )
            .figure("stop_ms", stop_ms))
    }
}

/// Stops the private server (so that it does not outlive the scenario) and
/// passes `err` on.
async fn stop_after(server: crate::target::PrivateServer, err: DriverError) -> DriverError {
    let _ = within(
        Duration::from_secs(10),
        "stop",
        server.stop_gracefully(Duration::from_secs(2)),
    )
    .await;
    err
}
