//! `mixed-kinds`: unary, server-streaming, client-streaming and bidi RPCs
//! interleave on one channel and all complete correctly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use conformance::proto::grpc_testing::StreamingInputCallRequest;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, payload, test_client,
    unary_request, within,
};
use crate::verdict::Finding;

pub struct MixedKinds;

#[derive(Debug, Deserialize, serde::Serialize)]
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

async fn one(
    kind: usize,
    index: usize,
    messages: usize,
    mut client: conformance::proto::grpc_testing::test_service_client::TestServiceClient<
        crate::client::Channel,
    >,
) -> Result<(), String> {
    let limit = Duration::from_secs(10);
    let size = 10 + index;
    let stalled = |s: crate::drivers::Stalled| s.to_string();
    match kind {
        0 => {
            let reply = within(
                limit,
                "UnaryCall",
                client.unary_call(unary_request(size, size)),
            )
            .await
            .map_err(stalled)?
            .map_err(|s| brief(&s))?;
            let got = reply.into_inner().payload.map_or(0, |p| p.body.len());
            (got == size)
                .then_some(())
                .ok_or(format!("asked {size} bytes, got {got}"))
        }
        1 => {
            let sizes = vec![size; messages];
            let mut stream = within(
                limit,
                "StreamingOutputCall",
                client.streaming_output_call(output_request(&sizes, Duration::from_millis(10))),
            )
            .await
            .map_err(stalled)?
            .map_err(|s| brief(&s))?
            .into_inner();
            let mut count = 0;
            while let Some(reply) = within(limit, "message", stream.message())
                .await
                .map_err(stalled)?
                .map_err(|s| brief(&s))?
            {
                if reply.payload.map_or(0, |p| p.body.len()) != size {
                    return Err("a response of the wrong size".into());
                }
                count += 1;
            }
            (count == messages)
                .then_some(())
                .ok_or(format!("{count} of {messages} responses"))
        }
        2 => {
            let requests: Vec<_> = (0..messages)
                .map(|_| StreamingInputCallRequest {
                    payload: payload(size, 1),
                    expect_compressed: None,
                })
                .collect();
            let reply = within(
                limit,
                "StreamingInputCall",
                client.streaming_input_call(tokio_stream::iter(requests)),
            )
            .await
            .map_err(stalled)?
            .map_err(|s| brief(&s))?;
            let got = usize::try_from(reply.into_inner().aggregated_payload_size).unwrap_or(0);
            (got == size * messages).then_some(()).ok_or(format!(
                "sent {} bytes, server counted {got}",
                size * messages
            ))
        }
        _ => {
            let (requests, outbound) = mpsc::channel(2);
            let _ = requests.send(output_request(&[size], Duration::ZERO)).await;
            let mut replies = within(
                limit,
                "FullDuplexCall",
                client.full_duplex_call(ReceiverStream::new(outbound)),
            )
            .await
            .map_err(stalled)?
            .map_err(|s| brief(&s))?
            .into_inner();
            for round in 0..messages {
                if round > 0
                    && requests
                        .send(output_request(&[size], Duration::ZERO))
                        .await
                        .is_err()
                {
                    return Err("request stream closed".into());
                }
                match within(limit, "ping-pong reply", replies.message())
                    .await
                    .map_err(stalled)?
                    .map_err(|s| brief(&s))?
                {
                    Some(_) => {}
                    None => return Err(format!("the stream ended after {round} replies")),
                }
            }
            drop(requests);
            match within(limit, "end", replies.message())
                .await
                .map_err(stalled)?
                .map_err(|s| brief(&s))?
            {
                None => Ok(()),
                Some(_) => Err("an extra reply".into()),
            }
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
        let mut tasks = Vec::new();
        for index in 0..params.per_kind {
            for (kind, name) in KINDS.iter().enumerate() {
                let client = test_client(channel.handle());
                let overlap = Arc::clone(&overlap);
                let span = ctx.timeline().start(format!("{name} #{index}"));
                let messages = params.messages.max(1);
                tasks.push(tokio::spawn(async move {
                    overlap.enter(kind);
                    let outcome = one(kind, index, messages, client).await;
                    overlap.leave(kind);
                    span.end(outcome.is_ok());
                    outcome.map_err(|reason| format!("{name} #{index}: {reason}"))
                }));
            }
        }
        let mut failures = Vec::new();
        for task in tasks {
            if let Err(reason) = task
                .await
                .map_err(|join| DriverError::harness(format!("task failed: {join}")))?
            {
                failures.push(reason);
            }
        }
        let total = params.per_kind * 4;
        let finding = if failures.is_empty() {
            Finding::pass().evidence(format!(
                "{total} RPCs of four kinds ({} each) on one channel all completed correctly",
                params.per_kind
            ))
        } else {
            Finding::fail(format!(
                "{} of {total} mixed RPCs on one channel failed; first: {}",
                failures.len(),
                failures[0]
            ))
        };
        let all_at_once = overlap.all_at_once.load(Ordering::SeqCst);
        Ok(finding
            .evidence(format!(
                "all four kinds were in flight at the same moment: {}",
                if all_at_once { "yes" } else { "no" }
            ))
            .figure("failed", failures.len() as f64)
            .figure("kinds_overlapped", if all_at_once { 1.0 } else { 0.0 }))
    }
}
