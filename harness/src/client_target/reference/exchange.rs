//! `Exchange`: one ClientObserver.Interlock stream, a sender task and a
//! receiver reading at the same time (or, with the stream defects, not).
//! Issued as a raw call so that the receiver can reset the stream while the
//! request half is open (`crate::client::cancellable_bidi`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use conformance::proto::probe::{Exchange, ExchangeResult, InterlockRequest, InterlockResponse};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{Channels, GLOBAL_LOCK};
use crate::client::cancellable_bidi;
use crate::defects::AdapterDefect;

const PATH: &str = "/conformance.v1.ClientObserver/Interlock";
/// Largest response accepted (the scenarios ask for a few MiB at most).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// What the two tasks did, readable when the deadline cuts them short.
#[derive(Default)]
struct Progress {
    sent: AtomicU32,
    received: AtomicU32,
}

struct SenderEnd {
    half_closed: bool,
    error: String,
}

pub(super) async fn run(channels: &Channels, work: Exchange, deadline: Duration) -> ExchangeResult {
    let shared = channels.shared();
    let channel = channels.for_call(&shared);
    let _lock = if channels.has(AdapterDefect::GlobalLock) {
        Some(GLOBAL_LOCK.lock().await)
    } else {
        None
    };
    let progress = Arc::new(Progress::default());
    let (tx, rx) = mpsc::channel::<InterlockRequest>(1);
    let (cancel, cancelled) = oneshot::channel();
    let requests = tokio_stream::wrappers::ReceiverStream::new(rx).boxed();
    let call = tokio::spawn(cancellable_bidi::<_, InterlockRequest, InterlockResponse>(
        channel,
        PATH,
        requests,
        cancelled,
        MAX_MESSAGE,
    ));
    let work = Arc::new(work);
    let exchange = exchange(channels, &work, tx, call, cancel, &progress);
    let mut result = match tokio::time::timeout(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => ExchangeResult {
            code: tonic::Code::DeadlineExceeded as i32,
            message: format!(
                "the exchange did not end within {} ms",
                deadline.as_millis()
            ),
            ..ExchangeResult::default()
        },
    };
    result.sent = progress.sent.load(Ordering::Relaxed);
    result.received = progress.received.load(Ordering::Relaxed);
    result
}

async fn exchange(
    channels: &Channels,
    work: &Arc<Exchange>,
    tx: mpsc::Sender<InterlockRequest>,
    call: tokio::task::JoinHandle<Result<tonic::Streaming<InterlockResponse>, tonic::Status>>,
    cancel: oneshot::Sender<()>,
    progress: &Arc<Progress>,
) -> ExchangeResult {
    let sender = send_all(Arc::clone(work), tx, Arc::clone(progress));
    let sender = if channels.has(AdapterDefect::SendAllThenReceive) {
        // The defect: this one task sends everything before it reads.
        let end = sender.await;
        tokio::spawn(async move { end })
    } else if channels.has(AdapterDefect::ReceiveAfterHalfClose) {
        // The defect: the receiver waits for the sending task to be done.
        let end = tokio::spawn(sender).await.unwrap_or_else(task_failed);
        tokio::spawn(async move { end })
    } else {
        tokio::spawn(sender)
    };
    let mut result = ExchangeResult {
        in_order: true,
        ..ExchangeResult::default()
    };
    match call.await {
        Ok(Ok(replies)) => receive(work, replies, cancel, progress, &mut result).await,
        Ok(Err(status)) => {
            result.code = status.code() as i32;
            result.message = status.message().to_owned();
        }
        Err(err) => {
            result.code = tonic::Code::Internal as i32;
            result.message = format!("the call's task failed: {err}");
        }
    }
    let end = sender.await.unwrap_or_else(task_failed);
    result.half_closed = end.half_closed;
    result.sender_error = end.error;
    result
}

fn task_failed(err: tokio::task::JoinError) -> SenderEnd {
    SenderEnd {
        half_closed: false,
        error: format!("the sending task failed: {err}"),
    }
}

/// The receiving half: reads to the end, or cancels after `cancel_after`.
async fn receive(
    work: &Exchange,
    mut replies: tonic::Streaming<InterlockResponse>,
    cancel: oneshot::Sender<()>,
    progress: &Progress,
    result: &mut ExchangeResult,
) {
    let mut received = 0u32;
    loop {
        match replies.message().await {
            Ok(Some(reply)) => {
                received += 1;
                progress.received.store(received, Ordering::Relaxed);
                let size_ok = reply.payload.len() == work.response_size as usize;
                result.in_order &= reply.seq == u64::from(received) && size_ok;
                if work.cancel_after > 0 && received >= work.cancel_after {
                    let _ = cancel.send(());
                    drop(replies);
                    result.code = tonic::Code::Cancelled as i32;
                    result.message = "cancelled by the receiver".to_owned();
                    return;
                }
            }
            Ok(None) => return,
            Err(status) => {
                result.code = status.code() as i32;
                result.message = status.message().to_owned();
                return;
            }
        }
    }
}

/// The sending half: `messages` requests, then the half-close (dropping
/// the sender); stops at the first failed send.
async fn send_all(
    work: Arc<Exchange>,
    tx: mpsc::Sender<InterlockRequest>,
    progress: Arc<Progress>,
) -> SenderEnd {
    let payload = vec![0u8; work.request_size as usize];
    for seq in 1..=u64::from(work.messages) {
        let request = InterlockRequest {
            tag: work.tag.clone(),
            seq,
            response_size: work.response_size,
            after_half_close: work.after_half_close,
            payload: payload.clone(),
        };
        if tx.send(request).await.is_err() {
            return SenderEnd {
                half_closed: false,
                error: "the stream ended before the request was sent".to_owned(),
            };
        }
        progress.sent.fetch_add(1, Ordering::Relaxed);
    }
    drop(tx);
    SenderEnd {
        half_closed: true,
        error: String::new(),
    }
}
