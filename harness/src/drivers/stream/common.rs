//! What the stream drivers share: a TestService bidi call (FullDuplexCall or
//! HalfDuplexCall) held as its two halves, a send half that queues requests
//! and a receive half read one bounded step at a time; and how a call that
//! did not answer becomes the finding.

use std::future::Future;

use conformance::proto::grpc_testing::{StreamingOutputCallRequest, StreamingOutputCallResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::prelude::*;

/// Which bidi call of TestService.
#[derive(Debug, Clone, Copy)]
pub enum Bidi {
    FullDuplex,
    HalfDuplex,
}

/// Opens the two halves of a bidi call on `channel`: the send half, with
/// room for `queue` requests, and the call, which returns the receive half
/// once the server's response headers arrive. Requests sent before the call
/// is awaited wait in the queue.
pub fn open(
    channel: Channel,
    bidi: Bidi,
    queue: usize,
) -> (
    Requests,
    impl Future<Output = Result<Replies<StreamingOutputCallResponse>, tonic::Status>> + Send + 'static,
) {
    let (sender, outbound) = mpsc::channel(queue.max(1));
    let mut client = test_client(channel);
    let call = async move {
        let requests = ReceiverStream::new(outbound);
        let response = match bidi {
            Bidi::FullDuplex => client.full_duplex_call(requests).await?,
            Bidi::HalfDuplex => client.half_duplex_call(requests).await?,
        };
        Ok(Replies::from(response.into_inner()))
    };
    (
        Requests {
            queue: Some(sender),
        },
        call,
    )
}

/// The send half of a bidi call.
pub struct Requests {
    queue: Option<mpsc::Sender<StreamingOutputCallRequest>>,
}

impl Requests {
    /// Queues one request; fails once the call takes no more.
    pub async fn send(&self, request: StreamingOutputCallRequest) -> Result<(), RpcError> {
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| RpcError::wrong("the send half is closed"))?;
        queue
            .send(request)
            .await
            .map_err(|_| RpcError::wrong("the request stream closed"))
    }

    /// Half-closes the call: the server reads what is queued, then the end.
    pub fn close(&mut self) {
        self.queue = None;
    }

    pub fn is_closed(&self) -> bool {
        self.queue.is_none()
    }
}

/// The receive half of a streaming call.
pub struct Replies<T> {
    stream: tonic::Streaming<T>,
}

impl<T> From<tonic::Streaming<T>> for Replies<T> {
    fn from(stream: tonic::Streaming<T>) -> Self {
        Self { stream }
    }
}

impl<T> Replies<T> {
    /// The next message within `limit`; None when the stream ended OK.
    pub async fn next(&mut self, limit: Duration) -> Result<Option<T>, RpcError> {
        Ok(within(limit, "the next reply", self.stream.message()).await??)
    }

    /// The end of the stream, with status OK, within `limit`.
    pub async fn end(&mut self, limit: Duration) -> Result<(), RpcError> {
        match within(limit, "the end of the stream", self.stream.message()).await?? {
            None => Ok(()),
            Some(_) => Err(RpcError::wrong("an extra reply")),
        }
    }

    /// The next message, unbounded: for a reader whose progress something
    /// else watches.
    pub async fn message(&mut self) -> Result<Option<T>, tonic::Status> {
        self.stream.message().await
    }
}

/// Bytes of payload in a TestService reply.
pub fn size(reply: &StreamingOutputCallResponse) -> usize {
    reply
        .payload
        .as_ref()
        .map_or(0, |payload| payload.body.len())
}
