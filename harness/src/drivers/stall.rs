//! Proof that a call is stalled behind its siblings, not merely slow, so
//! that a driver can end its scenario on that evidence instead of waiting out
//! its per-call limits.
//!
//! The proof rests on work the server has already done in the same scenario:
//! once it has answered a request of some kind for a sibling that now waits,
//! still open, for the others, a sibling owed the same kind of answer that
//! gets none for [`STALL_FACTOR`] times the slowest of those answers (never
//! less than [`STALL_FLOOR`]) is stalled behind it. A server that answers
//! slowly but steadily never meets it: every answer restarts the quiet
//! period and a slow answer raises the bound. Only a group with a waiting
//! sibling qualifies; a lone call that goes quiet keeps its full limit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Call, Tally};

/// How many times the slowest answer the server gave a sibling a call may
/// go unanswered before it counts as stalled.
pub const STALL_FACTOR: u32 = 20;

/// The shortest quiet period that counts as a stall, however fast the
/// answers before it were: scheduling hiccups of a loaded machine stay
/// below it.
pub const STALL_FLOOR: Duration = Duration::from_secs(1);

/// How long a call may go unanswered once the server answered the same
/// work for a sibling in `slowest` at most.
pub fn stall_bound(slowest: Duration) -> Duration {
    slowest.saturating_mul(STALL_FACTOR).max(STALL_FLOOR)
}

/// The evidence that a group of siblings stalled.
#[derive(Debug, Clone)]
pub struct StallProof {
    /// Siblings that got their answer and were waiting for the others.
    pub waiting: usize,
    /// Answers owed when the group went quiet.
    pub owed: usize,
    /// The slowest answer the server gave a sibling before.
    pub slowest: Duration,
    /// How long no answer came while answers were owed ([`stall_bound`]).
    pub quiet: Duration,
}

impl std::fmt::Display for StallProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answer(s) owed got none for {} ms while {} sibling(s) that had their answer (the slowest in {} ms) waited, still open, for them ({}x the slowest answer, at least {} ms)",
            self.owed,
            self.quiet.as_millis(),
            self.waiting,
            self.slowest.as_millis(),
            STALL_FACTOR,
            STALL_FLOOR.as_millis()
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct State {
    owed: usize,
    waiting: usize,
    slowest: Duration,
    /// When the last answer came (or the last call left the group).
    last: Instant,
}

/// The answers a group of siblings doing the same work is owed, and those
/// that answered and now wait for the others; cloned into each sibling's
/// task. [`Siblings::stalled`] resolves with the proof once the group meets
/// it.
#[derive(Clone)]
pub struct Siblings {
    state: Arc<watch::Sender<State>>,
}

impl Default for Siblings {
    fn default() -> Self {
        Self::new()
    }
}

impl Siblings {
    pub fn new() -> Self {
        let (state, _) = watch::channel(State {
            owed: 0,
            waiting: 0,
            slowest: Duration::ZERO,
            last: Instant::now(),
        });
        Self {
            state: Arc::new(state),
        }
    }

    /// A request was sent: its answer is owed.
    pub fn owe(&self) {
        self.state.send_modify(|state| state.owed += 1);
    }

    /// An owed answer came `latency` after its request; the sibling now
    /// waits for the others.
    pub fn answered(&self, latency: Duration) {
        self.state.send_modify(|state| {
            state.owed = state.owed.saturating_sub(1);
            state.waiting += 1;
            state.slowest = state.slowest.max(latency);
            state.last = Instant::now();
        });
    }

    /// The waiting siblings moved on (the others' answers came): nobody
    /// waits any longer.
    pub fn moved_on(&self) {
        self.state.send_modify(|state| {
            state.waiting = 0;
            state.last = Instant::now();
        });
    }

    /// An owed answer will not come for another reason (the call failed
    /// or ended): it no longer counts, and the quiet period restarts.
    pub fn gave_up(&self) {
        self.state.send_modify(|state| {
            state.owed = state.owed.saturating_sub(1);
            state.last = Instant::now();
        });
    }

