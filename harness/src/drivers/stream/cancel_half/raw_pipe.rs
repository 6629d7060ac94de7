//! ProbeService.Pipe issued through the channel as a raw gRPC request, so
//! that the client can reset the stream while its request half is open (see
//! `cancel_half.md` for why tonic's typed client cannot).

use conformance::proto::probe::{PipeRequest, PipeResponse};
use conformance::sync::duplex;
use futures::StreamExt;
use tokio::sync::oneshot;

use super::super::common::Replies;
use crate::client::cancellable_bidi;
use crate::drivers::prelude::*;

/// Calls Pipe with `requests` as the request body; when `cancelled` fires,
/// the body ends in an HTTP/2 reset (RST_STREAM CANCEL).
pub(super) async fn cancellable_pipe(
    channel: Channel,
    requests: duplex::RecvHalf<PipeRequest>,
    cancelled: oneshot::Receiver<()>,
) -> Result<Replies<PipeResponse>, tonic::Status> {
    let requests = futures::stream::unfold(requests, |mut requests| async move {
        requests.recv().await.map(|message| (message, requests))
    })
    .boxed();
    let path = "/conformance.v1.ProbeService/Pipe";
    cancellable_bidi(channel, path, requests, cancelled, MAX_MESSAGE)
        .await
        .map(Replies::from)
}
