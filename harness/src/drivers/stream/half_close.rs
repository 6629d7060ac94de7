//! `half-close`: the send half closes while the receive half is mid-stream;
//! every reply and the OK trailers still arrive.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{Ctx, Driver, DriverResult, brief, output_request, test_client, within};
use crate::verdict::Finding;

pub struct HalfClose;

#[derive(Debug, Deserialize, serde::Serialize)]
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
        let channel = ctx.channel()?;
        let mut client = test_client(channel.handle());
        let sizes: Vec<usize> = (1..=params.responses.max(1)).collect();
        let (requests, outbound) = mpsc::channel(1);
        let _ = requests
            .send(output_request(
                &sizes,
                Duration::from_millis(params.interval_ms),
            ))
            .await;
        let mut requests = Some(requests);
        let mut span = ctx.timeline().start("FullDuplexCall");
        let limit = Duration::from_secs(5);
        let mut replies = match within(
            limit,
            "FullDuplexCall",
            client.full_duplex_call(ReceiverStream::new(outbound)),
        )
        .await
        {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => {
                return Ok(Finding::fail(format!(
                    "FullDuplexCall failed: {}",
                    brief(&status)
                )));
            }
            Err(stalled) => return Ok(Finding::fail(stalled.to_string())),
        };
        let mut got = Vec::new();
        let mut after_close = 0;
        let ending = loop {
            match within(limit, "next reply", replies.message()).await {
                Ok(Ok(Some(reply))) => {
                    span.first_message();
                    got.push(reply.payload.map_or(0, |p| p.body.len()));
                    if requests.is_none() {
                        after_close += 1;
                    }
                    if got.len() == params.close_after {
                        requests = None; // half-close, mid-stream
                    }
                }
                Ok(Ok(None)) => break Ok(()),
                Ok(Err(status)) => break Err(brief(&status)),
                Err(stalled) => break Err(stalled.to_string()),
            }
        };
        span.end(ending.is_ok() && got == sizes);
        let finding = match ending {
            Err(reason) => Finding::fail(format!(
                "after the half-close the stream broke: {reason} ({} of {} replies)",
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
