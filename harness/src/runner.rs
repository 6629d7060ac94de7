//! The runner: every scenario under its hard time budget, isolated from the
//! others (a driver that panics or hangs is that scenario's verdict alone),
//! results streamed to disk as they finish.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;

use crate::drivers::Ctx;
use crate::expectations::{Expectations, classify};
use crate::report::{Report, ReportFiles, SCHEMA, ScenarioResult, Summary, TargetSummary};
use crate::scenario::Scenario;
use crate::target::TargetSession;
use crate::verdict::{Finding, ReasonKind, Verdict};

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Runs of each scenario (to expose flakiness).
    pub repeat: u32,
    /// Restart a server command that died, so later scenarios still run.
    pub restart_on_exit: bool,
    pub expectations: Expectations,
    /// The name the target goes by in reports and matrices.
    pub target_name: String,
    /// The command line of this run, for the report.
    pub command_line: String,
}

/// Told about progress (the CLI's progress display, tests' logs).
pub trait Observer {
    fn started(&mut self, _scenario: &Scenario, _attempt: u32, _index: usize, _total: usize) {}
    fn finished(&mut self, _result: &ScenarioResult, _index: usize, _total: usize) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// Runs one scenario once against the target: capability check, hard budget,
/// panic isolation, and the target's death turned into evidence.
pub async fn run_scenario(
    scenario: &Scenario,
    target: &Arc<TargetSession>,
    attempt: u32,
    restart_on_exit: bool,
) -> (Finding, Duration) {
    let started = Instant::now();
    if let Some(missing) = scenario.needs.iter().find(|need| !target.has(**need)) {
        let finding = Finding::skip(format!(
            "the target lacks the capability {:?} (found: {})",
            missing.as_str(),
            target
                .capabilities
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return (finding, started.elapsed());
    }
    if let Some(exit) = target.exited().await {
        let restarted = if restart_on_exit {
            target.restart().await
        } else {
            Err(crate::target::TargetError::Start(
                "restarting is off (--no-restart)".into(),
            ))
        };
        if let Err(err) = restarted {
            let finding = Finding::with(
                Verdict::Error,
                ReasonKind::Target,
                format!("the server is not running: {exit}; it could not be restarted: {err}"),
            );
            return (finding, started.elapsed());
        }
    }

    let budget = Duration::from_millis(scenario.budget_ms);
    let ctx = Ctx::new(Arc::clone(target), &scenario.id, attempt, budget);
    let driver = (scenario.run)(ctx.clone());
    let task = tokio::spawn(AssertUnwindSafe(driver).catch_unwind());
    let abort = task.abort_handle();
    let mut finding = match tokio::time::timeout(budget, task).await {
        Ok(Ok(Ok(Ok(finding)))) => finding,
        Ok(Ok(Ok(Err(driver_error)))) => driver_error.into(),
        Ok(Ok(Err(panic))) => Finding::with(
            Verdict::Error,
            ReasonKind::Harness,
            format!(
                "the driver {} panicked: {}",
                scenario.driver.name,
                panic_text(&*panic)
            ),
        ),
        Ok(Err(join)) => Finding::with(
            Verdict::Error,
            ReasonKind::Harness,
            format!("the driver task failed: {join}"),
        ),
        Err(_) => {
            abort.abort();
            Finding::with(
                Verdict::Fail,
                ReasonKind::Timeout,
                format!(
                    "the scenario did not finish within its budget of {} ms: RPCs stalled",
                    scenario.budget_ms
                ),
            )
        }
    };
    let (spans, dropped) = ctx.timeline().take();
    finding.timeline = spans;
    if dropped > 0 {
        finding = finding.evidence(format!("timeline: {dropped} further RPCs not drawn"));
    }
    if let Some(exit) = target.exited().await {
        let line = format!("the server process died during this scenario: {exit}");
        if finding.verdict == Verdict::Fail {
            finding = finding.evidence(line);
        } else {
            let mut error = Finding::with(Verdict::Error, ReasonKind::Target, line);
            error.evidence = finding.evidence;
            error.timeline = finding.timeline;
            finding = error;
        }
    }
    (finding, started.elapsed())
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".to_owned())
}

/// The target's part of a report.
pub fn target_summary(
    target: &TargetSession,
    name: &str,
    expectations: &Expectations,
) -> TargetSummary {
    let info = target.info.clone().unwrap_or_default();
    TargetSummary {
        name: name.to_owned(),
        description: target.spec.describe(),
        implementation: info.implementation,
        version: info.version,
        threading: info.threading,
        capabilities: target
            .capabilities
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        advertised_max_streams: target.advertised_max_streams,
        expectations: expectations
            .path
            .as_ref()
            .map(|path| path.display().to_string()),
    }
}

/// A description of this machine for reports.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| format!(", {} GiB", (kib + 512 * 1024) / (1024 * 1024)))
        .unwrap_or_default();
    format!(
        "{} {}, {cores} cores{memory}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Runs `scenarios` (each `repeat` times) and returns the report. With
/// `files`, the JSON report is rewritten after every scenario, so an
/// interruption leaves a valid partial report. `interrupt` resolving stops
/// the run between (or in the middle of) scenarios.
pub async fn run(
    scenarios: &[Arc<Scenario>],
    target: &Arc<TargetSession>,
    config: &RunConfig,
    files: Option<&ReportFiles>,
    observer: &mut dyn Observer,
    interrupt: impl Future<Output = String>,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        schema: SCHEMA.to_owned(),
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: target_summary(target, &config.target_name, &config.expectations),
        started_at: now(),
        finished_at: None,
        complete: false,
        interrupted: None,
        machine: machine(),
        command: config.command_line.clone(),
        results: Vec::new(),
        summary: Summary::default(),
    };
    persist(files, &report);
    tokio::pin!(interrupt);
    let total = scenarios.len() * config.repeat as usize;
    let mut index = 0;
    'runs: for scenario in scenarios {
        for attempt in 1..=config.repeat {
            index += 1;
            observer.started(scenario, attempt, index, total);
            let outcome = tokio::select! {
                outcome = run_scenario(scenario, target, attempt, config.restart_on_exit) => outcome,
                why = &mut interrupt => {
                    report.interrupted = Some(format!("{why} during {} (run {attempt})", scenario.id));
                    break 'runs;
                }
            };
            let (finding, elapsed) = outcome;
            let result = result_of(
                scenario,
                attempt,
                finding,
                elapsed,
                target,
                &config.expectations,
            );
            observer.finished(&result, index, total);
            report.results.push(result);
            report.summary = Summary::of(&report.results, millis(started.elapsed()));
            persist(files, &report);
        }
    }
    report.complete = report.interrupted.is_none();
    report.finished_at = Some(now());
    report.summary = Summary::of(&report.results, millis(started.elapsed()));
    report
}

/// Rewrites the JSON report on disk, if the run writes one. A failure to
/// write is logged, not fatal: the run goes on and the final write retries.
fn persist(files: Option<&ReportFiles>, report: &Report) {
    if let Some(files) = files
        && let Err(err) = files.write_json(report)
    {
        tracing::warn!("cannot write {}: {err}", files.json().display());
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Turns a finding into a report entry.
pub fn result_of(
    scenario: &Scenario,
    attempt: u32,
    finding: Finding,
    elapsed: Duration,
    target: &TargetSession,
    expectations: &Expectations,
) -> ScenarioResult {
    let expected = expectations.expected(&scenario.id);
    let outcome = classify(finding.verdict, &expected);
    let (reason_kind, reason) = match finding.reason {
        Some((kind, reason)) => (Some(kind), Some(reason)),
        None => (None, None),
    };
    ScenarioResult {
        id: scenario.id.clone(),
        area: scenario.area.as_str().to_owned(),
        title: scenario.title.clone(),
        guarantee: scenario.guarantee.clone(),
        attempt,
        verdict: finding.verdict,
        reason_kind,
        reason,
        expected,
        outcome,
        evidence: finding.evidence,
        figures: finding.figures,
        timeline: finding.timeline,
        timeline_dropped: 0,
        duration_ms: millis(elapsed),
        budget_ms: scenario.budget_ms,
        repro: format!(
            "grpc-conformance run{} --filter {}",
            target.spec.cli_args(),
            scenario.id
        ),
    }
}
