//! The conformance suite's reference gRPC implementation.
//!
//! * [`proto`]: code generated from `proto/` (the interop TestService and the
//!   suite's ProbeService).
//! * [`codec`]: the protobuf codec of every generated client and server
//!   (prost's, with small first buffers).
//! * [`server`]: the tonic reference server, its configuration and defect modes.
//! * [`sync`]: the concurrency primitives the server uses (rendezvous barrier,
//!   in-flight gauges, handler outcome recorder), model-checked with loom.

pub mod codec;
pub mod proto;
pub mod server;
pub mod sync;
