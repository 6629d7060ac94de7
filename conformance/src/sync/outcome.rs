//! Records the life of each tagged handler (running, finished, cancelled,
//! panicked) for `ProbeService.Observe`.
//!
//! A handler holds a [`HandlerRecord`] while it runs. Finishing records
//! FINISHED; dropping the record without finishing means the handler's future
//! was dropped (the client cancelled) or it unwound (a panic), and is recorded
//! as such. The first final state wins.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::shim::{Arc, Mutex, lock};

/// The life of a handler, mirroring `conformance.v1.HandlerState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerState {
    Running,
    Finished,
    Cancelled,
    Panicked,
}

/// What the recorder knows of one tag.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub state: HandlerState,
    pub connection_id: String,
    /// Entry to the final state (`None` while running).
    pub elapsed: Option<Duration>,
    /// The call's deadline as the handler saw it at entry.
    pub deadline: Option<Duration>,
}

#[derive(Debug)]
struct Entry {
    state: HandlerState,
    connection_id: String,
    entered: Instant,
    ended: Option<Instant>,
    deadline: Option<Duration>,
    /// Distinguishes two handlers that reused one tag.
    serial: u64,
}

/// Keeps at most this many tags: past it, finished entries are forgotten.
const MAX_ENTRIES: usize = 100_000;

/// Handler outcomes by tag.
#[derive(Debug, Default)]
pub struct OutcomeRecorder {
    /// Shared with the records, so that beginning only needs `&self` (a
    /// `self: &Arc<Self>` receiver would not accept loom's `Arc`).
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    next_serial: u64,
}

impl OutcomeRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a handler entering under `tag` (replacing an older handler of
    /// that tag). The returned record must be finished or dropped.
    pub fn begin(
        &self,
        tag: &str,
        connection_id: &str,
        deadline: Option<Duration>,
    ) -> HandlerRecord {
        let mut inner = lock(&self.inner);
        if inner.entries.len() >= MAX_ENTRIES {
            inner
                .entries
                .retain(|_, entry| entry.state == HandlerState::Running);
        }
        let serial = inner.next_serial;
        inner.next_serial = inner.next_serial.wrapping_add(1);
        inner.entries.insert(
            tag.to_owned(),
            Entry {
                state: HandlerState::Running,
                connection_id: connection_id.to_owned(),
                entered: Instant::now(),
                ended: None,
                deadline,
                serial,
            },
        );
        HandlerRecord {
            recorder: Arc::clone(&self.inner),
            tag: tag.to_owned(),
            serial,
            settled: false,
        }
    }

    /// What is known of `tag`, or `None` if no handler was recorded under it.
    pub fn get(&self, tag: &str) -> Option<Outcome> {
        let inner = lock(&self.inner);
        inner.entries.get(tag).map(|entry| Outcome {
            state: entry.state,
            connection_id: entry.connection_id.clone(),
            elapsed: entry.ended.map(|ended| ended - entry.entered),
            deadline: entry.deadline,
        })
    }
}

/// A running handler's entry in the recorder.
#[derive(Debug)]
pub struct HandlerRecord {
    recorder: Arc<Mutex<Inner>>,
    tag: String,
    serial: u64,
    settled: bool,
}

impl HandlerRecord {
    /// Records a normal return.
    pub fn finish(mut self) {
        self.settle(HandlerState::Finished);
    }

    /// Records that the handler saw its call cancelled.
    pub fn cancelled(mut self) {
        self.settle(HandlerState::Cancelled);
    }

    fn settle(&mut self, state: HandlerState) {
        if !self.settled {
            self.settled = true;
            let mut inner = lock(&self.recorder);
            // A newer handler that reused the tag owns the entry now; and only
            // the first final state counts.
            if let Some(entry) = inner.entries.get_mut(&self.tag)
                && entry.serial == self.serial
                && entry.state == HandlerState::Running
            {
                entry.state = state;
                entry.ended = Some(Instant::now());
            }
        }
    }
}

impl Drop for HandlerRecord {
    fn drop(&mut self) {
        let state = if std::thread::panicking() {
            HandlerState::Panicked
        } else {
            // The handler's future was dropped before it returned: in a
            // server, that is the transport cancelling the call.
            HandlerState::Cancelled
        };
        self.settle(state);
    }
}
