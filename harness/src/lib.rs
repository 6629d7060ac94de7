//! The conformance suite's engine: scenario files become evidence-backed
//! verdicts and reports.
//!
//! * [`scenario`]: scenario files, loaded and validated.
//! * [`drivers`]: the code behind scenarios, one module per driver.
//! * [`target`]: the server under test (embedded, address, command).
//! * [`client`]: client channels (connection counting, TLS, client defects).
//! * [`client_target`]: client mode: a client library under test, driven
//!   through its adapter process.
//! * [`runner`]: budgets, isolation, repeats, streaming results.
//! * [`expectations`]: known failures per target.
//! * [`load`]: a bounded closed-loop load generator (sustained load, benchmarks).
//! * [`explore`]: generated concurrent schedules (proptest) with an oracle.
//! * [`report`]: JSON (source of truth), JUnit, Markdown, HTML, matrix.
//! * [`cli`]: the `grpc-conformance` command.

pub mod cli;
pub mod client;
pub mod client_target;
pub mod contract;
pub mod defects;
pub mod drivers;
pub mod expectations;
pub mod explore;
pub mod load;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod target;
pub mod timeline;
pub mod verdict;

use std::path::PathBuf;

/// The scenario catalog shipped with the suite: `./scenarios` when run from
/// the repository, else the one beside the harness crate.
pub fn default_scenarios_dir() -> PathBuf {
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}
