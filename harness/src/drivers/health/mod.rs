//! The health drivers: scenarios that need only grpc.health.v1.Health, so
//! that a production server without TestService can be tested (health mode).

pub(super) mod beyond_limit;
pub(super) mod watch_held_open;

mod watchers;
