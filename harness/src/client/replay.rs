//! A request body that can be sent again: what a gRPC client needs to retry
//! a stream the server refused before reading it.
//!
//! Every frame taken from the original body is kept until the call is known
//! to have been accepted (its response headers arrived), so a second attempt
//! sends the same frames and then goes on with the rest of the original body.
//! Attempts never run at once, but a refused attempt's body may still be
//! polled briefly by its connection task: whatever it takes is kept too, so
//! nothing is lost or sent twice on the stream that counts.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tonic::body::Body as TonicBody;

struct State {
    original: TonicBody,
    /// Data frames taken from `original` since the first attempt, while the
    /// call may still be refused.
    kept: Vec<Bytes>,
    /// False once the call was accepted: nothing more is kept.
    keeping: bool,
    /// Frames taken from `original` in all (kept or not).
    taken: usize,
    ended: bool,
}

/// The shared original body of one call.
#[derive(Clone)]
pub(crate) struct Replayable {
    state: Arc<Mutex<State>>,
}

impl Replayable {
    pub(crate) fn new(original: TonicBody) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                original,
                kept: Vec::new(),
                keeping: true,
                taken: 0,
                ended: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The body of the next attempt: every frame taken so far, then the rest.
    pub(crate) fn attempt(&self) -> TonicBody {
        TonicBody::new(Attempt {
            shared: self.clone(),
            position: 0,
        })
    }

    /// Whether another attempt would send the whole request again.
    pub(crate) fn can_replay(&self) -> bool {
        self.lock().keeping
    }

    /// The call was accepted: stop keeping frames.
    pub(crate) fn accepted(&self) {
        let mut state = self.lock();
        state.keeping = false;
        state.kept = Vec::new();
    }
}

/// One attempt's view of the shared body.
struct Attempt {
    shared: Replayable,
    /// Frames of the request this attempt has sent.
    position: usize,
}

impl Body for Attempt {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let shared = self.shared.clone();
        let mut state = shared.lock();
        if self.position < state.taken {
            // A frame an earlier attempt took: send it again (it is kept
            // while the call can be refused; an accepted call has no second
            // attempt, so a gap here cannot happen).
            let Some(data) = state.kept.get(self.position).cloned() else {
                return Poll::Ready(Some(Err(tonic::Status::internal(
                    "a refused request could not be replayed",
                ))));
            };
            self.position += 1;
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if state.ended {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut state.original).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if state.keeping {
                        state.kept.push(data.clone());
                    }
                    state.taken += 1;
                    self.position += 1;
                }
            }
            Poll::Ready(None) => state.ended = true,
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }
}