    /// Resolves once answers are owed, a sibling that had its answer waits,
    /// and no answer came for [`stall_bound`] of the slowest; never while
    /// the group keeps moving.
    pub async fn stalled(&self) -> StallProof {
        let mut changes = self.state.subscribe();
        loop {
            let state = *changes.borrow_and_update();
            if state.owed > 0 && state.waiting > 0 {
                let quiet = stall_bound(state.slowest);
                let at = state.last + quiet;
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {
                        return StallProof {
                            waiting: state.waiting,
                            owed: state.owed,
                            slowest: state.slowest,
                            quiet,
                        };
                    }
                    changed = changes.changed() => {
                        if changed.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            } else if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Arrivals at a barrier that no party can leave before all are inside,
/// counted by polling the server's own count (a gauge, a ledger): the same
/// proof as [`Siblings`], with the server's admissions as the answers.
/// Once some arrived, fewer than all, and none more for [`stall_bound`] of
/// the slowest step so far (from the sending to the first arrival, and
/// between arrivals), the barrier is stuck.
#[derive(Debug, Clone, Copy)]
pub struct Arrivals {
    inside: usize,
    last: std::time::Instant,
    slowest: Duration,
}

/// How a reading of the count compares with the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    More,
    Same,
    /// Some left (or were let go): the barrier is moving, not stuck.
    Fewer,
}

/// The evidence that a barrier is stuck.
#[derive(Debug, Clone, Copy)]
pub struct Stuck {
    pub inside: usize,
    /// How long none arrived ([`stall_bound`] of `slowest`).
    pub quiet: Duration,
    pub slowest: Duration,
}

impl Arrivals {
    /// Counting from `sent`, when the parties were sent; `slowest` is a
    /// step the server is already known to take (e.g. its latency on the
    /// control connection), or zero.
    pub fn new(sent: std::time::Instant, slowest: Duration) -> Self {
        Self {
            inside: 0,
            last: sent,
            slowest,
        }
    }

    /// How long no arrival may take now: [`stall_bound`] of the slowest
    /// step so far.
    pub fn bound(&self) -> Duration {
        stall_bound(self.slowest)
    }

    /// Takes a new reading of how many are inside.
    pub fn observe(&mut self, inside: usize) -> Arrival {
        match inside.cmp(&self.inside) {
            std::cmp::Ordering::Greater => {
                self.slowest = self.slowest.max(self.last.elapsed());
                self.inside = inside;
                self.last = std::time::Instant::now();
                Arrival::More
            }
            std::cmp::Ordering::Equal => Arrival::Same,
            std::cmp::Ordering::Less => Arrival::Fewer,
        }
    }

    /// The proof, once some of `wanted` are inside and none more arrived
    /// for the bound.
    pub fn stuck(&self, wanted: usize) -> Option<Stuck> {
        let quiet = self.bound();
        (self.inside > 0 && self.inside < wanted && self.last.elapsed() >= quiet).then_some(Stuck {
            inside: self.inside,
            quiet,
            slowest: self.slowest,
        })
    }
}

/// Waits for every call, as [`Tally::join`] does, unless `stall` proves
/// the group stalled first: then the calls still running are cancelled (the
/// join, dropped, drops them: `Call`'s Drop) and the proof is the outcome.
pub async fn join_unless_stalled<T>(
    calls: Vec<Call<T>>,
    stall: impl Future<Output = StallProof>,
) -> Result<Tally, StallProof> {
    tokio::select! {
        (tally, _) = Tally::join(calls) => Ok(tally),
        proof = stall => Err(proof),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_grows_with_the_slowest_answer_and_has_a_floor() {
        assert_eq!(stall_bound(Duration::from_millis(1)), STALL_FLOOR);
        assert_eq!(
            stall_bound(Duration::from_millis(200)),
            Duration::from_millis(200) * STALL_FACTOR
        );
    }

    // Real time (the floor is one second): each test waits out at most
    // two floors, and none asserts an upper bound on a wait.

    #[tokio::test]
    async fn a_group_whose_answers_all_came_never_stalls() {
        let group = Siblings::new();
        group.owe();
        group.owe();
        group.answered(Duration::from_millis(1));
        group.answered(Duration::from_millis(1));
        let stalled = tokio::time::timeout(STALL_FLOOR * 2, group.stalled()).await;
        assert!(stalled.is_err(), "nothing is owed: {stalled:?}");
    }

    #[tokio::test]
    async fn an_owed_answer_with_a_waiting_sibling_stalls_after_the_bound() {
        let group = Siblings::new();
        group.owe();
        group.owe();
        let started = Instant::now();
        group.answered(Duration::from_millis(1));
        let proof = group.stalled().await;
        assert_eq!((proof.owed, proof.waiting), (1, 1));
        assert_eq!(proof.quiet, STALL_FLOOR);
        assert!(started.elapsed() >= proof.quiet);
    }

    #[tokio::test]
    async fn a_lone_call_without_a_waiting_sibling_never_stalls() {
        let group = Siblings::new();
        group.owe();
        let stalled = tokio::time::timeout(STALL_FLOOR * 2, group.stalled()).await;
        assert!(stalled.is_err(), "nobody waits: {stalled:?}");
    }

    #[test]
    fn arrivals_that_keep_coming_or_are_all_in_are_not_stuck() {
        let long_ago = std::time::Instant::now() - STALL_FLOOR * 3;
        let mut arrivals = Arrivals::new(long_ago, Duration::ZERO);
        assert_eq!(arrivals.observe(0), Arrival::Same);
        assert!(arrivals.stuck(4).is_none(), "none arrived yet");
        assert_eq!(arrivals.observe(4), Arrival::More);
        assert!(arrivals.stuck(4).is_none(), "all are inside");
        assert_eq!(arrivals.observe(2), Arrival::Fewer);
    }

    #[test]
    fn some_inside_and_none_more_for_the_bound_is_stuck() {
        let sent = std::time::Instant::now() - Duration::from_millis(30);
        let mut arrivals = Arrivals::new(sent, Duration::ZERO);
        assert_eq!(arrivals.observe(1), Arrival::More);
        assert!(arrivals.stuck(4).is_none(), "the bound has not passed");
        // The arrival step the server took raised the bound above the floor
        // only if it was slower than floor / factor.
        let mut late = Arrivals {
            last: std::time::Instant::now() - STALL_FLOOR * 2,
            ..arrivals
        };
        let stuck = late.stuck(4).expect("stuck after twice the floor");
        assert_eq!((stuck.inside, stuck.quiet), (1, STALL_FLOOR));
        assert!(stuck.slowest >= Duration::from_millis(30));
        assert_eq!(late.observe(1), Arrival::Same);
        assert!(late.stuck(1).is_none(), "one of one is all of them");
    }
}
