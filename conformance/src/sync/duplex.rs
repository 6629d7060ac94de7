//! The suite's duplex stream halves: a bounded async queue that the harness
//! uses to feed gRPC request streams, with gRPC's stream rules built in.
//!
//! [`channel`] returns a [`SendHalf`] (clonable: several producers) and a
//! [`RecvHalf`] (a [`Stream`], so it can be handed to tonic as a request
//! stream). Like the other primitives of [`crate::sync`], it is a mutex and
//! stored wakers written against the shim, with no tokio primitive inside, so
//! that loom checks this very code (`tests/loom/`).
//!
//! # Stream states
//!
//! One lock guards the queue, the stream state, every send handle's flags and
//! every stored waker, so each transition below is a single critical section.
//!
//! ```text
//!                       send (room) / recv (a message)
//!                              +-----+
//!                              |     v
//!                          +------------+
//!            channel() --> |    Open    |
//!                          +------------+
//!                            |        |
//!   last open handle closed  |        | reset
//!   or dropped               v        v
//!                  +------------+  reset  +-------+
//!                  | HalfClosed | ------> | Reset |
//!                  +------------+         +-------+
//!                            |
//!   recv finds the queue     |
//!   empty: end-of-stream     v
//!                      +--------+
//!                      | Closed |
//!                      +--------+
//!
//!   receiver dropped: Open, HalfClosed, Closed --> ReceiverGone
//!                     Reset stays Reset
//! ```
//!
//! * **Open**: sends are accepted while the queue has room (`capacity`
//!   messages); a send on a full queue waits for the receiver to take one. The
//!   receiver gets messages in the order they were accepted.
//! * **HalfClosed**: every send handle was closed ([`SendHalf::close`]) or
//!   dropped. No send is accepted any more; the receiver still gets every
//!   accepted message, then end-of-stream.
//! * **Closed**: the receiver was handed end-of-stream. That happens exactly
//!   once: it is this transition. A receiver polled again keeps getting `None`
//!   (the stream is fused), never a message.
//! * **Reset**: a send handle aborted the stream ([`SendHalf::reset`]) while
//!   it was Open or HalfClosed. Messages not yet received are discarded, every
//!   waiting send fails with [`SendError::Reset`] and the receiver gets `None`
//!   with [`RecvHalf::is_reset`] true. A reset after Closed changes nothing
//!   (like `RST_STREAM` on a stream that already ended).
//! * **ReceiverGone**: the receiver was dropped. Queued messages are dropped,
//!   every send (waiting or new) fails with [`SendError::ReceiverGone`].
//!   Dropping the receiver of a Reset stream leaves it Reset.
//!
//! Besides the stream, each send handle has two flags:
//!
//! * *closed*: [`SendHalf::close`] was called on it (a clone of a closed handle
//!   is closed too). A closed handle accepts nothing ([`SendError::Closed`]);
//!   the stream half-closes when no open handle is left.
//! * *sending*: a `send` on this handle is in progress (polled at least once,
//!   neither finished nor dropped). grpc-go forbids concurrent `SendMsg` on
//!   one stream; here a second `send` polled while another is in progress on
//!   the **same handle** fails at once with [`SendError::Concurrent`] instead
//!   of interleaving. Clones are separate handles: they may send at the same
//!   time, each keeping its own order.
//!
//! A message is *accepted* when `send` returns `Ok`; every accepted message
//! reaches the receiver unless the stream is reset or the receiver dropped.
//! A message not accepted always comes back inside the [`SendError`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::Stream;
use futures::stream::FusedStream;

use super::shim::{Arc, Mutex, lock};

/// A duplex stream of at most `capacity` queued messages (a capacity of 0 is
/// taken as 1).
pub fn channel<T>(capacity: usize) -> (SendHalf<T>, RecvHalf<T>) {
    let mut handles = BTreeMap::new();
    handles.insert(0, Handle::default());
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
        state: Mutex::new(State {
            queue: VecDeque::new(),
            stream: StreamState::Open,
            handles,
            open_handles: 1,
            next_handle: 1,
            recv_waker: None,
        }),
    });
    (
        SendHalf {
            shared: Arc::clone(&shared),
            id: 0,
        },
        RecvHalf { shared },
    )
}

/// Why a message was not accepted. Each variant gives the message back.
#[derive(PartialEq, Eq)]
pub enum SendError<T> {
    /// This handle was closed (or the stream had half-closed).
    Closed(T),
    /// The stream was reset.
    Reset(T),
    /// The receiver was dropped.
    ReceiverGone(T),
    /// Another `send` was in progress on the same handle.
    Concurrent(T),
}

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Closed(msg)
            | Self::Reset(msg)
            | Self::ReceiverGone(msg)
            | Self::Concurrent(msg) => msg,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Closed(_) => "Closed",
            Self::Reset(_) => "Reset",
            Self::ReceiverGone(_) => "ReceiverGone",
            Self::Concurrent(_) => "Concurrent",
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SendError::{}(..)", self.name())
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed(_) => "send on a closed stream handle",
            Self::Reset(_) => "send on a reset stream",
            Self::ReceiverGone(_) => "send on a stream whose receiver is gone",
            Self::Concurrent(_) => "concurrent send on one stream handle",
        })
    }
}

