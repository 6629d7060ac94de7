//! The per-request path in front of tonic's router: attaches the connection
//! to the request, enforces `grpc-timeout`, echoes the interop metadata
//! headers, turns a handler panic into an INTERNAL status for that RPC alone,
//! and applies the per-request defect modes.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame};
use tokio::sync::OwnedSemaphorePermit;
use tonic::Status;
use tonic::body::Body;
use tonic::service::Routes;
use tower::{Service, ServiceExt};

use super::Shared;
use super::client_observer::Observer;
use super::connection::ConnectionInfo;
use super::defects::Defect;
use super::health_service::HealthService;
use super::probe_service::Probe;
use super::test_service::Interop;
use crate::proto::grpc_testing::test_service_server::TestServiceServer;
use crate::proto::health::health_server::HealthServer;
use crate::proto::probe::client_observer_server::ClientObserverServer;
use crate::proto::probe::probe_service_server::ProbeServiceServer;

pub(crate) use crate::proto::{ECHO_INITIAL, ECHO_TRAILING};

/// The deadline a call arrived with (from `grpc-timeout`), in the request's
/// extensions for handlers to see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallDeadline(pub Duration);

/// The router serving the services, with the configured message limits:
/// Health alone for a health-only server, otherwise all four.
pub(crate) fn routes(shared: &Arc<Shared>) -> Routes {
    let limit = shared.config.max_message_bytes;
    let health = HealthServer::new(HealthService::new(Arc::clone(shared)));
    if shared.config.health_only {
        return Routes::new(health);
    }
    let test = TestServiceServer::new(Interop::new(Arc::clone(shared)))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let probe = ProbeServiceServer::new(Probe::new(Arc::clone(shared)))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let observer = ClientObserverServer::new(Observer::new(Arc::clone(shared)))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    Routes::new(test)
        .add_service(probe)
        .add_service(health)
        .add_service(observer)
}

/// The service hyper calls for every request of one connection.
#[derive(Clone)]
pub(crate) struct Dispatch {
    routes: Routes,
    shared: Arc<Shared>,
    connection: Arc<ConnectionInfo>,
}

impl Dispatch {
    pub(crate) fn new(
        routes: Routes,
        shared: Arc<Shared>,
        connection: Arc<ConnectionInfo>,
    ) -> Self {
        Self {
            routes,
            shared,
            connection,
        }
    }
}

impl<B> Service<Request<B>> for Dispatch
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request
            .extensions_mut()
            .insert(Arc::clone(&self.connection));
        let routes = self.routes.clone();
        let shared = Arc::clone(&self.shared);
        let connection = Arc::clone(&self.connection);
        Box::pin(async move {
            let _in_flight = InFlight::enter(&connection);
            let echo_initial = request.headers().get(ECHO_INITIAL).cloned();
            let echo_trailing = request.headers().get(ECHO_TRAILING).cloned();
            let deadline = grpc_timeout(request.headers());
            if let Some(deadline) = deadline {
                request.extensions_mut().insert(CallDeadline(deadline));
            }

            if shared.config.has(Defect::RefuseBelowLimit) {
                let limit = (shared.config.max_concurrent_streams / 2).max(1);
                if connection.in_flight.load(Ordering::SeqCst) > limit {
                    return Ok(Status::resource_exhausted(format!(
                        "more than {limit} calls in flight on this connection"
                    ))
                    .into_http());
                }
            }
            // Held until the response body ends, so that a stream occupies its
            // connection for its whole life.
            let one_at_a_time = if shared.config.has(Defect::SerializePerConnection) {
                Arc::clone(&connection.one_at_a_time)
                    .acquire_owned()
                    .await
                    .ok()
            } else {
                None
            };

            let expires = deadline.map(|deadline| tokio::time::Instant::now() + deadline);
            let call = AssertUnwindSafe(routes.oneshot(request)).catch_unwind();
            let outcome = match (deadline, expires) {
                (Some(deadline), Some(expires)) => {
                    match tokio::time::timeout_at(expires, call).await {
                        Ok(outcome) => outcome,
                        Err(_) => {
                            return Ok(Status::deadline_exceeded(format!(
                                "deadline of {deadline:?} (grpc-timeout) exceeded"
                            ))
                            .into_http());
                        }
                    }
                }
                _ => call.await,
            };
            let response = match outcome {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(panic) => {
                    let message = panic_message(&*panic);
                    tracing::debug!(peer = %connection.peer, "handler panicked: {message}");
                    if shared.config.has(Defect::PanicKillsConnection) {
                        connection.kill.notify_one();
                    }
                    Status::internal(format!("handler panicked: {message}")).into_http()
                }
            };
            let echo_initial = if shared.config.has(Defect::SharedRequestState) {
                leak_through_shared_slot(&shared, echo_initial).await
            } else {
                echo_initial
            };
            let kill_on_error = shared
                .config
                .has(Defect::FailureKillsConnection)
                .then(|| Arc::clone(&connection));
            Ok(finish(
                response,
                echo_initial,
                echo_trailing,
                BodyExtras {
                    permit: one_at_a_time,
                    kill_on_error,
                    expires,
                },
            ))
        })
    }
}

