//! A stream whose responses are never read, and the task that pushes
//! requests into it until the server stops taking them.

use conformance::proto::grpc_testing::StreamingOutputCallRequest;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::Params;
use crate::drivers::prelude::*;

pub(super) struct Stalled {
    /// The FullDuplexCall; it ends when told whether it stayed stalled.
    call: Call<()>,
    end: oneshot::Sender<bool>,
    /// Ok(all requests sent), or Err(the stream closed after so many).
    sender: tokio::task::JoinHandle<Result<usize, usize>>,
    progress: watch::Receiver<usize>,
}

impl Stalled {
    pub fn start(ctx: &Ctx, channel: Channel, index: usize, params: &Params) -> Self {
        let (requests, outbound) = mpsc::channel(1);
        let (end, ended) = oneshot::channel();
        let mut test = test_client(channel);
        let label = format!("stalled FullDuplexCall #{index} (responses never read)");
        // The stream lives until the driver ends it, within the budget.
        let call = ctx.spawn_within(label, ctx.remaining(), async move {
            let held = async {
                let _responses = test.full_duplex_call(ReceiverStream::new(outbound)).await?;
                std::future::pending::<Result<(), RpcError>>().await
            };
            tokio::select! {
                failed = held => failed,
                still_stalled = ended => match still_stalled {
                    Ok(true) => Ok(()),
                    _ => Err(RpcError::wrong("the stream was no longer stalled")),
                },
            }
        });
        let (progress, accepted) = watch::channel(0usize);
        let (max_requests, body) = (params.max_requests, params.payload_bytes);
        let sender = tokio::spawn(async move {
            for sent in 0..max_requests {
                let request = StreamingOutputCallRequest {
                    payload: payload(body, 0xa5),
                    ..output_request(&[body], Duration::ZERO)
                };
                if requests.send(request).await.is_err() {
                    return Err(sent);
                }
                let _ = progress.send(sent + 1);
            }
            Ok(max_requests)
        });
        Self {
            call,
            end,
            sender,
            progress: accepted,
        }
    }

    /// Requests the stream has accepted so far.
    pub fn accepted(&self) -> usize {
        *self.progress.borrow()
    }

    /// Whether its sender is still blocked with requests unsent.
    pub fn blocked(&self) -> bool {
        !self.sender.is_finished()
    }

    /// Ends the stream; returns how its sender ended (Err: the stream closed
    /// after that many requests).
    pub async fn stop(self) -> Result<usize, usize> {
        let still_stalled = self.blocked();
        self.sender.abort();
        let _ = self.end.send(still_stalled);
        let _ = self.call.join().await;
        match self.sender.await {
            Ok(outcome) => outcome,
            Err(_) => Ok(*self.progress.borrow()),
        }
    }
}

/// Requests each stream has accepted so far.
pub(super) fn accepted(streams: &[Stalled]) -> Vec<usize> {
    streams.iter().map(Stalled::accepted).collect()
}

/// Waits until no stream has accepted a request for `stall`: true. False
/// when every sender finished (all sent, or the streams closed), or when
/// they still made progress after `give_up`.
pub(super) async fn wait_stalled(streams: &[Stalled], stall: Duration, give_up: Duration) -> bool {
    let total = || streams.iter().map(Stalled::accepted).sum::<usize>();
    let give_up = Instant::now() + give_up;
    let mut last = (total(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = total();
        if streams.iter().all(|stream| !stream.blocked()) {
            return false;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= stall {
            return true;
        }
        if Instant::now() >= give_up {
            return false;
        }
    }
}

/// The verdict when the streams did not stall: ends them, and skips when
/// the server took every request (there is nothing to test against).
pub(super) async fn not_stalled(
    streams: Vec<Stalled>,
    accepted_before: &[usize],
    params: &Params,
    gave_up: Duration,
) -> DriverResult {
    let mut outcomes = Vec::new();
    for stream in streams {
        outcomes.push(stream.stop().await);
    }
    if let Some(index) = outcomes.iter().find_map(|outcome| outcome.as_ref().err()) {
        return Err(DriverError::target(format!(
            "a FullDuplexCall closed after {index} requests"
        )));
    }
    if accepted_before.iter().all(|&n| n == params.max_requests) {
        return Ok(Finding::skip(format!(
            "the server accepted all {} requests of {} bytes on each stream without stalling (it reads ahead or buffers): no stalled stream to test against",
            params.max_requests, params.payload_bytes
        )));
    }
    Err(DriverError::target(format!(
        "the streams kept accepting requests slowly for {} ms ({accepted_before:?} accepted)",
        gave_up.as_millis()
    )))
}
