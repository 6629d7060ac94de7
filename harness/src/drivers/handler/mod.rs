//! The handler drivers (scenarios/handler/).

pub(super) mod blocking_capacity;
pub(super) mod cancel_sibling;
mod cancellation;
mod common;
pub(super) mod deadline;
pub(super) mod echo_metadata;
pub(super) mod failing_sibling;
pub(super) mod graceful_shutdown;
pub(super) mod panic_sibling;
pub(super) mod slow_handler;
pub(super) mod stalled_reader;
