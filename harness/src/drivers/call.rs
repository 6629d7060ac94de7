//! One RPC as drivers run it: in a task of its own, bounded in time, drawn
//! on the scenario's timeline; how it ended when it did not answer well.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::timeline::Timeline;

use super::Ctx;

/// A wait that did not finish in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: no answer within {} ms", .after.as_millis())]
pub struct Stalled {
    pub what: String,
    pub after: Duration,
}

/// Runs `future` for at most `limit`; a stall names what was awaited.
pub async fn within<T>(
    limit: Duration,
    what: impl Into<String>,
    future: impl Future<Output = T>,
) -> Result<T, Stalled> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| Stalled {
            what: what.into(),
            after: limit,
        })
}

/// [`within`] for a call that answers with a status: one error either way.
pub async fn rpc_within<T, E: Into<RpcError>>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, RpcError> {
    within(limit, what, call).await?.map_err(Into::into)
}

/// The finding for a call named `name` that did not answer: it failed (its
/// status or wrong answer), or it stalled (the stall names what was
/// awaited); a task that failed is the harness's error.
pub fn call_failed(name: &str, err: RpcError) -> super::DriverResult {
    match err {
        RpcError::Task(reason) => Err(super::DriverError::harness(format!(
            "{name}: task failed: {reason}"
        ))),
        RpcError::Stalled(stalled) => Ok(crate::verdict::Finding::fail(stalled.to_string())),
        err => Ok(crate::verdict::Finding::fail(format!(
            "{name} failed: {err}"
        ))),
    }
}

/// One line describing a gRPC status.
pub fn brief(status: &tonic::Status) -> String {
    let message = status.message();
    if message.is_empty() {
        format!("{:?}", status.code())
    } else {
        format!(
            "{:?} \"{}\"",
            status.code(),
            message.chars().take(200).collect::<String>()
        )
    }
}

/// True when a status comes from a broken transport rather than from the
/// server's handler: UNAVAILABLE, or any status the client library made up
/// from an underlying error (connection reset, stream reset, I/O error).
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable || std::error::Error::source(status).is_some()
}

/// How an RPC ended when it did not answer as asked.
#[derive(Debug)]
pub enum RpcError {
    /// The target answered with a status (or the transport failed).
    Status(tonic::Status),
    /// No answer within the limit.
    Stalled(Stalled),
    /// The target answered, but not what was asked (another request's
    /// reply, a corrupted payload, a stream that ended early).
    Wrong(String),
    /// The task running the RPC failed (a harness problem).
    Task(String),
}

impl RpcError {
    /// An answer that is not what was asked.
    pub fn wrong(what: impl Into<String>) -> Self {
        RpcError::Wrong(what.into())
    }

    /// The status the RPC ended with, if it ended with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            RpcError::Status(status) => Some(status),
            _ => None,
        }
    }

    /// True when the RPC ended with one of `codes`.
    pub fn is_code(&self, codes: &[tonic::Code]) -> bool {
        self.status()
            .is_some_and(|status| codes.contains(&status.code()))
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Status(status) => f.write_str(&brief(status)),
            RpcError::Stalled(stalled) => stalled.fmt(f),
            RpcError::Wrong(what) => f.write_str(what),
            RpcError::Task(reason) => write!(f, "task failed: {reason}"),
        }
    }
}

impl From<tonic::Status> for RpcError {
    fn from(status: tonic::Status) -> Self {
        RpcError::Status(status)
    }
}

impl From<Stalled> for RpcError {
    fn from(stalled: Stalled) -> Self {
        RpcError::Stalled(stalled)
    }
}

/// Lets a call running in a task mark when its first response arrived.
#[derive(Clone)]
pub struct FirstMessage {
    timeline: Timeline,
    at: Arc<OnceLock<u64>>,
}

