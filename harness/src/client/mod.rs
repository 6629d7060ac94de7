//! Client channels to a target: one HTTP/2 connection per channel, with the
//! connections counted on the client side (a counting connector), TLS when
//! the target asks for it (done by the connector itself, see [`tls`]), and
//! the client-side defect modes, every connection closed when the
//! [`Closer`] its channel was made under is (see [`closing`]). Every call goes
//! through [`Channel`], which behaves as gRPC's own clients do towards a
//! server's stream limit.

mod cancellable;
mod channel;
mod closing;
mod replay;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Endpoint, Uri};

pub use cancellable::cancellable_bidi;
pub use channel::{Channel, is_refused};
/// How a refused stream is sent again, for every client of the harness.
pub(crate) use channel::{MAX_ATTEMPTS as MAX_REFUSED_ATTEMPTS, backoff as refused_backoff};
pub use closing::Closer;

pub use tls::{Tls, TlsOptions};

use crate::defects::ClientDefect;

/// How the harness reaches a target.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `http://host:port` or `https://host:port`.
    pub uri: String,
    /// The TLS client for an https:// target.
    pub tls: Option<Tls>,
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
    tls: Option<Tls>,
    connections: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    closer: Closer,
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
        Ok(endpoint)
    }

    /// A new channel (its own connection, opened on first use), closed
    /// only as its connections end on their own.
    pub fn channel(
        &self,
        options: &ChannelOptions,
    ) -> Result<ClientChannel, tonic::transport::Error> {
        self.channel_under(options, &Closer::default())
    }

    /// A new channel whose connections also close when `parent` closes
    /// (a scenario run's channels all end with the run).
    pub fn channel_under(
        &self,
        options: &ChannelOptions,
        parent: &Closer,
    ) -> Result<ClientChannel, tonic::transport::Error> {
        let endpoint = self.endpoint(options)?;
        let connections = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let closer = parent.child();
        let channel = counted(
            &endpoint,
            self.tls.as_ref(),
            &connections,
            &refused,
            &closer,
        );
        Ok(ClientChannel {
            channel,
            endpoint,
            tls: self.tls.clone(),
            connections,
            refused,
            closer,
            per_clone: self.client_defects.contains(&ClientDefect::ChannelPerClone),
        })
    }
}

/// A connection's byte stream, plaintext or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Opens the connections of one client channel: TCP (with `TCP_NODELAY`),
/// the TLS handshake for an https:// target, each connection counted and
/// closed with the channel's [`Closer`].
/// Cheap to clone; usable from any tokio runtime (the load generator
/// connects from its own).
#[derive(Clone)]
pub struct Connector {
    uri: Uri,
    tls: Option<Tls>,
    connections: Arc<AtomicUsize>,
    closer: Closer,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// The target's URI (`http://host:port` or `https://host:port`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// One new connection to the target, counted.
    pub async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        connect_counted(
            &self.uri,
            self.tls.as_ref(),
            &self.connections,
            &self.closer,
        )
        .await
    }
}

async fn connect_counted(
    uri: &Uri,
    tls: Option<&Tls>,
    connections: &AtomicUsize,
    closer: &Closer,
) -> std::io::Result<Box<dyn Io>> {
    let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
    let default_port = if tls.is_some() { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    connections.fetch_add(1, Ordering::SeqCst);
    Ok(match tls {
        Some(tls) => Box::new(closer.watch(tls.connect(stream).await?)),
        None => Box::new(closer.watch(stream)),
    })
}

/// A lazily connecting channel whose connector counts TCP connections,
/// does the TLS handshake for an https:// target and ties each connection
/// to `closer`.
fn counted(
    endpoint: &Endpoint,
    tls: Option<&Tls>,
    connections: &Arc<AtomicUsize>,
    refused: &Arc<AtomicUsize>,
    closer: &Closer,
) -> Channel {
    let connections = Arc::clone(connections);
    let tls = tls.cloned();
    let closer = closer.clone();
    let connector = tower::service_fn(move |uri: Uri| {
        let connections = Arc::clone(&connections);
        let tls = tls.clone();
        let closer = closer.clone();
        async move {
            let io = connect_counted(&uri, tls.as_ref(), &connections, &closer).await?;
            Ok::<_, std::io::Error>(TokioIo::new(io))
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
            counted(
                &self.endpoint,
                self.tls.as_ref(),
                &self.connections,
                &self.refused,
                &self.closer,
            )
        } else {
            self.channel.clone()
        }
    }

    /// What opens this channel's connections, for a client that speaks
    /// HTTP/2 itself on a connection of the channel (the load generator);
    /// its connections count as the channel's.
    pub fn connector(&self) -> Connector {
        Connector {
            uri: self.endpoint.uri().clone(),
            tls: self.tls.clone(),
            connections: Arc::clone(&self.connections),
            closer: self.closer.clone(),
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
