//! The `grpc-conformance` command line.

mod client_adapter;
mod contract;
mod explore;
mod matrix;
mod matrix_entry;
mod progress;
mod report_cmd;
mod run;
mod serve;
mod show;
mod site;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::scenario::Area;

/// Exit codes, as documented in `--help`.
pub mod exit {
    /// Every scenario ended as expected.
    pub const OK: u8 = 0;
    /// The target broke a guarantee (an unexpected failure or error, or an
    /// unexpected pass of a known failure).
    pub const NONCONFORMANT: u8 = 1;
    /// Bad usage or configuration: scenario files, expectations, options,
    /// reports that cannot be written.
    pub const USAGE: u8 = 2;
    /// The target could not be reached or started.
    pub const UNREACHABLE: u8 = 3;
    /// Interrupted (Ctrl-C / SIGTERM); the partial report is written.
    pub const INTERRUPTED: u8 = 130;
}

const AFTER_HELP: &str = "\
Exit codes:
  0    every scenario ended as expected
  1    the target broke a guarantee (unexpected failure/error, or an unexpected pass of a known failure)
  2    usage or configuration error (scenario files, expectations, options, an --out
       directory that cannot be written; a report that could not be written at the end)
  3    the target could not be reached or started
  130  interrupted; the partial report (marked incomplete) is written

With no subcommand, `run` is implied: the full catalog against the embedded reference server.";

/// The gRPC concurrency conformance suite: checks, with evidence, that a gRPC
/// implementation keeps shared-channel parallelism, stream half-duplex safety
/// and per-handler task isolation.
#[derive(Debug, Parser)]
#[command(name = "grpc-conformance", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios against a target and write reports (the default).
    #[command(after_help = AFTER_HELP)]
    Run(Box<run::RunArgs>),
    /// List the scenarios.
    List(show::ListArgs),
    /// Explain one scenario: its guarantee, method, evidence and how to run it.
    Explain(show::ExplainArgs),
    /// Serve the reference server (TestService + ProbeService).
    Serve(serve::ServeArgs),
    /// Work with reports.
    Report(report_cmd::ReportArgs),
    /// Run generated concurrent schedules (proptest) against a target.
    Explore(Box<explore::ExploreArgs>),
    /// Check, one RPC at a time, that a server implements what the
    /// scenarios rely on (TestService fields, metadata echo, pacing, and
    /// ProbeService's holds, observations, gauges and pipes). Run it first
    /// when writing an adapter. Exit 0 when every applicable check passes,
    /// 1 when one fails, 3 when the target is unreachable.
    Contract(Box<contract::ContractArgs>),
    /// Install and run every third-party target of targets/targets.toml and
    /// write the compatibility matrix (reports/).
    Matrix(matrix::MatrixArgs),
    /// The reference client adapter (tonic) for client mode: speaks the
    /// client-under-test protocol (proto/conformance/v1/client.proto) on
    /// stdin/stdout. `run` starts it itself; run it by hand only to try a
    /// defect: `run --client-cmd 'grpc-conformance client-adapter --defect global-lock'`.
    ClientAdapter(client_adapter::ClientAdapterArgs),
}

/// Where the scenarios are, and which to take.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// Directory of scenario files (scenarios/<area>/*.toml).
    #[arg(long, value_name = "DIR", global = true)]
    pub scenarios: Option<PathBuf>,
    /// Only scenarios whose id matches this glob (repeatable), e.g. 'channel.*'
    /// (`*` any run of characters, `?` one, `[..]` a set; no braces).
    #[arg(long = "filter", value_name = "GLOB")]
    pub filters: Vec<String>,
    /// Only scenarios of this area (repeatable).
    #[arg(long = "area", value_name = "AREA", value_parser = parse_area)]
    pub areas: Vec<Area>,
}

fn parse_area(text: &str) -> Result<Area, String> {
    Area::named(text)
        .ok_or_else(|| format!("unknown area {text:?}; areas: channel, stream, handler"))
}

