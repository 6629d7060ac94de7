//! Client channels to a target: one HTTP/2 connection per channel, with the
//! connections counted on the client side (a counting connector), TLS when
//! the target asks for it, and the client-side defect modes. Every call goes
//! through [`Channel`], which behaves as gRPC's own clients do towards a
//! server's stream limit.

mod cancellable;
mod channel;
mod replay;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{ClientTlsConfig, Endpoint, Uri};

pub use cancellable::cancellable_bidi;
pub use channel::{Channel, is_refused};

use crate::defects::ClientDefect;

/// How the harness reaches a target.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `http://host:port` or `https://host:port`.
    pub uri: String,
    pub tls: Option<ClientTlsConfig>,
    pub client_defects: Vec<ClientDefect>,
}

/// Client-side HTTP/2 settings a scenario may choose.
#[derive(Debug, Clone, Default)]
pub struct ChannelOptions {
    pub initial_stream_window: Option<u32>,
    pub initial_connection_window: Option<u32>,
    pub timeout: Option<Duration>,
}

/// A channel plus the number of TCP connections it has opened and of the
/// streams the server refused on them.
#[derive(Clone)]
pub struct ClientChannel {
    channel: Channel,
    endpoint: Endpoint,
    connections: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    per_clone: bool,
}

impl std::fmt::Debug for ClientChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientChannel")
            .field("uri", self.endpoint.uri())
            .field("connections", &self.connections.load(Ordering::Relaxed))
            .finish()
    }
}

impl Dial {
    fn endpoint(&self, options: &ChannelOptions) -> Result<Endpoint, tonic::transport::Error> {
        let mut endpoint = Endpoint::from_shared(self.uri.clone())?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_adaptive_window(false);
        if let Some(window) = options.initial_stream_window {
            endpoint = endpoint.initial_stream_window_size(window);
        }
        if let Some(window) = options.initial_connection_window {
            endpoint = endpoint.initial_connection_window_size(window);
        }
        if let Some(timeout) = options.timeout {
            endpoint = endpoint.timeout(timeout);
        }
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        Ok(endpoint)
    }

    /// A new channel (its own connection, opened on first use).
    pub fn channel(
        &self,
        options: &ChannelOptions,
    ) -> Result<ClientChannel, tonic::transport::Error> {
        let endpoint = self.endpoint(options)?;
        let connections = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let channel = counted(&endpoint, &connections, &refused);
        Ok(ClientChannel {
            channel,
            endpoint,
            connections,
            refused,
            per_clone: self.client_defects.contains(&ClientDefect::ChannelPerClone),
        })
    }
}

/// A lazily connecting channel whose connector counts TCP connections.
fn counted(
    endpoint: &Endpoint,
    connections: &Arc<AtomicUsize>,
    refused: &Arc<AtomicUsize>,
) -> Channel {
    let connections = Arc::clone(connections);
    let connector = tower::service_fn(move |uri: Uri| {
        let connections = Arc::clone(&connections);
        async move {
            let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
            let port = uri.port_u16().unwrap_or(80);
            let stream = tokio::net::TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            connections.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    let shared = channel::Shared::new(Arc::clone(refused));
    Channel::new(
        endpoint.connect_with_connector_lazy(connector),
        Arc::new(shared),
    )
}

impl ClientChannel {
    /// A handle for one task: a clone of the shared channel (or, under the
    /// `client:channel-per-clone` defect, a new connection).
    pub fn handle(&self) -> Channel {
        if self.per_clone {
            counted(&self.endpoint, &self.connections, &self.refused)
        } else {
            self.channel.clone()
        }
    }

    /// TCP connections opened so far.
    pub fn connections_opened(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Streams the server refused (and the channel retried) so far.
    pub fn refused_streams(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    /// The counter behind [`Self::refused_streams`], to read after the
    /// channel is gone.
    pub(crate) fn refused_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.refused)
    }
}
