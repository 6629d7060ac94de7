//! What a driver file imports: `use crate::drivers::prelude::*;` brings the
//! driver trait and its context, spawning bounded RPCs, tallies and checks,
//! the request shapes, the probe's observations and the types they use.

pub use std::sync::Arc;
pub use std::time::{Duration, Instant};

pub use conformance::proto::probe::{HandlerState, HoldMode};
pub use serde::{Deserialize, Serialize};

pub use super::call::{
    Call, FirstMessage, RpcError, Stalled, brief, call_failed, connections, is_transport_failure,
    join_all, rpc_within, within,
};
pub use super::probe::{
    Admission, Running, admission_stalled, await_running, observe, observe_latency, quick_rpc,
    read_gauge, unanswered_while_held, wait_gauge, wait_running,
};
pub use super::requests::{
    MAX_MESSAGE, health_client, hold_request, output_request, payload, probe_client, test_client,
    unary_request,
};
pub use super::stall::{
    STALL_FACTOR, STALL_FLOOR, Siblings, StallProof, join_unless_stalled, stall_bound,
};
pub use super::streams::{StreamDone, spawn_output_stream, wait_signals};
pub use super::tally::{Checks, Tally};
pub use super::{Ctx, Driver, DriverError, DriverResult};
pub use crate::client::Channel;
pub use crate::scenario::Capability;
pub use crate::verdict::Finding;