pub(crate) fn parse_duration_secs(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0 && *secs < 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

impl Selection {
    pub fn dir(&self) -> PathBuf {
        self.scenarios
            .clone()
            .unwrap_or_else(crate::default_scenarios_dir)
    }

    /// Loads the catalog and applies the filters. A filter that matches
    /// nothing is an error, not a silent no-op.
    pub fn load(
        &self,
    ) -> Result<
        (
            crate::scenario::Catalog,
            Vec<std::sync::Arc<crate::scenario::Scenario>>,
        ),
        String,
    > {
        let dir = self.dir();
        let catalog = crate::scenario::Catalog::load(&dir).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let mut matchers = Vec::new();
        for filter in &self.filters {
            let matcher = glob::Pattern::new(filter)
                .map_err(|err| format!("bad --filter {filter:?}: {err}"))?;
            if !catalog.scenarios.iter().any(|s| matcher.matches(&s.id)) {
                return Err(format!(
                    "--filter {filter:?} matches no scenario (run `grpc-conformance list` for the ids)"
                ));
            }
            matchers.push(matcher);
        }
        let chosen: Vec<_> = catalog
            .scenarios
            .iter()
            .filter(|s| matchers.is_empty() || matchers.iter().any(|m| m.matches(&s.id)))
            .filter(|s| self.areas.is_empty() || self.areas.contains(&s.area))
            .cloned()
            .collect();
        if chosen.is_empty() {
            return Err("the filters select no scenario".into());
        }
        Ok((catalog, chosen))
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let code = match cli.command {
        None => run::run(cli.run),
        Some(Command::Run(args)) => run::run(*args),
        Some(Command::List(args)) => show::list(&args),
        Some(Command::Explain(args)) => show::explain(&args),
        Some(Command::Serve(args)) => serve::serve(args),
        Some(Command::Report(args)) => report_cmd::report(args),
        Some(Command::Matrix(args)) => matrix::matrix(args),
        Some(Command::Contract(args)) => contract::contract(*args),
        Some(Command::Explore(args)) => explore::run(*args),
        Some(Command::ClientAdapter(args)) => client_adapter::client_adapter(args),
    };
    ExitCode::from(code)
}

/// Logs to stderr at the level `GRPC_CONFORMANCE_LOG` names (`warn` unless
/// set): a level (`debug`) or per-module directives (`harness=debug,h2=info`).
/// `Targets` rather than `EnvFilter`, whose regex engine costs a cold build
/// more than the rest of the logging stack.
fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let requested = std::env::var("GRPC_CONFORMANCE_LOG").ok();
    let filter = requested
        .as_deref()
        .and_then(|text| {
            text.parse::<Targets>()
                .map_err(|err| {
                    eprintln!(
                        "warning: GRPC_CONFORMANCE_LOG is not a log filter ({err}); logging warnings only"
                    );
                })
                .ok()
        })
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::WARN));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .try_init();
}

/// The multi-threaded runtime a subcommand runs on (worker threads: one per
/// core unless given); on failure prints why and returns the exit code.
pub(crate) fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime, u8> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder.enable_all().build().map_err(|err| {
        error(format!("cannot start the runtime: {err}"));
        exit::USAGE
    })
}

/// Loads an expectations file against the catalog (none: expect every
/// scenario to pass); on failure prints why and returns the exit code.
pub(crate) fn load_expectations(
    path: Option<&std::path::Path>,
    catalog: &crate::scenario::Catalog,
) -> Result<crate::expectations::Expectations, u8> {
    match path {
        Some(path) => crate::expectations::Expectations::load(path, catalog).map_err(|err| {
            error(err);
            exit::USAGE
        }),
        None => Ok(crate::expectations::Expectations::default()),
    }
}

/// Prints an error the way every subcommand does.
pub(crate) fn error(message: impl std::fmt::Display) {
    eprintln!("{} {message}", console::style("error:").red().bold());
}
