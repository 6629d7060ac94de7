//! Loom models of the suite's own concurrency primitives (`conformance::sync`),
//! one module per primitive, and negative controls that show the models can
//! fail.
//!
//! Run with `scripts/loom.sh` (release, `--cfg conformance_loom`). Each model
//! is small (at most 3 threads, 2 or 3 messages) and explored with a
//! preemption bound of 2; each prints how many interleavings loom ran.
#![cfg(conformance_loom)]

mod duplex;
mod gauge;
mod negative_controls;
mod outcome;
mod rendezvous;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Explores `model` with a preemption bound of 2, prints and returns the
/// number of interleavings run.
fn check<F>(name: &str, model: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&count);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    let n = count.load(Ordering::Relaxed);
    println!(
        "model {name}: {n} interleavings ({:.2} s)",
        start.elapsed().as_secs_f64()
    );
    n
}

/// Runs a model that must fail and returns its panic message, with the
/// default panic output silenced (the failure is the expected result).
fn check_expecting_failure<F>(name: &str, model: F) -> String
where
    F: Fn() + Sync + Send + 'static,
{
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&count);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    let start = Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            model();
        });
    }));
    std::panic::set_hook(hook);
    let n = count.load(Ordering::Relaxed);
    let Err(payload) = result else {
        panic!("model {name}: loom explored {n} interleavings and found no failure");
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    println!(
        "model {name}: failure found at interleaving {n} ({:.2} s): {message}",
        start.elapsed().as_secs_f64()
    );
    message
}
