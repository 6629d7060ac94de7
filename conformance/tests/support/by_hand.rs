//! Futures polled by hand, with a waker that records whether it was woken:
//! what the poll-level tests need to see exactly when a call is pending and
//! when its waker fires, without a runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::Stream;

/// Set when the waker handed to the last poll fires.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future (or stream) and the waker its polls get.
pub struct Spawned<T> {
    inner: Pin<Box<T>>,
    woken: Arc<Woken>,
    waker: Waker,
}

/// `inner`, ready to be polled by hand.
pub fn spawn<T>(inner: T) -> Spawned<T> {
    let woken = Arc::new(Woken::default());
    let waker = Waker::from(Arc::clone(&woken));
    Spawned {
        inner: Box::pin(inner),
        woken,
        waker,
    }
}

impl<T> Spawned<T> {
    /// True when the waker fired since the last poll.
    pub fn is_woken(&self) -> bool {
        self.woken.0.load(Ordering::SeqCst)
    }
}

/// The future or stream itself, to ask it things (`is_terminated`).
impl<T> std::ops::Deref for Spawned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: Future> Spawned<T> {
    pub fn poll(&mut self) -> Poll<T::Output> {
        let waker = self.waker.clone();
        self.woken.0.store(false, Ordering::SeqCst);
        self.inner.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

impl<T: Stream> Spawned<T> {
    pub fn poll_next(&mut self) -> Poll<Option<T::Item>> {
        let waker = self.waker.clone();
        self.woken.0.store(false, Ordering::SeqCst);
        self.inner
            .as_mut()
            .poll_next(&mut Context::from_waker(&waker))
    }
}

macro_rules! assert_pending {
    ($poll:expr) => {
        match $poll {
            std::task::Poll::Pending => {}
            std::task::Poll::Ready(value) => panic!("ready ({value:?}) where pending was expected"),
        }
    };
}

macro_rules! assert_ready {
    ($poll:expr) => {
        match $poll {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("pending where ready was expected"),
        }
    };
}

macro_rules! assert_ready_ok {
    ($poll:expr) => {
        match assert_ready!($poll) {
            Ok(value) => value,
            Err(err) => panic!("ready with an error: {err:?}"),
        }
    };
}

macro_rules! assert_ready_eq {
    ($poll:expr, $expected:expr) => {
        assert_eq!(assert_ready!($poll), $expected)
    };
}