impl<T> std::error::Error for SendError<T> {}

struct Shared<T> {
    capacity: usize,
    state: Mutex<State<T>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    Open,
    HalfClosed,
    Closed,
    Reset,
    ReceiverGone,
}

struct State<T> {
    /// Accepted messages the receiver has not taken yet.
    queue: VecDeque<T>,
    stream: StreamState,
    /// Every live send handle, by handle id.
    handles: BTreeMap<u64, Handle>,
    /// Live handles not closed. The stream is Open while it is above 0 (unless
    /// reset or the receiver is gone).
    open_handles: usize,
    next_handle: u64,
    /// The receiver, waiting for a message or the end.
    recv_waker: Option<Waker>,
}

#[derive(Default)]
struct Handle {
    closed: bool,
    sending: bool,
    /// The handle's send in progress, waiting for room.
    waker: Option<Waker>,
}

impl<T> State<T> {
    /// Takes the wakers of every send waiting for room.
    fn take_send_wakers(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.handles.values_mut().filter_map(|h| h.waker.take()));
    }

    /// One open handle fewer; half-closes the stream at the last one.
    fn retire_open_handle(&mut self, wakers: &mut Vec<Waker>) {
        self.open_handles = self.open_handles.saturating_sub(1);
        if self.open_handles == 0 && self.stream == StreamState::Open {
            self.stream = StreamState::HalfClosed;
            wakers.extend(self.recv_waker.take());
        }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// The sending half. Clones are separate handles (see the module docs).
pub struct SendHalf<T> {
    shared: Arc<Shared<T>>,
    id: u64,
}

impl<T> SendHalf<T> {
    /// Sends `msg`, waiting for room in the queue. Fails, giving `msg` back, if
    /// this handle is closed, the stream was reset, the receiver is gone, or
    /// another `send` is in progress on this same handle.
    pub async fn send(&self, msg: T) -> Result<(), SendError<T>> {
        Sending {
            half: self,
            msg: Some(msg),
            claimed: false,
        }
        .await
    }

    /// Half-closes this handle: it accepts no more messages, and a `send` of
    /// it that is waiting for room fails with [`SendError::Closed`]. Once no
    /// handle is left open the receiver gets every accepted message, then
    /// end-of-stream. Closing twice is a no-op.
    pub fn close(&self) {
        let mut wakers = Vec::new();
        {
            let mut guard = lock(&self.shared.state);
            let state = &mut *guard;
            if let Some(handle) = state.handles.get_mut(&self.id)
                && !handle.closed
            {
                handle.closed = true;
                wakers.extend(handle.waker.take());
                state.retire_open_handle(&mut wakers);
            }
        }
        wake_all(wakers);
    }

    /// Aborts the stream (from any handle): messages not yet received are
    /// discarded, waiting and later sends fail with [`SendError::Reset`] and
    /// the receiver ends with [`RecvHalf::is_reset`] true. A no-op once the
    /// receiver has seen end-of-stream or is gone.
    pub fn reset(&self) {
        let mut wakers = Vec::new();
        let discarded = {
            let mut guard = lock(&self.shared.state);
            let state = &mut *guard;
            match state.stream {
                StreamState::Open | StreamState::HalfClosed => {
                    state.stream = StreamState::Reset;
                    wakers.extend(state.recv_waker.take());
                    state.take_send_wakers(&mut wakers);
                    std::mem::take(&mut state.queue)
                }
                StreamState::Closed | StreamState::Reset | StreamState::ReceiverGone => {
                    VecDeque::new()
                }
            }
        };
        // Messages may run arbitrary code when dropped: not under the lock.
        drop(discarded);
        wake_all(wakers);
    }
}

impl<T> Clone for SendHalf<T> {
    /// A new handle on the same stream, open unless this one is closed.
    fn clone(&self) -> Self {
        let mut state = lock(&self.shared.state);
        let closed = state.handles.get(&self.id).is_none_or(|h| h.closed);
        let id = state.next_handle;
        state.next_handle = state.next_handle.wrapping_add(1);
        state.handles.insert(
            id,
            Handle {
                closed,
                ..Handle::default()
            },
        );
        if !closed {
            state.open_handles = state.open_handles.saturating_add(1);
        }
        drop(state);
        Self {
            shared: Arc::clone(&self.shared),
            id,
        }
    }
}

impl<T> Drop for SendHalf<T> {
    /// Dropping a handle closes it.
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.shared.state);
            if let Some(handle) = state.handles.remove(&self.id)
                && !handle.closed
            {
                state.retire_open_handle(&mut wakers);
            }
        }
        wake_all(wakers);
    }
}

