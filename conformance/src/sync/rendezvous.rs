//! A reusable async barrier: a call completes only once `parties` calls are
//! waiting at the same time. Dropping a waiting call (timeout, cancellation)
//! takes it back out of the count, so a barrier never releases with fewer
//! parties actually inside.
//!
//! The state is a plain mutex-guarded map of the waiters' wakers in arrival
//! order, so loom can check it exhaustively (`tests/loom/`) and the
//! poll-level tests can drive it step by step (`tests/sync_poll.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::shim::{Arc, Mutex, lock};

/// A barrier for `parties` callers. Once released it starts afresh.
#[derive(Debug)]
pub struct Barrier {
    parties: u32,
    /// Shared with the [`Arrival`]s, so that arriving only needs `&self`
    /// (a `self: &Arc<Self>` receiver would not accept loom's `Arc`).
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Wakers of the callers inside now, by waiter id.
    /// Ids only grow, so the map's order is the order of arrival (and waking
    /// follows it: a `BTreeMap` keeps that deterministic, which loom needs to
    /// replay an execution).
    waiters: BTreeMap<u64, Waker>,
    /// Callers released but not polled since, by waiter id, with their arrival
    /// order within their release.
    released: BTreeMap<u64, u32>,
    /// Source of waiter ids.
    next_id: u64,
}

impl Barrier {
    /// A barrier that releases at `parties` callers (at least 1).
    pub fn new(parties: u32) -> Self {
        Self {
            parties: parties.max(1),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// Callers waiting now.
    pub fn waiting(&self) -> u32 {
        count(&lock(&self.state).waiters)
    }

    /// Arrives at the barrier. The future resolves, with the caller's 1-based
    /// arrival order within its release, once `parties` callers are inside.
    /// Dropping it before then leaves the barrier (and the callers that came
    /// after it move up one place).
    pub fn arrive(&self) -> Arrival {
        Arrival {
            parties: self.parties,
            state: Arc::clone(&self.state),
            phase: Phase::NotArrived,
        }
    }
}

fn count(waiters: &BTreeMap<u64, Waker>) -> u32 {
    u32::try_from(waiters.len()).unwrap_or(u32::MAX)
}

/// The future returned by [`Barrier::arrive`].
#[derive(Debug)]
pub struct Arrival {
    parties: u32,
    state: Arc<Mutex<State>>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Not polled yet: not counted.
    NotArrived,
    /// Counted, inside under this waiter id (until released or dropped).
    Waiting { id: u64 },
    /// Returned its arrival order.
    Released,
}

impl Future for Arrival {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        let this = &mut *self;
        let mut state = lock(&this.state);
        match this.phase {
            Phase::NotArrived => {
                let arrival = count(&state.waiters).saturating_add(1);
                if arrival >= this.parties {
                    // The last one in: number the others in their order of
                    // arrival and wake them.
                    let waiters = std::mem::take(&mut state.waiters);
                    let mut wakers = Vec::with_capacity(waiters.len());
                    for (order, (id, waker)) in (1..).zip(waiters) {
                        state.released.insert(id, order);
                        wakers.push(waker);
                    }
                    drop(state);
                    for waker in wakers {
                        waker.wake();
                    }
                    this.phase = Phase::Released;
                    return Poll::Ready(arrival);
                }
                let id = state.next_id;
                state.next_id = state.next_id.wrapping_add(1);
                state.waiters.insert(id, cx.waker().clone());
                this.phase = Phase::Waiting { id };
                Poll::Pending
            }
            Phase::Waiting { id } => {
                if let Some(arrival) = state.released.remove(&id) {
                    this.phase = Phase::Released;
                    return Poll::Ready(arrival);
                }
                match state.waiters.get_mut(&id) {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    Some(waker) => waker.clone_from(cx.waker()),
                    // Unreachable: a waiting id is in one of the two maps.
                    None => {}
                }
                Poll::Pending
            }
            Phase::Released => Poll::Pending,
        }
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if let Phase::Waiting { id } = self.phase {
            let mut state = lock(&self.state);
            // Still inside: leave, so that the count only ever holds callers
            // that are really waiting. Already released: the release counted
            // this caller; forget its unread arrival order.
            if state.waiters.remove(&id).is_none() {
                state.released.remove(&id);
            }
        }
    }
}

/// Barriers by group name, created on first use.
#[derive(Debug, Default)]
pub struct Barriers {
    by_group: Mutex<BTreeMap<String, Arc<Barrier>>>,
}

/// Two calls named the same group with different party counts.
#[derive(Debug, thiserror::Error)]
#[error(
    "rendezvous group {group:?} is waiting for {existing} parties, this call asked for {requested}"
)]
pub struct PartiesMismatch {
    pub group: String,
    pub existing: u32,
    pub requested: u32,
}

impl Barriers {
    pub fn new() -> Self {
        Self::default()
    }

    /// The barrier of `group`. A group whose barrier has nobody waiting may be
    /// re-created with a different party count.
    pub fn get(&self, group: &str, parties: u32) -> Result<Arc<Barrier>, PartiesMismatch> {
        let parties = parties.max(1);
        let mut map = lock(&self.by_group);
        if let Some(existing) = map.get(group) {
            if existing.parties() == parties {
                return Ok(Arc::clone(existing));
            }
            if existing.waiting() > 0 {
                return Err(PartiesMismatch {
                    group: group.to_owned(),
                    existing: existing.parties(),
                    requested: parties,
                });
            }
        }
        let barrier = Arc::new(Barrier::new(parties));
        map.insert(group.to_owned(), Arc::clone(&barrier));
        Ok(barrier)
    }

    /// Forgets groups that no caller holds, so that unique group names do not
    /// grow the map without bound. A barrier some caller has fetched but not
    /// yet arrived at is kept (it is referenced outside the map), so callers
    /// of one group always meet at one barrier.
    pub fn prune(&self) {
        lock(&self.by_group)
            .retain(|_, barrier| Arc::strong_count(barrier) > 1 || barrier.waiting() > 0);
    }
}
