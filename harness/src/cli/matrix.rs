//! `grpc-conformance matrix`: installs and runs every target of
//! `targets/targets.toml` through the catalog (each with `--server-cmd` and
//! its expectations file), writes one report per target and the
//! compatibility matrix.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::progress::Progress;
use super::site::{Publication, publish};
use super::{Selection, exit};
use crate::expectations::Expectations;
use crate::report::{Report, ReportFiles};
use crate::runner::{self, RunConfig};
use crate::scenario::Scenario;
use crate::target::TargetsFile;

use super::matrix_entry::Entry;

#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// The targets file.
    #[arg(long, value_name = "FILE", default_value = "targets/targets.toml")]
    pub targets: PathBuf,
    /// Only these targets (repeatable); a name shared by a server and a
    /// client library (grpc-go) selects both, unless --kind says which.
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// Which entries of the targets file: servers ([[target]]), client
    /// libraries ([[client]], through their adapters), or both.
    #[arg(long, value_enum, default_value_t = Kind::All)]
    pub kind: Kind,
    /// Do not run the install commands (use what is installed).
    #[arg(long)]
    pub skip_install: bool,
    /// Output directory for what is published: the site (index.html,
    /// matrix.json, badges/, README.md; the matrix.json it replaces becomes
    /// matrix.previous.json, for "changed since") and
    /// <out>/<target>/report.{json,html} (no timeline spans: the full
    /// reports have them).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Output directory for the full reports (every timeline span, JUnit):
    /// <full-out>/<target>/report.*; CI keeps them as artifacts.
    #[arg(long, value_name = "DIR", default_value = "target/matrix-full")]
    pub full_out: PathBuf,
    /// Run each scenario N times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    #[command(flatten)]
    pub selection: Selection,
}

/// Which entries of the targets file a matrix runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    All,
    Servers,
    Clients,
}

/// What became of the targets: their reports, and those not run (why).
#[derive(Default)]
struct Outcomes {
    reports: Vec<Report>,
    not_run: Vec<(String, String)>,
}

pub fn matrix(args: MatrixArgs) -> u8 {
    let file = match TargetsFile::load(&args.targets) {
        Ok(file) => file,
        Err(err) => {
            super::error(err);
            return exit::USAGE;
        }
    };
    let (servers, clients) = match file.select(&args.only, &args.targets) {
        Ok(selected) => selected,
        Err(err) => {
            super::error(err);
            return exit::USAGE;
        }
    };
    let (catalog, scenarios) = match args.selection.load() {
        Ok(loaded) => loaded,
        Err(err) => {
            super::error(err);
            return exit::USAGE;
        }
    };
    let runtime = match super::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let mut outcomes = Outcomes::default();
    let servers = servers.into_iter().filter(|_| args.kind != Kind::Clients);
    let clients = clients.into_iter().filter(|_| args.kind != Kind::Servers);
    let entries = servers.map(Entry::Server).chain(clients.map(Entry::Client));
    for entry in entries {
        eprintln!("\n== {}", entry.heading());
        let expectations =
            match super::load_expectations(entry.expectations().map(PathBuf::as_path), &catalog) {
                Ok(expectations) => expectations,
                Err(code) => return code,
            };
        let version = match install(entry, args.skip_install) {
            Ok(version) => version,
            Err(err) => {
                eprintln!("skipped: {err}");
                outcomes.not_run.push((entry.name().to_owned(), err));
                continue;
            }
        };
        let files = ReportFiles::new(args.full_out.join(entry.folder()));
        let run = runtime.block_on(run_target(
            entry,
            &version,
            &entry.scenarios(&scenarios),
            &args,
            expectations,
            &files,
        ));
        let runner::Recorded { report, journal } = match run {
            Ok(recorded) => recorded,
            Err(err) => {
                eprintln!("skipped: {err}");
                outcomes.not_run.push((entry.name().to_owned(), err));
                continue;
            }
        };
        if let Err(err) = files.write_run(&report, journal) {
            super::error(format!("cannot write {}: {err}", files.dir.display()));
            return exit::USAGE;
        }
        // The run kept its results without their timelines; the published
        // copy draws some, so it is made from the full report just written.
        let report = match crate::report::read(&files.json()) {
            Ok(report) => report,
            Err(err) => {
                super::error(format!("cannot read back the report just written: {err}"));
                return exit::USAGE;
            }
        };
        eprintln!("{}", summary_line(&report));
        let interrupted = !report.complete;
        outcomes.reports.push(report);
        if interrupted {
            break;
        }
    }
    let publication = Publication {
        out: &args.out,
        reports: &outcomes.reports,
        title: "gRPC concurrency conformance: compatibility matrix",
        previous: None,
        rotate: true,
        not_run: &outcomes.not_run,
    };
    if let Err(err) = publish(&publication) {
        super::error(format!("cannot publish to {}: {err}", args.out.display()));
        return exit::USAGE;
    }
    eprintln!("\nwrote {}", args.out.join("index.html").display());
    let failed = outcomes
        .reports
        .iter()
        .flat_map(|report| &report.results)
        .any(|result| result.outcome.fails_run(false));
    if failed {
        exit::NONCONFORMANT
    } else {
        exit::OK
    }
}

/// Installs the target (unless told not to) and reads its version.
fn install(entry: Entry<'_>, skip_install: bool) -> Result<String, String> {
    if !skip_install {
        eprintln!("installing: {}", entry.install_command());
        entry
            .install()
            .map_err(|err| format!("install failed: {err}"))?;
    }
    let version = entry.read_version();
    eprintln!("version: {version}");
    Ok(version)
}

/// Starts the target, runs the catalog against it one scenario at a time
/// (each server's own capacity is under test) and stops it.
async fn run_target(
    entry: Entry<'_>,
    version: &str,
    scenarios: &[Arc<Scenario>],
    args: &MatrixArgs,
    expectations: Expectations,
    files: &ReportFiles,
) -> Result<runner::Recorded, String> {
    let config = RunConfig {
        repeat: args.repeat.max(1),
        jobs: 1,
        restart_on_exit: true,
        expectations,
        target_name: entry.name().to_owned(),
        command_line: entry.command_line(),
    };
    let target = entry.open().await?;
    let mut progress = Progress::new(scenarios.len() * config.repeat as usize);
    let mut recorded = runner::run(
        scenarios,
        &target,
        &config,
        Some(files),
        &mut progress,
        super::serve::shutdown_signal_text(),
    )
    .await;
    progress.finish();
    target.close().await;
    let report = &mut recorded.report;
    report.target.name = entry.name().to_owned();
    if report.target.version.is_empty() || !version.starts_with("unknown") {
        report.target.version = version.to_owned();
    }
    report.target.description = entry.description().to_owned();
    Ok(recorded)
}

fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    format!(
        "{}{}: {} pass, {} fail, {} skip, {} error ({} known failures, {} unexpected)",
        report.target.name,
        if report.target.role.is_server() {
            ""
        } else {
            " (client)"
        },
        s.pass,
        s.fail,
        s.skip,
        s.error,
        s.expected_failures,
        s.unexpected_failures + s.unexpected_passes
    )
}