impl<T> fmt::Debug for SendHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendHalf")
            .field("handle", &self.id)
            .finish_non_exhaustive()
    }
}

/// The future of [`SendHalf::send`].
struct Sending<'a, T> {
    half: &'a SendHalf<T>,
    /// `None` once finished.
    msg: Option<T>,
    /// Holds the handle's *sending* flag.
    claimed: bool,
}

// `msg` is never pinned: it is moved into the queue or given back.
impl<T> Unpin for Sending<'_, T> {}

impl<T> Future for Sending<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(msg) = this.msg.take() else {
            panic!("`SendHalf::send` polled after completion");
        };
        let mut guard = lock(&this.half.shared.state);
        let state = &mut *guard;
        let Some(handle) = state.handles.get_mut(&this.half.id) else {
            // Unreachable: the handle lives as long as the `SendHalf`.
            return Poll::Ready(Err(SendError::Closed(msg)));
        };
        if !this.claimed {
            if handle.sending {
                return Poll::Ready(Err(SendError::Concurrent(msg)));
            }
            handle.sending = true;
            this.claimed = true;
        }
        let refused = if handle.closed {
            Some(SendError::Closed(msg))
        } else {
            match state.stream {
                StreamState::Open if state.queue.len() >= this.half.shared.capacity => {
                    // Full: wait for the receiver to take one (or the end).
                    match &mut handle.waker {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    this.msg = Some(msg);
                    return Poll::Pending;
                }
                StreamState::Open => {
                    state.queue.push_back(msg);
                    None
                }
                StreamState::HalfClosed | StreamState::Closed => Some(SendError::Closed(msg)),
                StreamState::Reset => Some(SendError::Reset(msg)),
                StreamState::ReceiverGone => Some(SendError::ReceiverGone(msg)),
            }
        };
        handle.sending = false;
        handle.waker = None;
        this.claimed = false;
        let receiver = if refused.is_none() {
            state.recv_waker.take()
        } else {
            None
        };
        drop(guard);
        if let Some(waker) = receiver {
            waker.wake();
        }
        Poll::Ready(refused.map_or(Ok(()), Err))
    }
}

impl<T> Drop for Sending<'_, T> {
    /// A `send` dropped while waiting (cancelled) gives the flag back.
    fn drop(&mut self) {
        if self.claimed {
            let mut state = lock(&self.half.shared.state);
            if let Some(handle) = state.handles.get_mut(&self.half.id) {
                handle.sending = false;
                handle.waker = None;
            }
        }
    }
}

/// The receiving half: a [`Stream`] of the accepted messages in order, ending
/// at end-of-stream or reset. Dropping it fails every send, waiting or later.
pub struct RecvHalf<T> {
    shared: Arc<Shared<T>>,
}

// No field is ever pinned.
impl<T> Unpin for RecvHalf<T> {}

impl<T> RecvHalf<T> {
    /// The next message, or `None` at end-of-stream or reset.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message (`Ready(None)` at end-of-stream or reset).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut guard = lock(&self.shared.state);
        let state = &mut *guard;
        if let Some(msg) = state.queue.pop_front() {
            // Room for one: every send waiting for room polls again (the one
            // that loses the race waits again).
            let mut wakers = Vec::new();
            state.take_send_wakers(&mut wakers);
            drop(guard);
            wake_all(wakers);
            return Poll::Ready(Some(msg));
        }
        match state.stream {
            StreamState::Open => {
                match &mut state.recv_waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            StreamState::HalfClosed => {
                // The end-of-stream, handed out exactly once.
                state.stream = StreamState::Closed;
                Poll::Ready(None)
            }
            StreamState::Closed | StreamState::Reset | StreamState::ReceiverGone => {
                Poll::Ready(None)
            }
        }
    }

    /// Whether the stream was reset (the receiver then gets `None`).
    pub fn is_reset(&self) -> bool {
        lock(&self.shared.state).stream == StreamState::Reset
    }
}

impl<T> Stream for RecvHalf<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> FusedStream for RecvHalf<T> {
    fn is_terminated(&self) -> bool {
        matches!(
            lock(&self.shared.state).stream,
            StreamState::Closed | StreamState::Reset
        )
    }
}

impl<T> Drop for RecvHalf<T> {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        let discarded = {
            let mut guard = lock(&self.shared.state);
            let state = &mut *guard;
            if state.stream != StreamState::Reset {
                state.stream = StreamState::ReceiverGone;
            }
            state.recv_waker = None;
            state.take_send_wakers(&mut wakers);
            std::mem::take(&mut state.queue)
        };
        drop(discarded);
        wake_all(wakers);
    }
}

impl<T> fmt::Debug for RecvHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvHalf").finish_non_exhaustive()
    }
}
