//! A reusable async barrier: a call completes only once `parties` calls are
//! waiting at the same time. Dropping a waiting call (timeout, cancellation)
//! takes it back out of the count, so a barrier never releases with fewer
//! parties actually inside.
//!
//! The state is a plain mutex-guarded counter plus the wakers of the waiters,
//! so loom can check it exhaustively (`tests/loom_sync.rs`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::shim::{Arc, Mutex, lock};

/// A barrier for `parties` callers. Once released it starts afresh.
#[derive(Debug)]
pub struct Barrier {
    parties: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bumped at every release; a waiter is released when it changes.
    generation: u64,
    /// Callers inside in the current generation.
    arrived: u32,
    /// Source of waiter ids.
    next_id: u64,
    /// Wakers of the callers inside, by waiter id.
    waiters: HashMap<u64, Waker>,
}

impl Barrier {
    /// A barrier that releases at `parties` callers (at least 1).
    pub fn new(parties: u32) -> Self {
        Self {
            parties: parties.max(1),
            state: Mutex::new(State::default()),
        }
    }

    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// Callers waiting now.
    pub fn waiting(&self) -> u32 {
        lock(&self.state).arrived
    }

    /// Arrives at the barrier. The future resolves, with the caller's 1-based
    /// arrival order, once `parties` callers are inside. Dropping it before then
    /// leaves the barrier.
    pub fn arrive(self: &Arc<Self>) -> Arrival {
        Arrival {
            barrier: Arc::clone(self),
            phase: Phase::NotArrived,
        }
    }
}

/// The future returned by [`Barrier::arrive`].
#[derive(Debug)]
pub struct Arrival {
    barrier: Arc<Barrier>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    NotArrived,
    Waiting {
        generation: u64,
        id: u64,
        arrival: u32,
    },
    Released,
}

impl Future for Arrival {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        let this = &mut *self;
        let mut state = lock(&this.barrier.state);
        match this.phase {
            Phase::NotArrived => {
                state.arrived += 1;
                let arrival = state.arrived;
                if arrival >= this.barrier.parties {
                    state.generation = state.generation.wrapping_add(1);
                    state.arrived = 0;
                    let waiters = std::mem::take(&mut state.waiters);
                    drop(state);
                    for (_, waker) in waiters {
                        waker.wake();
                    }
                    this.phase = Phase::Released;
                    return Poll::Ready(arrival);
                }
                let id = state.next_id;
                state.next_id = state.next_id.wrapping_add(1);
                state.waiters.insert(id, cx.waker().clone());
                this.phase = Phase::Waiting {
                    generation: state.generation,
                    id,
                    arrival,
                };
                Poll::Pending
            }
            Phase::Waiting {
                generation,
                id,
                arrival,
            } => {
                if state.generation != generation {
                    this.phase = Phase::Released;
                    return Poll::Ready(arrival);
                }
                state.waiters.insert(id, cx.waker().clone());
                Poll::Pending
            }
            Phase::Released => Poll::Pending,
        }
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if let Phase::Waiting { generation, id, .. } = self.phase {
            let mut state = lock(&self.barrier.state);
            // Still inside the same generation: leave it, so that the count
            // only ever holds callers that are really waiting.
            if state.generation == generation {
                state.arrived = state.arrived.saturating_sub(1);
                state.waiters.remove(&id);
            }
        }
    }
}

/// Barriers by group name, created on first use.
#[derive(Debug, Default)]
pub struct Barriers {
    by_group: Mutex<HashMap<String, Arc<Barrier>>>,
}

/// Two calls named the same group with different party counts.
#[derive(Debug, thiserror::Error)]
#[error("rendezvous group {group:?} is waiting for {existing} parties, this call asked for {requested}")]
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
