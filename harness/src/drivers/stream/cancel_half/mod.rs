//! `cancel-half`: the receive half cancels the call while the send half is
//! mid-send; the sender sees an error promptly and the server handler
//! observes the cancellation.

mod raw_pipe;

use std::sync::atomic::{AtomicU64, Ordering};

use conformance::proto::probe::PipeRequest;
use conformance::sync::duplex;

use self::raw_pipe::cancellable_pipe;

use crate::drivers::prelude::*;

pub struct CancelHalf;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Echoes read before cancelling.
    pub read_before_cancel: u64,
    /// How soon the sender must see an error, and the server the cancellation.
    pub prompt_ms: u64,
    /// Upper bound on messages the sender tries.
    pub max_messages: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            read_before_cancel: 5,
            prompt_ms: 3_000,
            max_messages: 100_000,
        }
    }
}

impl Driver for CancelHalf {
    const NAME: &'static str = "cancel-half";
    const DOC: &'static str = include_str!("cancel_half.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let limit = ctx.rpc_limit();
        let tag = ctx.unique("cancel");
        let (send, receive) = duplex::channel::<PipeRequest>(4);
        let sent = Arc::new(AtomicU64::new(0));
        let sender = tokio::spawn(send_until_error(
            send,
            tag.clone(),
            params.max_messages,
            Arc::clone(&sent),
        ));
        let mut span = ctx.timeline().start("Pipe (cancelled by its receive half)");
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let pipe = cancellable_pipe(ctx.channel()?.handle(), receive, cancelled);
        let mut echoes = match rpc_within(limit, "Pipe", pipe).await {
            Ok(echoes) => echoes,
            Err(err) => return call_failed("Pipe", err),
        };
        for _ in 0..params.read_before_cancel {
            let stopped = match echoes.next(limit).await {
                Ok(Some(_)) => {
                    span.first_message();
                    continue;
                }
                Ok(None) => "the stream ended".to_owned(),
                Err(err) => err.to_string(),
            };
            return Ok(Finding::fail(format!(
                "the echoes stopped before the cancellation: {stopped}"
            )));
        }
        let cancelled_at = Instant::now();
        // The receive half cancels the call: the stream is reset (RST_STREAM
        // CANCEL) and the response dropped.
        let _ = cancel.send(());
        drop(echoes);
        span.end(true);
        let prompt = Duration::from_millis(params.prompt_ms);
        let sender_latency = match within(prompt, "the sender's error", sender).await {
            Ok(joined) => joined
                .map_err(|join| DriverError::harness(format!("sender task failed: {join}")))?
                .map(|at| at.saturating_duration_since(cancelled_at)),
            Err(_) => None,
        };
        let mut control = probe_client(ctx.control()?);
        let observed = observe(&mut control, &tag, prompt).await;
        let observed_after = cancelled_at.elapsed();
        let sent = sent.load(Ordering::SeqCst);
        let finding = match (sender_latency, observed.map(|o| o.state())) {
            (None, _) => Finding::fail(format!(
                "the sender saw no error within {} ms of the cancellation ({sent} messages sent): its half hung",
                prompt.as_millis()
            )),
            (Some(_), Ok(HandlerState::Cancelled)) => Finding::pass().evidence(format!(
                "after the receive half cancelled, the sender's next send failed and the server's handler was observed CANCELLED ({sent} messages sent before)"
            )),
            (Some(_), Ok(other)) => Finding::fail(format!(
                "the server's handler did not observe the cancellation within {} ms: it is {other:?}",
                prompt.as_millis()
            )),
            (Some(_), Err(status)) => Finding::fail(format!("Observe failed: {}", brief(&status))),
        };
        let finding = finding.figure("sent_before_cancel", sent as f64).figure(
            "observed_within_ms",
            (observed_after.as_secs_f64() * 1000.0).round(),
        );
        Ok(match sender_latency {
            Some(latency) => {
                finding.figure("sender_error_ms", (latency.as_secs_f64() * 1000.0).round())
            }
            None => finding,
        })
    }
}

/// The send half: 1 KiB messages until a send fails (then when) or
/// `max` were sent (then None).
async fn send_until_error(
    send: duplex::SendHalf<PipeRequest>,
    tag: String,
    max: u64,
    sent: Arc<AtomicU64>,
) -> Option<Instant> {
    for seq in 0..max {
        let request = PipeRequest {
            tag: tag.clone(),
            scope: String::new(),
            producer: 0,
            seq,
            payload: vec![7; 1024],
        };
        if send.send(request).await.is_err() {
            return Some(Instant::now());
        }
        sent.fetch_add(1, Ordering::SeqCst);
    }
    None
}
