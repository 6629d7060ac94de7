//! Client-mode drivers: each gives the run's client adapter one
//! scenario-level instruction and judges the client library by what the
//! reference server saw (ClientObserver's ledger), the adapter's report
//! checked against it.

pub(crate) mod common;
pub mod exchange;
pub mod gather;
pub mod stubs;
