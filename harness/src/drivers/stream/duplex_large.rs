//! `duplex-large`: large messages, well beyond the HTTP/2 windows, in both
//! directions of one FullDuplexCall, with separate send and receive tasks,
//! complete without deadlock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::defects::ClientDefect;
use crate::drivers::{Ctx, Driver, DriverResult, brief, output_request, payload, test_client};
use crate::verdict::Finding;

pub struct DuplexLarge;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Requests (and responses) exchanged.
    pub messages: usize,
    /// Bytes per request and per response.
    pub message_bytes: usize,
    /// No progress in either direction for this long is a deadlock.
    pub stall_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            messages: 32,
            message_bytes: 256 * 1024,
            stall_ms: 3_000,
        }
    }
}

impl Driver for DuplexLarge {
    const NAME: &'static str = "duplex-large";
    const DOC: &'static str = include_str!("duplex_large.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut client = test_client(channel.handle());
        let total = params.messages.max(1);
        let size = params.message_bytes;
        let single_task = ctx
            .target()
            .dial
            .client_defects
            .contains(&ClientDefect::SendAllThenRead);
        let sent = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let all_sent = Arc::new(Notify::new());
        let (requests, outbound) = mpsc::channel(1);
        let mut span = ctx.timeline().start("FullDuplexCall (large both ways)");

        let sender = {
            let sent = Arc::clone(&sent);
            let all_sent = Arc::clone(&all_sent);
            tokio::spawn(async move {
                for _ in 0..total {
                    let mut request = output_request(&[size], Duration::ZERO);
                    request.payload = payload(size, 0x42);
                    if requests.send(request).await.is_err() {
                        return;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                all_sent.notify_one();
            })
        };
        let receiver = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                let mut replies = client
                    .full_duplex_call(ReceiverStream::new(outbound))
                    .await?
                    .into_inner();
                if single_task {
                    // The defect: read nothing until everything is sent.
                    all_sent.notified().await;
                }
                let mut bytes = 0usize;
                while let Some(reply) = replies.message().await? {
                    bytes += reply.payload.map_or(0, |p| p.body.len());
                    received.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, tonic::Status>(bytes)
            })
        };

        // Watchdog: progress in either direction resets the clock.
        let stall = Duration::from_millis(params.stall_ms);
        let mut last = (0, 0);
        let mut quiet = Duration::ZERO;
        let step = Duration::from_millis(50);
        let outcome = loop {
            if receiver.is_finished() {
                break receiver.await.ok();
            }
            tokio::time::sleep(step).await;
            let now = (sent.load(Ordering::SeqCst), received.load(Ordering::SeqCst));
            if now != last {
                last = now;
                quiet = Duration::ZERO;
                if now.1 > 0 {
                    span.first_message();
                }
            } else {
                quiet += step;
                if quiet >= stall {
                    receiver.abort();
                    break None;
                }
            }
        };
        sender.abort();
        let (sent, received) = (sent.load(Ordering::SeqCst), received.load(Ordering::SeqCst));
        let finding = match outcome {
            Some(Ok(bytes)) if received == total => {
                span.end(true);
                Finding::pass().evidence(format!(
                    "{total} requests and {total} responses of {} KiB each ({} MiB each way) crossed one stream with separate send and receive tasks",
                    size / 1024,
                    bytes / (1024 * 1024)
                ))
            }
            Some(Ok(_)) => {
                span.end(false);
                Finding::fail(format!(
                    "the call ended OK after {received} of {total} responses"
                ))
            }
            Some(Err(status)) => {
                span.end(false);
                Finding::fail(format!("the call failed: {}", brief(&status)))
            }
            None => {
                span.end(false);
                Finding::fail(format!(
                    "deadlock: no progress in either direction for {} ms, with {sent} of {total} requests sent and {received} responses received{}",
                    stall.as_millis(),
                    if single_task {
                        " (one task sending everything before reading)"
                    } else {
                        ""
                    }
                ))
            }
        };
        Ok(finding
            .figure("sent", sent as f64)
            .figure("received", received as f64)
            .figure("message_kib", (size / 1024) as f64))
    }
}
