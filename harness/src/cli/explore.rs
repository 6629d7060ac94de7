//! `grpc-conformance explore`: generated concurrent schedules against a
//! target; findings go into the JSON/Markdown report like scenario verdicts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::exit;
use super::run::{TargetArgs, open_target};
use crate::expectations::{Expected, Outcome};
use crate::explore::{ExploreConfig, explore};
use crate::report::{Report, ReportFiles, SCHEMA, ScenarioResult, Summary};
use crate::verdict::{ReasonKind, Verdict};

#[derive(Debug, Clone, Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Schedules to generate and run.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub cases: u32,
    /// Seed of the generator (printed with every finding, so that it replays).
    /// Default: a fresh random seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Seconds to spend generating and running (shrinking a finding has its
    /// own bound of 60 s).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = super::parse_duration_secs)]
    pub time_budget: Duration,
    /// Most RPCs in one schedule.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub max_rpcs: usize,
    /// Directory for report.json / report.md / report.html / report.xml.
    #[arg(long, value_name = "DIR", default_value = "out/explore")]
    pub out: PathBuf,
}

pub fn run(args: ExploreArgs) -> u8 {
    let runtime = match super::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    });
    runtime.block_on(async move {
        let target = match open_target(&args.target).await {
            Ok(target) => target,
            Err(code) => return code,
        };
        let config = ExploreConfig {
            cases: args.cases,
            seed,
            time_budget: args.time_budget,
            max_rpcs: args.max_rpcs,
            ..ExploreConfig::default()
        };
        eprintln!("exploring {} schedules (seed {seed}, budget {} s)…", args.cases, args.time_budget.as_secs());
        let outcome = explore(std::sync::Arc::clone(&target), config).await;
        let repro = format!(
            "grpc-conformance explore{} --cases {} --seed {seed} --max-rpcs {}",
            target.spec.cli_args(),
            args.cases,
            args.max_rpcs
        );
        target.close().await;
        let mut figures = BTreeMap::new();
        figures.insert("cases_run".to_owned(), outcome.cases_run as f64);
        figures.insert("seed".to_owned(), seed as f64);
        figures.insert("elapsed_s".to_owned(), (outcome.elapsed.as_secs_f64() * 10.0).round() / 10.0);
        let (verdict, reason, evidence) = match &outcome.failure {
            None => (
                Verdict::Pass,
                None,
                vec![format!(
                    "{} generated schedules on one shared channel matched the oracle{}",
                    outcome.cases_run,
                    if outcome.budget_exhausted { " (stopped by the time budget)" } else { "" }
                )],
            ),
            Some((schedule, why)) => {
                figures.insert("minimal_rpcs".to_owned(), schedule.rpcs.len() as f64);
                let mut lines = vec![format!("seed {seed} replays it: {repro}")];
                lines.extend(schedule.to_string().lines().map(str::to_owned));
                (Verdict::Fail, Some(why.clone()), lines)
            }
        };
        let outcome_kind = if verdict == Verdict::Pass { Outcome::AsExpected } else { Outcome::UnexpectedFailure };
        let result = ScenarioResult {
            id: "channel.explore-schedules".to_owned(),
            area: "channel".to_owned(),
            title: "Generated concurrent schedules on one shared channel".to_owned(),
            guarantee: "Concurrent RPCs of every kind on one channel each observe exactly what their own request asked for; a cancellation, deadline or error status affects only its own RPC.".to_owned(),
            attempt: 1,
            verdict,
            reason_kind: reason.as_ref().map(|_| ReasonKind::Violation),
            reason,
            expected: Expected::Pass,
            outcome: outcome_kind,
            evidence,
            figures,
            timeline: Vec::new(),
            timeline_dropped: 0,
            duration_ms: u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
            budget_ms: u64::try_from(args.time_budget.as_millis()).unwrap_or(u64::MAX),
            repro,
        };
        let report = Report {
            schema: SCHEMA.to_owned(),
            suite_version: env!("CARGO_PKG_VERSION").to_owned(),
            target: crate::runner::target_summary(&target, &args.target.target_name(None), &crate::expectations::Expectations::default()),
            started_at: String::new(),
            finished_at: None,
            complete: true,
            interrupted: None,
            machine: crate::runner::machine(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            summary: Summary::of(std::slice::from_ref(&result), result.duration_ms),
            results: vec![result.clone()],
        };
        let files = ReportFiles::new(&args.out);
        if let Err(err) = files.write_all(&report) {
            super::error(format!("cannot write the report to {}: {err}", args.out.display()));
        }
        match &outcome.failure {
            None => {
                eprintln!("{}", result.evidence.join("\n"));
                exit::OK
            }
            Some((schedule, why)) => {
                eprintln!("FOUND: {why}\nminimal schedule ({} RPCs):\n{schedule}reproduce: {}", schedule.rpcs.len(), result.repro);
                exit::NONCONFORMANT
            }
        }
    })
}
