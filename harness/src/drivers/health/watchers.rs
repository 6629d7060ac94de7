//! Health.Watch streams held open on one channel: each reports its first
//! status as it arrives, stays open (a Watch lasts until the client ends
//! it) and ends when released, so that a driver can prove how many stream
//! handlers were in flight at once, and end its wait on the proof that the
//! streams still owed a first status are stalled behind those holding
//! theirs (`drivers::stall`).

use conformance::proto::health::HealthCheckRequest;
use conformance::proto::health::health_check_response::ServingStatus;
use tokio::sync::{mpsc, oneshot};

use crate::client::ClientChannel;
use crate::drivers::prelude::*;
use crate::drivers::stall::{Siblings, StallProof};

/// Open Watch streams and what has been heard of them.
pub struct Watchers {
    calls: Vec<Call<String>>,
    releases: Vec<Option<oneshot::Sender<()>>>,
    events: mpsc::UnboundedReceiver<bool>,
    events_tx: mpsc::UnboundedSender<bool>,
    /// The first statuses owed, and the streams that hold theirs open.
    group: Siblings,
    /// First statuses received so far, and streams that ended before theirs.
    pub firsts: usize,
    pub ended_early: usize,
    /// Why the last wait for first statuses ended early: the streams still
    /// owed one were stalled behind those holding theirs.
    pub stall: Option<StallProof>,
}

impl Watchers {
    pub fn new() -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        Self {
            calls: Vec::new(),
            releases: Vec::new(),
            events,
            events_tx,
            group: Siblings::new(),
            firsts: 0,
            ended_early: 0,
            stall: None,
        }
    }

    /// Opens `count` more Watch streams for `service` on `channel`; each
    /// may live (held open) for at most `limit`.
    pub fn open(
        &mut self,
        ctx: &Ctx,
        channel: &ClientChannel,
        count: usize,
        service: &str,
        limit: Duration,
    ) {
        for _ in 0..count {
            let index = self.calls.len();
            let mut health = health_client(channel.handle());
            let request = HealthCheckRequest {
                service: service.to_owned(),
            };
            let events = self.events_tx.clone();
            let (release, mut released) = oneshot::channel::<()>();
            let group = self.group.clone();
            group.owe();
            let sent = Instant::now();
            let call = ctx.spawn_marking(format!("Watch #{index}"), limit, move |first| async move {
                let opened = async {
                    let mut stream = health.watch(request).await?.into_inner();
                    let status = stream.message().await?.ok_or_else(|| {
                        RpcError::wrong("the Watch stream ended before its first status")
                    })?;
                    Ok::<_, RpcError>((stream, status.status))
                };
                // Released before its first status: the driver has given up
                // waiting, and the stream must not outlive the verdict.
                let opened = tokio::select! {
                    opened = opened => opened,
                    _ = &mut released => Err(RpcError::wrong(
                        "no first status had arrived when the driver ended the stream",
                    )),
                };
                let (mut stream, status) = match opened {
                    Ok(opened) => opened,
                    Err(err) => {
                        group.gave_up();
                        let _ = events.send(false);
                        return Err(err);
                    }
                };
                group.answered(sent.elapsed());
                first.mark();
                let _ = events.send(true);
                let name = ServingStatus::try_from(status)
                    .map_or_else(|_| format!("status {status}"), |s| s.as_str_name().to_owned());
                loop {
                    tokio::select! {
                        _ = &mut released => return Ok(name),
                        next = stream.message() => match next {
                            // A status change: the stream is still open.
                            Ok(Some(_)) => {}
                            Ok(None) => return Err(RpcError::wrong(
                                "the server ended the Watch stream while it was held open (a Watch lasts until the client ends it)",
                            )),
                            Err(status) => return Err(status.into()),
                        },
                    }
                }
            });
            self.calls.push(call);
            self.releases.push(Some(release));
        }
    }

    /// Waits until `total` streams have had their first status or ended,
    /// for at most `limit`, or until the streams still owed one are proven
    /// stalled (then `stall` holds the proof). Returns the first statuses
    /// received.
    pub async fn wait_first(&mut self, total: usize, limit: Duration) -> usize {
        enum Next {
            Event(Option<bool>),
            Stalled(StallProof),
        }
        let deadline = tokio::time::Instant::now() + limit;
        let group = self.group.clone();
        let stalled = group.stalled();
        tokio::pin!(stalled);
        self.stall = None;
        while self.firsts + self.ended_early < total {
            let next = tokio::select! {
                // An answer that came with the proof counts first.
                biased;
                event = tokio::time::timeout_at(deadline, self.events.recv()) => {
                    Next::Event(event.ok().flatten())
                }
                proof = &mut stalled => Next::Stalled(proof),
            };
            match next {
                Next::Event(Some(true)) => self.firsts += 1,
                Next::Event(Some(false)) => self.ended_early += 1,
                Next::Event(None) => break,
                Next::Stalled(proof) => {
                    self.stall = Some(proof);
                    break;
                }
            }
        }
        self.firsts
    }

    /// The end of a shortfall's line: the stall proof, or the limit waited.
    pub fn shortfall(&self, limit: Duration) -> String {
        match &self.stall {
            Some(proof) => format!("before the streams stalled: {proof}"),
            None => format!("within {} ms", limit.as_millis()),
        }
    }

    /// Ends the first `count` streams still held (the client cancels them).
    pub fn release(&mut self, count: usize) {
        for release in self.releases.iter_mut().filter(|r| r.is_some()).take(count) {
            if let Some(release) = release.take() {
                let _ = release.send(());
            }
        }
    }

    /// Ends every stream and tallies how each went (the first status
    /// each received is the value of a success).
    pub async fn finish(mut self) -> (Tally, Vec<String>) {
        self.release(usize::MAX);
        Tally::join(self.calls).await
    }
}
