//! A self-contained HTML page of a report: summary, then one entry per
//! scenario run (`id` = its anchor, see [`site::links::anchor`]) with its
//! reason, evidence, figures, timeline picture and reproduction command.
//! A scenario run several times (`--repeat`) is summarised instead: its
//! runs' verdicts and durations, one table row per run, and full entries
//! for its first failing run and its first passing one only, so that the
//! page of a repeat run stays the size of a few runs' pages.
//! Built with maud, which escapes every text from the report.
//!
//! [`site::links::anchor`]: super::site::links::anchor

use std::borrow::Cow;

use maud::{Markup, PreEscaped, html};

use super::journal::Journal;
use super::markdown::verdict_cell;
use super::site::links;
use super::{Report, ScenarioResult, format_figure, svg_timeline};
use crate::timeline::Span;
use crate::verdict::Verdict;

/// Where the page finds the timelines it draws: in the report itself, or
/// (at the end of a run) in the run's journal on disk.
pub trait Timelines {
    /// The timeline of `result`, the report's result at `position`.
    fn timeline<'a>(&self, position: usize, result: &'a ScenarioResult) -> Cow<'a, [Span]>;
}

/// The timelines the report's results hold.
#[derive(Debug, Clone, Copy)]
pub struct InReport;

impl Timelines for InReport {
    fn timeline<'a>(&self, _position: usize, result: &'a ScenarioResult) -> Cow<'a, [Span]> {
        Cow::Borrowed(&result.timeline)
    }
}

impl Timelines for Journal {
    fn timeline<'a>(&self, position: usize, result: &'a ScenarioResult) -> Cow<'a, [Span]> {
        Journal::timeline(self, position, result)
    }
}

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

fn timeline_note(result: &ScenarioResult, timeline: &[Span]) -> Markup {
    let all = timeline.len() + result.timeline_dropped;
    html! {
        @if result.timeline_dropped > 0 {
            @if timeline.is_empty() {
                p { "Timeline: " (all) " RPCs, drawn in the full report." }
            } @else {
                p { "Timeline: " (timeline.len()) " of " (all) " RPCs drawn (the full report draws more)." }
            }
        }
    }
}

fn entry(result: &ScenarioResult, timeline: &[Span]) -> Markup {
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
            (PreEscaped(svg_timeline::render(timeline)))
            (timeline_note(result, timeline))
            p {
                (result.duration_ms) " ms of a " (result.budget_ms) " ms budget. Reproduce: "
                code.repro { (result.repro) }
            }
        }
    }
}

fn failed(result: &ScenarioResult) -> bool {
    matches!(result.verdict, Verdict::Fail | Verdict::Error)
}

/// The runs of one scenario shown in full in a repeat summary: its first
/// failing run and its first passing one (or, with neither, its first).
fn shown_in_full(runs: &[ScenarioResult]) -> Vec<usize> {
    let first_failing = runs.iter().position(failed);
    let first_passing = runs.iter().position(|run| run.verdict == Verdict::Pass);
    let mut shown: Vec<usize> = [first_failing, first_passing]
        .into_iter()
        .flatten()
        .collect();
    if shown.is_empty() {
        shown.push(0);
    }
    shown.sort_unstable();
    shown
}

/// "min 12 ms, median 14 ms, max 30 ms" of the runs' durations.
fn durations(runs: &[ScenarioResult]) -> String {
    let mut ms: Vec<u64> = runs.iter().map(|run| run.duration_ms).collect();
    ms.sort_unstable();
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2] as f64
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) as f64 / 2.0
    };
    format!(
        "min {} ms, median {} ms, max {} ms",
        ms.first().copied().unwrap_or(0),
        format_figure(median),
        ms.last().copied().unwrap_or(0)
    )
}

