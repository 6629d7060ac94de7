//! `duplex-sequence`: on one FullDuplexCall, a sender task and a receiver
//! task work at the same time; every reply arrives once, in order.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, test_client, within,
};
use crate::verdict::Finding;

pub struct DuplexSequence;

#[derive(Debug, Deserialize, serde::Serialize)]
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
        let channel = ctx.channel()?;
        let mut test = test_client(channel.handle());
        let total = params.messages.max(2);
        let reply_timeout = Duration::from_millis(params.reply_timeout_ms);
        let (requests, outbound) = mpsc::channel(16);
        let (got_reply, mut reply_seen) = watch::channel(0usize);
        let mut span = ctx.timeline().start("FullDuplexCall");

        // Sender: its own task, pausing halfway until a reply has arrived.
        let sender = tokio::spawn(async move {
            for index in 0..total {
                if index == total / 2 {
                    let waited = within(
                        reply_timeout,
                        "a reply while the send half is open",
                        reply_seen.wait_for(|n| *n > 0),
                    )
                    .await;
                    if waited.is_err() {
                        return Err(format!(
                            "no reply arrived within {} ms while the send half was open after {index} requests",
                            reply_timeout.as_millis()
                        ));
                    }
                }
                let request = output_request(&[index + 1], Duration::ZERO);
                if requests.send(request).await.is_err() {
                    return Err(format!("the request stream closed after {index} requests"));
                }
            }
            Ok(total)
        });

        let call = within(
            reply_timeout,
            "FullDuplexCall headers",
            test.full_duplex_call(ReceiverStream::new(outbound)),
        )
        .await;
        let mut replies = match call {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => {
                return Ok(Finding::fail(format!(
                    "FullDuplexCall failed: {}",
                    brief(&status)
                )));
            }
            Err(stalled) => {
                sender.abort();
                return Ok(Finding::fail(stalled.to_string()));
            }
        };

        // Receiver: this task.
        let mut sizes = Vec::with_capacity(total);
        let mut problem = None;
        loop {
            match within(reply_timeout, "next reply", replies.message()).await {
                Ok(Ok(Some(reply))) => {
                    span.first_message();
                    sizes.push(reply.payload.map_or(0, |payload| payload.body.len()));
                    let _ = got_reply.send(sizes.len());
                }
                Ok(Ok(None)) => break,
                Ok(Err(status)) => {
                    problem = Some(format!("the stream ended with {}", brief(&status)));
                    break;
                }
                Err(stalled) => {
                    problem = Some(format!("{stalled} after {} replies", sizes.len()));
                    break;
                }
            }
        }
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
