//! `duplex-sequence`: on one FullDuplexCall, a sender task and a receiver
//! task work at the same time; every reply arrives once, in order.

use tokio::sync::watch;

use super::common::{Bidi, Requests, open, size};
use crate::drivers::prelude::*;

pub struct DuplexSequence;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Sequence-numbered requests sent.
    pub messages: usize,
    /// How long to wait for any single reply.
    pub reply_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            messages: 200,
            reply_timeout_ms: 5_000,
        }
    }
}

impl Driver for DuplexSequence {
    const NAME: &'static str = "duplex-sequence";
    const DOC: &'static str = include_str!("duplex_sequence.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let total = params.messages.max(2);
        let limit = Duration::from_millis(params.reply_timeout_ms);
        let (requests, call) = open(ctx.channel()?.handle(), Bidi::FullDuplex, 16);
        let (got_reply, reply_seen) = watch::channel(0usize);
        let sender = tokio::spawn(send(requests, total, reply_seen, limit));
        let mut span = ctx.timeline().start("FullDuplexCall");
        let mut replies = match rpc_within(limit, "FullDuplexCall", call).await {
            Ok(replies) => replies,
            Err(err) => {
                sender.abort();
                return call_failed("FullDuplexCall", err);
            }
        };

        // The receiver: this task.
        let mut sizes = Vec::with_capacity(total);
        let mut problem = loop {
            match replies.next(limit).await {
                Ok(Some(reply)) => {
                    span.first_message();
                    sizes.push(size(&reply));
                    let _ = got_reply.send(sizes.len());
                }
                Ok(None) => break None,
                Err(RpcError::Stalled(stalled)) => {
                    break Some(format!("{stalled} after {} replies", sizes.len()));
                }
                Err(err) => break Some(format!("the stream ended with {err}")),
            }
        };
        let sent = match sender.await {
            Ok(Ok(sent)) => sent,
            Ok(Err(reason)) => {
                problem.get_or_insert(reason);
                0
            }
            Err(join) => return Err(DriverError::harness(format!("sender task failed: {join}"))),
        };
        span.end(problem.is_none());

        let expected: Vec<usize> = (1..=total).collect();
        let finding = if let Some(problem) = problem {
            Finding::fail(format!(
                "concurrent send and receive on one stream broke: {problem}"
            ))
        } else if sizes != expected {
            let first_bad = sizes
                .iter()
                .zip(&expected)
                .position(|(got, want)| got != want)
                .unwrap_or(sizes.len().min(expected.len()));
            Finding::fail(format!(
                "replies lost, duplicated or reordered: {} replies to {} requests; first difference at reply #{first_bad} (got {:?}, expected {:?})",
                sizes.len(),
                total,
                sizes.get(first_bad),
                expected.get(first_bad)
            ))
        } else {
            Finding::pass().evidence(format!(
                "{total} requests sent by one task and {total} replies read by another, in order, each exactly once; the first reply arrived while the send half was still open; status OK"
            ))
        };
        Ok(finding
            .figure("sent", sent as f64)
            .figure("received", sizes.len() as f64))
    }
}

/// The sender: sends `total` requests (request i asks for i+1 bytes), and
/// halfway waits up to `limit` for a reply to have arrived.
async fn send(
    requests: Requests,
    total: usize,
    mut reply_seen: watch::Receiver<usize>,
    limit: Duration,
) -> Result<usize, String> {
    for index in 0..total {
        if index == total / 2 {
            let waited = within(limit, "a reply", reply_seen.wait_for(|n| *n > 0)).await;
            if waited.is_err() {
                return Err(format!(
                    "no reply arrived within {} ms while the send half was open after {index} requests",
                    limit.as_millis()
                ));
            }
        }
        let request = output_request(&[index + 1], Duration::ZERO);
        if requests.send(request).await.is_err() {
            return Err(format!("the request stream closed after {index} requests"));
        }
    }
    Ok(total)
}
