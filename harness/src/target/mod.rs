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
use std::sync::Mutex;
use std::time::Duration;

use conformance::proto::probe::InfoResponse;
use conformance::server::{RunningServer, ServerConfig};

pub use capacity::HandlerCapacity;
pub use discover::Discovery;
pub use process::{ProcessExit, ServerProcess, StopSignal};
pub use targets_file::{ClientEntry, TargetEntry, TargetsFile};

use crate::client::{Dial, Tls, TlsOptions};
use crate::defects::ClientDefect;
use crate::scenario::Capability;

/// What the user pointed the run at.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, started in-process.
    Embedded { config: ServerConfig },
    /// A server already running at an address.
    Address { uri: String, tls: TlsOptions },
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
            TargetSpec::Address { uri, tls } => {
                let mut args = format!(" --target {uri}");
                let files = [
                    ("--ca-cert", &tls.ca_cert),
                    ("--client-cert", &tls.client_cert),
                    ("--client-key", &tls.client_key),
                ];
                for (flag, file) in files {
                    if let Some(file) = file {
                        args.push_str(&format!(" {flag} {}", file.display()));
                    }
                }
                if let Some(name) = &tls.server_name {
                    args.push_str(&format!(" --server-name {name}"));
                }
                if tls.insecure_skip_verify {
                    args.push_str(" --insecure-skip-verify");
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
            TargetSpec::Address { uri, tls } if tls.insecure_skip_verify => format!(
                "{uri} (insecure: the server's TLS certificate was not verified, --insecure-skip-verify)"
            ),
            TargetSpec::Address { uri, tls } if tls.client_cert.is_some() => {
                format!("{uri} (mutual TLS: with a client certificate)")
            }
            TargetSpec::Address { uri, .. } => uri.clone(),
            TargetSpec::Command { command, .. } => format!("server command: {command}"),
        }
    }
}

/// Why a target could not be used at all (exit code 3): each mistake its
/// own message, with advice that fits how the target was given.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the target {target} is unreachable: {reason}. {advice}")]
    Unreachable {
        target: String,
        reason: String,
        advice: String,
    },
    #[error(
        "the target {target} answers, but not with HTTP/2: {reason}. gRPC runs over HTTP/2: check that the port is the gRPC server's (not an HTTP/1.x, metrics or admin port)."
    )]
    NotHttp2 { target: String, reason: String },
    #[error(
        "the target {target} speaks HTTP/2, but does not answer as a gRPC server: {reason}. Check that the port is the gRPC server's, not another HTTP/2 service's or a proxy's that does not route gRPC."
    )]
    NotGrpc { target: String, reason: String },
    #[error("the target {target} and the harness disagree on TLS: {reason}. {advice}")]
    TlsMismatch {
        target: String,
        reason: String,
        advice: String,
    },
    #[error("the TLS handshake with {target} failed: {reason}")]
    Tls { target: String, reason: String },
    #[error(
        "the target {target} answers gRPC, but implements neither grpc.testing.TestService (which the full suite needs) nor grpc.health.v1.Health (which the health mode needs){serves}. To run the health scenarios, register the standard health service ({health}); for the full suite, serve TestService (proto/grpc/testing/test.proto; targets/ has a server for each implementation, README.md: \"Testing your own server\")."
    )]
    NoServices {
        target: String,
        /// What server reflection listed, as a clause (or nothing).
        serves: String,
        health: &'static str,
    },
    #[error("the server command did not start: {0}")]
    Start(String),
    #[error("bad target configuration: {0}")]
    Config(String),
}

