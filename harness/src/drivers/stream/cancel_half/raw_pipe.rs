//! ProbeService.Pipe issued through the channel as a raw gRPC request, so
//! that the client can reset the stream while its request half is open (see
//! `cancel_half.md` for why tonic's typed client cannot).

use bytes::{BufMut, BytesMut};
use conformance::proto::probe::{PipeRequest, PipeResponse};
use conformance::sync::duplex;
use futures::StreamExt;
use hyper::body::Frame;
use prost::Message;
use tokio::sync::oneshot;
use tonic::codec::Codec;
use tower::{Service, ServiceExt};

use super::super::common::Replies;
use crate::drivers::prelude::*;

/// Calls Pipe with `requests` as the request body; when `cancelled` fires,
/// the body ends in an HTTP/2 reset (RST_STREAM CANCEL).
pub(super) async fn cancellable_pipe(
    mut channel: Channel,
    requests: duplex::RecvHalf<PipeRequest>,
    cancelled: oneshot::Receiver<()>,
) -> Result<Replies<PipeResponse>, tonic::Status> {
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
    let request = conformance::proto::grpc_post("/conformance.v1.ProbeService/Pipe")
        .body(body)
        .map_err(|err| tonic::Status::internal(err.to_string()))?;
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
    let mut codec = tonic_prost::ProstCodec::<PipeRequest, PipeResponse>::default();
    Ok(Replies::from(tonic::Streaming::new_response(
        codec.decoder(),
        response.into_body(),
        status_code,
        None,
        Some(MAX_MESSAGE),
    )))
}
