//! The cross-implementation compatibility matrix as Markdown (`README.md`
//! beside the site, for readers of the repository): scenario × target,
//! built from several JSON reports. The HTML site is [`super::site`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::markdown::{cell, verdict_cell};
use super::{Report, ScenarioResult};

/// The cell of one scenario on one target: the worst verdict over its runs.
fn worst<'a>(results: &[&'a ScenarioResult]) -> Option<&'a ScenarioResult> {
    results
        .iter()
        .copied()
        .max_by_key(|result| match result.verdict {
            crate::verdict::Verdict::Pass => 0,
            crate::verdict::Verdict::Skip => 1,
            crate::verdict::Verdict::Fail => 2,
            crate::verdict::Verdict::Error => 3,
        })
}

struct Matrix<'a> {
    targets: Vec<&'a Report>,
    scenarios: BTreeSet<(&'a str, &'a str)>,
    cells: BTreeMap<(usize, &'a str), Vec<&'a ScenarioResult>>,
}

fn build(reports: &[Report]) -> Matrix<'_> {
    let mut matrix = Matrix {
        targets: reports.iter().collect(),
        scenarios: BTreeSet::new(),
        cells: BTreeMap::new(),
    };
    for (index, report) in reports.iter().enumerate() {
        for result in &report.results {
            matrix.scenarios.insert((&result.area, &result.id));
            matrix
                .cells
                .entry((index, &result.id))
                .or_default()
                .push(result);
        }
    }
    matrix
}

fn heading(report: &Report) -> String {
    if report.target.name.is_empty() {
        report.target.description.clone()
    } else {
        report.target.name.clone()
    }
}

/// Renders the matrix as Markdown.
pub fn render_markdown(reports: &[Report], title: &str) -> String {
    let matrix = build(reports);
    let mut out = format!("# {title}\n\n");
    out.push_str("| target | version | description | run | machine | pass | fail | skip | error |\n|---|---|---|---|---|---|---|---|---|\n");
    for report in &matrix.targets {
        let s = &report.summary;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&heading(report)),
            cell(&report.target.version),
            cell(&report.target.description),
            report.started_at,
            cell(&report.machine),
            s.pass,
            s.fail,
            s.skip,
            s.error
        );
    }
    out.push_str("\n| scenario |");
    for report in &matrix.targets {
        let _ = write!(out, " {} |", cell(&heading(report)));
    }
    out.push_str("\n|---|");
    for _ in &matrix.targets {
        out.push_str("---|");
    }
    out.push('\n');
    for (_, id) in &matrix.scenarios {
        let _ = write!(out, "| `{id}` |");
        for index in 0..matrix.targets.len() {
            let verdict = matrix
                .cells
                .get(&(index, *id))
                .and_then(|results| worst(results))
                .map_or_else(|| "—".to_owned(), verdict_cell);
            let _ = write!(out, " {verdict} |");
        }
        out.push('\n');
    }
    out
}
