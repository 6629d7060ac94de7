//! Drivers: the Rust code behind scenarios, one module per driver. A scenario
//! file names a driver and gives its parameters; several files may share a
//! driver with different parameters.
//!
//! A driver gets a [`Ctx`] (the target, the scenario's budget, a timeline)
//! and returns a [`Finding`]: pass, or fail with a reason and the evidence.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

pub use support::*;

use crate::client::{ChannelOptions, ClientChannel};
use crate::target::TargetSession;
use crate::timeline::Timeline;
use crate::verdict::{Finding, ReasonKind, Verdict};

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
    /// Its parameters (`[params]` in the scenario file); unknown fields
    /// must be refused (`#[serde(deny_unknown_fields)]`).
    type Params: DeserializeOwned + Default + Send + Sync + 'static;

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

const fn spec<D: Driver>() -> DriverSpec {
    DriverSpec {
        name: D::NAME,
        doc: D::DOC,
        prepare: prepare::<D>,
    }
}

// Declared here, not by the registry macro: rustfmt formats only the
// modules it sees declared.
mod channel;
mod handler;
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
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn find(name: &str) -> Option<&'static DriverSpec> {
    DRIVERS.iter().find(|driver| driver.name == name)
}

pub fn names() -> Vec<&'static str> {
    DRIVERS.iter().map(|driver| driver.name).collect()
}

/// Everything a driver may use while it runs one scenario.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<CtxInner>,
}

struct CtxInner {
    target: Arc<TargetSession>,
    control: std::sync::OnceLock<ClientChannel>,
    /// Refused-stream counters of every channel this run made.
    refused: std::sync::Mutex<Vec<Arc<std::sync::atomic::AtomicUsize>>>,
    /// How the run adapted itself to the target (stream limits), for the
    /// evidence whatever the verdict.
    notes: std::sync::Mutex<Vec<String>>,
    scenario_id: String,
    run_tag: String,
    timeline: Timeline,
    deadline: Instant,
}

impl Ctx {
    pub(crate) fn new(
        target: Arc<TargetSession>,
        scenario_id: &str,
        attempt: u32,
        budget: Duration,
    ) -> Self {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() % 1_000_000_007);
        Self {
            inner: Arc::new(CtxInner {
                target,
                control: std::sync::OnceLock::new(),
                refused: std::sync::Mutex::new(Vec::new()),
                notes: std::sync::Mutex::new(Vec::new()),
                scenario_id: scenario_id.to_owned(),
                run_tag: format!("{scenario_id}#{attempt}-{nonce:x}"),
                timeline: Timeline::new(),
                deadline: Instant::now() + budget,
            }),
        }
    }

    pub fn target(&self) -> &TargetSession {
        &self.inner.target
    }

    pub fn scenario_id(&self) -> &str {
        &self.inner.scenario_id
    }

    /// A name unique to this run of this scenario (rendezvous groups, gauge
    /// scopes, handler tags), so that runs never see each other's state.
    pub fn unique(&self, name: &str) -> String {
        format!("{}/{name}", self.inner.run_tag)
    }

    pub fn timeline(&self) -> &Timeline {
        &self.inner.timeline
    }

    /// Time left in the scenario's budget.
    pub fn remaining(&self) -> Duration {
        self.inner
            .deadline
            .saturating_duration_since(Instant::now())
    }

    /// A new channel to the target (one connection, opened on first use).
    pub fn channel(&self) -> Result<ClientChannel, DriverError> {
        self.channel_with(&ChannelOptions::default())
    }

    /// The control channel: a connection of its own for observation calls
    /// (Observe, Gauge), so that what is observed never depends on the
    /// connection under test.
    pub fn control(&self) -> Result<crate::client::Channel, DriverError> {
        if let Some(control) = self.inner.control.get() {
            return Ok(control.handle());
        }
        let channel = self.channel()?;
        Ok(self.inner.control.get_or_init(|| channel).handle())
    }

    pub fn channel_with(&self, options: &ChannelOptions) -> Result<ClientChannel, DriverError> {
        let channel = self
            .target()
            .dial
            .channel(options)
            .map_err(|err| DriverError::harness(format!("cannot build a channel: {err}")))?;
        lock(&self.inner.refused).push(channel.refused_counter());
        Ok(channel)
    }

    /// The target's advertised SETTINGS_MAX_CONCURRENT_STREAMS, if any.
    pub fn stream_limit(&self) -> Option<usize> {
        self.target()
            .advertised_max_streams
            .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX))
    }

    /// How many streams a proof may hold open together on one connection:
    /// `wanted`, or fewer where the target advertises a lower
    /// SETTINGS_MAX_CONCURRENT_STREAMS, leaving `reserved` streams for the
    /// other calls the proof needs at the same time. Demanding more than a
    /// server advertises is not a conformance failure; the sizing is noted
    /// in the evidence.
    pub fn open_together(&self, wanted: usize, reserved: usize, what: &str) -> usize {
        let Some(limit) = self.stream_limit() else {
            return wanted;
        };
        if wanted.saturating_add(reserved) <= limit {
            return wanted;
        }
        let fitted = limit.saturating_sub(reserved).max(1);
        self.note(format!(
            "{what}: sized down from {wanted} to {fitted}: the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit}{}",
            if reserved > 0 {
                format!(" and {reserved} other stream(s) must be open beside them")
            } else {
                String::new()
            }
        ));
        fitted
    }

    /// Records how the run adapted itself to the target.
    pub fn note(&self, line: impl Into<String>) {
        lock(&self.inner.notes).push(line.into());
    }

    /// The notes recorded so far, and the streams the target refused on
    /// this run's channels (each retried, as gRPC clients do).
    pub(crate) fn adaptations(&self) -> (Vec<String>, usize) {
        let refused = lock(&self.inner.refused)
            .iter()
            .map(|counter| counter.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        (lock(&self.inner.notes).clone(), refused)
    }
}
