//! Targets: the server a run is pointed at, and what the harness learned of
//! it before running anything (capabilities, advertised limits).
//!
//! * embedded: the reference server in-process on a loopback port (default);
//! * address: `http(s)://host:port`;
//! * command: a server the harness starts itself (`{port}` placeholder),
//!   watches, and stops.

mod capacity;
mod discover;
pub(crate) mod process;
mod sniff;
mod targets_file;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use conformance::proto::probe::InfoResponse;
use conformance::server::{RunningServer, ServerConfig};
use tonic::transport::{Certificate, ClientTlsConfig};

pub use capacity::HandlerCapacity;
pub use discover::Discovery;
pub use process::{ProcessExit, ServerProcess, StopSignal};
pub use targets_file::{TargetEntry, TargetsFile};

use crate::client::Dial;
use crate::defects::ClientDefect;
use crate::scenario::Capability;

/// What the user pointed the run at.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, started in-process.
    Embedded { config: ServerConfig },
    /// A server already running at an address.
    Address {
        uri: String,
        ca_cert: Option<PathBuf>,
        server_name: Option<String>,
    },
    /// A server command with a `{port}` placeholder, started by the harness.
    Command {
        command: String,
        startup_timeout: Duration,
        /// The signal on which the server stops gracefully (refuses new
        /// RPCs, lets those in flight finish, exits 0), as its owner
        /// declared. How a binary handles signals is its own policy, so
        /// scenarios that stop a server run only where this is declared.
        graceful_stop: Option<StopSignal>,
    },
}

impl TargetSpec {
    /// The CLI arguments that select this target (for reproduction lines).
    pub fn cli_args(&self) -> String {
        match self {
            TargetSpec::Embedded { config } => config
                .defects
                .iter()
                .map(|defect| format!(" --defect {defect}"))
                .collect(),
            TargetSpec::Address {
                uri,
                ca_cert,
                server_name,
            } => {
                let mut args = format!(" --target {uri}");
                if let Some(ca) = ca_cert {
                    args.push_str(&format!(" --ca-cert {}", ca.display()));
                }
                if let Some(name) = server_name {
                    args.push_str(&format!(" --server-name {name}"));
                }
                args
            }
            TargetSpec::Command {
                command,
                graceful_stop,
                ..
            } => match graceful_stop {
                Some(signal) => format!(" --server-cmd '{command}' --graceful-stop {signal}"),
                None => format!(" --server-cmd '{command}'"),
            },
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            TargetSpec::Embedded { config } if config.defects.is_empty() => {
                "embedded reference server (tonic)".to_owned()
            }
            TargetSpec::Embedded { config } => format!(
                "embedded reference server (tonic) with defects: {}",
                config
                    .defects
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TargetSpec::Address { uri, .. } => uri.clone(),
            TargetSpec::Command { command, .. } => format!("server command: {command}"),
        }
    }
}

/// Why a target could not be used at all (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the target {target} is unreachable: {reason}. {advice}")]
    Unreachable {
        target: String,
        reason: String,
        advice: &'static str,
    },
    #[error(
        "the target {target} answers, but not as a gRPC server over HTTP/2: {reason}. Check the port and the scheme (http:// for plaintext, https:// for TLS)."
    )]
    NotGrpc { target: String, reason: String },
    #[error("the server command did not start: {0}")]
    Start(String),
    #[error("bad target configuration: {0}")]
    Config(String),
}