impl TargetError {
    /// The error for a failed discovery of the target `spec`.
    fn from_discovery(spec: &TargetSpec, failure: discover::Failure) -> Self {
        let target = spec.describe();
        let command = matches!(spec, TargetSpec::Command { .. });
        match failure {
            discover::Failure::Unreachable(reason) => TargetError::Unreachable {
                target,
                reason,
                advice: match spec {
                    TargetSpec::Command { .. } => "The harness started the command, but it does not answer on the port it was given: check the server's output above, and that it listens on 127.0.0.1 at the port that replaces {port}.".into(),
                    TargetSpec::Embedded { .. } => "The embedded reference server did not answer: this is the harness's own fault, please report it.".into(),
                    TargetSpec::Address { .. } => "Check that the server is running and listening at that host and port, and that nothing (a firewall, another process) is in between.".into(),
                },
            },
            discover::Failure::NotHttp2(reason) => TargetError::NotHttp2 { target, reason },
            discover::Failure::NotGrpc(reason) => TargetError::NotGrpc { target, reason },
            discover::Failure::TlsMismatch(reason) => TargetError::TlsMismatch {
                target,
                reason,
                advice: if command {
                    "The harness dials a --server-cmd server in plaintext (http://127.0.0.1:{port}): start it without TLS in the command, or start it yourself and give it as --target https://host:port (with --ca-cert FILE, or --insecure-skip-verify for a test server).".into()
                } else {
                    "Use the scheme the server serves: http:// for plaintext, https:// for TLS (with --ca-cert FILE if its certificate is not from a system CA).".into()
                },
            },
            discover::Failure::Tls(reason) => TargetError::Tls { target, reason },
            discover::Failure::NoServices(services) => TargetError::NoServices {
                target,
                serves: match services {
                    Some(services) if !services.is_empty() => {
                        format!("; it serves (server reflection): {}", services.join(", "))
                    }
                    _ => String::new(),
                },
                health: crate::scenario::HEALTH_IMPLEMENTATIONS,
            },
        }
    }
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
    /// The services server reflection listed (None: no reflection).
    pub services: Option<Vec<String>>,
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
            TargetSpec::Address { uri, tls } => Dial {
                uri: uri.clone(),
                tls: tls_client(uri, tls)?,
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
        let discovery = discover::discover(&dial)
            .await
            .map_err(|failure| TargetError::from_discovery(&spec, failure))?;
        let mut capabilities = discovery.capabilities;
        let stoppable = match &spec {
            TargetSpec::Embedded { .. } => true,
            TargetSpec::Command { graceful_stop, .. } => graceful_stop.is_some(),
            TargetSpec::Address { .. } => false,
        };
        if stoppable {
            capabilities.insert(Capability::Lifecycle);
        }
        // Measured with TestService: a health-mode target has none.
        let handler_capacity =
            if discovery.unresponsive || !capabilities.contains(&Capability::TestService) {
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
            services: discovery.services,
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

/// The TLS client for an https:// target; TLS options on an http:// one
/// are refused rather than ignored.
fn tls_client(uri: &str, options: &TlsOptions) -> Result<Option<Tls>, TargetError> {
    let Some(rest) = uri.strip_prefix("https://") else {
        if options.any() {
            return Err(TargetError::Config(format!(
                "TLS options (--ca-cert, --server-name, --client-cert, --client-key, --insecure-skip-verify) need an https:// target, not {uri}"
            )));
        }
        return Ok(None);
    };
    let authority: http::uri::Authority = rest
        .trim_end_matches('/')
        .parse()
        .map_err(|err| TargetError::Config(format!("--target {uri}: not host:port: {err}")))?;
    Tls::new(authority.host(), options)
        .map(Some)
        .map_err(|err| TargetError::Config(format!("TLS for {uri}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every discovery failure, for a target of each kind.
    fn messages(spec: &TargetSpec) -> Vec<String> {
        let failures = [
            discover::Failure::Unreachable("refused".into()),
            discover::Failure::NotHttp2("HTTP/1.1".into()),
            discover::Failure::NotGrpc("404".into()),
            discover::Failure::TlsMismatch("TLS records".into()),
            discover::Failure::Tls("unknown issuer".into()),
            discover::Failure::NoServices(None),
        ];
        failures
            .into_iter()
            .map(|failure| TargetError::from_discovery(spec, failure).to_string())
            .collect()
    }

    #[test]
    fn a_server_command_is_never_told_to_use_server_cmd() {
        let command = TargetSpec::Command {
            command: "./server --port {port}".into(),
            startup_timeout: Duration::from_secs(1),
            graceful_stop: None,
        };
        for message in messages(&command) {
            assert!(!message.contains("use --server-cmd"), "{message}");
        }
        let address = TargetSpec::Address {
            uri: "http://127.0.0.1:1".into(),
            tls: TlsOptions::default(),
        };
        let texts = messages(&address);
        // Six mistakes, six different messages.
        let distinct: BTreeSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len(), texts.len(), "{texts:#?}");
        assert!(texts[0].contains("running and listening"), "{}", texts[0]);
    }

    #[test]
    fn the_services_reflection_lists_are_named_to_a_server_without_ours() {
        let address = TargetSpec::Address {
            uri: "http://127.0.0.1:1".into(),
            tls: TlsOptions::default(),
        };
        let services = Some(vec!["shop.v1.Cart".to_owned()]);
        let text = TargetError::from_discovery(&address, discover::Failure::NoServices(services))
            .to_string();
        assert!(
            text.contains("it serves (server reflection): shop.v1.Cart"),
            "{text}"
        );
        assert!(text.contains("grpcio-health-checking"), "{text}");
    }
}
