//! `deadline-propagation`: a call's deadline (grpc-timeout) reaches its
//! handler and ends that call alone; a sibling without a deadline, started at
//! the same time on the same connection, runs on to its end.

mod portable;
mod probe;

use crate::drivers::prelude::*;

pub struct DeadlinePropagation;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The deadline of the call that must end (ProbeService variant).
    pub deadline_ms: u64,
    /// Upper bound of the held handler (far beyond the deadline).
    pub hold_ms: u64,
    /// How long the sibling sleeps (beyond the deadline).
    pub sibling_hold_ms: u64,
    /// How long the server has to record the cancellation.
    pub observe_wait_ms: u64,
    /// The deadline of the FullDuplexCall (TestService-only variant).
    pub portable_deadline_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            deadline_ms: 500,
            hold_ms: 10_000,
            sibling_hold_ms: 800,
            observe_wait_ms: 2_000,
            portable_deadline_ms: 300,
        }
    }
}

impl Driver for DeadlinePropagation {
    const NAME: &'static str = "deadline-propagation";
    const DOC: &'static str = include_str!("deadline.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        if ctx.target().has(Capability::Probe) {
            probe::with_probe(ctx, &params).await
        } else {
            portable::portable(ctx, &params).await
        }
    }
}

/// The verdict of either variant, `passed` summing up a pass.
fn verdict(checks: Checks, passed: &str) -> Finding {
    checks.finding("a deadline did not end its own call alone", passed)
}

/// The evidence line of a sibling that ended OK.
fn sibling_line(what: &str, after_deadline_call: bool) -> String {
    format!(
        "{what} ended OK{}",
        if after_deadline_call {
            ", after the deadline call had ended"
        } else {
            ""
        }
    )
}

/// A figure of 1 for true, 0 for false.
fn flag(value: bool) -> f64 {
    f64::from(u8::from(value))
}
