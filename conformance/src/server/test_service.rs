//! `grpc.testing.TestService`: the interop behaviour every official interop
//! server shares (see `shared/INTEROP-PROTO.md`), plus the stream defects.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

use super::Shared;
use super::defects::Defect;
use crate::proto::grpc_testing::test_service_server::TestService;
use crate::proto::grpc_testing::{
    EchoStatus, Empty, Payload, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
};

/// Every how many requests the `duplex-drop-messages` defect drops one.
pub(crate) const DROP_EVERY: u64 = 16;

type ResponseStream = BoxStream<'static, Result<StreamingOutputCallResponse, Status>>;

#[derive(Clone)]
pub(crate) struct Interop {
    shared: Arc<Shared>,
}

impl Interop {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// A payload of `size` zero bytes, refusing sizes the server will not send.
    fn payload(&self, size: i32) -> Result<Payload, Status> {
        let size = usize::try_from(size)
            .map_err(|_| Status::invalid_argument(format!("negative payload size {size}")))?;
        if size > self.shared.config.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "payload of {size} bytes is over the server's limit of {} bytes",
                self.shared.config.max_message_bytes
            )));
        }
        Ok(Payload {
            r#type: 0,
            body: vec![0; size],
        })
    }

    /// The StreamingOutputCall behaviour for one request: each response after
    /// its interval, then the requested status (if any).
    fn respond(&self, request: StreamingOutputCallRequest) -> ResponseStream {
        let payloads: Result<Vec<(Duration, Payload)>, Status> = request
            .response_parameters
            .iter()
            .map(|parameters| {
                let interval =
                    Duration::from_micros(u64::try_from(parameters.interval_us).unwrap_or(0));
                Ok((interval, self.payload(parameters.size)?))
            })
            .collect();
        let payloads = match payloads {
            Ok(payloads) => payloads,
            Err(status) => return stream::once(async move { Err(status) }).boxed(),
        };
        let ending = requested_status(request.response_status.as_ref());
        stream::iter(payloads)
            .then(|(interval, payload)| async move {
                if !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
                Ok(StreamingOutputCallResponse {
                    payload: Some(payload),
                })
            })
            .chain(stream::iter(ending.map(Err)))
            .boxed()
    }
}

/// The status a request asks the server to end with, if any (code 0 = none).
fn requested_status(status: Option<&EchoStatus>) -> Option<Status> {
    status
        .filter(|status| status.code != 0)
        .map(|status| Status::new(Code::from_i32(status.code), status.message.clone()))
}

#[tonic::async_trait]
impl TestService for Interop {
    async fn empty_call(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let request = request.into_inner();
        if let Some(status) = requested_status(request.response_status.as_ref()) {
            return Err(status);
        }
        Ok(Response::new(SimpleResponse {
            payload: Some(self.payload(request.response_size)?),
            server_id: if request.fill_server_id {
                "grpc-conformance-reference".to_owned()
            } else {
                String::new()
            },
            ..SimpleResponse::default()
        }))
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.unary_call(request).await
    }

    type StreamingOutputCallStream = ResponseStream;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<Self::StreamingOutputCallStream>, Status> {
        Ok(Response::new(self.respond(request.into_inner())))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let mut inbound = request.into_inner();
        let mut total: i64 = 0;
        while let Some(message) = inbound.message().await? {
            let size = message.payload.map_or(0, |payload| payload.body.len());
            total += i64::try_from(size).unwrap_or(i64::MAX);
        }
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    type FullDuplexCallStream = ResponseStream;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<Self::FullDuplexCallStream>, Status> {
        let mut inbound = request.into_inner();
        let this = Interop::new(Arc::clone(&self.shared));
        if self.shared.config.has(Defect::DuplexReadAllFirst) {
            return Ok(Response::new(answer_after_half_close(this, inbound)));
        }
        if self.shared.config.has(Defect::EndAtHalfClose) {
            return Ok(Response::new(answer_until_half_close(this, inbound)));
        }
        let first = if self.shared.config.has(Defect::HeadersAfterFirstMessage) {
            // Returning only now delays the response headers until a request
            // has arrived.
            inbound.message().await?
        } else {
            None
        };
        let inbound = stream::iter(first.map(Ok)).chain(inbound);
        let drop_some = self.shared.config.has(Defect::DuplexDropMessages);
        // Each request is answered as it arrives; the next one is read once
        // its responses are out (the order every interop server keeps).
        let responses = inbound
            .enumerate()
            .filter(move |(index, _)| {
                let dropped = drop_some && (*index as u64 + 1).is_multiple_of(DROP_EVERY);
                futures::future::ready(!dropped)
            })
            .map(move |(_, request)| match request {
                Ok(request) => this.respond(request),
                Err(status) => stream::once(async move { Err(status) }).boxed(),
            })
            .flatten();
        Ok(Response::new(responses.boxed()))
    }

    type HalfDuplexCallStream = ResponseStream;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<Self::HalfDuplexCallStream>, Status> {
        let this = Interop::new(Arc::clone(&self.shared));
        let inbound = request.into_inner();
        if self.shared.config.has(Defect::HalfDuplexAnswersEarly) {
            let responses = inbound
                .map(move |request| match request {
                    Ok(request) => this.respond(request),
                    Err(status) => stream::once(async move { Err(status) }).boxed(),
                })
                .flatten();
            return Ok(Response::new(responses.boxed()));
        }
        Ok(Response::new(answer_after_half_close(this, inbound)))
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented",
        ))
    }
}

/// Buffers every request until the client half-closes, then answers them in
/// order (HalfDuplexCall; FullDuplexCall under `duplex-read-all-first`).
fn answer_after_half_close(
    this: Interop,
    inbound: Streaming<StreamingOutputCallRequest>,
) -> ResponseStream {
    stream::once(async move { inbound.try_collect::<Vec<_>>().await })
        .map(move |requests| match requests {
            Ok(requests) => {
                let this = this.clone();
                stream::iter(requests)
                    .map(move |request| this.respond(request))
                    .flatten()
                    .boxed()
            }
            Err(status) => stream::once(async move { Err(status) }).boxed(),
        })
        .flatten()
        .boxed()
}

/// The `end-at-half-close` defect: answers requests as they arrive, but stops
/// (with OK) the moment the client half-closes, dropping responses still owed.
fn answer_until_half_close(
    this: Interop,
    mut inbound: Streaming<StreamingOutputCallRequest>,
) -> ResponseStream {
    let (requests_tx, requests_rx) = tokio::sync::mpsc::channel(64);
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        while let Ok(Some(request)) = inbound.message().await {
            if requests_tx.send(request).await.is_err() {
                return;
            }
        }
        let _ = closed_tx.send(());
    });
    tokio_stream::wrappers::ReceiverStream::new(requests_rx)
        .map(move |request| this.respond(request))
        .flatten()
        .take_until(closed_rx)
        .boxed()
}
