//! The channel handle every driver calls through: tonic's channel with two
//! behaviours of gRPC's own clients that a correct server relies on.
//!
//! * **Settled before use.** A new connection does not know the server's
//!   SETTINGS (its MAX_CONCURRENT_STREAMS) until the server's first frames
//!   arrive; streams opened before that may exceed the limit and be refused.
//!   gRPC clients wait for the server's preface before they use a
//!   connection; here the first call of a channel first completes a small
//!   TestService.EmptyCall (bounded), so later bursts are queued by the
//!   HTTP/2 client within the advertised limit instead of being refused.
//! * **Refused streams retried.** A server may still refuse a stream with
//!   RST_STREAM REFUSED_STREAM (e.g. while it still counts a stream the
//!   client has seen end). Such a stream was not processed, and gRPC
//!   clients retry it transparently; so does this handle, counting each
//!   refusal for the scenario's evidence.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tower::{Service, ServiceExt};

use super::replay::Replayable;

/// How long settling may take before the call goes ahead anyway (a server
/// that does not answer EmptyCall shows it in the scenario, not here).
const SETTLE_LIMIT: Duration = Duration::from_secs(2);
/// Attempts of one call refused again and again before its refusal is
/// returned to the caller.
pub(crate) const MAX_ATTEMPTS: u32 = 64;

/// What every handle of one connection shares.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    settled: tokio::sync::OnceCell<()>,
    /// Refused streams, counted for the whole client channel.
    refused: Arc<AtomicUsize>,
}

impl Shared {
    pub(crate) fn new(refused: Arc<AtomicUsize>) -> Self {
        Self {
            settled: tokio::sync::OnceCell::new(),
            refused,
        }
    }

    pub(crate) fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A handle on a client channel (cheap to clone; clones share the
/// connection).
#[derive(Clone)]
pub struct Channel {
    inner: tonic::transport::Channel,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("refused", &self.shared.refused())
            .finish_non_exhaustive()
    }
}

impl Channel {
    pub(crate) fn new(inner: tonic::transport::Channel, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, tonic::transport::Error>> + Send>>;

impl Service<http::Request<Body>> for Channel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each attempt waits for the inner channel's readiness itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            shared.settled.get_or_init(|| settle(inner.clone())).await;
            let (parts, body) = request.into_parts();
            let body = Replayable::new(body);
            let mut attempt = 1;
            loop {
                let request = http::Request::from_parts(parts.clone(), body.attempt());
                let outcome = inner.clone().oneshot(request).await;
                match outcome {
                    Err(err) if is_refused(&err) && attempt < MAX_ATTEMPTS && body.can_replay() => {
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                    outcome => {
                        body.accepted();
                        return outcome;
                    }
                }
            }
        })
    }
}

/// 1, 2, 4 … ms, at most 25 ms: a stream slot frees as soon as the server
/// ends another stream.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((1u64 << (attempt - 1).min(5)).min(25))
}

/// Completes one EmptyCall (its response headers suffice: the server's
/// SETTINGS precede them on the connection).
async fn settle(inner: tonic::transport::Channel) {
    let request = conformance::proto::grpc_post(conformance::proto::EMPTY_CALL_PATH).body(
        Body::new(http_body_util::Full::new(bytes::Bytes::from_static(
            &conformance::proto::EMPTY_MESSAGE_FRAME,
        ))),
    );
    let Ok(request) = request else { return };
    let _ = tokio::time::timeout(SETTLE_LIMIT, inner.oneshot(request)).await;
}

/// True when the server refused the stream before processing it
/// (RST_STREAM REFUSED_STREAM).
pub fn is_refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        next = err.source();
    }
    false
}
