//! The channel drivers (scenarios/channel/).

pub(super) mod bursts;
pub(super) mod clone_drop;
pub(super) mod duplex_rounds;
pub(super) mod mixed_kinds;
pub(super) mod one_connection;
pub(super) mod parallelism_factor;
pub(super) mod rendezvous;
pub(super) mod scale_streams;
pub(super) mod services_mix;
pub(super) mod shared_use;
pub(super) mod stream_limit;
pub(super) mod sustained_load;

mod duplex;
mod kinds;
mod workers;
