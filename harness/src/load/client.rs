//! The load's client: one HTTP/2 connection of a scenario's channel, driven
//! by a thread of its own running a single-threaded tokio runtime (as h2load
//! runs one connection on one thread). The connection task and every load
//! worker share that thread, so waking a worker is a push on a local queue,
//! never a hand-off between the two cores that the server under test needs.

use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::{mpsc, oneshot};

use super::wire::settle;
use super::{LoadOutcome, LoadSpec, closed_loop};
use crate::client::Connector;
use crate::timeline::Timeline;

/// How long connecting (TCP, TLS, HTTP/2 handshake, the settling call) may
/// take.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// HTTP/2 flow-control windows the load's connection advertises: large
/// enough that its small responses never wait for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// The HPACK table the load's connection offers the server for the headers
/// it sends back: room for every worker's echoed value (about 60 bytes
/// each) beside gRPC's own headers, so that the echo comes back as an index
/// instead of a new literal evicting another at every response.
const HEADER_TABLE: u32 = 64 << 10;

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
        let connected = tokio::time::timeout(CONNECT_LIMIT, connect(&connector, &target))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the load's connection to {target} was not ready within {CONNECT_LIMIT:?}"
                ))
            });
        let send = match connected {
            Ok(send) => send,
            Err(reason) => {
                let _ = ready.send(Err(reason));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        while let Some(job) = queue.recv().await {
            let outcome = closed_loop(&send, &target, &job.timeline, &job.spec).await;
            let _ = job.done.send(outcome);
        }
    });
}

/// One new connection of `connector`'s channel, handshaken and settled; its
/// connection task runs on the calling runtime. Also what `scale-streams`
/// holds its streams on.
pub(crate) async fn connect(
    connector: &Connector,
    target: &http::Uri,
) -> Result<SendRequest<Bytes>, String> {
    let io = connector
        .connect()
        .await
        .map_err(|err| format!("the load could not connect to {target}: {err}"))?;
    let (mut send, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .header_table_size(HEADER_TABLE)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|err| format!("the load's HTTP/2 handshake with {target} failed: {err}"))?;
    // Ends with the connection; its error shows in the RPCs it fails.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    settle(&mut send, target).await?;
    Ok(send)
}
