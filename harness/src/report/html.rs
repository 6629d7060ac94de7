//! A self-contained HTML page of a report: summary, then one entry per
//! scenario run (`id` = its anchor, see [`site::links::anchor`]) with its
//! reason, evidence, figures, timeline picture and reproduction command.
//! Built with maud, which escapes every text from the report.
//!
//! [`site::links::anchor`]: super::site::links::anchor

use maud::{Markup, PreEscaped, html};

use super::markdown::verdict_cell;
use super::site::links;
use super::{Report, ScenarioResult, format_figure, svg_timeline};
use crate::verdict::Verdict;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem;color:#111827;max-width:1100px;line-height:1.4}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d1d5db;padding:4px 8px;text-align:left;vertical-align:top}
.pass{color:#047857;font-weight:600}.fail{color:#b91c1c;font-weight:600}.skip{color:#6b7280;font-weight:600}.error{color:#b45309;font-weight:600}
details{border:1px solid #e5e7eb;border-radius:6px;margin:.5em 0;padding:.4em .8em}summary{cursor:pointer}details:target{border:2px solid #7c3aed}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}svg.timeline{display:block;margin:.6em 0;background:#fafafa;border:1px solid #e5e7eb;max-width:100%;height:auto}";

/// Opens the entry a link points at (a closed `<details>` hides its
/// evidence otherwise).
const OPEN_TARGET: &str = "function o(){var e=location.hash&&document.getElementById(decodeURIComponent(location.hash.slice(1)));if(e&&e.tagName==='DETAILS'){e.open=true;e.scrollIntoView();}}addEventListener('hashchange',o);o();";

fn summary_table(report: &Report) -> Markup {
    let t = &report.target;
    let s = &report.summary;
    html! {
        table {
            @if !t.role.is_server() { tr { th { "tested" } td { "a client library, through its adapter; the suite's reference server observed" } } }
            @if !t.implementation.is_empty() { tr { th { "implementation" } td { (t.implementation) " " (t.version) } } }
            @if !t.threading.is_empty() { tr { th { "threading" } td { (t.threading) } } }
            tr { th { "capabilities" } td { (t.capabilities.join(", ")) } }
            @if let Some(limit) = t.advertised_max_streams { tr { th { "advertised max concurrent streams" } td { (limit) } } }
            @if let Some(capacity) = &t.handler_capacity { tr { th { "handler capacity" } td { (capacity.to_string()) } } }
            tr { th { "started" } td { (report.started_at) } }
            tr { th { "machine" } td { (report.machine) } }
            tr { th { "result" } td {
                span.pass { (s.pass) " pass" } ", " span.fail { (s.fail) " fail" } ", "
                span.skip { (s.skip) " skip" } ", " span.error { (s.error) " error" }
                " (" (s.expected_failures) " known failures, " (s.unexpected_failures) " unexpected failures, "
                (s.unexpected_passes) " unexpected passes) in " (format!("{:.1}", s.duration_ms as f64 / 1000.0)) " s"
                @if !report.complete { " — " b { "incomplete run" } }
            } }
        }
    }
}

fn timeline_note(result: &ScenarioResult) -> Markup {
    let all = result.timeline.len() + result.timeline_dropped;
    html! {
        @if result.timeline_dropped > 0 {
            @if result.timeline.is_empty() {
                p { "Timeline: " (all) " RPCs, drawn in the full report." }
            } @else {
                p { "Timeline: " (result.timeline.len()) " of " (all) " RPCs drawn (the full report draws more)." }
            }
        }
    }
}

fn entry(result: &ScenarioResult) -> Markup {
    let open = matches!(result.verdict, Verdict::Fail | Verdict::Error);
    let figures = result
        .figures
        .iter()
        .map(|(name, value)| format!("{name} = {}", format_figure(*value)))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        details id=(links::anchor(&result.id, result.attempt)) open[open] {
            summary {
                span class=(result.verdict.as_str()) { (verdict_cell(result)) } " "
                code { (result.id) } " " (result.title) (super::run_suffix(result.attempt))
            }
            @if !result.guarantee.is_empty() { p { i { (result.guarantee) } } }
            @if let Some(reason) = &result.reason { p.reason { b { "Reason:" } " " (reason) } }
            @if !result.evidence.is_empty() {
                ul.evidence { @for line in &result.evidence { li { (line) } } }
            }
            @if !figures.is_empty() { p { b { "Figures:" } " " (figures) } }
            // The svg crate escapes every text it writes (labels, tooltips).
            (PreEscaped(svg_timeline::render(&result.timeline)))
            (timeline_note(result))
            p {
                (result.duration_ms) " ms of a " (result.budget_ms) " ms budget. Reproduce: "
                code.repro { (result.repro) }
            }
        }
    }
}

/// Renders the report as one HTML page.
pub fn render(report: &Report) -> String {
    let title = format!(
        "gRPC concurrency conformance: {}",
        report.target.description
    );
    let body = html! {
        (summary_table(report))
        @for group in report.results.chunk_by(|a, b| a.area == b.area) {
            h2 { (group[0].area) }
            p { (super::site::model::guarantee(&group[0].area)) }
            @for result in group { (entry(result)) }
        }
    };
    super::layout::document(&title, STYLE, body, OPEN_TARGET)
}
