//! `grpc-conformance run`: scenarios against a target, reports, summary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use console::style;

use super::progress::{Progress, verdict_label};
use super::serve::ServerOptions;
use super::{Selection, exit};
use crate::defects::{AdapterDefect, AnyDefect, ClientDefect};
use crate::expectations::Outcome;
use crate::report::{Report, ReportFiles};
use crate::runner::{self, RunConfig};
use crate::target::{TargetError, TargetSession, TargetSpec};
use crate::verdict::Verdict;

/// Which server to test, shared by `run` and `explore`.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// A running server to test, http://host:port or https://host:port
    /// (default: the embedded reference server).
    #[arg(long, value_name = "URI", conflicts_with = "server_cmd")]
    pub target: Option<String>,
    /// A server command to start and test; `{port}` is replaced by a free
    /// loopback port, e.g. --server-cmd './my-server --port {port}'.
    #[arg(long, value_name = "CMD")]
    pub server_cmd: Option<String>,
    /// Test a client library instead: a client adapter command (speaking
    /// proto/conformance/v1/client.proto on stdin/stdout), e.g.
    /// --client-cmd 'targets/clients/grpc-go/run.sh'. The embedded reference
    /// server observes; only the client scenarios run, the server ones are
    /// skipped. See docs/client-adapters.md to write an adapter.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["target", "server_cmd"])]
    pub client_cmd: Option<String>,
    /// CA certificate(s) (PEM) that an https:// target's certificate must
    /// be issued by; the server's own self-signed certificate works too.
    /// Default: the system's CA store.
    #[arg(long, value_name = "FILE", requires = "target")]
    pub ca_cert: Option<PathBuf>,
    /// TLS server name to verify for an https:// target (default: the
    /// target's host), as grpcurl's -servername / -authority.
    #[arg(long, value_name = "NAME", requires = "target")]
    pub server_name: Option<String>,
    /// Client certificate chain (PEM) for mutual TLS; with --client-key.
    #[arg(long, value_name = "FILE", requires_all = ["target", "client_key"])]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert.
    #[arg(long, value_name = "FILE", requires_all = ["target", "client_cert"])]
    pub client_key: Option<PathBuf>,
    /// Do not verify the https:// target's certificate (test servers only;
    /// the report's target section says so), as grpcurl's -insecure.
    #[arg(long, requires = "target", conflicts_with = "ca_cert")]
    pub insecure_skip_verify: bool,
    /// Declares that the --server-cmd server stops gracefully on this
    /// signal (SIGTERM or SIGINT): it refuses new RPCs, lets those in
    /// flight finish, and exits 0. Scenarios that stop a private instance
    /// of the server (handler.graceful-shutdown) run only when this is
    /// declared; otherwise they are skipped, since how a binary handles a
    /// signal is its own policy.
    #[arg(long, value_name = "SIGNAL", requires = "server_cmd")]
    pub graceful_stop: Option<crate::target::StopSignal>,
    /// Seconds a --server-cmd server has to start answering.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = super::parse_duration_secs)]
    pub startup_timeout: Duration,
    /// Embedded reference server settings (ignored for other targets).
    #[command(flatten)]
    pub server: ServerOptions,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Do not restart a --server-cmd server that died; later scenarios then
    /// end in `error`.
    #[arg(long)]
    pub no_restart: bool,
    #[command(flatten)]
    pub selection: Selection,
    /// Run each scenario N times (exposes flaky verdicts).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Scenarios in flight at once. Scenarios marked `exclusive` (those that
    /// load the whole server or machine, block its threads, or may take it
    /// down) always run alone; those marked `one_run_at_a_time` never run
    /// beside a copy of themselves (--repeat). Default: 8 against the embedded reference
    /// server; 1 against any other target, because a server's handler
    /// capacity (a thread pool, one event loop) is part of what the suite
    /// measures, and scenarios sharing it would change each other's verdicts.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Known failures of this target (TOML: [[known_failure]] id, reason).
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    /// Do not fail the run when a known failure passes.
    #[arg(long)]
    pub allow_unexpected_pass: bool,
    /// Directory for report.json, report.xml (JUnit), report.md, report.html.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// The target's name in reports and matrices.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

