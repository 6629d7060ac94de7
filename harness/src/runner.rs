//! The runner: every scenario under its hard time budget, isolated from the
//! others (a driver that panics or hangs is that scenario's verdict alone),
//! several at once where they cannot disturb each other's evidence, results
//! streamed to disk as they finish (see [`crate::report::journal`]): the
//! run keeps each result without its timeline, so its memory does not grow
//! with its timelines however many runs it makes.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::drivers::{Ctx, Subject};
use crate::expectations::{Expectations, classify};
use crate::report::journal::Journal;
use crate::report::{
    Report, ReportFiles, SCHEMA, ScenarioResult, Summary, TargetSummary, run_suffix,
};
use crate::scenario::Scenario;
use crate::target::TargetSession;
use crate::verdict::{Finding, ReasonKind, Verdict};

/// Scenarios in flight at once against the embedded reference server by
/// default: its handlers are tokio tasks, most scenarios spend their time
/// waiting on purpose, and the exclusive ones run alone anyway.
pub const EMBEDDED_JOBS: usize = 8;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Runs of each scenario (to expose flakiness).
    pub repeat: u32,
    /// Scenarios in flight at once (at least 1). A scenario marked
    /// `exclusive` always runs alone.
    pub jobs: usize,
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

/// Why a scenario does not apply to this run: a client scenario with no
/// client adapter, or a server scenario in a run that tests a client.
fn subject_mismatch(scenario: &Scenario, target: &TargetSession) -> Option<String> {
    match (scenario.driver.subject, target.client()) {
        (Subject::Client, None) => Some(
            "a client scenario: it checks a client library through its adapter (run --client-cmd; the embedded run uses the suite's own tonic adapter)"
                .to_owned(),
        ),
        (Subject::Server, Some(client)) if client.only_clients => Some(
            "a server scenario: this run checks a client library (--client-cmd); servers are checked with --target or --server-cmd"
                .to_owned(),
        ),
        _ => None,
    }
}

