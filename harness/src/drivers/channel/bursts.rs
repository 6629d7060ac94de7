//! `bursts`: repeated bursts of concurrent RPCs with payloads larger than the
//! HTTP/2 flow-control window complete without stalls (method: bursts.md).

use conformance::proto::probe::PipeRequest;
use tokio::sync::{Barrier, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::kinds;
use crate::drivers::prelude::*;

pub struct Bursts;

#[derive(Debug, Deserialize, Serialize)]
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

/// Which payload an RPC of a burst carries: one of its own, of `size`
/// bytes, whose every byte follows from its place. An echo is checked
/// against the rule rather than against a copy kept of what was sent: the
/// burst holds 128 RPCs with 128 KiB each way, and every copy is 16 MiB.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    burst: usize,
    index: usize,
    size: usize,
}

impl Pattern {
    fn byte(&self, at: usize) -> u8 {
        ((at * 31 + self.index * 7 + self.burst) % 251) as u8
    }

    fn bytes(&self) -> Vec<u8> {
        (0..self.size).map(|at| self.byte(at)).collect()
    }

    fn matches(&self, echoed: &[u8]) -> bool {
        echoed.len() == self.size && echoed.iter().enumerate().all(|(at, &b)| b == self.byte(at))
    }
}

/// One RPC of a burst with ProbeService: a Pipe stream that sends `body`,
/// checks its echo, and closes only once every stream of the burst has its
/// echo. The echo is owed to, then answered in, `group`.
async fn pipe(
    channel: Channel,
    tag: String,
    body: Pattern,
    all: Arc<Barrier>,
    group: Siblings,
) -> Result<(), RpcError> {
    let asked = Instant::now();
    group.owe();
    let echoed = echo(channel, tag, body).await;
    let (requests, mut echoes) = echoed.inspect_err(|_| group.gave_up())?;
    group.answered(asked.elapsed());
    all.wait().await;
    group.moved_on();
    drop(requests);
    match echoes.message().await? {
        None => Ok(()),
        Some(_) => Err(RpcError::wrong("an extra echo")),
    }
}

/// Opens the Pipe with `body` queued and checks its echo; the stream stays
/// open (its request half and the echoes to come).
async fn echo(
    channel: Channel,
    tag: String,
    body: Pattern,
) -> Result<
    (
        mpsc::Sender<PipeRequest>,
        tonic::Streaming<conformance::proto::probe::PipeResponse>,
    ),
    RpcError,
> {
    let (requests, outbound) = mpsc::channel(1);
    let request = PipeRequest {
        tag,
        scope: String::new(),
        producer: 0,
        seq: 0,
        payload: body.bytes(),
    };
    requests
        .try_send(request)
        .map_err(|_| RpcError::Task("cannot queue the payload".to_owned()))?;
    let mut echoes = probe_client(channel)
        .pipe(ReceiverStream::new(outbound))
        .await?
        .into_inner();
    let echo = echoes
        .message()
        .await?
        .ok_or_else(|| RpcError::wrong("no echo"))?;
    if !echo.echo.is_some_and(|e| body.matches(&e.payload)) {
        return Err(RpcError::wrong(
            "the echoed payload differs from the one sent",
        ));
    }
    Ok((requests, echoes))
}

impl Driver for Bursts {
    const NAME: &'static str = "bursts";
    const DOC: &'static str = include_str!("bursts.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let has_probe = ctx.target().has(Capability::Probe);
        let limit = Duration::from_millis(params.burst_timeout_ms);
        let size = params.payload_bytes;
        // With ProbeService a burst's streams are held open together.
        let rpcs = if has_probe {
            ctx.open_together(params.rpcs, 0, "streams of a burst")
        } else {
            params.rpcs
        };
        let mut slowest = 0.0_f64;
        for burst in 0..params.bursts {
            let started = Instant::now();
            let all = Arc::new(Barrier::new(rpcs));
            let group = Siblings::new();
            let calls: Vec<_> = (0..rpcs)
                .map(|index| {
                    let handle = channel.handle();
                    let label = format!("burst {burst} rpc {index}");
                    if has_probe {
                        let tag = ctx.unique(&format!("burst-{burst}-{index}"));
                        let body = Pattern { burst, index, size };
                        let echoed = pipe(handle, tag, body, Arc::clone(&all), group.clone());
                        ctx.spawn_within(label, limit, echoed)
                    } else {
                        let unary =
                            kinds::unary(test_client(handle), unary_request(size, size), size);
                        ctx.spawn_within(label, limit, async move { unary.await.map(drop) })
                    }
                })
                .collect();
            // Streams held open together wait for each other at the
            // barrier: one left without its echo while others wait for it
            // ends the scenario on that proof. Unary calls do not wait for
            // each other and keep their limit.
            let stall = async {
                if has_probe && rpcs > 1 {
                    group.stalled().await
                } else {
                    std::future::pending::<StallProof>().await
                }
            };
            let failed = match join_unless_stalled(calls, stall).await {
                Ok(failed) => failed,
                Err(proof) => {
                    return Ok(Finding::fail(format!(
                        "burst {} of {}: streams with {} KiB payloads held open together stalled: {proof}: the server did not serve them in parallel (the streams still open were then cancelled)",
                        burst + 1,
                        params.bursts,
                        size / 1024
                    ))
                    .figure("bursts_completed", burst as f64));
                }
            };
            slowest = slowest.max(started.elapsed().as_secs_f64() * 1000.0);
            if !failed.all_passed() {
                return Ok(Finding::fail(format!(
                    "burst {} of {}: {}",
                    burst + 1,
                    params.bursts,
                    failed.line(&format!(
                        "RPCs with {} KiB payloads stalled or failed",
                        size / 1024
                    ))
                ))
                .figure("bursts_completed", burst as f64));
            }
        }
        Ok(Finding::pass()
            .evidence(format!(
                "{} bursts of {rpcs} concurrent RPCs, each moving {} KiB both ways{}, completed intact; slowest burst {slowest:.0} ms",
                params.bursts,
                size / 1024,
                if has_probe { " and all open together at the server" } else { "" }
            ))
            .figure("bursts_completed", params.bursts as f64)
            .figure("slowest_burst_ms", slowest.round()))
    }
}
