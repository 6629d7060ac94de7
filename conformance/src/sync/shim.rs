//! Swaps std's synchronisation primitives for loom's under the project's own
//! `conformance_loom` cfg. A global `--cfg loom` would also switch tokio's
//! internals to loom, which tokio's maintainers advise against.

#[cfg(not(conformance_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(conformance_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a previous holder panicked: every
/// critical section in this module leaves the state consistent before any
/// call that could panic, so a poisoned lock carries no broken invariant.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // std and loom both return a `LockResult` here.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