/// The verdicts of `runs`, counted: "18 pass, 2 fail".
fn verdict_counts(runs: &[ScenarioResult]) -> String {
    [Verdict::Pass, Verdict::Fail, Verdict::Skip, Verdict::Error]
        .into_iter()
        .filter_map(|verdict| {
            let count = runs.iter().filter(|run| run.verdict == verdict).count();
            (count > 0).then(|| format!("{count} {}", verdict.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One scenario run several times: counts, durations, a row per run (the
/// anchor of a run not shown in full), and the runs shown in full.
/// `first` is the position of `runs[0]` in the report.
fn repeat_summary(runs: &[ScenarioResult], first: usize, timelines: &dyn Timelines) -> Markup {
    let shown = shown_in_full(runs);
    let head = &runs[0];
    html! {
        section.repeats {
            h3 {
                code { (head.id) } " " (head.title) ": " (runs.len()) " runs, " (verdict_counts(runs))
            }
            p { "Durations: " (durations(runs)) ". The first failing run and the first passing run are shown in full; the JSON report holds every run." }
            table {
                tr { th { "run" } th { "verdict" } th { "duration" } th { "reason" } }
                @for (index, run) in runs.iter().enumerate() {
                    @let full = shown.contains(&index);
                    tr id=[(!full).then(|| links::anchor(&run.id, run.attempt))] {
                        td {
                            @if full { a href=(format!("#{}", links::encode(&links::anchor(&run.id, run.attempt)))) { (run.attempt) } }
                            @else { (run.attempt) }
                        }
                        td { span class=(run.verdict.as_str()) { (verdict_cell(run)) } }
                        td { (run.duration_ms) " ms" }
                        td { (run.reason.as_deref().unwrap_or("")) }
                    }
                }
            }
            @for index in shown {
                (entry(&runs[index], &timelines.timeline(first + index, &runs[index])))
            }
        }
    }
}

/// Renders the report as one HTML page.
pub fn render(report: &Report) -> String {
    render_with(report, &InReport)
}

/// Renders the report as one HTML page, drawing the timelines `timelines`
/// gives (one at a time).
pub fn render_with(report: &Report, timelines: &dyn Timelines) -> String {
    let title = format!(
        "gRPC concurrency conformance: {}",
        report.target.description
    );
    let mut position = 0;
    let mut scenarios = Vec::new();
    for runs in report.results.chunk_by(|a, b| a.id == b.id) {
        scenarios.push((position, runs));
        position += runs.len();
    }
    let body = html! {
        (summary_table(report))
        @for group in scenarios.chunk_by(|(_, a), (_, b)| a[0].area == b[0].area) {
            h2 { (group[0].1[0].area) }
            p { (super::site::model::guarantee(&group[0].1[0].area)) }
            @for (first, runs) in group {
                @if let [run] = runs {
                    (entry(run, &timelines.timeline(*first, run)))
                } @else {
                    (repeat_summary(runs, *first, timelines))
                }
            }
        }
    };
    super::layout::document(&title, STYLE, body, OPEN_TARGET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expectations::{Expected, Outcome};
    use crate::timeline::Label;

    /// A run of `id` with a timeline of 300 RPCs (a picture of some 40 KB).
    fn run(id: &str, attempt: u32, verdict: Verdict) -> ScenarioResult {
        ScenarioResult {
            id: id.to_owned(),
            area: "channel".into(),
            title: "a scenario".into(),
            guarantee: String::new(),
            attempt,
            verdict,
            reason_kind: None,
            reason: (verdict != Verdict::Pass).then(|| format!("run {attempt} failed")),
            expected: Expected::Pass,
            outcome: Outcome::AsExpected,
            evidence: vec!["every RPC answered".into()],
            figures: Default::default(),
            timeline: (0..300)
                .map(|index| Span {
                    label: Label::Numbered("UnaryCall", index),
                    start_us: index * 10,
                    first_message_us: Some(index * 10 + 5),
                    end_us: Some(index * 10 + 9),
                    ok: true,
                })
                .collect(),
            timeline_dropped: 0,
            duration_ms: 10 + u64::from(attempt),
            budget_ms: 1_000,
            repro: format!("grpc-conformance run --filter {id}"),
        }
    }

    /// Two scenarios, each run `repeat` times; the second fails its third run.
    fn report(repeat: u32) -> Report {
        let results: Vec<ScenarioResult> = ["channel.a", "channel.b"]
            .into_iter()
            .flat_map(|id| {
                (1..=repeat).map(move |attempt| {
                    let verdict = if id == "channel.b" && attempt == 3 {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    };
                    run(id, attempt, verdict)
                })
            })
            .collect();
        let mut report = crate::report::test_report(results);
        report.complete = true;
        report
    }

    #[test]
    fn a_repeat_run_draws_two_timelines_per_scenario_at_most() {
        let pictures = |page: &str| page.matches("<svg").count();
        let three = render(&report(3));
        let fifty = render(&report(50));
        // channel.a: its first passing run; channel.b: runs 1 and 3.
        assert_eq!(pictures(&three), 3);
        assert_eq!(pictures(&fifty), 3);
        // 47 more runs of each scenario add a table row each, not a page.
        let per_run = (fifty.len() - three.len()) / (2 * 47);
        assert!(
            per_run < 400,
            "each further run added {per_run} bytes to the page"
        );
        let single = render(&report(1));
        assert!(
            fifty.len() < 3 * single.len(),
            "50 runs: {} bytes, one run: {} bytes",
            fifty.len(),
            single.len()
        );
    }

    #[test]
    fn every_run_of_a_repeat_keeps_its_anchor_once() {
        let page = render(&report(4));
        for id in ["channel.a", "channel.b"] {
            for attempt in 1..=4 {
                let anchor = format!("id=\"{}\"", links::anchor(id, attempt));
                assert_eq!(page.matches(&anchor).count(), 1, "{anchor}");
            }
        }
        assert!(page.contains("4 runs, 3 pass, 1 fail"), "the counts");
        assert!(page.contains("min 11 ms, median 12.50 ms, max 14 ms"));
    }

    #[test]
    fn timelines_come_from_the_source_given() {
        struct Empty;
        impl Timelines for Empty {
            fn timeline<'a>(&self, _: usize, _: &'a ScenarioResult) -> Cow<'a, [Span]> {
                Cow::Borrowed(&[])
            }
        }
        let report = report(1);
        assert!(render(&report).contains("<svg"));
        assert!(!render_with(&report, &Empty).contains("<svg"));
    }
}
