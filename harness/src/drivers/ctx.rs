//! [`Ctx`]: what a driver may use while it runs one scenario (the target,
//! channels to it, the budget, the timeline, notes on how the run adapted).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::DriverError;
use crate::client::{ChannelOptions, ClientChannel, Closer};
use crate::target::TargetSession;
use crate::timeline::Timeline;

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything a driver may use while it runs one scenario.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<CtxInner>,
}

struct CtxInner {
    target: Arc<TargetSession>,
    control: std::sync::OnceLock<ClientChannel>,
    /// Closes every connection of the channels this run made.
    connections: Closer,
    /// Refused-stream counters of every channel this run made.
    refused: std::sync::Mutex<Vec<Arc<std::sync::atomic::AtomicUsize>>>,
    /// How the run adapted itself to the target (stream limits), for the
    /// evidence whatever the verdict.
    notes: std::sync::Mutex<Vec<String>>,
    scenario_id: String,
    run_tag: String,
    timeline: Timeline,
    budget: Duration,
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
                connections: Closer::default(),
                refused: std::sync::Mutex::new(Vec::new()),
                notes: std::sync::Mutex::new(Vec::new()),
                scenario_id: scenario_id.to_owned(),
                run_tag: format!("{scenario_id}#{attempt}-{nonce:x}"),
                timeline: Timeline::new(),
                budget,
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

    /// The scenario's whole time budget.
    pub fn budget(&self) -> Duration {
        self.inner.budget
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
            .channel_under(options, &self.inner.connections)
            .map_err(|err| DriverError::harness(format!("cannot build a channel: {err}")))?;
        lock(&self.inner.refused).push(channel.refused_counter());
        Ok(channel)
    }

    /// Closes every connection this run's channels opened, and any they
    /// would open later: the run has ended, and an RPC it left open (one
    /// blocked behind the server's flow control cannot even be reset) must
    /// not hold a handler of the server into the next scenario.
    pub(crate) fn close_connections(&self) {
        self.inner.connections.close();
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
