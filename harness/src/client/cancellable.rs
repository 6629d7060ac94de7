//! A bidirectional call issued as a raw gRPC request, so that the client can
//! reset the stream (RST_STREAM CANCEL) while its request half is still open:
//! with tonic's typed client, dropping the response of a bidi call whose
//! request stream is open does not reset it, since hyper keeps sending the
//! request body.

use bytes::{BufMut, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use hyper::body::Frame;
use prost::Message;
use tokio::sync::oneshot;
use tonic::body::Body;
use tonic::codec::Codec;
use tower::{Service, ServiceExt};

/// Calls `path` with `requests` as the request body; when `cancel` fires,
/// the body ends in an HTTP/2 reset. Messages over `max_message` bytes are
/// refused on receipt.
pub async fn cancellable_bidi<S, Req, Resp>(
    mut channel: S,
    path: &str,
    requests: BoxStream<'static, Req>,
    cancel: oneshot::Receiver<()>,
    max_message: usize,
) -> Result<tonic::Streaming<Resp>, tonic::Status>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Error: std::fmt::Display,
    Req: Message + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    let frames = futures::stream::unfold(
        (requests, Some(cancel)),
        |(mut requests, cancel)| async move {
            let mut cancel = cancel?;
            tokio::select! {
                biased;
                _ = &mut cancel => {
                    let reset: Result<Frame<bytes::Bytes>, h2::Error> = Err(h2::Reason::CANCEL.into());
                    Some((reset, (requests, None)))
                }
                message = requests.next() => {
                    let message = message?;
                    let mut frame = BytesMut::with_capacity(5 + message.encoded_len());
                    frame.put_u8(0);
                    frame.put_u32(u32::try_from(message.encoded_len()).unwrap_or(u32::MAX));
                    message.encode(&mut frame).ok()?;
                    Some((Ok(Frame::data(frame.freeze())), (requests, Some(cancel))))
                }
            }
        },
    )
    .boxed();
    let body = Body::new(http_body_util::StreamBody::new(frames));
    let request = conformance::proto::grpc_post(path)
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
    let mut codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    Ok(tonic::Streaming::new_response(
        codec.decoder(),
        response.into_body(),
        status_code,
        None,
        Some(max_message),
    ))
}
