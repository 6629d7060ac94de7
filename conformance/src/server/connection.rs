//! Accepting connections and serving HTTP/2 on each, with the per-connection
//! state that handlers and defect modes need.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use super::Shared;
use super::defects::Defect;
use super::dispatch::Dispatch;

/// What a handler knows of the connection its RPC arrived on. Inserted into
/// every request's extensions.
#[derive(Debug)]
pub struct ConnectionInfo {
    /// Order of acceptance, from 1.
    pub serial: u64,
    /// The client's address: the connection identity ProbeService reports.
    pub peer: SocketAddr,
    /// The `serialize-per-connection` defect's one permit.
    pub(crate) one_at_a_time: Arc<Semaphore>,
    /// Notified to tear the connection down at once (`panic-kills-connection`).
    pub(crate) kill: Notify,
    /// Requests inside the dispatcher now (`refuse-below-limit`).
    pub(crate) in_flight: std::sync::atomic::AtomicU32,
}

impl ConnectionInfo {
    /// The connection identity string reported by ProbeService.
    pub fn connection_id(&self) -> String {
        self.peer.to_string()
    }
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let routes = super::dispatch::routes(&shared);
    let graceful = GracefulShutdown::new();
    let serials = AtomicU64::new(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Running out of file descriptors and the like: keep
                    // serving the connections we have, retry shortly.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let info = Arc::new(ConnectionInfo {
            serial: serials.fetch_add(1, Ordering::Relaxed),
            peer,
            one_at_a_time: Arc::new(Semaphore::new(1)),
            kill: Notify::new(),
            in_flight: std::sync::atomic::AtomicU32::new(0),
        });
        let service = TowerToHyperService::new(Dispatch::new(
            routes.clone(),
            Arc::clone(&shared),
            Arc::clone(&info),
        ));
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        let (stream_window, connection_window) = shared.config.effective_windows();
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(shared.config.max_concurrent_streams)
            .initial_stream_window_size(stream_window)
            .initial_connection_window_size(connection_window)
            .max_send_buf_size(1024 * 1024);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(peer = %info.peer, "connection ended: {err}");
                    }
                }
                () = info.kill.notified() => {
                    tracing::debug!(peer = %info.peer, "connection torn down by a defect mode");
                }
            }
        });
    }
    drop(listener);
    if shared.config.has(Defect::AbortOnShutdown) {
        return Ok(());
    }
    if tokio::time::timeout(shared.config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "graceful shutdown: RPCs still in flight after {:?}",
            shared.config.shutdown_grace
        );
    }
    Ok(())
}
