//! The tonic reference server: TestService, ProbeService, Health and
//! ClientObserver served over HTTP/2 connections that this module accepts
//! itself, so that every request knows its connection (ProbeService's connection identity) and the defect
//! modes can act per connection.

mod client_observer;
mod config;
mod connection;
mod defects;
mod dispatch;
mod health_service;
mod probe_service;
mod test_service;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{
    DEFAULT_CONNECTION_WINDOW, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_STREAM_WINDOW, MAX_HOLD, ServerConfig,
};
pub use connection::ConnectionInfo;
pub use defects::{Defect, UnknownDefect};

use crate::sync::gauge::Gauges;
use crate::sync::outcome::OutcomeRecorder;
use crate::sync::rendezvous::Barriers;

/// The tonic version the reference server is built on (reported by Info).
pub const TONIC_VERSION: &str = "0.14";

/// State shared by every handler of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub gauges: Gauges,
    pub barriers: Barriers,
    pub outcomes: crate::sync::shim::Arc<OutcomeRecorder>,
    /// ClientObserver's ledger (ProbeService.Rendezvous records in it too).
    pub seen: Arc<client_observer::Seen>,
    /// The `shared-request-state` defect's one slot for "this request's" echo.
    pub leaked_echo: std::sync::Mutex<Option<http::HeaderValue>>,
    /// The `health-one-at-a-time` defect's one permit for health handlers.
    pub health_gate: Arc<tokio::sync::Semaphore>,
}

/// A server bound to its address, not yet serving.
#[derive(Debug)]
pub struct BoundServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl BoundServer {
    /// Binds the listening socket.
    pub async fn bind(config: ServerConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(config.bind).await.map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot listen on {}: {err}", config.bind),
            )
        })?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                gauges: Gauges::new(),
                barriers: Barriers::new(),
                outcomes: crate::sync::shim::Arc::new(OutcomeRecorder::new()),
                seen: Arc::new(client_observer::Seen::default()),
                leaked_echo: std::sync::Mutex::new(None),
                health_gate: Arc::new(tokio::sync::Semaphore::new(1)),
            }),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight RPCs finish (up to the configured grace period).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        connection::accept_loop(self.listener, self.shared, shutdown).await
    }
}

/// How a [`RunningServer`] is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopRequest {
    Running,
    /// Refuse new connections, let in-flight RPCs finish (up to the grace).
    Graceful,
    /// Drop everything now.
    Immediate,
}

/// A reference server running on a runtime (and thread) of its own, as the
/// embedded target uses it: the server's threads are never the client's.
/// Dropping it stops it at once; [`RunningServer::shutdown`] stops it
/// gracefully.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: watch::Sender<StopRequest>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// Starts the server on a new multi-threaded runtime with the configured
    /// worker threads, and returns once it is listening.
    pub fn start(config: ServerConfig) -> io::Result<Self> {
        let workers = config.effective_worker_threads();
        let (stop, requests) = watch::channel(StopRequest::Running);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<SocketAddr>>();
        // Everything happens on the server's own thread, so that this works
        // from inside another runtime (tests, the harness) too.
        let thread = std::thread::Builder::new()
            .name("reference-server".into())
            .spawn(move || -> io::Result<()> {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("reference-server-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(io::Error::new(err.kind(), err.to_string())));
                        return Err(err);
                    }
                };
                let bound = match runtime.block_on(BoundServer::bind(config)) {
                    Ok(bound) => bound,
                    Err(err) => {
                        let _ = ready_tx.send(Err(io::Error::new(err.kind(), err.to_string())));
                        return Err(err);
                    }
                };
                let _ = ready_tx.send(bound.local_addr());
                let mut graceful = requests.clone();
                let mut immediate = requests;
                let result = runtime.block_on(async move {
                    let serving = bound.serve(async move {
                        // A stop request, or the handle gone.
                        let _ = graceful.wait_for(|r| *r != StopRequest::Running).await;
                    });
                    tokio::select! {
                        result = serving => result,
                        _ = immediate.wait_for(|r| *r == StopRequest::Immediate) => Ok(()),
                    }
                });
                // Handlers still blocking a thread must not hold up the caller.
                runtime.shutdown_timeout(Duration::from_millis(200));
                result
            })?;
        let addr = ready_rx.recv().map_err(|_| {
            io::Error::other("the reference server thread ended before listening")
        })??;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`, the URI clients connect to.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully: no new connections, in-flight RPCs finish (up to
    /// the configured grace period). Waits without blocking the runtime.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let _ = self.stop.send(StopRequest::Graceful);
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .unwrap_or_else(|_| Err(io::Error::other("the reference server thread panicked")))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(StopRequest::Immediate);
        if let Some(thread) = self.thread.take() {
            // Bounded: the server's runtime shuts down within a moment.
            let _ = thread.join();
        }
    }
}
