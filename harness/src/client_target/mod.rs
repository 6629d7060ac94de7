//! Client mode: a client library under test. The harness runs its reference
//! server as the observer and a client adapter process
//! ([`adapter::Adapter`]) that carries out scenario-level instructions over
//! the versioned protocol of `proto/conformance/v1/client.proto`
//! ([`protocol`]); [`reference`] is the suite's own adapter, on tonic.

pub mod adapter;
mod launch;
pub mod protocol;
pub mod reference;

pub use adapter::{Adapter, AdapterError};

use std::sync::Arc;

/// The client side of a run: its adapter, and whether the client is what
/// the run tests (`--client-cmd`: server scenarios are skipped) or only
/// runs beside the server under test (the embedded run's reference adapter).
#[derive(Debug, Clone)]
pub struct ClientUnderTest {
    pub adapter: Arc<Adapter>,
    pub only_clients: bool,
}

/// The command that runs the reference adapter from this very binary.
pub fn reference_command(
    exe: &std::path::Path,
    defect: Option<crate::defects::AdapterDefect>,
) -> String {
    let mut command = format!("'{}' client-adapter", exe.display());
    if let Some(defect) = defect {
        command.push_str(&format!(" --defect {}", defect.name()));
    }
    command
}
