//! The load's client: one HTTP/2 connection of a scenario's channel, driven
//! by a thread of its own running a single-threaded tokio runtime (as h2load
//! runs one connection on one thread). The connection and every worker of a
//! load are one event loop on that thread: an RPC's answer and the request
//! that follows it cost no wake-up and no hand-off between the two cores
//! that the server under test needs.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::http2::{Config, Connection};
use super::{LoadOutcome, LoadSpec, closed_loop};
use crate::client::Connector;
use crate::timeline::Timeline;

/// How long connecting (TCP, TLS, the HTTP/2 prefaces) may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// What the load's connection advertises: flow-control windows large
/// enough that its small responses never wait for a WINDOW_UPDATE, and a
/// header table for the headers the server sends back with room for every
/// worker's echoed value (about 60 bytes each) beside gRPC's own headers,
/// so that the echo comes back as an index instead of a new literal
/// evicting another at every response.
const CONFIG: Config = Config {
    stream_window: 1 << 20,
    connection_window: 16 << 20,
    header_table: 64 << 10,
};

struct Job {
    spec: LoadSpec,
    timeline: Timeline,
    done: oneshot::Sender<LoadOutcome>,
}
/// A connected load client. Loads run one at a time, each on the same
/// connection; dropping the client ends its thread and closes the
/// connection.
#[derive(Debug)]
pub struct LoadClient {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("spec", &self.spec).finish()
    }
}

impl LoadClient {
    /// Opens one connection with `connector` (counted as its channel's) on
    /// the load's own thread, and settles it.
    pub async fn connect(connector: Connector) -> Result<Self, String> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let (ready, connected) = oneshot::channel();
        std::thread::Builder::new()
            .name("load".to_owned())
            .spawn(move || serve_jobs(connector, queue, ready))
            .map_err(|err| format!("the load's thread could not start: {err}"))?;
        match connected.await {
            Ok(Ok(())) => Ok(Self { jobs }),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err("the load's thread ended before it connected".to_owned()),
        }
    }

    /// Runs one load on the connection, recording its RPCs on `timeline`.
    pub async fn run(&self, timeline: &Timeline, spec: &LoadSpec) -> LoadOutcome {
        let (done, outcome) = oneshot::channel();
        let job = Job {
            spec: spec.clone(),
            timeline: timeline.clone(),
            done,
        };
        let lost = || LoadOutcome::failure("the load's thread ended before the load did");
        if self.jobs.send(job).is_err() {
            return lost();
        }
        outcome.await.unwrap_or_else(|_| lost())
    }
}

/// The load thread: connects, says so on `ready`, then runs each job in turn
/// until the client is dropped.
fn serve_jobs(
    connector: Connector,
    mut queue: mpsc::UnboundedReceiver<Job>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(format!("the load's runtime could not start: {err}")));
            return;
        }
    };
    runtime.block_on(async move {
        let target = connector.uri().clone();
        let connected = tokio::time::timeout(CONNECT_LIMIT, connect(&connector))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the load's connection to {target} was not ready within {CONNECT_LIMIT:?}"
                ))
            });
        let mut connection = match connected {
            Ok(connection) => connection,
            Err(reason) => {
                let _ = ready.send(Err(reason));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        loop {
            // Between loads the connection is still served (PINGs answered,
            // SETTINGS acknowledged); a failure shows in the next load.
            let job = if connection.closed().is_some() {
                queue.recv().await
            } else {
                tokio::select! {
                    job = queue.recv() => job,
                    _ = std::future::poll_fn(|cx| connection.poll_event(cx)) => continue,
                }
            };
            let Some(job) = job else {
                break;
            };
            let outcome = match connection.closed() {
                Some(reason) => {
                    LoadOutcome::failure(format!("the load's connection failed: {reason}"))
                }
                None => closed_loop(&mut connection, &target, &job.timeline, &job.spec).await,
            };
            let _ = job.done.send(outcome);
        }
    });
}

/// One new connection of `connector`'s channel, its prefaces exchanged.
async fn connect(connector: &Connector) -> Result<Connection, String> {
    let target = connector.uri();
    let io = connector
        .connect()
        .await
        .map_err(|err| format!("the load could not connect to {target}: {err}"))?;
    Connection::handshake(io, CONFIG)
        .await
        .map_err(|err| format!("the load's HTTP/2 handshake with {target} failed: {err}"))
}