/// Counts a request in the connection's in-flight number while alive.
struct InFlight<'a>(&'a ConnectionInfo);

impl<'a> InFlight<'a> {
    fn enter(connection: &'a ConnectionInfo) -> Self {
        connection.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(connection)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The `shared-request-state` defect: "this request's" echo value goes
/// through one slot shared by all requests, so concurrent requests can read
/// each other's.
async fn leak_through_shared_slot(
    shared: &Shared,
    mine: Option<HeaderValue>,
) -> Option<HeaderValue> {
    {
        let mut slot = shared
            .leaked_echo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = mine.clone();
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    let slot = shared
        .leaked_echo
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slot.clone().or(mine)
}

/// Finishes a response: echoes the interop metadata (the initial echo as a
/// response header, the trailing one as a trailer, or as a header of a
/// trailers-only response) and attaches what must live as long as the body.
fn finish(
    mut response: Response<Body>,
    initial: Option<HeaderValue>,
    trailing: Option<HeaderValue>,
    extras: BodyExtras,
) -> Response<Body> {
    if let Some(value) = initial {
        response
            .headers_mut()
            .insert(HeaderName::from_static(ECHO_INITIAL), value);
    }
    if let Some(status) = response.headers().get("grpc-status").cloned() {
        // Trailers-only response: everything goes into the headers.
        if let Some(value) = trailing {
            response
                .headers_mut()
                .insert(HeaderName::from_static(ECHO_TRAILING), value);
        }
        if let Some(connection) = extras.kill_on_error
            && status.as_bytes() != b"0"
        {
            connection.kill.notify_one();
        }
        return response;
    }
    if trailing.is_none()
        && extras.permit.is_none()
        && extras.kill_on_error.is_none()
        && extras.expires.is_none()
    {
        return response;
    }
    response.map(|body| {
        Body::new(ResponseBody {
            inner: Some(body),
            trailing,
            _permit: extras.permit,
            kill_on_error: extras.kill_on_error,
            expires: extras
                .expires
                .map(|at| Box::pin(tokio::time::sleep_until(at))),
        })
    })
}

/// What a response body carries besides its frames.
struct BodyExtras {
    /// The `serialize-per-connection` permit, held until the body ends.
    permit: Option<OwnedSemaphorePermit>,
    /// The connection to tear down on an error status (defect).
    kill_on_error: Option<Arc<ConnectionInfo>>,
    /// The call's deadline: a stream still open then ends DEADLINE_EXCEEDED.
    expires: Option<tokio::time::Instant>,
}

/// A response body that adds the trailing echo to the trailers, ends the
/// call at its deadline, keeps a defect's permit until the body ends, and
/// reports error trailers.
struct ResponseBody {
    /// `None` once the deadline ended the body (dropping the handler's stream).
    inner: Option<Body>,
    trailing: Option<HeaderValue>,
    _permit: Option<OwnedSemaphorePermit>,
    kill_on_error: Option<Arc<ConnectionInfo>>,
    expires: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if let Some(expires) = &mut this.expires
            && expires.as_mut().poll(cx).is_ready()
        {
            this.expires = None;
            if this.inner.take().is_some() {
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("4"));
                trailers.insert(
                    "grpc-message",
                    HeaderValue::from_static("deadline%20(grpc-timeout)%20exceeded"),
                );
                if let Some(value) = this.trailing.take() {
                    trailers.insert(HeaderName::from_static(ECHO_TRAILING), value);
                }
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
        }
        let Some(inner) = &mut this.inner else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_trailers() {
                    Ok(mut trailers) => {
                        if let Some(value) = this.trailing.take() {
                            trailers.insert(HeaderName::from_static(ECHO_TRAILING), value);
                        }
                        let failed = trailers
                            .get("grpc-status")
                            .is_some_and(|status| status.as_bytes() != b"0");
                        if let (true, Some(connection)) = (failed, &this.kill_on_error) {
                            connection.kill.notify_one();
                        }
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => match this.trailing.take() {
                Some(value) => {
                    let mut trailers = HeaderMap::new();
                    trailers.insert(HeaderName::from_static(ECHO_TRAILING), value);
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                None => Poll::Ready(None),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream) && self.trailing.is_none()
    }
}

/// Parses a `grpc-timeout` header ("100m", "5S", …).
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Some(duration)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(non-text panic payload)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeout_units() {
        let mut headers = HeaderMap::new();
        for (text, expected) in [
            ("100m", Duration::from_millis(100)),
            ("5S", Duration::from_secs(5)),
            ("2M", Duration::from_secs(120)),
            ("1H", Duration::from_secs(3600)),
            ("250u", Duration::from_micros(250)),
            ("7n", Duration::from_nanos(7)),
        ] {
            headers.insert("grpc-timeout", HeaderValue::from_static(text));
            assert_eq!(grpc_timeout(&headers), Some(expected), "{text}");
        }
        for bad in ["", "m", "10x", "1234567890S", "-1S"] {
            headers.insert(
                "grpc-timeout",
                HeaderValue::from_str(bad).expect("valid header text"),
            );
            assert_eq!(grpc_timeout(&headers), None, "{bad:?}");
        }
    }
}
