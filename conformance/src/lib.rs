//! The conformance suite's reference gRPC implementation.
//!
//! * [`proto`]: code generated from `proto/` (the interop TestService and the
//!   suite's ProbeService).
//! * [`server`]: the tonic reference server, its configuration and defect modes.
//! * [`sync`]: the concurrency primitives the server uses (rendezvous barrier,
//!   in-flight gauges, handler outcome recorder), model-checked with loom.

pub mod proto;
pub mod server;
pub mod sync;
