//! Integration tests of the harness and its CLI: one test binary (one link
//! step on a 2-core machine), one module per feature.

mod cli;
mod client_mode;
mod contract;
mod explore;
mod fail_fast;
mod health;
mod interrupt;
mod load_path;
mod not_grpc;
mod outputs;
mod refused_streams;
mod scenario_files;
mod server_cmd;
mod site;
mod support;
mod tls;
