//! `cancel-half`: the receive half cancels the call while the send half is
//! mid-send; the sender sees an error promptly and the server handler
//! observes the cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use conformance::proto::probe::{HandlerState, PipeRequest};
use conformance::sync::duplex;
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, observe, probe_client, within,
};
use crate::verdict::Finding;

pub struct CancelHalf;

#[derive(Debug, Deserialize, serde::Serialize)]
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
        let channel = ctx.channel()?;
        let tag = ctx.unique("cancel");
        let (send, receive) = duplex::channel::<PipeRequest>(4);
        let sent = Arc::new(AtomicU64::new(0));
        let sender = {
            let sent = Arc::clone(&sent);
            let tag = tag.clone();
            let max = params.max_messages;
            tokio::spawn(async move {
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
            })
        };
        let limit = Duration::from_secs(5);
        let mut span = ctx.timeline().start("Pipe (cancelled by its receive half)");
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let mut echoes = match within(
            limit,
            "Pipe",
            cancellable_pipe(channel.handle(), receive, cancelled),
        )
        .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(status)) => {
                return Ok(Finding::fail(format!("Pipe failed: {}", brief(&status))));
            }
            Err(stalled) => return Ok(Finding::fail(stalled.to_string())),
        };
        for _ in 0..params.read_before_cancel {
            match within(limit, "echo", echoes.message()).await {
                Ok(Ok(Some(_))) => span.first_message(),
                other => {
                    return Ok(Finding::fail(format!(
                        "the echoes stopped before the cancellation: {other:?}"
                    )));
                }
            }
        }
        let cancelled_at = Instant::now();
        // The receive half cancels the call: the stream is reset (RST_STREAM
        // CANCEL) and the response dropped.
        let _ = cancel.send(());
        drop(echoes);
        span.end(true);
        let prompt = Duration::from_millis(params.prompt_ms);
        let sender_error = within(prompt, "the sender's error", sender).await;
        let mut control = probe_client(ctx.control()?);
        let observed = observe(&mut control, &tag, prompt).await;
        let observed_after = cancelled_at.elapsed();
        let sent = sent.load(Ordering::SeqCst);
        let sender_latency = match sender_error {
            Ok(Ok(Some(at))) => Some(at.saturating_duration_since(cancelled_at)),
            Ok(Ok(None)) => None,
            Ok(Err(join)) => {
                return Err(DriverError::harness(format!("sender task failed: {join}")));
            }
            Err(_) => None,
        };
        let state = observed.as_ref().map(|o| o.state());
        let finding = match (sender_latency, state) {
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
            (Some(_), Err(status)) => Finding::fail(format!("Observe failed: {}", brief(status))),
        };
        let mut finding = finding.figure("sent_before_cancel", sent as f64).figure(
            "observed_within_ms",
            (observed_after.as_secs_f64() * 1000.0).round(),
        );
        if let Some(latency) = sender_latency {
            finding = finding.figure("sender_error_ms", (latency.as_secs_f64() * 1000.0).round());
        }
        Ok(finding)
    }
}

/// Calls ProbeService.Pipe through the channel with a request body that,
/// when `cancelled` fires, ends in an HTTP/2 reset (RST_STREAM CANCEL): a
/// client-side cancellation that tonic's typed stubs cannot express for a
/// bidi call whose request half is still open.
async fn cancellable_pipe(
    channel: crate::client::Channel,
    requests: duplex::RecvHalf<PipeRequest>,
    cancelled: tokio::sync::oneshot::Receiver<()>,
) -> Result<tonic::Streaming<conformance::proto::probe::PipeResponse>, tonic::Status> {
    use bytes::{BufMut, BytesMut};
    use futures::StreamExt;
    use hyper::body::Frame;
    use prost::Message;
    use tonic::codec::Codec;
    use tower::{Service, ServiceExt};

    let frames = futures::stream::unfold(
        (requests, Some(cancelled)),
        |(mut requests, cancelled)| async move {
            let mut cancelled = cancelled?;
            tokio::select! {
                biased;
                _ = &mut cancelled => {
                    let reset: Result<Frame<bytes::Bytes>, h2::Error> = Err(h2::Reason::CANCEL.into());
                    Some((reset, (requests, None)))
                }
                message = requests.recv() => {
                    let message = message?;
                    let mut frame = BytesMut::with_capacity(5 + message.encoded_len());
                    frame.put_u8(0);
                    frame.put_u32(u32::try_from(message.encoded_len()).unwrap_or(u32::MAX));
                    message.encode(&mut frame).ok()?;
                    Some((Ok(Frame::data(frame.freeze())), (requests, Some(cancelled))))
                }
            }
        },
    )
    .boxed();
    let body = tonic::body::Body::new(http_body_util::StreamBody::new(frames));
    let request = http::Request::post("/conformance.v1.ProbeService/Pipe")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .map_err(|err| tonic::Status::internal(err.to_string()))?;
    let mut channel = channel;
    let response = channel
        .ready()
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?
        .call(request)
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    let status_code = response.status();
    let mut codec =
        tonic_prost::ProstCodec::<PipeRequest, conformance::proto::probe::PipeResponse>::default();
    Ok(tonic::Streaming::new_response(
        codec.decoder(),
        response.into_body(),
        status_code,
        None,
        Some(crate::drivers::MAX_MESSAGE),
    ))
}
