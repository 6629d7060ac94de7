//! `grpc-conformance serve`: the reference server as a process of its own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;
use conformance::server::{BoundServer, Defect, ServerConfig};

use super::exit;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Address to bind. Loopback by default: the server is a test fixture.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Enable ProbeService's dangerous holds (block a thread, spin, panic).
    #[arg(long)]
    pub enable_probes: bool,
    #[command(flatten)]
    pub server: ServerOptions,
}

/// Reference server settings, shared by `serve` and the embedded target.
#[derive(Debug, Clone, Args)]
pub struct ServerOptions {
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection.
    #[arg(long, value_name = "N", default_value_t = conformance::server::DEFAULT_MAX_CONCURRENT_STREAMS)]
    pub max_concurrent_streams: u32,
    /// HTTP/2 initial stream window, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = conformance::server::DEFAULT_STREAM_WINDOW)]
    pub stream_window: u32,
    /// HTTP/2 initial connection window, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = conformance::server::DEFAULT_CONNECTION_WINDOW)]
    pub connection_window: u32,
    /// Largest message accepted or sent, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = conformance::server::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// Runtime worker threads of the server (default: one per core).
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<usize>,
    /// Start the reference server with a deliberate defect (repeatable), for
    /// the suite's self-tests. `grpc-conformance list --defects` lists them.
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// Serve grpc.health.v1.Health alone, as a production server without
    /// TestService does (the harness then runs in health mode).
    #[arg(long)]
    pub health_only: bool,
}

impl ServerOptions {
    /// The server configuration (`client:` and `adapter:` defects are skipped).
    pub fn config(&self, bind: SocketAddr, enable_probes: bool) -> Result<ServerConfig, String> {
        let mut defects = std::collections::BTreeSet::new();
        for name in &self.defects {
            match name.parse::<crate::defects::AnyDefect>()? {
                crate::defects::AnyDefect::Server(defect) => {
                    defects.insert(defect);
                }
                crate::defects::AnyDefect::Client(_) | crate::defects::AnyDefect::Adapter(_) => {}
            }
        }
        if self.worker_threads == Some(0) {
            return Err("--worker-threads must be at least 1".into());
        }
        Ok(ServerConfig {
            bind,
            enable_unsafe_probes: enable_probes,
            max_concurrent_streams: self.max_concurrent_streams.max(1),
            initial_stream_window: self.stream_window,
            initial_connection_window: self.connection_window,
            max_message_bytes: self.max_message_bytes,
            worker_threads: self.worker_threads,
            defects,
            health_only: self.health_only,
            ..ServerConfig::default()
        })
    }
}

pub fn serve(args: ServeArgs) -> u8 {
    let config = match args
        .server
        .config(SocketAddr::new(args.bind, args.port), args.enable_probes)
    {
        Ok(config) => config,
        Err(err) => {
            super::error(err);
            return exit::USAGE;
        }
    };
    let runtime = match super::runtime(Some(config.effective_worker_threads())) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let defects: Vec<Defect> = config.defects.iter().copied().collect();
    let probes = config.enable_unsafe_probes;
    runtime.block_on(async move {
        let server = match BoundServer::bind(config).await {
            Ok(server) => server,
            Err(err) => {
                super::error(err);
                return exit::UNREACHABLE;
            }
        };
        match server.local_addr() {
            Ok(addr) => {
                println!("grpc-conformance reference server listening on http://{addr}");
                if !probes {
                    println!("dangerous probe holds are off (use --enable-probes to allow them)");
                }
                if !defects.is_empty() {
                    println!(
                        "DEFECTS ON: {}",
                        defects
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            Err(err) => {
                super::error(err);
                return exit::UNREACHABLE;
            }
        }
        match server.serve(shutdown_signal()).await {
            Ok(()) => {
                eprintln!("stopped");
                exit::OK
            }
            Err(err) => {
                super::error(err);
                exit::UNREACHABLE
            }
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Resolves on Ctrl-C or SIGTERM with a description, for the runner.
pub(crate) async fn shutdown_signal_text() -> String {
    shutdown_signal().await;
    "interrupted by a signal".to_owned()
}