impl TargetArgs {
    pub(crate) fn spec(&self) -> Result<TargetSpec, String> {
        if let Some(uri) = &self.target {
            if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                return Err(format!(
                    "--target {uri:?} must start with http:// or https://"
                ));
            }
            return Ok(TargetSpec::Address {
                uri: uri.trim_end_matches('/').to_owned(),
                tls: crate::client::TlsOptions {
                    ca_cert: self.ca_cert.clone(),
                    server_name: self.server_name.clone(),
                    client_cert: self.client_cert.clone(),
                    client_key: self.client_key.clone(),
                    insecure_skip_verify: self.insecure_skip_verify,
                },
            });
        }
        if let Some(command) = &self.server_cmd {
            return Ok(TargetSpec::Command {
                command: command.clone(),
                startup_timeout: self.startup_timeout,
                graceful_stop: self.graceful_stop,
            });
        }
        let bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(TargetSpec::Embedded {
            config: self.server.config(bind, true)?,
        })
    }

    pub(crate) fn client_defects(&self) -> Result<Vec<ClientDefect>, String> {
        let mut defects = Vec::new();
        for name in &self.server.defects {
            match name.parse::<AnyDefect>()? {
                AnyDefect::Client(defect) => defects.push(defect),
                AnyDefect::Server(defect) if self.target.is_some() || self.server_cmd.is_some() => {
                    return Err(format!(
                        "--defect {defect} applies to the embedded reference server only"
                    ));
                }
                AnyDefect::Server(_) | AnyDefect::Adapter(_) => {}
            }
        }
        Ok(defects)
    }

    /// The reference adapter's defect (`--defect adapter:<name>`), for an
    /// embedded run; a `--client-cmd` adapter takes its own flags.
    pub(crate) fn adapter_defect(&self) -> Result<Option<AdapterDefect>, String> {
        let mut chosen = None;
        for name in &self.server.defects {
            if let AnyDefect::Adapter(defect) = name.parse::<AnyDefect>()? {
                if self.client_cmd.is_some() {
                    return Err(format!(
                        "--defect {defect} applies to the reference adapter only; give your adapter its own flag inside --client-cmd"
                    ));
                }
                if chosen.replace(defect).is_some() {
                    return Err("give at most one --defect adapter:<name>".into());
                }
            }
        }
        Ok(chosen)
    }

    /// Scenarios in flight at once: as asked, or the target's default (see
    /// `--jobs`).
    pub(crate) fn default_jobs(&self, asked: Option<u16>) -> usize {
        match asked {
            Some(jobs) => usize::from(jobs),
            None if self.target.is_none() && self.server_cmd.is_none() => runner::EMBEDDED_JOBS,
            None => 1,
        }
    }

    pub(crate) fn target_name(&self, name: Option<&String>) -> String {
        if let Some(name) = name {
            return name.clone();
        }
        match (&self.target, &self.server_cmd, &self.client_cmd) {
            (Some(uri), _, _) => uri.clone(),
            (_, Some(command), _) | (_, _, Some(command)) => command.clone(),
            _ => "tonic (embedded)".to_owned(),
        }
    }
}

pub fn run(args: RunArgs) -> u8 {
    let (catalog, scenarios) = match args.selection.load() {
        Ok(loaded) => loaded,
        Err(err) => {
            super::error(err);
            return exit::USAGE;
        }
    };
    let expectations = match super::load_expectations(args.expectations.as_deref(), &catalog) {
        Ok(expectations) => expectations,
        Err(code) => return code,
    };
    let files = ReportFiles::new(&args.out);
    if let Err(err) = files.check_writable() {
        super::error(format!(
            "cannot write the reports to {}: {err}. Pass --out with a directory you can write to.",
            args.out.display()
        ));
        return exit::USAGE;
    }
    let runtime = match super::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let config = RunConfig {
        repeat: args.repeat,
        jobs: args.target.default_jobs(args.jobs),
        restart_on_exit: !args.no_restart,
        expectations,
        target_name: args.target.target_name(args.name.as_ref()),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    };
    runtime.block_on(async move {
        let target = match open_target(&args.target).await {
            Ok(target) => target,
            Err(code) => return code,
        };
        if let Err(code) = attach_client(&args.target, &target).await {
            target.close().await;
            return code;
        }
        let mut progress = Progress::new(scenarios.len() * args.repeat as usize);
        let interrupt = async {
            super::serve::shutdown_signal().await;
            "interrupted by a signal".to_owned()
        };
        let runner::Recorded { report, journal } = runner::run(
            &scenarios,
            &target,
            &config,
            Some(&files),
            &mut progress,
            interrupt,
        )
        .await;
        progress.finish();
        target.close().await;
        let written = files.write_run(&report, journal);
        print_summary(&report);
        match written {
            Ok(paths) => {
                for path in paths {
                    eprintln!("wrote {}", path.display());
                }
            }
            Err(err) => {
                super::error(format!(
                    "cannot write the reports to {}: {err}",
                    args.out.display()
                ));
                // A run whose report is lost must not look like a success.
                return if report.complete {
                    exit::USAGE
                } else {
                    exit::INTERRUPTED
                };
            }
        }
        if !report.complete {
            return exit::INTERRUPTED;
        }
        let failed = report
            .results
            .iter()
            .any(|r| r.outcome.fails_run(args.allow_unexpected_pass));
        if failed {
            exit::NONCONFORMANT
        } else {
            exit::OK
        }
    })
}

