//! Concurrency primitives the reference server really uses, written against
//! [`shim`] so that the loom models in `conformance/tests/loom_*.rs` check the
//! very same code (build with `RUSTFLAGS="--cfg conformance_loom"`).
//!
//! * [`rendezvous`]: the barrier behind `ProbeService.Rendezvous`.
//! * [`gauge`]: the in-flight gauges (current and maximum) behind `ProbeService.Gauge`.
//! * [`outcome`]: the per-tag handler state recorder behind `ProbeService.Observe`.

pub mod gauge;
pub mod outcome;
pub mod rendezvous;
pub(crate) mod shim;
