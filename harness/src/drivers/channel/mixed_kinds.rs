//! `mixed-kinds`: unary, server-streaming, client-streaming and bidi RPCs
//! interleave on one channel and all complete correctly (method:
//! mixed_kinds.md).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::duplex::Duplex;
use super::kinds;
use crate::drivers::prelude::*;

pub struct MixedKinds;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// RPCs of each kind.
    pub per_kind: usize,
    /// Messages per streaming RPC (and ping-pong rounds per bidi RPC).
    pub messages: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            per_kind: 16,
            messages: 5,
        }
    }
}

/// Counts RPCs of each kind in flight and notes whether all four kinds were
/// in flight at one moment.
#[derive(Default)]
struct Overlap {
    in_flight: [AtomicUsize; 4],
    all_at_once: AtomicBool,
}

impl Overlap {
    fn enter(&self, kind: usize) {
        self.in_flight[kind].fetch_add(1, Ordering::SeqCst);
        if self.in_flight.iter().all(|n| n.load(Ordering::SeqCst) > 0) {
            self.all_at_once.store(true, Ordering::SeqCst);
        }
    }

    fn leave(&self, kind: usize) {
        self.in_flight[kind].fetch_sub(1, Ordering::SeqCst);
    }
}

const KINDS: [&str; 4] = ["unary", "server-streaming", "client-streaming", "bidi"];

/// Server-side pause before each streamed response: the server paces its
/// stream, so that it stays in flight beside the other kinds.
const PACE: Duration = Duration::from_millis(10);

/// RPC `index` of `kind`, asking for (or sending) `10 + index` bytes a
/// message.
async fn one(kind: usize, index: usize, messages: usize, channel: Channel) -> Result<(), RpcError> {
    let size = 10 + index;
    match kind {
        0 => {
            let request = unary_request(size, size);
            kinds::unary(test_client(channel), request, size).await?;
            Ok(())
        }
        1 => kinds::server_streaming(test_client(channel), &vec![size; messages], PACE).await,
        2 => kinds::client_streaming(test_client(channel), &vec![size; messages], 1).await,
        _ => {
            // Ping-pong: each reply awaited before the next request.
            let mut stream = Duplex::open(channel, size).await?;
            stream.reply().await?;
            for _ in 1..messages {
                stream.ping(size).await?;
            }
            stream.close().await
        }
    }
}

impl Driver for MixedKinds {
    const NAME: &'static str = "mixed-kinds";
    const DOC: &'static str = include_str!("mixed_kinds.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let overlap = Arc::new(Overlap::default());
        let messages = params.messages.max(1);
        let mut calls = Vec::new();
        for index in 0..params.per_kind {
            for (kind, name) in KINDS.iter().enumerate() {
                let handle = channel.handle();
                let overlap = Arc::clone(&overlap);
                let label = format!("{name} #{index}");
                calls.push(ctx.spawn(label, async move {
                    overlap.enter(kind);
                    let outcome = one(kind, index, messages, handle).await;
                    overlap.leave(kind);
                    outcome
                }));
            }
        }
        let (failed, _) = Tally::join(calls).await;
        let finding = if failed.all_passed() {
            Finding::pass().evidence(format!(
                "{} RPCs of four kinds ({} each) on one channel all completed correctly",
                failed.total(),
                params.per_kind
            ))
        } else {
            Finding::fail(failed.line("mixed RPCs on one channel failed"))
        };
        let all_at_once = overlap.all_at_once.load(Ordering::SeqCst);
        Ok(finding
            .evidence(format!(
                "all four kinds were in flight at the same moment: {}",
                if all_at_once { "yes" } else { "no" }
            ))
            .figure("failed", failed.failed() as f64)
            .figure("kinds_overlapped", if all_at_once { 1.0 } else { 0.0 }))
    }
}
