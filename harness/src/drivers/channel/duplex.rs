//! FullDuplexCall played as ping-pong, as several channel drivers hold it:
//! [`Duplex`], one request answered by one reply, and [`Held`], a stream the
//! driver keeps open across the phases of a scenario.

use conformance::proto::grpc_testing::{StreamingOutputCallRequest, StreamingOutputCallResponse};
use futures::SinkExt;
use futures::channel::mpsc;

use crate::client::ClientChannel;
use crate::drivers::prelude::*;
use crate::timeline::SpanHandle;

/// A ping asking for one reply of `size` bytes at once.
fn ping_request(size: usize) -> StreamingOutputCallRequest {
    output_request(&[size], Duration::ZERO)
}

/// A FullDuplexCall whose requests each ask for one reply. Unbounded: the
/// caller bounds each wait (or the whole call, through `Ctx::spawn`).
///
/// Thousands of these are held open at once, so each is kept small: the
/// request queue is a futures channel (tokio's allocates a block of 32
/// slots per channel, 3 KiB here), and the codec's buffers start small
/// (`conformance::codec`).
pub struct Duplex {
    requests: mpsc::Sender<StreamingOutputCallRequest>,
    replies: tonic::Streaming<StreamingOutputCallResponse>,
}

impl Duplex {
    /// Opens the call with its first ping (for `size` bytes) already queued:
    /// a server may send its response headers only with its first message,
    /// so the call is not awaited before it has a request. The ping's reply
    /// is read with [`Duplex::reply`].
    pub async fn open(channel: Channel, size: usize) -> Result<Self, RpcError> {
        let (mut requests, outbound) = mpsc::channel(2);
        requests
            .try_send(ping_request(size))
            .map_err(|_| RpcError::Task("cannot queue the first ping".to_owned()))?;
        // Boxed: the call's start is the largest state of a stream's life
        // by far (some 5 KiB); inline, it would size every task that holds
        // a stream open, for as long as the stream is open.
        let replies = Box::pin(test_client(channel).full_duplex_call(outbound))
            .await?
            .into_inner();
        Ok(Self { requests, replies })
    }

    /// Waits for the reply to the last ping; returns its payload size.
    pub async fn reply(&mut self) -> Result<usize, RpcError> {
        match self.replies.message().await? {
            Some(reply) => Ok(reply.payload.map_or(0, |p| p.body.len())),
            None => Err(RpcError::wrong("the stream ended early")),
        }
    }

    /// Sends a ping for `size` bytes and waits for its reply (its size).
    pub async fn ping(&mut self, size: usize) -> Result<usize, RpcError> {
        self.requests
            .send(ping_request(size))
            .await
            .map_err(|_| RpcError::wrong("the request stream closed"))?;
        self.reply().await
    }

    /// Half-closes the call and waits for its clean end: status OK and no
    /// further reply.
    pub async fn close(self) -> Result<(), RpcError> {
        let Self {
            requests,
            mut replies,
        } = self;
        drop(requests);
        match replies.message().await? {
            None => Ok(()),
            Some(_) => Err(RpcError::wrong(
                "a reply after the client closed the stream",
            )),
        }
    }
}

/// A [`Duplex`] the driver holds open while other RPCs come and go, drawn
/// on the timeline from its opening to its close; each wait is bounded by
/// the scenario's RPC limit.
pub struct Held {
    label: String,
    stream: Duplex,
    span: SpanHandle,
    limit: Duration,
}

impl Held {
    /// Opens `count` streams on `channel`, one after another, each answering
    /// its first ping; the first that does not stops it (with its index).
    /// Once a stream is open, a later one gets [`stall_bound`] of the
    /// slowest opening so far (within the RPC limit): a stream with no
    /// answer for that long while the earlier ones stay open is stalled
    /// behind them, and the stall says so.
    pub async fn open_all(
        ctx: &Ctx,
        channel: &ClientChannel,
        count: usize,
        label: impl Fn(usize) -> String,
    ) -> Result<Vec<Self>, (usize, RpcError)> {
        let mut streams = Vec::with_capacity(count);
        let mut slowest: Option<Duration> = None;
        for index in 0..count {
            let limit = ctx.rpc_limit();
            let started = Instant::now();
            let opening = Self::open(ctx, label(index), channel.handle(), limit);
            let bound = slowest.map(stall_bound).filter(|bound| *bound < limit);
            let opened = match (slowest, bound) {
                (Some(slowest), Some(bound)) => within(bound, "", opening)
                    .await
                    .map_err(|_| {
                        RpcError::Stalled(Stalled {
                            what: format!(
                                "FullDuplexCall, opened while the {index} stream(s) before it, which answered theirs in {} ms at most, stay open ({STALL_FACTOR}x that, at least {} ms, within the {} ms limit)",
                                slowest.as_millis(),
                                STALL_FLOOR.as_millis(),
                                limit.as_millis()
                            ),
                            after: bound,
                        })
                    })
                    .and_then(|held| held),
                _ => opening.await,
            };
            streams.push(opened.map_err(|err| (index, err))?);
            slowest = slowest.max(Some(started.elapsed()));
        }
        Ok(streams)
    }

    /// Opens the stream and waits for the reply to its first ping, each
    /// wait bounded by `limit`.
    async fn open(
        ctx: &Ctx,
        label: String,
        channel: Channel,
        limit: Duration,
    ) -> Result<Self, RpcError> {
        let mut span = ctx.timeline().start(label.clone());
        let mut stream = within(limit, "FullDuplexCall", Duplex::open(channel, PING)).await??;
        within(limit, "the first reply", stream.reply()).await??;
        span.first_message();
        Ok(Self {
            label,
            stream,
            span,
            limit,
        })
    }

    /// Has every stream answer one more ping and close cleanly, in turn.
    pub async fn finish_all(streams: Vec<Self>) -> Tally {
        let mut tally = Tally::new();
        for held in streams {
            let label = held.label.clone();
            tally.count(&label, held.finish().await);
        }
        tally
    }

    /// One more ping answered, then a clean close.
    async fn finish(self) -> Result<(), RpcError> {
        let Self {
            mut stream,
            span,
            limit,
            ..
        } = self;
        let outcome = async {
            within(limit, "the last reply", stream.ping(PING)).await??;
            within(limit, "the end of the stream", stream.close()).await?
        }
        .await;
        span.end(outcome.is_ok());
        outcome
    }
}

/// Bytes a held stream's pings ask for: the stream is there to stay open,
/// not to move data.
const PING: usize = 8;
