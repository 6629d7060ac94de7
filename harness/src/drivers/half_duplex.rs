//! `half-duplex`: HalfDuplexCall sends no reply before the client
//! half-closes, then every reply, in order.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Ctx, Driver, DriverResult, brief, output_request, test_client, within};
use crate::verdict::Finding;

pub struct HalfDuplex;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    const METHOD: &'static str = "Sends N requests on a HalfDuplexCall (request i asks for one response of 100+i bytes) and keeps the send half open, watching the receive half for a quiet period: no reply may arrive before the half-close. Then half-closes and expects the N replies in request order and OK.";
    const EVIDENCE: &'static str = "Replies seen before the half-close (must be none), replies after it and their order.";
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut client = test_client(channel.handle());
        let total = params.requests.max(1);
        let (requests, outbound) = mpsc::channel(total);
        for index in 0..total {
            let _ = requests.send(output_request(&[100 + index], Duration::ZERO)).await;
        }
        let mut span = ctx.timeline().start("HalfDuplexCall");
        let limit = Duration::from_secs(5);
        let mut replies = match within(limit, "HalfDuplexCall", client.half_duplex_call(ReceiverStream::new(outbound))).await {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Ok(Finding::fail(format!("HalfDuplexCall failed: {}", brief(&status)))),
            Err(stalled) => return Ok(Finding::fail(stalled.to_string())),
        };
        let quiet = Duration::from_millis(params.quiet_ms);
        if let Ok(early) = within(quiet, "premature reply", replies.message()).await {
            span.end(false);
            return Ok(Finding::fail(format!(
                "a reply arrived before the client half-closed ({}): HalfDuplexCall must buffer until half-close",
                match early {
                    Ok(Some(_)) => "a response message".to_owned(),
                    Ok(None) => "the end of the stream".to_owned(),
                    Err(status) => brief(&status),
                }
            )));
        }
        drop(requests);
        let mut sizes = Vec::new();
        let ending = loop {
            match within(limit, "reply", replies.message()).await {
                Ok(Ok(Some(reply))) => {
                    span.first_message();
                    sizes.push(reply.payload.map_or(0, |p| p.body.len()));
                }
                Ok(Ok(None)) => break Ok(()),
                Ok(Err(status)) => break Err(brief(&status)),
                Err(stalled) => break Err(stalled.to_string()),
            }
        };
        let expected: Vec<usize> = (0..total).map(|i| 100 + i).collect();
        span.end(ending.is_ok() && sizes == expected);
        Ok(match ending {
            Err(reason) => Finding::fail(format!("after the half-close: {reason}")),
            Ok(()) if sizes != expected => Finding::fail(format!(
                "replies after the half-close were {sizes:?}, expected {expected:?}"
            )),
            Ok(()) => Finding::pass().evidence(format!(
                "no reply during {} ms before the half-close; then all {total} replies in order and OK",
                quiet.as_millis()
            )),
        })
    }
}
