//! Markdown rendering of a report, for publishing.

use std::fmt::Write;

use super::{Report, ScenarioResult, format_figure, run_suffix};
use crate::expectations::Outcome;

fn figures(result: &ScenarioResult) -> String {
    result
        .figures
        .iter()
        .map(|(name, value)| format!("{name}={}", format_figure(*value)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text from a target (names, reasons, evidence) made inert in Markdown:
/// HTML in it is shown, never rendered.
pub(crate) fn text(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// [`text`] fit for a table cell: one line, pipes escaped.
pub(crate) fn cell(raw: &str) -> String {
    text(raw).replace('|', "\\|").replace('\n', " ")
}

/// A verdict as a table cell, with the expectation where it matters.
pub fn verdict_cell(result: &ScenarioResult) -> String {
    verdict_label(result.verdict, result.outcome)
}

/// A verdict as people read it, with the expectation where it matters:
/// "FAIL (known)".
pub fn verdict_label(verdict: crate::verdict::Verdict, outcome: Outcome) -> String {
    let verdict = verdict.as_str().to_uppercase();
    match outcome {
        Outcome::ExpectedFailure => format!("{verdict} (known)"),
        Outcome::Flaky => format!("{verdict} (known flaky)"),
        Outcome::UnexpectedPass => format!("{verdict} (unexpected)"),
        _ => verdict,
    }
}

/// Renders the report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "# gRPC concurrency conformance: {}\n",
        text(&report.target.description)
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    if !report.target.role.is_server() {
        let _ = writeln!(
            out,
            "| tested | a client library, through its adapter; the suite's reference server observed |"
        );
    }
    if !report.target.implementation.is_empty() {
        let _ = writeln!(
            out,
            "| implementation | {} {} |",
            cell(&report.target.implementation),
            cell(&report.target.version)
        );
    }
    if !report.target.threading.is_empty() {
        let _ = writeln!(out, "| threading | {} |", cell(&report.target.threading));
    }
    let _ = writeln!(
        out,
        "| capabilities | {} |",
        report.target.capabilities.join(", ")
    );
    if let Some(limit) = report.target.advertised_max_streams {
        let _ = writeln!(out, "| advertised max concurrent streams | {limit} |");
    }
    if let Some(capacity) = &report.target.handler_capacity {
        let _ = writeln!(
            out,
            "| handler capacity | {} |",
            cell(&capacity.to_string())
        );
    }
    let _ = writeln!(out, "| started | {} |", report.started_at);
    let _ = writeln!(out, "| machine | {} |", cell(&report.machine));
    let _ = writeln!(out, "| suite | grpc-conformance {} |", report.suite_version);
    let _ = writeln!(
        out,
        "| result | {} pass, {} fail, {} skip, {} error ({} known failures, {} unexpected failures, {} unexpected passes) in {:.1} s |",
        s.pass,
        s.fail,
        s.skip,
        s.error,
        s.expected_failures,
        s.unexpected_failures,
        s.unexpected_passes,
        s.duration_ms as f64 / 1000.0
    );
    if !report.complete {
        let _ = writeln!(
            out,
            "\n**Incomplete run**{}\n",
            report
                .interrupted
                .as_deref()
                .map(|why| format!(": {why}"))
                .unwrap_or_default()
        );
    }
    let mut area = "";
    for result in &report.results {
        if result.area != area {
            area = &result.area;
            let guarantee = crate::scenario::Area::named(area).map_or("", |a| a.guarantee());
            let _ = writeln!(out, "\n## {area}\n\n{guarantee}\n");
            let _ = writeln!(
                out,
                "| scenario | verdict | figures | reason |\n|---|---|---|---|"
            );
        }
        let _ = writeln!(
            out,
            "| `{}`{} | {} | {} | {} |",
            result.id,
            run_suffix(result.attempt),
            verdict_cell(result),
            cell(&figures(result)),
            cell(result.reason.as_deref().unwrap_or(""))
        );
    }
    let failures: Vec<&ScenarioResult> = report
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.verdict,
                crate::verdict::Verdict::Fail | crate::verdict::Verdict::Error
            )
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures and errors\n");
        for result in failures {
            let _ = writeln!(out, "### `{}`: {}\n", result.id, result.title);
            if !result.guarantee.is_empty() {
                let _ = writeln!(out, "Guarantee: {}\n", result.guarantee);
            }
            if let Some(reason) = &result.reason {
                let _ = writeln!(out, "**{}**: {}\n", verdict_cell(result), text(reason));
            }
            if let crate::expectations::Expected::KnownFailure(why) = &result.expected {
                let _ = writeln!(out, "Known failure: {}\n", text(why));
            }
            for line in &result.evidence {
                let _ = writeln!(out, "- {}", text(line));
            }
            let _ = writeln!(out, "\nReproduce: `{}`\n", result.repro);
        }
    }
    out
}