/// Opens the target the options name, printing what was found; on failure,
/// prints why and returns the exit code (2 bad options, 3 unreachable).
pub(crate) async fn open_target(args: &TargetArgs) -> Result<Arc<TargetSession>, u8> {
    let (spec, client_defects) = match (args.spec(), args.client_defects()) {
        (Ok(spec), Ok(defects)) => (spec, defects),
        (Err(err), _) | (_, Err(err)) => {
            super::error(err);
            return Err(exit::USAGE);
        }
    };
    eprintln!("target: {}", spec.describe());
    let target = match TargetSession::open(spec, client_defects).await {
        Ok(target) => Arc::new(target),
        Err(err @ TargetError::Config(_)) => {
            super::error(err);
            return Err(exit::USAGE);
        }
        Err(err) => {
            super::error(err);
            return Err(exit::UNREACHABLE);
        }
    };
    if let Some(info) = &target.info {
        eprintln!(
            "implementation: {} {} ({})",
            info.implementation, info.version, info.threading
        );
    }
    eprintln!(
        "capabilities: {}{}",
        target
            .capabilities
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        target
            .advertised_max_streams
            .map(|n| format!("; advertises {n} concurrent streams"))
            .unwrap_or_default()
    );
    if let Some(services) = &target.services {
        eprintln!("services (server reflection): {}", services.join(", "));
    }
    if !target.has(crate::scenario::Capability::TestService) {
        eprintln!(
            "mode: health (the target implements grpc.health.v1.Health but not grpc.testing.TestService): only the scenarios that need just the health service run; every other one is reported as `skip` with the reason"
        );
    }
    if let Some(capacity) = &target.handler_capacity {
        eprintln!("handler capacity: {capacity}");
    }
    Ok(target)
}

/// Starts the run's client adapter: the `--client-cmd` one, or in an
/// embedded run the suite's own (this binary's `client-adapter`), so that
/// the full catalog runs; none against other servers.
async fn attach_client(args: &TargetArgs, target: &TargetSession) -> Result<(), u8> {
    let defect = args.adapter_defect().map_err(|err| {
        super::error(err);
        exit::USAGE
    })?;
    let (command, only_clients) = match &args.client_cmd {
        Some(command) => (command.clone(), true),
        None if args.target.is_none() && args.server_cmd.is_none() => {
            let exe = std::env::current_exe().map_err(|err| {
                super::error(format!(
                    "cannot find this program's path for the reference client adapter: {err}"
                ));
                exit::USAGE
            })?;
            (crate::client_target::reference_command(&exe, defect), false)
        }
        None => return Ok(()),
    };
    match crate::client_target::Adapter::start(&command).await {
        Ok(adapter) => {
            let hello = adapter.hello();
            eprintln!(
                "client adapter: {} {} ({}){}",
                hello.implementation,
                hello.version,
                hello.api,
                if hello.defect.is_empty() {
                    String::new()
                } else {
                    format!(", defect {}", hello.defect)
                }
            );
            target.attach_client(crate::client_target::ClientUnderTest {
                adapter: Arc::new(adapter),
                only_clients,
            });
            Ok(())
        }
        Err(err) => {
            super::error(err);
            Err(exit::UNREACHABLE)
        }
    }
}

fn print_summary(report: &Report) {
    let s = &report.summary;
    eprintln!();
    eprintln!("{}", style("summary").bold());
    eprintln!(
        "  {} {:>4}   {} {:>4}   {} {:>4}   {} {:>4}   in {:.1} s",
        verdict_label(Verdict::Pass),
        s.pass,
        verdict_label(Verdict::Fail),
        s.fail,
        verdict_label(Verdict::Skip),
        s.skip,
        verdict_label(Verdict::Error),
        s.error,
        s.duration_ms as f64 / 1000.0
    );
    if s.expected_failures + s.flaky > 0 {
        eprintln!(
            "  known failures: {}, known flaky: {}",
            s.expected_failures, s.flaky
        );
    }
    for result in &report.results {
        let flagged = matches!(
            result.outcome,
            Outcome::UnexpectedFailure | Outcome::UnexpectedPass
        );
        if !flagged {
            continue;
        }
        let what = if result.outcome == Outcome::UnexpectedPass {
            "unexpected pass (listed as a known failure)".to_owned()
        } else {
            result.reason.clone().unwrap_or_default()
        };
        eprintln!("  {} {}: {what}", verdict_label(result.verdict), result.id);
        for line in result.evidence.iter().take(3) {
            eprintln!("        {}", style(line).dim());
        }
        eprintln!("        reproduce: {}", result.repro);
    }
    if let Some(why) = &report.interrupted {
        eprintln!(
            "  {}: {why}; the partial report is marked incomplete",
            style("interrupted").yellow()
        );
    }
}
