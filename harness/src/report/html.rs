//! A self-contained HTML page of a report: summary, one section per
//! scenario with its evidence and its timeline picture.

use std::fmt::Write;

use super::markdown::verdict_cell;
use super::{Report, format_figure, svg_timeline};
use crate::verdict::Verdict;

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#111827;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d1d5db;padding:4px 8px;text-align:left;vertical-align:top}
.pass{color:#047857;font-weight:600}.fail{color:#b91c1c;font-weight:600}.skip{color:#6b7280;font-weight:600}.error{color:#b45309;font-weight:600}
details{border:1px solid #e5e7eb;border-radius:6px;margin:.5em 0;padding:.4em .8em}summary{cursor:pointer}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px}svg.timeline{display:block;margin:.6em 0;background:#fafafa;border:1px solid #e5e7eb}";

fn class(verdict: Verdict) -> &'static str {
    verdict.as_str()
}

/// Renders the report as one HTML page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let title = format!(
        "gRPC concurrency conformance: {}",
        report.target.description
    );
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(out, "<h1>{}</h1><table>", escape(&title));
    let mut row = |name: &str, value: String| {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(name), value);
    };
    if !report.target.implementation.is_empty() {
        row(
            "implementation",
            escape(&format!(
                "{} {}",
                report.target.implementation, report.target.version
            )),
        );
    }
    if !report.target.threading.is_empty() {
        row("threading", escape(&report.target.threading));
    }
    row(
        "capabilities",
        escape(&report.target.capabilities.join(", ")),
    );
    if let Some(limit) = report.target.advertised_max_streams {
        row("advertised max concurrent streams", limit.to_string());
    }
    if let Some(capacity) = &report.target.handler_capacity {
        row("handler capacity", escape(&capacity.to_string()));
    }
    row("started", escape(&report.started_at));
    row("machine", escape(&report.machine));
    row(
        "result",
        format!(
            "<span class=pass>{} pass</span>, <span class=fail>{} fail</span>, <span class=skip>{} skip</span>, <span class=error>{} error</span> ({} known failures, {} unexpected failures, {} unexpected passes) in {:.1} s{}",
            s.pass,
            s.fail,
            s.skip,
            s.error,
            s.expected_failures,
            s.unexpected_failures,
            s.unexpected_passes,
            s.duration_ms as f64 / 1000.0,
            if report.complete {
                ""
            } else {
                " &mdash; <b>incomplete run</b>"
            }
        ),
    );
    out.push_str("</table>");
    let mut area = "";
    for result in &report.results {
        if result.area != area {
            area = &result.area;
            let guarantee = crate::scenario::Area::named(area).map_or("", |a| a.guarantee());
            let _ = write!(out, "<h2>{}</h2><p>{}</p>", escape(area), escape(guarantee));
        }
        let open = if matches!(result.verdict, Verdict::Fail | Verdict::Error) {
            " open"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<details{open}><summary><span class={}>{}</span> <code>{}</code> {}</summary>",
            class(result.verdict),
            escape(&verdict_cell(result)),
            escape(&result.id),
            escape(&result.title)
        );
        let _ = write!(out, "<p><i>{}</i></p>", escape(&result.guarantee));
        if let Some(reason) = &result.reason {
            let _ = write!(out, "<p><b>Reason:</b> {}</p>", escape(reason));
        }
        if !result.evidence.is_empty() {
            out.push_str("<ul>");
            for line in &result.evidence {
                let _ = write!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul>");
        }
        if !result.figures.is_empty() {
            let figures = result
                .figures
                .iter()
                .map(|(name, value)| format!("{name} = {}", format_figure(*value)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(out, "<p><b>Figures:</b> {}</p>", escape(&figures));
        }
        out.push_str(&svg_timeline::render(&result.timeline));
        if result.timeline_dropped > 0 {
            let all = result.timeline.len() + result.timeline_dropped;
            if result.timeline.is_empty() {
                let _ = write!(
                    out,
                    "<p>Timeline: {all} RPCs, drawn in the full report.</p>"
                );
            } else {
                let _ = write!(
                    out,
                    "<p>Timeline: {} of {all} RPCs drawn (the full report draws more).</p>",
                    result.timeline.len()
                );
            }
        }
        let _ = write!(
            out,
            "<p>{} ms of a {} ms budget. Reproduce: <code>{}</code></p></details>",
            result.duration_ms,
            result.budget_ms,
            escape(&result.repro)
        );
    }
    out.push_str("</body></html>\n");
    out
}
