//! What `reports/` holds of a report: every verdict, reason, evidence line
//! and figure, no timeline spans, and the JSON laid out one scenario result
//! a line (small, and a change to one result is a one-line diff).

use super::{Report, ReportFiles, html, write_atomic};

/// How many timeline spans a published scenario result keeps (see
/// [`Report::for_publication`]): none. With a dozen per scenario, eleven
/// targets' pictures and spans weighed 1.8 MB of reports/, more than all
/// their verdicts, reasons and evidence; the pictures are in the full
/// reports.
pub const PUBLISHED_SPANS: usize = 0;

impl Report {
    /// The report as it is committed and published: every verdict, reason,
    /// evidence line and figure, no per-scenario guarantee sentence, and at most `max_spans` timeline spans per
    /// scenario, sampled evenly by start time so a picture keeps its shape;
    /// the others are counted in `timeline_dropped`. The full report is
    /// written beside the run that made it.
    pub fn for_publication(&self, max_spans: usize) -> Report {
        let mut published = self.clone();
        for result in &mut published.results {
            // Each scenario's guarantee sentence, repeated in every target's
            // JSON and page, weighed a fifth of reports/; the page states
            // each promise once, the scenario files state the rest.
            result.guarantee.clear();
            let total = result.timeline.len();
            if total <= max_spans {
                continue;
            }
            let spans = std::mem::take(&mut result.timeline);
            let keep: std::collections::BTreeSet<usize> =
                (0..max_spans).map(|i| i * total / max_spans).collect();
            result.timeline = spans
                .into_iter()
                .enumerate()
                .filter(|(index, _)| keep.contains(index))
                .map(|(_, span)| span)
                .collect();
            result.timeline_dropped += total - result.timeline.len();
        }
        published
    }
}

/// The JSON of a published report: the pretty layout, but each scenario
/// result on a line of its own (compact), which saves a sixth of the size.
pub fn json(report: &Report) -> std::io::Result<Vec<u8>> {
    let mut head = report.clone();
    head.results.clear();
    let pretty = serde_json::to_string_pretty(&head).map_err(std::io::Error::other)?;
    let results = report
        .results
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let marker = "\n  \"results\": [],";
    let lines = if results.is_empty() {
        "[]".to_owned()
    } else {
        format!("[\n    {}\n  ]", results.join(",\n    "))
    };
    match pretty.find(marker) {
        Some(at) => Ok(format!(
            "{}\n  \"results\": {lines},{}\n",
            &pretty[..at],
            &pretty[at + marker.len()..]
        )
        .into_bytes()),
        // The layout is a nicety: without the marker, plain pretty JSON.
        None => serde_json::to_vec_pretty(report).map_err(std::io::Error::other),
    }
}

impl ReportFiles {
    /// Writes the published copy of a report, [`Report::for_publication`]
    /// with [`PUBLISHED_SPANS`], as `reports/` holds it: the JSON (the
    /// source of truth, from which the site is regenerated) and the HTML
    /// page the site's cells link to. No Markdown: the site replaces it.
    pub fn write_published(&self, report: &Report) -> std::io::Result<()> {
        let report = report.for_publication(PUBLISHED_SPANS);
        write_atomic(&self.json(), &json(&report)?)?;
        write_atomic(
            &self.dir.join("report.html"),
            html::render(&report).as_bytes(),
        )
    }
}
