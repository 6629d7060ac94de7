//! State-machine test of the duplex stream halves against a reference
//! model: proptest generates sequences of operations (send, clone, close,
//! drop a handle, receive, reset, drop the receiver), applies them to the
//! real primitive (polled once, without blocking) and to a plain model, and
//! compares every outcome. Failing sequences shrink to a minimal one.

use std::collections::VecDeque;

use conformance::sync::duplex::{self, RecvHalf, SendError, SendHalf};
use futures::FutureExt;
use proptest::prelude::*;

const CAPACITY: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    Send(usize),
    Clone(usize),
    Close(usize),
    Drop(usize),
    Recv,
    Reset(usize),
    DropReceiver,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0usize..3).prop_map(Op::Send),
        1 => (0usize..3).prop_map(Op::Clone),
        1 => (0usize..3).prop_map(Op::Close),
        1 => (0usize..3).prop_map(Op::Drop),
        4 => Just(Op::Recv),
        1 => (0usize..3).prop_map(Op::Reset),
        1 => Just(Op::DropReceiver),
    ];
    prop::collection::vec(op, 1..40)
}

/// What an operation returned, in terms both sides can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Nothing,
    Sent,
    SendPending,
    SendRefused(&'static str),
    Received(u32),
    End { reset: bool },
    RecvPending,
}

/// The documented stream states (see the state diagram in duplex.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    HalfClosed,
    Closed,
    Reset,
    ReceiverGone,
}

/// The reference model: a queue, the stream state, open/closed handles.
struct Model {
    queue: VecDeque<u32>,
    state: State,
    receiver: bool,
    handles: Vec<Option<bool>>, // Some(closed)
}

impl Model {
    fn retire_if_last(&mut self) {
        let open = self.handles.iter().flatten().any(|closed| !closed);
        if !open && self.state == State::Open {
            self.state = State::HalfClosed;
        }
    }

    fn apply(&mut self, op: &Op, value: u32) -> Seen {
        match *op {
            Op::Send(h) => match self.handles.get(h).copied().flatten() {
                None => Seen::Nothing,
                Some(true) => Seen::SendRefused("closed"),
                Some(false) => match self.state {
                    State::Open if self.queue.len() >= CAPACITY => Seen::SendPending,
                    State::Open => {
                        self.queue.push_back(value);
                        Seen::Sent
                    }
                    State::HalfClosed | State::Closed => Seen::SendRefused("closed"),
                    State::Reset => Seen::SendRefused("reset"),
                    State::ReceiverGone => Seen::SendRefused("receiver gone"),
                },
            },
            Op::Clone(h) => match self.handles.get(h).copied().flatten() {
                Some(closed) if self.handles.len() < 3 => {
                    self.handles.push(Some(closed));
                    Seen::Nothing
                }
                _ => Seen::Nothing,
            },
            Op::Close(h) => {
                if let Some(Some(closed)) = self.handles.get_mut(h) {
                    *closed = true;
                    self.retire_if_last();
                }
                Seen::Nothing
            }
            Op::Drop(h) => {
                if let Some(slot) = self.handles.get_mut(h)
                    && slot.take().is_some()
                {
                    self.retire_if_last();
                }
                Seen::Nothing
            }
            Op::Recv => {
                if !self.receiver {
                    return Seen::Nothing;
                }
                if let Some(value) = self.queue.pop_front() {
                    return Seen::Received(value);
                }
                match self.state {
                    State::Open => Seen::RecvPending,
                    State::HalfClosed => {
                        self.state = State::Closed;
                        Seen::End { reset: false }
                    }
                    State::Closed | State::ReceiverGone => Seen::End { reset: false },
                    State::Reset => Seen::End { reset: true },
                }
            }
            Op::Reset(h) => {
                if self.handles.get(h).copied().flatten().is_some()
                    && matches!(self.state, State::Open | State::HalfClosed)
                {
                    self.state = State::Reset;
                    self.queue.clear();
                }
                Seen::Nothing
            }
            Op::DropReceiver => {
                if self.receiver {
                    self.receiver = false;
                    if self.state != State::Reset {
                        self.state = State::ReceiverGone;
                    }
                    self.queue.clear();
                }
                Seen::Nothing
            }
        }
    }
}

/// The real primitive.
struct Real {
    handles: Vec<Option<SendHalf<u32>>>,
    receiver: Option<RecvHalf<u32>>,
}

impl Real {
    fn apply(&mut self, op: &Op, value: u32) -> Seen {
        match *op {
            Op::Send(h) => match self.handles.get(h).and_then(Option::as_ref) {
                None => Seen::Nothing,
                Some(handle) => match handle.send(value).now_or_never() {
                    None => Seen::SendPending,
                    Some(Ok(())) => Seen::Sent,
                    Some(Err(SendError::Reset(_))) => Seen::SendRefused("reset"),
                    Some(Err(SendError::ReceiverGone(_))) => Seen::SendRefused("receiver gone"),
                    Some(Err(SendError::Closed(_))) => Seen::SendRefused("closed"),
                    Some(Err(SendError::Concurrent(_))) => Seen::SendRefused("concurrent"),
                },
            },
            Op::Clone(h) => {
                if let Some(Some(handle)) = self.handles.get(h)
                    && self.handles.len() < 3
                {
                    let clone = handle.clone();
                    self.handles.push(Some(clone));
                }
                Seen::Nothing
            }
            Op::Close(h) => {
                if let Some(Some(handle)) = self.handles.get(h) {
                    handle.close();
                }
                Seen::Nothing
            }
            Op::Drop(h) => {
                if let Some(slot) = self.handles.get_mut(h) {
                    drop(slot.take());
                }
                Seen::Nothing
            }
            Op::Recv => match self.receiver.as_mut() {
                None => Seen::Nothing,
                Some(receiver) => match receiver.recv().now_or_never() {
                    None => Seen::RecvPending,
                    Some(Some(value)) => Seen::Received(value),
                    Some(None) => Seen::End {
                        reset: receiver.is_reset(),
                    },
                },
            },
            Op::Reset(h) => {
                if let Some(Some(handle)) = self.handles.get(h) {
                    handle.reset();
                }
                Seen::Nothing
            }
            Op::DropReceiver => {
                drop(self.receiver.take());
                Seen::Nothing
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn duplex_halves_follow_the_model(ops in ops()) {
        let (send, receive) = duplex::channel::<u32>(CAPACITY);
        let mut real = Real { handles: vec![Some(send)], receiver: Some(receive) };
        let mut model = Model {
            queue: VecDeque::new(),
            state: State::Open,
            receiver: true,
            handles: vec![Some(false)],
        };
        for (step, op) in ops.iter().enumerate() {
            let value = step as u32;
            let expected = model.apply(op, value);
            let got = real.apply(op, value);
            prop_assert_eq!(&got, &expected, "step {} ({:?})", step, op);
        }
    }
}
