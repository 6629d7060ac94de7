//! Drivers: the Rust code behind scenarios, one module per driver. A scenario
//! file names a driver and gives its parameters; several files may share a
//! driver with different parameters.
//!
//! A driver gets a [`Ctx`] (the target, the scenario's budget, a timeline)
//! and returns a [`Finding`]: pass, or fail with a reason and the evidence.

mod call;
mod ctx;
pub mod prelude;
mod probe;
mod requests;
mod stall;
mod streams;
mod tally;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

pub use call::*;
pub use ctx::Ctx;
pub use probe::*;
pub use requests::*;
pub use stall::*;
pub use streams::*;
pub use tally::*;

use crate::verdict::{Finding, ReasonKind, Verdict};

/// What a scenario checks: a server or a client library.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    #[default]
    Server,
    Client,
}

impl Subject {
    pub fn is_server(&self) -> bool {
        *self == Subject::Server
    }
}

/// What a driver could not do: the run reaches no verdict on the guarantee.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    pub kind: ReasonKind,
    pub message: String,
}

impl DriverError {
    pub fn target(message: impl Into<String>) -> Self {
        Self {
            kind: ReasonKind::Target,
            message: message.into(),
        }
    }

    pub fn harness(message: impl Into<String>) -> Self {
        Self {
            kind: ReasonKind::Harness,
            message: message.into(),
        }
    }
}

impl From<DriverError> for Finding {
    fn from(err: DriverError) -> Self {
        Finding::with(Verdict::Error, err.kind, err.message)
    }
}

pub type DriverResult = Result<Finding, DriverError>;

/// A scenario's parameters bound to its driver, ready to run.
pub type PreparedRun = Arc<dyn Fn(Ctx) -> BoxFuture<'static, DriverResult> + Send + Sync>;

/// A driver: its parameters, how it works, what it records.
pub trait Driver: 'static {
    /// The name scenario files use.
    const NAME: &'static str;
    /// How the driver checks the guarantee and the evidence it records
    /// (shown by `explain`): Markdown with a `## Method` and an
    /// `## Evidence` section, kept in a file beside the driver.
    const DOC: &'static str;
    /// What the driver checks: a server (through the harness's own client),
    /// or a client library (through its adapter, the reference server
    /// observing).
    const SUBJECT: Subject = Subject::Server;
    /// Its parameters (`[params]` in the scenario file); unknown fields
    /// must be refused (`#[serde(deny_unknown_fields)]`).
    type Params: DeserializeOwned + serde::Serialize + Default + Send + Sync + 'static;

    fn run(
        ctx: Ctx,
        params: Arc<Self::Params>,
    ) -> impl Future<Output = DriverResult> + Send + 'static;
}

/// A registered driver.
pub struct DriverSpec {
    pub name: &'static str,
    /// [`Driver::DOC`].
    pub doc: &'static str,
    /// [`Driver::SUBJECT`].
    pub subject: Subject,
    /// The parameters a scenario file that sets none gets.
    pub defaults: fn() -> toml::Table,
    pub(crate) prepare: fn(&str) -> Result<PreparedRun, toml::de::Error>,
}

impl DriverSpec {
    /// The `## Method` section of the driver's documentation.
    pub fn method(&self) -> &'static str {
        section(self.doc, "Method")
    }

    /// The `## Evidence` section of the driver's documentation.
    pub fn evidence(&self) -> &'static str {
        section(self.doc, "Evidence")
    }
}

/// The text under `## {name}` up to the next heading, trimmed.
fn section(doc: &'static str, name: &str) -> &'static str {
    let heading = format!("## {name}\n");
    let Some(start) = doc.find(&heading) else {
        return "";
    };
    let body = &doc[start + heading.len()..];
    body[..body.find("\n## ").unwrap_or(body.len())].trim()
}

impl std::fmt::Debug for DriverSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn prepare<D: Driver>(text: &str) -> Result<PreparedRun, toml::de::Error> {
    let file = crate::scenario::parse_with::<D::Params>(text)?;
    let params = Arc::new(file.params);
    Ok(Arc::new(move |ctx| {
        Box::pin(D::run(ctx, Arc::clone(&params))) as BoxFuture<'static, DriverResult>
    }))
}

fn defaults<D: Driver>() -> toml::Table {
    // Params are plain tables of numbers, strings and lists; one that does
    // not serialise is a driver bug caught by the catalog's tests.
    toml::Table::try_from(D::Params::default()).unwrap_or_default()
}

const fn spec<D: Driver>() -> DriverSpec {
    DriverSpec {
        name: D::NAME,
        doc: D::DOC,
        subject: D::SUBJECT,
        defaults: defaults::<D>,
        prepare: prepare::<D>,
    }
}

// Declared here, not by the registry macro: rustfmt formats only the
// modules it sees declared.
mod channel;
mod client;
mod handler;
mod health;
mod stream;

macro_rules! registry {
    ($($path:path),* $(,)?) => {
        /// Every driver, by name.
        pub static DRIVERS: &[DriverSpec] = &[$(spec::<$path>()),*];
    };
}

registry! {
    // channel
    channel::rendezvous::Rendezvous,
    channel::shared_use::SharedUse,
    channel::duplex_rounds::DuplexRounds,
    channel::parallelism_factor::ParallelismFactor,
    channel::one_connection::OneConnection,
    channel::services_mix::ServicesMix,
    channel::mixed_kinds::MixedKinds,
    channel::stream_limit::StreamLimit,
    channel::clone_drop::CloneDrop,
    channel::bursts::Bursts,
    channel::scale_streams::ScaleStreams,
    channel::sustained_load::SustainedLoad,
    // stream
    stream::duplex_sequence::DuplexSequence,
    stream::duplex_large::DuplexLarge,
    stream::half_close::HalfClose,
    stream::half_duplex::HalfDuplex,
    stream::call_order::CallOrder,
    stream::producers::Producers,
    stream::cancel_half::CancelHalf,
    // handler
    handler::slow_handler::SlowHandler,
    handler::blocking_capacity::BlockingCapacity,
    handler::failing_sibling::FailingSibling,
    handler::panic_sibling::PanicSibling,
    handler::cancel_sibling::CancelSibling,
    handler::deadline::DeadlinePropagation,
    handler::stalled_reader::StalledReader,
    handler::echo_metadata::EchoMetadata,
    handler::graceful_shutdown::GracefulShutdown,
    // health (health mode: grpc.health.v1.Health only)
    health::watch_held_open::WatchHeldOpen,
    health::beyond_limit::BeyondLimit,
    // client mode
    client::gather::Gather,
    client::stubs::Stubs,
    client::exchange::ClientExchange,
}

pub fn find(name: &str) -> Option<&'static DriverSpec> {
    DRIVERS.iter().find(|driver| driver.name == name)
}

pub fn names() -> Vec<&'static str> {
    DRIVERS.iter().map(|driver| driver.name).collect()
}
