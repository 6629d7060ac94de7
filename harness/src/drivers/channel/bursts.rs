//! `bursts`: repeated bursts of concurrent RPCs with payloads larger than the
//! HTTP/2 flow-control window complete without stalls, and (with
//! ProbeService) every RPC of a burst is open at the server at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::proto::probe::PipeRequest;
use serde::Deserialize;
use tokio::sync::{Barrier, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, probe_client, test_client, unary_request, within,
};
use crate::scenario::Capability;
use crate::verdict::Finding;

pub struct Bursts;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub bursts: usize,
    /// Concurrent RPCs per burst.
    pub rpcs: usize,
    /// Payload each way, bytes (above the 64 KiB default window).
    pub payload_bytes: usize,
    /// Bound on one burst.
    pub burst_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            bursts: 3,
            rpcs: 128,
            payload_bytes: 128 * 1024,
            burst_timeout_ms: 15_000,
        }
    }
}

fn pattern(burst: usize, index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| ((i * 31 + index * 7 + burst) % 251) as u8)
        .collect()
}

impl Driver for Bursts {
    const NAME: &'static str = "bursts";
    const DOC: &'static str = include_str!("bursts.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let has_probe = ctx.target().has(Capability::Probe);
        let limit = Duration::from_millis(params.burst_timeout_ms);
        // With ProbeService a burst's streams are held open together.
        let rpcs = if has_probe {
            ctx.open_together(params.rpcs, 0, "streams of a burst")
        } else {
            params.rpcs
        };
        let mut walls = Vec::new();
        for burst in 0..params.bursts {
            let started = Instant::now();
            let barrier = Arc::new(Barrier::new(rpcs));
            let mut tasks = Vec::new();
            for index in 0..rpcs {
                let handle = channel.handle();
                let size = params.payload_bytes;
                let barrier = Arc::clone(&barrier);
                let span = ctx.timeline().start(format!("burst {burst} rpc {index}"));
                let tag = ctx.unique(&format!("burst-{burst}-{index}"));
                tasks.push(tokio::spawn(async move {
                    let outcome = within(limit, "burst RPC", async move {
                        if has_probe {
                            let mut probe = probe_client(handle);
                            let body = pattern(burst, index, size);
                            let (requests, outbound) = mpsc::channel(1);
                            let _ = requests
                                .send(PipeRequest {
                                    tag,
                                    scope: String::new(),
                                    producer: 0,
                                    seq: 0,
                                    payload: body.clone(),
                                })
                                .await;
                            let mut echoes = probe
                                .pipe(ReceiverStream::new(outbound))
                                .await
                                .map_err(|s| brief(&s))?
                                .into_inner();
                            let echo = echoes
                                .message()
                                .await
                                .map_err(|s| brief(&s))?
                                .ok_or("no echo")?;
                            if echo.echo.map(|e| e.payload) != Some(body) {
                                return Err(
                                    "the echoed payload differs from the one sent".to_owned()
                                );
                            }
                            barrier.wait().await;
                            drop(requests);
                            match echoes.message().await.map_err(|s| brief(&s))? {
                                None => Ok(()),
                                Some(_) => Err("an extra echo".to_owned()),
                            }
                        } else {
                            let mut test = test_client(handle);
                            let reply = test
                                .unary_call(unary_request(size, size))
                                .await
                                .map_err(|s| brief(&s))?;
                            let got = reply.into_inner().payload.map_or(0, |p| p.body.len());
                            if got == size {
                                Ok(())
                            } else {
                                Err(format!("asked {size} bytes, got {got}"))
                            }
                        }
                    })
                    .await;
                    let outcome = outcome
                        .map_err(|stalled| stalled.to_string())
                        .and_then(|inner| inner);
                    span.end(outcome.is_ok());
                    outcome
                }));
            }
            let mut failures = Vec::new();
            for task in tasks {
                if let Err(reason) = task
                    .await
                    .map_err(|join| DriverError::harness(format!("task failed: {join}")))?
                {
                    failures.push(reason);
                }
            }
            let wall = started.elapsed();
            walls.push(wall.as_secs_f64() * 1000.0);
            if !failures.is_empty() {
                return Ok(Finding::fail(format!(
                    "burst {} of {}: {} of {} RPCs with {} KiB payloads stalled or failed; first: {}",
                    burst + 1,
                    params.bursts,
                    failures.len(),
                    rpcs,
                    params.payload_bytes / 1024,
                    failures[0]
                ))
                .figure("bursts_completed", burst as f64));
            }
        }
        let slowest = walls.iter().copied().fold(0.0, f64::max);
        Ok(Finding::pass()
            .evidence(format!(
                "{} bursts of {} concurrent RPCs, each moving {} KiB both ways{}, completed intact; slowest burst {slowest:.0} ms",
                params.bursts,
                rpcs,
                params.payload_bytes / 1024,
                if has_probe { " and all open together at the server" } else { "" }
            ))
            .figure("bursts_completed", params.bursts as f64)
            .figure("slowest_burst_ms", slowest.round()))
    }
}
