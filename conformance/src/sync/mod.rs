//! Concurrency primitives the reference server and the harness really use,
//! written against [`shim`] so that the loom models in
//! `conformance/tests/loom/` check the very same code (build with
//! `RUSTFLAGS="--cfg conformance_loom"`, see `scripts/loom.sh`);
//! `conformance/tests/sync_poll.rs` checks them poll by poll on std.
//!
//! * [`rendezvous`]: the barrier behind `ProbeService.Rendezvous`.
//! * [`gauge`]: the in-flight gauges (current and maximum) behind `ProbeService.Gauge`.
//! * [`outcome`]: the per-tag handler state recorder behind `ProbeService.Observe`.
//! * [`duplex`]: the bounded duplex stream halves the harness feeds gRPC
//!   request streams from: half-close, reset, several producers, and
//!   grpc-go's "no concurrent `SendMsg` on one stream" rule made a detected
//!   error. Its module docs give the stream state machine.

pub mod duplex;
pub mod gauge;
pub mod outcome;
pub mod rendezvous;
pub(crate) mod shim;
