//! `grpc-conformance matrix`: installs and runs every target of
//! `targets/targets.toml` through the catalog (each with `--server-cmd` and
//! its expectations file), writes one report per target and the
//! compatibility matrix.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::progress::Progress;
use super::{Selection, exit};
use crate::report::{Report, ReportFiles, matrix, write_atomic};
use crate::runner::{self, RunConfig};
use crate::target::{TargetSession, TargetSpec};

#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// The targets file.
    #[arg(long, value_name = "FILE", default_value = "targets/targets.toml")]
    pub targets: PathBuf,
    /// Only these targets (repeatable).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// Do not run the install commands (use what is installed).
    #[arg(long)]
    pub skip_install: bool,
    /// Output directory: <out>/<target>/report.* and <out>/README.md.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Run each scenario N times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    target: Vec<TargetEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    name: String,
    description: String,
    install: String,
    start: String,
    version: String,
    services: Vec<String>,
    expectations: Option<PathBuf>,
    /// The signal the server stops gracefully on, if it does (see
    /// `run --graceful-stop`).
    #[serde(default)]
    graceful_stop: Option<crate::target::StopSignal>,
}

/// Runs a shell command from the repository root, returning its output tail
/// on failure.
fn shell(command: &str, limit: Duration) -> Result<String, String> {
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run `{command}`: {err}"))?;
    let id = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(limit) {
        Ok(Ok(output)) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stdout));
            let tail: Vec<&str> = text.lines().rev().take(12).collect();
            Err(format!(
                "`{command}` failed ({}): {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ))
        }
        Ok(Err(err)) => Err(format!("`{command}`: {err}")),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            Err(format!(
                "`{command}` did not finish within {} s",
                limit.as_secs()
            ))
        }
    }
}

pub fn matrix(args: MatrixArgs) -> u8 {
    let text = match std::fs::read_to_string(&args.targets) {
        Ok(text) => text,
        Err(err) => {
            super::error(format!("{}: cannot read: {err}", args.targets.display()));
            return exit::USAGE;
        }
    };
    let file: TargetsFile = match toml::from_str(&text) {
        Ok(file) => file,
        Err(err) => {
            let (line, column) = err
                .span()
                .map_or((1, 1), |span| crate::scenario::position(&text, span.start));
            super::error(format!(
                "{}:{line}:{column}: {}",
                args.targets.display(),
                err.message().trim()
            ));
            return exit::USAGE;
        }
    };
    for name in &args.only {
        if !file.target.iter().any(|t| &t.name == name) {
            super::error(format!(
                "--only {name:?}: no such target in {}",
                args.targets.display()
            ));
            return exit::USAGE;
        }
    }
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
    let mut reports: Vec<Report> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut failed_run = false;
    for entry in file
        .target
        .iter()
        .filter(|t| args.only.is_empty() || args.only.contains(&t.name))
    {
        eprintln!(
            "\n== {}: {} (services: {})",
            entry.name,
            entry.description,
            entry.services.join(", ")
        );
        if !args.skip_install {
            eprintln!("installing: {}", entry.install);
            if let Err(err) = shell(&entry.install, Duration::from_secs(900)) {
                eprintln!("skipped: install failed: {err}");
                skipped.push((entry.name.clone(), format!("install failed: {err}")));
                continue;
            }
        }
        let version = shell(&entry.version, Duration::from_secs(60))
            .unwrap_or_else(|err| format!("unknown ({err})"));
        eprintln!("version: {version}");
        let expectations = match super::load_expectations(entry.expectations.as_deref(), &catalog) {
            Ok(expectations) => expectations,
            Err(code) => return code,
        };
        let config = RunConfig {
            repeat: args.repeat.max(1),
            // One at a time: each server's own capacity is under test.
            jobs: 1,
            restart_on_exit: true,
            expectations,
            target_name: entry.name.clone(),
            command_line: format!(
                "grpc-conformance run --server-cmd '{}'{} --name {}",
                entry.start,
                entry
                    .graceful_stop
                    .map(|signal| format!(" --graceful-stop {signal}"))
                    .unwrap_or_default(),
                entry.name
            ),
        };
        let files = ReportFiles::new(args.out.join(&entry.name));
        let outcome = runtime.block_on(async {
            let spec = TargetSpec::Command {
                command: entry.start.clone(),
                startup_timeout: Duration::from_secs(60),
                graceful_stop: entry.graceful_stop,
            };
            let target = Arc::new(
                TargetSession::open(spec, Vec::new())
                    .await
                    .map_err(|err| err.to_string())?,
            );
            let mut progress = Progress::new(scenarios.len() * config.repeat as usize);
            let mut report = runner::run(
                &scenarios,
                &target,
                &config,
                Some(&files),
                &mut progress,
                super::serve::shutdown_signal_text(),
            )
            .await;
            progress.finish();
            target.close().await;
            report.target.name = entry.name.clone();
            if report.target.version.is_empty() || !version.starts_with("unknown") {
                report.target.version = version.clone();
            }
            report.target.description = entry.description.clone();
            Ok::<_, String>(report)
        });
        match outcome {
            Ok(report) => {
                if let Err(err) = files.write_all(&report) {
                    super::error(format!("cannot write {}: {err}", files.dir.display()));
                    return exit::USAGE;
                }
                let s = &report.summary;
                eprintln!(
                    "{}: {} pass, {} fail, {} skip, {} error ({} known failures, {} unexpected)",
                    entry.name,
                    s.pass,
                    s.fail,
                    s.skip,
                    s.error,
                    s.expected_failures,
                    s.unexpected_failures + s.unexpected_passes
                );
                failed_run |= report.results.iter().any(|r| r.outcome.fails_run(false));
                let interrupted = !report.complete;
                reports.push(report);
                if interrupted {
                    break;
                }
            }
            Err(err) => {
                eprintln!("skipped: {err}");
                skipped.push((entry.name.clone(), err));
            }
        }
    }
    let title = "gRPC concurrency conformance: compatibility matrix";
    let mut readme = matrix::render_markdown(&reports, title);
    if !skipped.is_empty() {
        readme.push_str("\n## Targets not run\n\n");
        for (name, why) in &skipped {
            readme.push_str(&format!("- **{name}**: {}\n", why.replace('\n', " ")));
        }
    }
    readme.push_str(&format!(
        "\nEach target's report: `{0}/<target>/report.md` (also `.html`, `.json`, JUnit `.xml`). Regenerate with `scripts/matrix.sh` (installs every target, then `grpc-conformance matrix`).\n",
        args.out.display()
    ));
    let written = write_atomic(&args.out.join("README.md"), readme.as_bytes()).and_then(|()| {
        write_atomic(
            &args.out.join("matrix.html"),
            matrix::render_html(&reports, title).as_bytes(),
        )
    });
    if let Err(err) = written {
        super::error(format!(
            "cannot write the matrix to {}: {err}",
            args.out.display()
        ));
        return exit::USAGE;
    }
    eprintln!(
        "\nwrote {}",
        Path::new(&args.out).join("README.md").display()
    );
    if failed_run {
        exit::NONCONFORMANT
    } else {
        exit::OK
    }
}
