//! One stream of `scale-streams`, and the gate that holds every stream open
//! until all have their pong.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;

use super::wire::{Pings, RawDuplex};
use crate::drivers::prelude::*;

/// Reply sizes the streams ask for (1 ..= this many bytes), so that no two
/// neighbouring streams expect the same pong.
pub const PING_SIZES: usize = 64;

/// One stream's life: ping, pong, wait for all, close, clean end. A failure
/// is recorded at the gate, which lets the other streams go.
pub async fn one_stream(
    connection: SendRequest<Bytes>,
    pings: Pings,
    index: usize,
    gate: Arc<Gate>,
    replies_by: Instant,
    close_limit: Duration,
    first: FirstMessage,
) -> Result<(), RpcError> {
    let outcome = life(
        connection,
        &pings,
        index % PING_SIZES + 1,
        &gate,
        replies_by,
        close_limit,
        first,
    )
    .await;
    if let Err(reason) = &outcome {
        gate.fail(index, reason);
    }
    outcome.map_err(RpcError::Wrong)
}

async fn life(
    connection: SendRequest<Bytes>,
    pings: &Pings,
    size: usize,
    gate: &Gate,
    replies_by: Instant,
    close_limit: Duration,
    first: FirstMessage,
) -> Result<(), String> {
    let pinged = std::time::Instant::now();
    gate.siblings.owe();
    let ponged = pong(connection, pings, size, replies_by).await;
    let stream = match ponged {
        Ok(stream) => stream,
        Err(reason) => {
            gate.siblings.gave_up();
            return Err(reason);
        }
    };
    first.mark();
    gate.siblings.answered(pinged.elapsed());
    gate.arrive(replies_by).await?;
    gate.siblings.moved_on();
    tokio::time::timeout(close_limit, stream.close())
        .await
        .map_err(|_| "the stream did not end after the client closed it".to_owned())?
}

/// Opens the stream with its ping and waits for the pong.
async fn pong(
    connection: SendRequest<Bytes>,
    pings: &Pings,
    size: usize,
    replies_by: Instant,
) -> Result<RawDuplex, String> {
    tokio::time::timeout_at(replies_by, RawDuplex::open(connection, pings, size))
        .await
        .map_err(|_| "no pong in time while the other streams were open".to_owned())?
}

/// Lets every stream through once all have arrived: a counter and one
/// `Notify` (waking everyone once), instead of a 10,000-party barrier.
pub struct Gate {
    total: usize,
    /// Pings owed their pong and streams that had theirs, for the stall
    /// proof: a stream whose pong came waits here for the others.
    pub siblings: Siblings,
    arrived: AtomicUsize,
    /// The first stream that failed, and why.
    failed: Mutex<Option<(usize, String)>>,
    notify: Notify,
}

impl Gate {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            siblings: Siblings::new(),
            arrived: AtomicUsize::new(0),
            failed: Mutex::new(None),
            notify: Notify::new(),
        }
    }

    async fn arrive(&self, until: Instant) -> Result<(), String> {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before counting, so the last arrival's wake-up is
        // never missed.
        notified.as_mut().enable();
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 >= self.total {
            self.notify.notify_waiters();
            return Ok(());
        }
        if self.first_failure().is_some() {
            return Err("another stream failed".to_owned());
        }
        if tokio::time::timeout_at(until, notified).await.is_err() {
            return Err(format!(
                "only {} of {} streams got their pong in time",
                self.ponged(),
                self.total
            ));
        }
        if self.ponged() >= self.total {
            Ok(())
        } else {
            Err("another stream failed".to_owned())
        }
    }

    /// Records a failed stream (the first one is kept) and lets the
    /// waiting streams go.
    fn fail(&self, index: usize, reason: &str) {
        self.failures()
            .get_or_insert_with(|| (index, reason.to_owned()));
        self.notify.notify_waiters();
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Option<(usize, String)>> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn first_failure(&self) -> Option<(usize, String)> {
        self.failures().clone()
    }

    /// Streams that got their pong.
    pub fn ponged(&self) -> usize {
        self.arrived.load(Ordering::SeqCst).min(self.total)
    }
}
