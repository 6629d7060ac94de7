//! The tonic reference server: TestService and ProbeService served over
//! HTTP/2 connections that this module accepts itself, so that every request
//! knows its connection (ProbeService's connection identity) and the defect
//! modes can act per connection.

mod config;
mod connection;
mod defects;
mod dispatch;
mod probe_service;
mod test_service;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_MESSAGE_BYTES, MAX_HOLD, ServerConfig};
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
    /// The `shared-request-state` defect's one slot for "this request's" echo.
    pub leaked_echo: std::sync::Mutex<Option<http::HeaderValue>>,
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
            io::Error::new(err.kind(), format!("cannot listen on {}: {err}", config.bind))
        })?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                gauges: Gauges::new(),
                barriers: Barriers::new(),
                outcomes: crate::sync::shim::Arc::new(OutcomeRecorder::new()),
                leaked_echo: std::sync::Mutex::new(None),
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

/// A reference server running on a runtime (and thread) of its own, as the
/// embedded target uses it: the server's threads are never the client's.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// Starts the server on a new multi-threaded runtime with the configured
    /// worker threads, and returns once it is listening.
    pub fn start(config: ServerConfig) -> io::Result<Self> {
        let workers = config.effective_worker_threads();
        let (stop, mut stopped) = watch::channel(false);
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
                let result = runtime.block_on(bound.serve(async move {
                    // Either a stop request or the handle being dropped.
                    let _ = stopped.wait_for(|stop| *stop).await;
                }));
                // Handlers still blocking a thread must not hold up the caller.
                runtime.shutdown_timeout(Duration::from_secs(1));
                result
            })?;
        let addr = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the reference server thread ended before listening"))??;
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

    /// Stops gracefully and waits for the server thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> io::Result<()> {
        let _ = self.stop.send(true);
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the reference server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
