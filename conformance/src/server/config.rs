//! Configuration of the reference server.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::defects::Defect;

/// Default limit on concurrent streams per connection advertised to clients.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 1024;
/// Default HTTP/2 stream window the server advertises (receive side).
pub const DEFAULT_STREAM_WINDOW: u32 = 256 * 1024;
/// Default HTTP/2 connection window: far larger than a stream's, so that one
/// stream whose handler stops reading cannot use up the whole connection.
pub const DEFAULT_CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;
/// Default limit on one message, in either direction.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Longest hold a ProbeService call may ask for.
pub const MAX_HOLD: Duration = Duration::from_secs(120);

/// How the reference server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Loopback unless told otherwise.
    pub bind: SocketAddr,
    /// Enables ProbeService's dangerous holds (block a thread, spin, panic).
    pub enable_unsafe_probes: bool,
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2 initial stream window.
    pub initial_stream_window: u32,
    /// HTTP/2 initial connection window.
    pub initial_connection_window: u32,
    /// Largest message accepted or sent.
    pub max_message_bytes: usize,
    /// Runtime worker threads when the server runs on a runtime of its own
    /// (None: one per core).
    pub worker_threads: Option<usize>,
    /// How long a graceful stop waits for in-flight RPCs.
    pub shutdown_grace: Duration,
    /// Deliberate faults (for the suite's self-tests).
    pub defects: BTreeSet<Defect>,
    /// Serves grpc.health.v1.Health alone, as a production server without
    /// TestService does (the harness's health mode is tested against it).
    pub health_only: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            enable_unsafe_probes: false,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            initial_stream_window: DEFAULT_STREAM_WINDOW,
            initial_connection_window: DEFAULT_CONNECTION_WINDOW,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            worker_threads: None,
            shutdown_grace: Duration::from_secs(10),
            defects: BTreeSet::new(),
            health_only: false,
        }
    }
}

impl ServerConfig {
    pub fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }

    /// The worker threads the server's own runtime gets, defects included.
    pub fn effective_worker_threads(&self) -> usize {
        if self.has(Defect::SingleWorker) {
            return 1;
        }
        self.worker_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }

    /// The (stream, connection) windows to advertise, defects included.
    pub fn effective_windows(&self) -> (u32, u32) {
        if self.has(Defect::TinyConnectionWindow) {
            return (self.initial_stream_window, self.initial_stream_window);
        }
        (self.initial_stream_window, self.initial_connection_window)
    }
}
