//! Building the matrix from JSON reports: one cell per scenario and
//! target (its worst run), counted per promise.

use std::collections::BTreeMap;

use super::links;
use super::model::{Cell, Counts, Matrix, Role, SCHEMA, Scenario, Target};
use crate::report::{Report, ScenarioResult};
use crate::verdict::Verdict;

fn severity(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => 0,
        Verdict::Skip => 1,
        Verdict::Fail => 2,
        Verdict::Error => 3,
    }
}

fn target(report: &Report) -> Target {
    let mut worst: BTreeMap<&str, &ScenarioResult> = BTreeMap::new();
    for result in &report.results {
        let kept = worst.entry(&result.id).or_insert(result);
        if severity(result.verdict) > severity(kept.verdict) {
            *kept = result;
        }
    }
    let mut totals = Counts::default();
    let mut areas: BTreeMap<String, Counts> = BTreeMap::new();
    let mut cells = BTreeMap::new();
    for (id, result) in worst {
        totals.add(result.verdict);
        areas
            .entry(result.area.clone())
            .or_default()
            .add(result.verdict);
        let cell = Cell {
            verdict: result.verdict,
            outcome: result.outcome,
            reason: result.reason.clone(),
            anchor: (result.attempt > 1).then(|| links::anchor(id, result.attempt)),
        };
        cells.insert(id.to_owned(), cell);
    }
    let name = if report.target.name.is_empty() {
        report.target.description.clone()
    } else {
        report.target.name.clone()
    };
    let role = report.target.role;
    // A client library often shares its server's name (grpc-go): its
    // report gets a folder of its own.
    let folder = match role {
        Role::Server => links::folder_name(&name),
        Role::Client => links::folder_name(&format!("{name}-client")),
    };
    Target {
        folder,
        name,
        role,
        implementation: report.target.implementation.clone(),
        version: report.target.version.clone(),
        threading: report.target.threading.clone(),
        description: report.target.description.clone(),
        started_at: report.started_at.clone(),
        complete: report.complete,
        totals,
        areas,
        cells,
    }
}

/// The matrix of `reports`, in their order.
pub fn build(reports: &[Report], title: &str) -> Matrix {
    let mut scenarios: Vec<Scenario> = reports
        .iter()
        .flat_map(|report| &report.results)
        .map(|result| Scenario {
            area: result.area.clone(),
            id: result.id.clone(),
            title: result.title.clone(),
        })
        .collect();
    scenarios.sort();
    scenarios.dedup_by(|a, b| a.id == b.id);
    Matrix {
        schema: SCHEMA.to_owned(),
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        title: title.to_owned(),
        published: reports
            .iter()
            .map(|report| report.started_at.clone())
            .max()
            .unwrap_or_default(),
        targets: distinct_folders(reports.iter().map(target).collect()),
        scenarios,
        not_run: Vec::new(),
        since: None,
    }
}

/// Two reports of one target (shards of a run, say) each keep a folder of
/// their own: the later ones get `-2`, `-3`, ...
fn distinct_folders(mut targets: Vec<Target>) -> Vec<Target> {
    let mut taken = std::collections::BTreeSet::new();
    for target in &mut targets {
        let base = target.folder.clone();
        let mut n = 1;
        while !taken.insert(target.folder.clone()) {
            n += 1;
            target.folder = format!("{base}-{n}");
        }
    }
    targets
}
