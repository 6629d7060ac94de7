//! `ClientObserver.Interlock`: a stream that progresses only while the client
//! receives as it sends. Response k goes out after request k+1 has arrived
//! (or the half-close), and only once the transport took response k-1, so a
//! client that reads only after sending everything stops the server reading
//! (its sends then fill the flow-control window): the exchange stalls, and
//! the record shows where.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::seen::{ExchangeRecord, Seen, update};
use crate::proto::probe::{InterlockRequest, InterlockResponse, SeenExchange};

/// Largest response payload asked for; larger requests are capped.
const MAX_RESPONSE_BYTES: u32 = 4 * 1024 * 1024;

type Item = Result<InterlockResponse, Status>;

/// Starts the stream's work and returns its responses.
pub(super) fn start(
    seen: Arc<Seen>,
    inbound: Streaming<InterlockRequest>,
    connection_id: String,
) -> Responses {
    let record = Arc::new(Mutex::new(ExchangeRecord {
        seen: SeenExchange {
            connection_id,
            ..SeenExchange::default()
        },
        waiting_since: None,
    }));
    // Capacity 1: a send returns once the transport took the response before.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(exchange(seen, inbound, tx, Arc::clone(&record)));
    Responses {
        rx,
        record,
        ended: false,
    }
}

async fn exchange(
    seen: Arc<Seen>,
    mut inbound: Streaming<InterlockRequest>,
    tx: mpsc::Sender<Item>,
    record: Arc<Mutex<ExchangeRecord>>,
) {
    let mut size = 0;
    let mut after_half_close = 0;
    let mut pending: Option<u64> = None;
    let mut last_seq = 0;
    let mut started = false;
    loop {
        match inbound.message().await {
            Ok(Some(request)) => {
                if !started {
                    started = true;
                    size = request.response_size.min(MAX_RESPONSE_BYTES) as usize;
                    after_half_close = request.after_half_close;
                    seen.add_exchange(&request.tag, Arc::clone(&record));
                }
                last_seq = request.seq;
                update(&record, |r| {
                    r.seen.requests += 1;
                    r.seen.responses_before_last_request = r.seen.responses_sent;
                });
                if let Some(seq) = pending.replace(request.seq)
                    && !send(&tx, &record, seq, size).await
                {
                    return cancelled(&record);
                }
            }
            Ok(None) => {
                // hyper ends a request body cleanly on a client's reset too;
                // one yield lets the transport see a reset first (the
                // response side then closes).
                tokio::task::yield_now().await;
                if tx.is_closed() {
                    return cancelled(&record);
                }
                update(&record, |r| r.seen.half_closed = true);
                let rest = pending
                    .into_iter()
                    .chain((1..=u64::from(after_half_close)).map(|i| last_seq + i));
                for seq in rest {
                    if !send(&tx, &record, seq, size).await {
                        // The body's clean end was a reset after all (the
                        // response side is gone): not a half-close.
                        update(&record, |r| r.seen.half_closed = false);
                        return cancelled(&record);
                    }
                }
                return; // dropping the sender ends the stream with OK
            }
            Err(_) => return cancelled(&record),
        }
    }
}

/// Sends one response; false when the stream is gone.
async fn send(
    tx: &mpsc::Sender<Item>,
    record: &Mutex<ExchangeRecord>,
    seq: u64,
    size: usize,
) -> bool {
    let waiting = Instant::now();
    update(record, |r| r.waiting_since = Some(waiting));
    let response = InterlockResponse {
        seq,
        payload: vec![0; size],
    };
    let sent = tx.send(Ok(response)).await.is_ok();
    let waited = u32::try_from(waiting.elapsed().as_millis()).unwrap_or(u32::MAX);
    update(record, |r| {
        r.waiting_since = None;
        r.seen.longest_send_wait_ms = r.seen.longest_send_wait_ms.max(waited);
    });
    sent
}

fn cancelled(record: &Mutex<ExchangeRecord>) {
    update(record, |r| r.seen.cancelled = true);
}

/// The response stream: counts what the transport takes, and marks the
/// record ended when it is over (completed, or dropped on a reset).
pub(super) struct Responses {
    rx: mpsc::Receiver<Item>,
    record: Arc<Mutex<ExchangeRecord>>,
    ended: bool,
}

impl Stream for Responses {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let polled = self.rx.poll_recv(cx);
        match &polled {
            Poll::Ready(Some(_)) => update(&self.record, |r| r.seen.responses_sent += 1),
            Poll::Ready(None) => {
                self.ended = true;
                update(&self.record, |r| r.seen.ended = true);
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Responses {
    fn drop(&mut self) {
        if !self.ended {
            update(&self.record, |r| {
                r.seen.cancelled = true;
                r.seen.ended = true;
                r.waiting_since = None;
            });
        }
    }
}