/// Runs one scenario once against the target: capability check, hard budget,
/// panic isolation, and the target's death turned into evidence.
pub async fn run_scenario(
    scenario: &Scenario,
    target: &Arc<TargetSession>,
    attempt: u32,
    restart_on_exit: bool,
) -> (Finding, Duration) {
    let started = Instant::now();
    if let Some(reason) = subject_mismatch(scenario, target) {
        return (Finding::skip(reason), started.elapsed());
    }
    let needs = scenario.requirements();
    if let Some(missing) = needs.iter().find(|need| !target.has(**need)) {
        let finding = Finding::skip(format!(
            "the target lacks the capability {:?}: it needs that {} (found: {})",
            missing.as_str(),
            missing.how_to_get(),
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
    // Whatever ends this run (its budget, or the run being interrupted and
    // this future dropped) ends the driver and closes its connections too:
    // nothing it started outlives it, on this side or on the server.
    let run_end = EndOfRun {
        driver: task.abort_handle(),
        ctx: ctx.clone(),
    };
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
        Err(_) => Finding::with(
            Verdict::Fail,
            ReasonKind::Timeout,
            format!(
                "the scenario did not finish within its budget of {} ms: RPCs stalled",
                scenario.budget_ms
            ),
        ),
    };
    drop(run_end);
    let (notes, refused) = ctx.adaptations();
    finding.evidence.extend(notes);
    if refused > 0 {
        finding = finding
            .evidence(format!(
                "the server refused {refused} stream(s) with RST_STREAM REFUSED_STREAM (advertised SETTINGS_MAX_CONCURRENT_STREAMS: {}); the harness retried each, as gRPC clients do",
                target
                    .advertised_max_streams
                    .map_or_else(|| "none".to_owned(), |limit| limit.to_string())
            ))
            .figure("refused_streams", refused as f64);
    }
    if matches!(finding.verdict, Verdict::Fail | Verdict::Error)
        && let Some(capacity) = &target.handler_capacity
        && !capacity.at_least
    {
        // Context for any failure: a server that runs few handlers at once
        // fails every scenario that needs more of them in flight together.
        finding = finding
            .evidence(format!(
                "the target's handler capacity, measured before the scenarios: {capacity}"
            ))
            .figure("handler_capacity", capacity.streams as f64);
    }
    let (spans, dropped) = ctx.timeline().take();
    finding.timeline = spans;
    if dropped > 0 {
        finding = finding.evidence(format!("timeline: {dropped} further RPCs not drawn"));
    }
    if let Some(exit) = target.exited().await {
        let ended = format!(
            "the server process ended during this scenario ({})",
            exit.status
        );
        let tail = exit.to_string();
        if finding.verdict == Verdict::Fail {
            // The violation stands; its reason says first that the process
            // is gone, so that "N RPCs failed" is not read as the cause.
            if let Some((_, reason)) = &mut finding.reason {
                *reason = format!("{ended}: {reason}");
            }
            finding = finding.evidence(tail);
        } else {
            let mut error = Finding::with(Verdict::Error, ReasonKind::Target, ended);
            error.evidence = finding.evidence;
            error.figures = finding.figures;
            error.timeline = finding.timeline;
            finding = error.evidence(tail);
        }
    }
    (finding, started.elapsed())
}

/// Aborts a spawned task when dropped (a no-op once the task has ended).
/// Ends a run when dropped: aborts its driver task and closes the
/// connections of its channels.
struct EndOfRun {
    driver: tokio::task::AbortHandle,
    ctx: Ctx,
}

impl Drop for EndOfRun {
    fn drop(&mut self) {
        self.driver.abort();
        self.ctx.close_connections();
    }
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
    let expectations = expectations
        .path
        .as_ref()
        .map(|path| path.display().to_string());
    if let Some(client) = target.client().filter(|client| client.only_clients) {
        let hello = client.adapter.hello();
        return TargetSummary {
            name: name.to_owned(),
            description: format!(
                "client adapter `{}`{}, observed by the embedded reference server",
                client.adapter.command(),
                if hello.defect.is_empty() {
                    String::new()
                } else {
                    format!(" with the defect {}", hello.defect)
                }
            ),
            implementation: hello.implementation.clone(),
            version: hello.version.clone(),
            threading: hello.api.clone(),
            capabilities: Vec::new(),
            advertised_max_streams: None,
            handler_capacity: None,
            expectations,
            role: crate::drivers::Subject::Client,
        };
    }
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
        handler_capacity: target.handler_capacity.clone(),
        expectations,
        role: crate::drivers::Subject::Server,
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

/// One run of one scenario, as the runner schedules it.
struct Planned<'a> {
    scenario: &'a Scenario,
    attempt: u32,
    /// Its place in the report: catalog order, then attempt.
    order: usize,
}

/// The order runs start in. One at a time: the catalog's order. Several at
/// once: the exclusive scenarios first, each alone, then the others, up to
/// `jobs` at a time (starting each as a slot frees), so the exclusive ones
/// never wait for a drain in the middle of the run; among the others, those
/// with the largest budget first, so that a long one (a graceful stop, a
/// server that queues) overlaps the short ones instead of starting last.
fn plan<'a>(scenarios: &'a [Arc<Scenario>], repeat: u32, jobs: usize) -> Vec<Planned<'a>> {
    let mut runs: Vec<Planned<'a>> = scenarios
        .iter()
        .flat_map(|scenario| (1..=repeat).map(move |attempt| (scenario, attempt)))
        .enumerate()
        .map(|(order, (scenario, attempt))| Planned {
            scenario,
            attempt,
            order,
        })
        .collect();
    if jobs > 1 {
        // A stable sort keeps the catalog order within each group.
        runs.sort_by_key(|run| {
            let budget = if run.scenario.exclusive {
                0
            } else {
                run.scenario.budget_ms
            };
            (!run.scenario.exclusive, std::cmp::Reverse(budget))
        });
    }
    runs
}

