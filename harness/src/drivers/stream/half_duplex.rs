//! `half-duplex`: HalfDuplexCall sends no reply before the client
//! half-closes, then every reply, in order.

use super::common::{Bidi, open, size};
use crate::drivers::prelude::*;

pub struct HalfDuplex;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Requests sent before the half-close.
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
        let total = params.requests.max(1);
        let expected: Vec<usize> = (0..total).map(|i| 100 + i).collect();
        let (mut requests, call) = open(ctx.channel()?.handle(), Bidi::HalfDuplex, total);
        for &size in &expected {
            let _ = requests.send(output_request(&[size], Duration::ZERO)).await;
        }
        let quiet = Duration::from_millis(params.quiet_ms);
        // The call runs in its own task, recording when each reply arrives:
        // a server may send its response headers only with its first reply,
        // so the call itself may not return before the half-close. It has
        // the quiet period, then the usual limit for the replies.
        let limit = quiet + ctx.rpc_limit();
        let receiver = ctx.spawn_marking("HalfDuplexCall", limit, |first| async move {
            let mut replies = call.await?;
            let mut arrivals = Vec::new();
            while let Some(reply) = replies.message().await? {
                first.mark();
                arrivals.push((Instant::now(), size(&reply)));
            }
            Ok::<_, tonic::Status>(arrivals)
        });
        tokio::time::sleep(quiet).await;
        let half_closed_at = Instant::now();
        requests.close();
        let arrivals = match receiver.join().await {
            Ok(arrivals) => arrivals,
            Err(err) => return call_failed("HalfDuplexCall", err),
        };
        let early = arrivals
            .iter()
            .filter(|(at, _)| *at < half_closed_at)
            .count();
        let sizes: Vec<usize> = arrivals.iter().map(|(_, size)| *size).collect();
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