impl FirstMessage {
    /// Marks the first response (later marks are ignored).
    pub fn mark(&self) {
        let _ = self
            .at
            .set(self.timeline.offset_us(std::time::Instant::now()));
    }
}

/// An RPC running in a task of its own (see [`Ctx::spawn`]). Dropping it
/// cancels the RPC: a driver that returns early (its verdict settled) leaves
/// none of its calls running into the next scenario, where a serialising
/// server would still be working through them.
pub struct Call<T> {
    task: tokio::task::JoinHandle<Result<T, RpcError>>,
    label: String,
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        // A no-op for a task that has ended (or was joined).
        self.task.abort();
    }
}

impl<T> Call<T> {
    /// The label it was spawned with (its timeline span's).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Waits for the RPC's outcome.
    pub async fn join(mut self) -> Result<T, RpcError> {
        (&mut self.task)
            .await
            .unwrap_or_else(|join| Err(RpcError::Task(join.to_string())))
    }

    /// Cancels the RPC: its task is dropped, and with it the call (the
    /// client resets the stream).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// A handle that cancels the RPC (as [`Call::abort`]) after the call
    /// itself was handed to [`Call::join`].
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.task.abort_handle()
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// The evidence line on the TCP connections a channel opened.
pub fn connections(channel: &crate::client::ClientChannel) -> String {
    format!(
        "client opened {} TCP connection(s)",
        channel.connections_opened()
    )
}

/// Waits for every call, in order.
pub async fn join_all<T>(calls: Vec<Call<T>>) -> Vec<Result<T, RpcError>> {
    let mut outcomes = Vec::with_capacity(calls.len());
    for call in calls {
        outcomes.push(call.join().await);
    }
    outcomes
}

impl Ctx {
    /// The limit on one RPC or one wait that the scenario does not size
    /// itself: a quarter of the scenario's budget, so that a stalled call
    /// leaves time for the verdict and its evidence.
    pub fn rpc_limit(&self) -> Duration {
        (self.budget() / 4).min(self.remaining())
    }

    /// Runs `call` in its own task, bounded by [`Ctx::rpc_limit`] and drawn
    /// on the timeline as `label`.
    pub fn spawn<T, E, F>(&self, label: impl Into<String>, call: F) -> Call<T>
    where
        T: Send + 'static,
        E: Into<RpcError>,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.spawn_within(label, self.rpc_limit(), call)
    }

    /// [`Ctx::spawn`] with a limit of the scenario's choosing.
    pub fn spawn_within<T, E, F>(
        &self,
        label: impl Into<String>,
        limit: Duration,
        call: F,
    ) -> Call<T>
    where
        T: Send + 'static,
        E: Into<RpcError>,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.spawn_marking(label, limit, |_| call)
    }

    /// [`Ctx::spawn_within`] for a call that marks its first response on
    /// the timeline through the [`FirstMessage`] it is given.
    pub fn spawn_marking<T, E, F>(
        &self,
        label: impl Into<String>,
        limit: Duration,
        call: impl FnOnce(FirstMessage) -> F,
    ) -> Call<T>
    where
        T: Send + 'static,
        E: Into<RpcError>,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let label = label.into();
        let mut span = self.timeline().start(label.clone());
        let what = label.clone();
        let first = FirstMessage {
            timeline: self.timeline().clone(),
            at: Arc::new(OnceLock::new()),
        };
        // Boxed: moved into `within`, and from there into a timeout, an
        // inline future is laid out once per level; thousands of these
        // tasks are alive at once (`scale-streams`), so each holds it once.
        let future = Box::pin(call(first.clone()));
        let task = tokio::spawn(async move {
            let outcome = match within(limit, what, future).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(err)) => Err(err.into()),
                Err(stalled) => Err(RpcError::Stalled(stalled)),
            };
            if let Some(&at) = first.at.get() {
                span.first_message_at(at);
            }
            span.end(outcome.is_ok());
            outcome
        });
        Call { task, label }
    }
}
