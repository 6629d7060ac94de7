//! The exchange of `duplex-large`: its sender task, its receiver task and
//! the watchdog that tells a deadlock.

use std::sync::atomic::{AtomicUsize, Ordering};

use conformance::proto::grpc_testing::StreamingOutputCallResponse;
use tokio::sync::Notify;

use super::super::common::{Replies, Requests, size};
use crate::drivers::prelude::*;

/// One call's exchange: what to send, and how far each direction got.
pub(super) struct Exchange {
    pub total: usize,
    pub size: usize,
    pub stall: Duration,
    pub single_task: bool,
    pub sent: AtomicUsize,
    pub received: AtomicUsize,
    pub all_sent: Notify,
}

impl Exchange {
    pub fn progress(&self) -> (usize, usize) {
        let sent = self.sent.load(Ordering::SeqCst);
        (sent, self.received.load(Ordering::SeqCst))
    }

    /// The sender task: `total` requests of `size` bytes, each asking for
    /// as much back.
    pub async fn send(self: Arc<Self>, requests: Requests) {
        for _ in 0..self.total {
            let mut request = output_request(&[self.size], Duration::ZERO);
            request.payload = payload(self.size, 0x42);
            if requests.send(request).await.is_err() {
                return;
            }
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        self.all_sent.notify_one();
    }

    /// The receiver task: reads every response, unless neither direction
    /// moves for `stall`. Returns the bytes received.
    pub async fn receive(
        self: Arc<Self>,
        call: impl Future<Output = Result<Replies<StreamingOutputCallResponse>, tonic::Status>> + Send,
        first: FirstMessage,
    ) -> Result<usize, RpcError> {
        let read = async {
            let mut replies = call.await?;
            if self.single_task {
                // The defect: read nothing until everything is sent.
                self.all_sent.notified().await;
            }
            let mut bytes = 0usize;
            while let Some(reply) = replies.message().await? {
                first.mark();
                bytes += size(&reply);
                self.received.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, RpcError>(bytes)
        };
        let bytes = tokio::select! {
            read = read => read?,
            () = self.stalls() => {
                let (sent, received) = self.progress();
                return Err(RpcError::wrong(format!(
                    "deadlock: no progress in either direction for {} ms, with {sent} of {} requests sent and {received} responses received{}",
                    self.stall.as_millis(),
                    self.total,
                    if self.single_task { " (one task sending everything before reading)" } else { "" }
                )));
            }
        };
        let received = self.received.load(Ordering::SeqCst);
        if received != self.total {
            let total = self.total;
            return Err(RpcError::wrong(format!(
                "the call ended OK after {received} of {total} responses"
            )));
        }
        Ok(bytes)
    }

    /// Returns once neither direction has moved for `stall`, sampling every
    /// 50 ms (fine against any useful stall bound).
    async fn stalls(&self) {
        const STEP: Duration = Duration::from_millis(50);
        let (mut last, mut quiet) = (self.progress(), Duration::ZERO);
        while quiet < self.stall {
            tokio::time::sleep(STEP).await;
            let now = self.progress();
            quiet = if now == last {
                quiet + STEP
            } else {
                Duration::ZERO
            };
            last = now;
        }
    }
}