/// A target the run is connected to.
pub struct TargetSession {
    pub spec: TargetSpec,
    pub dial: Dial,
    pub capabilities: BTreeSet<Capability>,
    pub info: Option<InfoResponse>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS the server advertised (None: no
    /// limit, or not readable, as over TLS).
    pub advertised_max_streams: Option<u32>,
    /// Stream handlers the server runs at once, measured with TestService
    /// (None: not measured, or not even one stream was answered).
    pub handler_capacity: Option<HandlerCapacity>,
    embedded: Mutex<Option<RunningServer>>,
    process: Option<tokio::sync::Mutex<ServerProcess>>,
    /// The client adapter of a run that has one (client scenarios).
    client: std::sync::OnceLock<crate::client_target::ClientUnderTest>,
}

impl std::fmt::Debug for TargetSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSession")
            .field("target", &self.spec.describe())
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl TargetSession {
    /// Starts (if needed) and connects to the target, then discovers what it
    /// implements.
    pub async fn open(
        spec: TargetSpec,
        client_defects: Vec<ClientDefect>,
    ) -> Result<Self, TargetError> {
        let mut embedded = None;
        let mut process = None;
        let dial = match &spec {
            TargetSpec::Embedded { config } => {
                let server = start_embedded(config)?;
                let uri = server.uri();
                embedded = Some(server);
                Dial {
                    uri,
                    tls: None,
                    client_defects: client_defects.clone(),
                }
            }
            TargetSpec::Address {
                uri,
                ca_cert,
                server_name,
            } => Dial {
                uri: uri.clone(),
                tls: tls_config(uri, ca_cert.as_deref(), server_name.as_deref())?,
                client_defects: client_defects.clone(),
            },
            TargetSpec::Command {
                command,
                startup_timeout,
                ..
            } => {
                let started = ServerProcess::start(command, *startup_timeout).await?;
                let dial = Dial {
                    uri: started.uri(),
                    tls: None,
                    client_defects: client_defects.clone(),
                };
                process = Some(tokio::sync::Mutex::new(started));
                dial
            }
        };
        let discovery = discover::discover(&dial).await.map_err(|failure| match failure {
            discover::Failure::Unreachable(reason) => TargetError::Unreachable {
                target: spec.describe(),
                reason,
                advice: match spec {
                    TargetSpec::Command { .. } => {
                        "The harness started the command and it answers on its port: check the server's output above and that it serves grpc.testing.TestService on 127.0.0.1:{port}."
                    }
                    _ => {
                        "Check that the server is running and listening there, or use --server-cmd to let the harness start it."
                    }
                },
            },
            discover::Failure::NotGrpc(reason) => TargetError::NotGrpc {
                target: spec.describe(),
                reason,
            },
        })?;
        let mut capabilities = discovery.capabilities;
        let stoppable = match &spec {
            TargetSpec::Embedded { .. } => true,
            TargetSpec::Command { graceful_stop, .. } => graceful_stop.is_some(),
            TargetSpec::Address { .. } => false,
        };
        if stoppable {
            capabilities.insert(Capability::Lifecycle);
        }
        let handler_capacity = if discovery.unresponsive {
            None
        } else {
            capacity::measure(&dial, discovery.advertised_max_streams).await
        };
        Ok(Self {
            spec,
            dial,
            capabilities,
            info: discovery.info,
            advertised_max_streams: discovery.advertised_max_streams,
            handler_capacity,
            embedded: Mutex::new(embedded),
            process,
            client: std::sync::OnceLock::new(),
        })
    }

    /// Gives the run a client adapter: the client scenarios run through it
    /// (with this target as their observer). Only the first one counts.
    pub fn attach_client(&self, client: crate::client_target::ClientUnderTest) {
        let _ = self.client.set(client);
    }

    /// The run's client adapter, if it has one.
    pub fn client(&self) -> Option<&crate::client_target::ClientUnderTest> {
        self.client.get()
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// If the harness started the server and it has exited, how.
    pub async fn exited(&self) -> Option<ProcessExit> {
        match &self.process {
            Some(process) => process.lock().await.exited(),
            None => None,
        }
    }

    /// Restarts a server command that exited (same port), so that later
    /// scenarios can run.
    pub async fn restart(&self) -> Result<(), TargetError> {
        match &self.process {
            Some(process) => process.lock().await.restart().await,
            None => Ok(()),
        }
    }

    /// Starts a private instance of the same server (same configuration or
    /// command, another port), for scenarios that stop their server.
    pub async fn spawn_private(&self) -> Result<PrivateServer, TargetError> {
        match &self.spec {
            TargetSpec::Embedded { config } => {
                let server = start_embedded(config)?;
                Ok(PrivateServer::Embedded(server))
            }
            TargetSpec::Command {
                command,
                startup_timeout,
                graceful_stop,
            } => {
                let signal = graceful_stop.ok_or_else(|| {
                    TargetError::Config(
                        "the server command's graceful stop is not declared (--graceful-stop)"
                            .into(),
                    )
                })?;
                Ok(PrivateServer::Process(
                    Box::new(ServerProcess::start(command, *startup_timeout).await?),
                    signal,
                ))
            }
            TargetSpec::Address { .. } => Err(TargetError::Config(
                "a target given by address cannot be started or stopped by the harness".into(),
            )),
        }
    }

    /// Stops what the harness started: the embedded server at once (RPCs
    /// a scenario left behind need no draining), a server command gracefully.
    pub async fn close(&self) {
        let server = self
            .embedded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            let _ = tokio::task::spawn_blocking(move || drop(server)).await;
        }
        if let Some(process) = &self.process {
            process.lock().await.stop(Duration::from_secs(5)).await;
        }
        if let Some(client) = self.client.get() {
            client.adapter.close().await;
        }
    }

    /// The stderr tail of a server command (empty for other targets).
    pub async fn stderr_tail(&self) -> String {
        match &self.process {
            Some(process) => process.lock().await.stderr_tail(),
            None => String::new(),
        }
    }
}

/// A server instance a scenario owns (and may stop).
pub enum PrivateServer {
    Embedded(RunningServer),
    /// A server command, with the signal it stops gracefully on.
    Process(Box<ServerProcess>, StopSignal),
}

impl PrivateServer {
    pub fn uri(&self) -> String {
        match self {
            PrivateServer::Embedded(server) => server.uri(),
            PrivateServer::Process(process, _) => process.uri(),
        }
    }

    /// Asks the server to stop gracefully and waits (up to `grace` plus a
    /// margin) for it to finish. Returns how a process exited.
    pub async fn stop_gracefully(self, grace: Duration) -> Option<ProcessExit> {
        match self {
            PrivateServer::Embedded(server) => {
                let _ = server.shutdown().await;
                None
            }
            PrivateServer::Process(mut process, signal) => {
                Some(process.stop_with(signal, grace).await)
            }
        }
    }
}

/// Starts the embedded reference server with the dangerous probe holds on
/// (the harness's own fixture).
fn start_embedded(config: &ServerConfig) -> Result<RunningServer, TargetError> {
    let mut config = config.clone();
    config.enable_unsafe_probes = true;
    RunningServer::start(config)
        .map_err(|err| TargetError::Start(format!("embedded reference server: {err}")))
}

fn tls_config(
    uri: &str,
    ca_cert: Option<&std::path::Path>,
    server_name: Option<&str>,
) -> Result<Option<ClientTlsConfig>, TargetError> {
    if !uri.starts_with("https://") {
        if ca_cert.is_some() || server_name.is_some() {
            return Err(TargetError::Config(
                "--ca-cert and --server-name need an https:// target".into(),
            ));
        }
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new().with_native_roots();
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|err| {
            TargetError::Config(format!(
                "cannot read the CA certificate {}: {err}",
                path.display()
            ))
        })?;
        tls = tls.ca_certificate(Certificate::from_pem(pem));
    }
    if let Some(name) = server_name {
        tls = tls.domain_name(name);
    }
    Ok(Some(tls))
}
