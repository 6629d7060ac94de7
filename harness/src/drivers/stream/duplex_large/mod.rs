//! `duplex-large`: large messages, well beyond the HTTP/2 windows, in both
//! directions of one FullDuplexCall, with separate send and receive tasks,
//! complete without deadlock.

mod exchange;

use std::sync::atomic::AtomicUsize;

use tokio::sync::Notify;

use self::exchange::Exchange;
use super::common::{Bidi, open};
use crate::defects::ClientDefect;
use crate::drivers::prelude::*;

pub struct DuplexLarge;

#[derive(Debug, Deserialize, Serialize)]
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
        let exchange = Arc::new(Exchange {
            total: params.messages.max(1),
            size: params.message_bytes,
            stall: Duration::from_millis(params.stall_ms),
            single_task: (ctx.target().dial.client_defects)
                .contains(&ClientDefect::SendAllThenRead),
            sent: AtomicUsize::new(0),
            received: AtomicUsize::new(0),
            all_sent: Notify::new(),
        });
        let (requests, call) = open(ctx.channel()?.handle(), Bidi::FullDuplex, 1);
        let sender = tokio::spawn(Arc::clone(&exchange).send(requests));
        // The watchdog judges stalls; the call may take what is left of the
        // budget.
        let receiver = ctx.spawn_marking(
            "FullDuplexCall (large both ways)",
            ctx.remaining(),
            |first| Arc::clone(&exchange).receive(call, first),
        );
        let outcome = receiver.join().await;
        sender.abort();
        let (total, size) = (exchange.total, exchange.size);
        let (sent, received) = exchange.progress();
        let finding = match outcome {
            Ok(bytes) => Finding::pass().evidence(format!(
                "{total} requests and {total} responses of {} KiB each ({} MiB each way) crossed one stream with separate send and receive tasks",
                size / 1024,
                bytes / (1024 * 1024)
            )),
            Err(RpcError::Wrong(why)) => Finding::fail(why),
            Err(err) => Finding::fail(format!("the call failed: {err}")),
        };
        Ok(finding
            .figure("sent", sent as f64)
            .figure("received", received as f64)
            .figure("message_kib", (size / 1024) as f64))
    }
}
