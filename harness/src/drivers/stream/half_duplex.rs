//! `half-duplex`: HalfDuplexCall sends no reply before the client
//! half-closes, then every reply, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, test_client, within,
};
use crate::verdict::Finding;

pub struct HalfDuplex;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub requests: usize,
    /// How long the client watches for a premature reply.
    pub quiet_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            requests: 5,
            quiet_ms: 300,
        }
    }
}

impl Driver for HalfDuplex {
    const NAME: &'static str = "half-duplex";
    const DOC: &'static str = include_str!("half_duplex.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut client = test_client(channel.handle());
        let total = params.requests.max(1);
        let (requests, outbound) = mpsc::channel(total);
        for index in 0..total {
            let _ = requests
                .send(output_request(&[100 + index], Duration::ZERO))
                .await;
        }
        let mut span = ctx.timeline().start("HalfDuplexCall");
        let limit = Duration::from_secs(5);
        // The call runs in its own task, recording when each reply arrives:
        // a server may send its response headers only with its first reply,
        // so the call itself may not return before the half-close.
        let receiver = tokio::spawn(async move {
            let mut replies = client
                .half_duplex_call(ReceiverStream::new(outbound))
                .await?
                .into_inner();
            let mut arrivals = Vec::new();
            while let Some(reply) = replies.message().await? {
                arrivals.push((Instant::now(), reply.payload.map_or(0, |p| p.body.len())));
            }
            Ok::<_, tonic::Status>(arrivals)
        });
        let quiet = Duration::from_millis(params.quiet_ms);
        tokio::time::sleep(quiet).await;
        let half_closed_at = Instant::now();
        drop(requests);
        let arrivals = match within(limit, "the replies after the half-close", receiver).await {
            Ok(Ok(Ok(arrivals))) => arrivals,
            Ok(Ok(Err(status))) => {
                span.end(false);
                return Ok(Finding::fail(format!(
                    "HalfDuplexCall failed: {}",
                    brief(&status)
                )));
            }
            Ok(Err(join)) => {
                return Err(DriverError::harness(format!(
                    "receiver task failed: {join}"
                )));
            }
            Err(stalled) => {
                span.end(false);
                return Ok(Finding::fail(stalled.to_string()));
            }
        };
        if !arrivals.is_empty() {
            span.first_message();
        }
        let early = arrivals
            .iter()
            .filter(|(at, _)| *at < half_closed_at)
            .count();
        let sizes: Vec<usize> = arrivals.iter().map(|(_, size)| *size).collect();
        let expected: Vec<usize> = (0..total).map(|i| 100 + i).collect();
        span.end(early == 0 && sizes == expected);
        Ok(if early > 0 {
            Finding::fail(format!(
                "{early} of {total} replies arrived before the client half-closed: HalfDuplexCall must buffer until half-close"
            ))
        } else if sizes != expected {
            Finding::fail(format!(
                "replies after the half-close were {sizes:?}, expected {expected:?}"
            ))
        } else {
            Finding::pass().evidence(format!(
                "no reply during the {} ms before the half-close; then all {total} replies in order and OK",
                quiet.as_millis()
            ))
        })
    }
}
