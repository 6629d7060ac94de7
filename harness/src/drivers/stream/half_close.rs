//! `half-close`: the send half closes while the receive half is mid-stream;
//! every reply and the OK trailers still arrive.

use super::common::{Bidi, open, size};
use crate::drivers::prelude::*;

pub struct HalfClose;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Responses the one request asks for.
    pub responses: usize,
    /// Server-side interval between them.
    pub interval_ms: u64,
    /// Replies received before the client half-closes.
    pub close_after: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            responses: 20,
            interval_ms: 20,
            close_after: 3,
        }
    }
}

impl Driver for HalfClose {
    const NAME: &'static str = "half-close";
    const DOC: &'static str = include_str!("half_close.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let limit = ctx.rpc_limit();
        let sizes: Vec<usize> = (1..=params.responses.max(1)).collect();
        let interval = Duration::from_millis(params.interval_ms);
        let (mut requests, call) = open(ctx.channel()?.handle(), Bidi::FullDuplex, 1);
        let _ = requests.send(output_request(&sizes, interval)).await;
        let mut span = ctx.timeline().start("FullDuplexCall");
        let mut replies = match rpc_within(limit, "FullDuplexCall", call).await {
            Ok(replies) => replies,
            Err(err) => return call_failed("FullDuplexCall", err),
        };
        let mut got = Vec::new();
        let mut after_close = 0;
        let ending = async {
            while let Some(reply) = replies.next(limit).await? {
                span.first_message();
                got.push(size(&reply));
                if requests.is_closed() {
                    after_close += 1;
                }
                if got.len() == params.close_after {
                    requests.close(); // mid-stream
                }
            }
            Ok::<_, RpcError>(())
        }
        .await;
        span.end(ending.is_ok() && got == sizes);
        let finding = match ending {
            Err(err) => Finding::fail(format!(
                "after the half-close the stream broke: {err} ({} of {} replies)",
                got.len(),
                sizes.len()
            )),
            Ok(()) if got != sizes => Finding::fail(format!(
                "the call ended OK after only {} of {} replies: the half-close of the send half cut the receive half",
                got.len(),
                sizes.len()
            )),
            Ok(()) => Finding::pass().evidence(format!(
                "half-closed after {} replies; the remaining {after_close} replies and OK trailers arrived",
                params.close_after
            )),
        };
        Ok(finding
            .figure("replies", got.len() as f64)
            .figure("after_half_close", f64::from(after_close)))
    }
}