/// Takes the next run that may start now, given the runs in flight: the
/// first of the queue, except that a run of a scenario that keeps its runs
/// apart (`one_run_at_a_time`) whose copy is running is passed over for
/// the next one. An exclusive run waits for the others to drain, and
/// nothing starts beside it.
fn next_run<'a, 'p>(
    queue: &mut VecDeque<&'p Planned<'a>>,
    running: &[&Planned<'a>],
    in_flight: usize,
    jobs: usize,
) -> Option<&'p Planned<'a>> {
    let first = queue.front()?;
    if first.scenario.exclusive {
        return if in_flight == 0 {
            queue.pop_front()
        } else {
            None
        };
    }
    if in_flight >= jobs || running.iter().any(|run| run.scenario.exclusive) {
        return None;
    }
    // Never past an exclusive run: it keeps its place.
    let startable = queue
        .iter()
        .take_while(|next| !next.scenario.exclusive)
        .position(|next| {
            !(next.scenario.one_run_at_a_time
                && running
                    .iter()
                    .any(|run| run.scenario.id == next.scenario.id))
        })?;
    queue.remove(startable)
}

/// What a run leaves: its report, and where its results were written.
#[derive(Debug)]
pub struct Recorded {
    /// The report, its results in catalog order. Results the journal holds
    /// have no timeline here (theirs is on disk); without a journal every
    /// result is whole.
    pub report: Report,
    /// `report.json` as the run wrote it; [`ReportFiles::write_run`]
    /// finishes it and writes the other formats.
    pub journal: Option<Journal>,
}

/// Runs `scenarios` (each `repeat` times, up to `config.jobs` at once) and
/// returns the report, its results in catalog order. With `files`, each
/// result is appended to the JSON report as it finishes and kept in memory
/// without its timeline, so an interruption (or the process being killed)
/// leaves a valid partial report. `interrupt` resolving stops the run: the
/// scenarios in flight are abandoned (their drivers aborted) and named in
/// the report.
pub async fn run(
    scenarios: &[Arc<Scenario>],
    target: &Arc<TargetSession>,
    config: &RunConfig,
    files: Option<&ReportFiles>,
    observer: &mut dyn Observer,
    interrupt: impl Future<Output = String>,
) -> Recorded {
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
    let mut journal = files.and_then(|files| {
        Journal::create(&files.json(), &report)
            .map_err(|err| {
                tracing::warn!(
                    "cannot write {}: {err}; the results stay in memory until the run ends",
                    files.json().display()
                );
            })
            .ok()
    });
    tokio::pin!(interrupt);
    let jobs = config.jobs.max(1);
    let runs = plan(scenarios, config.repeat, jobs);
    let total = runs.len();
    let mut queue: VecDeque<&Planned> = runs.iter().collect();
    let mut in_flight = FuturesUnordered::new();
    // What is running now: for the rule that an exclusive run has no
    // company, and for an interruption's note.
    let mut running: Vec<&Planned> = Vec::new();
    // Catalog order of each entry of `report.results`.
    let mut orders: Vec<usize> = Vec::new();
    let (mut begun, mut done) = (0, 0);
    loop {
        while let Some(run) = next_run(&mut queue, &running, in_flight.len(), jobs) {
            begun += 1;
            tracing::debug!("started {}{}", run.scenario.id, run_suffix(run.attempt));
            observer.started(run.scenario, run.attempt, begun, total);
            running.push(run);
            in_flight.push(async move {
                let outcome =
                    run_scenario(run.scenario, target, run.attempt, config.restart_on_exit).await;
                (run, outcome)
            });
        }
        let (run, (finding, elapsed)) = tokio::select! {
            finished = in_flight.next() => match finished {
                Some(finished) => finished,
                None => break,
            },
            why = &mut interrupt => {
                let during = running
                    .iter()
                    .map(|run| format!("{}{}", run.scenario.id, run_suffix(run.attempt)))
                    .collect::<Vec<_>>()
                    .join(", ");
                report.interrupted = Some(if during.is_empty() {
                    why
                } else {
                    format!("{why} during {during}")
                });
                break;
            }
        };
        running.retain(|other| other.order != run.order);
        tracing::debug!(
            "finished {}{} in {} ms",
            run.scenario.id,
            run_suffix(run.attempt),
            elapsed.as_millis()
        );
        let mut result = result_of(
            run.scenario,
            run.attempt,
            finding,
            elapsed,
            target,
            &config.expectations,
        );
        done += 1;
        observer.finished(&result, done, total);
        let at = orders.partition_point(|&order| order < run.order);
        orders.insert(at, run.order);
        let summary = Summary::of(
            report.results.iter().chain([&result]),
            millis(started.elapsed()),
        );
        if let Some(journal) = &mut journal {
            match journal.append(at, &result, &summary) {
                // On disk: its timeline is read back only to draw it.
                Ok(()) => result.timeline = Vec::new(),
                Err(err) => tracing::warn!(
                    "cannot append {} to {}: {err}; it stays in memory until the run ends",
                    result.id,
                    journal.path().display()
                ),
            }
        }
        report.results.insert(at, result);
        report.summary = summary;
    }
    report.complete = report.interrupted.is_none();
    report.finished_at = Some(now());
    report.summary = Summary::of(&report.results, millis(started.elapsed()));
    Recorded { report, journal }
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::drivers::{DriverError, DriverResult, PreparedRun};
    use crate::scenario::Area;
    use crate::target::TargetSpec;

    /// What the fake scenarios saw: how many were in flight at once, and
    /// whether an exclusive one ever had company.
    #[derive(Default)]
    struct Watch {
        started: Mutex<Vec<String>>,
        in_flight: AtomicUsize,
        most: AtomicUsize,
        exclusive_had_company: Mutex<Vec<String>>,
        /// Per scenario: its copies in flight now, and the most at once.
        copies: Mutex<std::collections::HashMap<String, (usize, usize)>>,
    }

    impl Watch {
        fn copies(&self, id: &str, change: isize) {
            let mut copies = self.copies.lock().unwrap_or_else(|e| e.into_inner());
            let (now, most) = copies.entry(id.to_owned()).or_default();
            *now = now.saturating_add_signed(change);
            *most = (*most).max(*now);
        }

        fn most_copies(&self, id: &str) -> usize {
            let copies = self.copies.lock().unwrap_or_else(|e| e.into_inner());
            copies.get(id).map_or(0, |&(_, most)| most)
        }
    }

    /// A scenario whose driver holds for `hold` while counting itself in
    /// flight: a driver shares the runtime with the others, so overlaps are
    /// real, and an exclusive one checks that it is alone before and after.
    fn fake(id: &str, exclusive: bool, hold: Duration, watch: &Arc<Watch>) -> Arc<Scenario> {
        let watch = Arc::clone(watch);
        let name = id.to_owned();
        let run: PreparedRun = Arc::new(move |_ctx| {
            let watch = Arc::clone(&watch);
            let name = name.clone();
            Box::pin(async move {
                watch
                    .started
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(name.clone());
                let now = watch.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                watch.most.fetch_max(now, Ordering::SeqCst);
                watch.copies(&name, 1);
                let check_alone = |watch: &Watch| {
                    if exclusive && watch.in_flight.load(Ordering::SeqCst) > 1 {
                        watch
                            .exclusive_had_company
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(name.clone());
                    }
                };
                check_alone(&watch);
                tokio::time::sleep(hold).await;
                check_alone(&watch);
                watch.copies(&name, -1);
                watch.in_flight.fetch_sub(1, Ordering::SeqCst);
                DriverResult::Ok(Finding::pass())
            }) as futures::future::BoxFuture<'static, DriverResult>
        });
        scenario(id, exclusive, run)
    }

    fn scenario(id: &str, exclusive: bool, run: PreparedRun) -> Arc<Scenario> {
        Arc::new(Scenario {
            id: id.to_owned(),
            area: Area::Channel,
            title: id.to_owned(),
            guarantee: String::new(),
            needs: Vec::new(),
            driver: &crate::drivers::DRIVERS[0],
            budget_ms: 10_000,
            defects: Vec::new(),
            notes: None,
            exclusive,
            one_run_at_a_time: false,
            path: std::path::PathBuf::from(format!("{id}.toml")),
            params: toml::Table::new(),
            run,
        })
    }

    async fn run_all(scenarios: &[Arc<Scenario>], jobs: usize, repeat: u32) -> Report {
        let target = embedded().await;
        let report = run_on(&target, scenarios, jobs, repeat).await;
        target.close().await;
        report
    }

    async fn embedded() -> Arc<TargetSession> {
        Arc::new(
            TargetSession::open(
                TargetSpec::Embedded {
                    config: conformance::server::ServerConfig::default(),
                },
                Vec::new(),
            )
            .await
            .expect("the embedded reference server"),
        )
    }

    async fn run_on(
        target: &Arc<TargetSession>,
        scenarios: &[Arc<Scenario>],
        jobs: usize,
        repeat: u32,
    ) -> Report {
        let config = RunConfig {
            repeat,
            jobs,
            restart_on_exit: false,
            expectations: Expectations::default(),
            target_name: "test".into(),
            command_line: String::new(),
        };
        let recorded = run(
            scenarios,
            target,
            &config,
            None,
            &mut Quiet,
            std::future::pending(),
        )
        .await;
        recorded.report
    }

    fn catalog(watch: &Arc<Watch>) -> Vec<Arc<Scenario>> {
        let hold = Duration::from_millis(150);
        vec![
            fake("channel.a", false, hold, watch),
            fake("channel.b", true, hold, watch),
            fake("channel.c", false, hold, watch),
            fake("channel.d", false, hold, watch),
            fake("channel.e", true, hold, watch),
            fake("channel.f", false, hold, watch),
        ]
    }

    fn ids(report: &Report) -> Vec<(String, u32)> {
        report
            .results
            .iter()
            .map(|result| (result.id.clone(), result.attempt))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_scenarios_overlap_and_exclusive_ones_run_alone() {
        let watch = Arc::new(Watch::default());
        let scenarios = catalog(&watch);
        let report = run_all(&scenarios, 3, 2).await;
        assert!(report.complete);
        assert_eq!(report.summary.pass, 12, "{:?}", ids(&report));
        // 8 shared runs, 3 slots: the slots fill.
        assert_eq!(watch.most.load(Ordering::SeqCst), 3);
        let company = watch
            .exclusive_had_company
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        assert!(
            company.is_empty(),
            "exclusive scenarios had company: {company:?}"
        );
        // Results in catalog order, attempts in order, whatever finished first.
        let expected: Vec<(String, u32)> = scenarios
            .iter()
            .flat_map(|s| [(s.id.clone(), 1), (s.id.clone(), 2)])
            .collect();
        assert_eq!(ids(&report), expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_job_runs_one_scenario_at_a_time_in_catalog_order() {
        let watch = Arc::new(Watch::default());
        let scenarios = catalog(&watch);
        let report = run_all(&scenarios, 1, 1).await;
        assert_eq!(report.summary.pass, 6);
        assert_eq!(watch.most.load(Ordering::SeqCst), 1);
        let order: Vec<&str> = scenarios.iter().map(|s| s.id.as_str()).collect();
        let got: Vec<String> = ids(&report).into_iter().map(|(id, _)| id).collect();
        assert_eq!(got, order);
        let started = watch.started.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(*started, order, "one at a time keeps the catalog's order");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scenario_that_keeps_its_runs_apart_still_runs_beside_others() {
        let watch = Arc::new(Watch::default());
        let hold = Duration::from_millis(100);
        let mut apart = (*fake("channel.apart", false, hold, &watch)).clone();
        apart.one_run_at_a_time = true;
        let scenarios = vec![Arc::new(apart), fake("channel.shared", false, hold, &watch)];
        let report = run_all(&scenarios, 4, 4).await;
        assert_eq!(report.summary.pass, 8, "{:?}", ids(&report));
        assert_eq!(watch.most_copies("channel.apart"), 1);
        // The other scenario's copies fill the slots beside it.
        assert!(watch.most_copies("channel.shared") >= 2);
        assert!(watch.most.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_a_scenario_leaves_open_ends_with_its_run() {
        // The driver opens a FullDuplexCall and hands it to a task of its
        // own that outlives the run, still holding the request sender:
        // only closing the run's connections can end that stream.
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        let ended_tx = Arc::new(Mutex::new(Some(ended_tx)));
        let run: PreparedRun = Arc::new(move |ctx: Ctx| {
            let ended_tx = Arc::clone(&ended_tx);
            Box::pin(async move {
                let channel = ctx.channel()?;
                let mut test = crate::drivers::prelude::test_client(channel.handle());
                let (requests, outbound) = tokio::sync::mpsc::channel(1);
                let mut responses = test
                    .full_duplex_call(tokio_stream::wrappers::ReceiverStream::new(outbound))
                    .await
                    .map_err(|status| DriverError::target(format!("FullDuplexCall: {status}")))?
                    .into_inner();
                tokio::spawn(async move {
                    let _requests = requests;
                    let _channel = channel;
                    let outcome =
                        tokio::time::timeout(Duration::from_secs(10), responses.message()).await;
                    let sender = ended_tx.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(sender) = sender {
                        let _ = sender.send(outcome.map(|message| message.is_err()));
                    }
                });
                DriverResult::Ok(Finding::pass())
            }) as futures::future::BoxFuture<'static, DriverResult>
        });
        // The server stays up until the stream's fate is known: its
        // shutdown would end the stream too.
        let target = embedded().await;
        let report = run_on(
            &target,
            &[scenario("channel.leaves-a-stream", false, run)],
            1,
            1,
        )
        .await;
        assert_eq!(report.summary.pass, 1, "{:?}", ids(&report));
        let outcome = tokio::time::timeout(Duration::from_secs(15), ended)
            .await
            .expect("the left stream's task reports");
        target.close().await;
        assert_eq!(
            outcome,
            Ok(Ok(true)),
            "the stream left open must fail once its run ended (Ok(Err(_)): still open after 10 s)"
        );
    }
}
