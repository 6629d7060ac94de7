//! Reports. The JSON report (versioned schema) is the source of truth; the
//! JUnit XML, Markdown and HTML renderings, the cross-implementation
//! matrix and the published site are made from it. Every file is written
//! atomically; a run's JSON report is also written as the run goes, one
//! result at a time ([`journal`]), so that the run holds no timeline longer
//! than it takes to write it.

pub mod html;
pub mod journal;
pub mod junit;
mod layout;
pub mod markdown;
pub mod matrix;
mod publication;
pub mod site;
mod svg_timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::expectations::{Expected, Outcome};
use crate::timeline::Span;
use crate::verdict::{ReasonKind, Verdict};

pub use publication::PUBLISHED_SPANS;

/// The JSON schema this version writes.
pub const SCHEMA: &str = "grpc-conformance/report/v1";

/// One run against one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub suite_version: String,
    pub target: TargetSummary,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// False while the run is going on, or if it was interrupted.
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub machine: String,
    pub command: String,
    pub results: Vec<ScenarioResult>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetSummary {
    /// A stable name for matrices ("tonic", "grpc-go", or the description).
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub implementation: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub threading: String,
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised_max_streams: Option<u32>,
    /// Stream handlers the server ran at once, measured with TestService
    /// before the scenarios, and what became of the next stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_capacity: Option<crate::target::HandlerCapacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectations: Option<String>,
    /// What the run tested: a server (the default, left out of the JSON) or
    /// a client library through its adapter (`--client-cmd`).
    #[serde(default, skip_serializing_if = "crate::drivers::Subject::is_server")]
    pub role: crate::drivers::Subject,
}

/// How a run of a scenario is told apart from its others wherever runs are
/// named (reports, progress, an interruption's note): " (run N)" from the
/// second run on, nothing for the first.
pub fn run_suffix(attempt: u32) -> String {
    if attempt > 1 {
        format!(" (run {attempt})")
    } else {
        String::new()
    }
}

/// One scenario run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub area: String,
    pub title: String,
    /// The scenario's own statement of its guarantee (published copies
    /// leave it out: its file and `explain` have it, and the page states
    /// each promise once).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub guarantee: String,
    pub attempt: u32,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_kind: Option<ReasonKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub expected: Expected,
    pub outcome: Outcome,
    pub evidence: Vec<String>,
    pub figures: BTreeMap<String, f64>,
    pub timeline: Vec<Span>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeline_dropped: usize,
    pub duration_ms: u64,
    pub budget_ms: u64,
    /// The exact command that reruns this scenario against this target.
    pub repro: String,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    pub expected_failures: usize,
    pub flaky: usize,
    pub unexpected_failures: usize,
    pub unexpected_passes: usize,
    pub duration_ms: u64,
}

impl Summary {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a ScenarioResult>, duration_ms: u64) -> Self {
        let mut summary = Summary {
            duration_ms,
            ..Summary::default()
        };
        for result in results {
            summary.total += 1;
            match result.verdict {
                Verdict::Pass => summary.pass += 1,
                Verdict::Fail => summary.fail += 1,
                Verdict::Skip => summary.skip += 1,
                Verdict::Error => summary.error += 1,
            }
            match result.outcome {
                Outcome::ExpectedFailure => summary.expected_failures += 1,
                Outcome::Flaky => summary.flaky += 1,
                Outcome::UnexpectedFailure => summary.unexpected_failures += 1,
                Outcome::UnexpectedPass => summary.unexpected_passes += 1,
                Outcome::AsExpected | Outcome::Skipped => {}
            }
        }
        summary
    }
}

/// Writes `contents` to `path` atomically (a temporary file of a name of its
/// own beside it, then a rename), so a reader never sees half a report and a
/// failed write leaves no stray file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    temporary.write_all(contents)?;
    // A temporary file is private (0600); a report is for anyone to read,
    // as a file written in place would be.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temporary.persist(path).map(drop).map_err(|err| err.error)
}

/// The report files of one run.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub dir: PathBuf,
}

impl ReportFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn json(&self) -> PathBuf {
        self.dir.join("report.json")
    }

    /// Checks, before anything runs, that the reports can be written there:
    /// creates the directory and a file in it (then removes the file).
    pub fn check_writable(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let probe = self
            .dir
            .join(format!(".write-check.{}.tmp", std::process::id()));
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)
    }

    /// Writes the JSON report of a report held whole in memory (a run
    /// writes its own as it goes, see [`journal`]).
    pub fn write_json(&self, report: &Report) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
        write_atomic(&self.json(), &json)
    }

    /// Writes every format of a report held whole in memory. Returns the
    /// paths written.
    pub fn write_all(&self, report: &Report) -> std::io::Result<Vec<PathBuf>> {
        self.write_json(report)?;
        self.write_renderings(report, &html::InReport)
    }

    /// Writes every format at the end of a run: the JSON from the run's
    /// journal (which holds the timelines the run did not keep), the other
    /// formats from `report`, the HTML drawing the timelines it shows from
    /// the journal, one at a time. Without a journal (it could not be
    /// started), `report` is whole and written as [`ReportFiles::write_all`]
    /// does. Returns the paths written.
    pub fn write_run(
        &self,
        report: &Report,
        journal: Option<journal::Journal>,
    ) -> std::io::Result<Vec<PathBuf>> {
        let Some(journal) = journal else {
            return self.write_all(report);
        };
        // The renderings first: they read timelines from the partial
        // report, which the final one then replaces.
        let mut written = self.write_renderings(report, &journal)?;
        journal.finish(report)?;
        written.insert(0, self.json());
        Ok(written)
    }

    /// JUnit, Markdown and HTML. Returns the paths written.
    fn write_renderings(
        &self,
        report: &Report,
        timelines: &dyn html::Timelines,
    ) -> std::io::Result<Vec<PathBuf>> {
        let junit = self.dir.join("report.xml");
        write_atomic(&junit, junit::render(report)?.as_bytes())?;
        let markdown = self.dir.join("report.md");
        write_atomic(&markdown, markdown::render(report).as_bytes())?;
        let html = self.dir.join("report.html");
        write_atomic(&html, html::render_with(report, timelines).as_bytes())?;
        Ok(vec![junit, markdown, html])
    }
}

/// Reads a JSON report, checking its schema.
pub fn read(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read: {err}", path.display()))?;
    let report: Report = serde_json::from_str(&text).map_err(|err| {
        format!(
            "{}: not a grpc-conformance JSON report: {err}",
            path.display()
        )
    })?;
    if report.schema != SCHEMA {
        return Err(format!(
            "{}: report schema {:?} is not the supported {SCHEMA:?}",
            path.display(),
            report.schema
        ));
    }
    Ok(report)
}

/// Formats a figure for people: integers without decimals.
pub fn format_figure(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// A report around `results` for unit tests of the writers and renderers.
#[cfg(test)]
pub(crate) fn test_report(results: Vec<ScenarioResult>) -> Report {
    Report {
        schema: SCHEMA.to_owned(),
        suite_version: "0".into(),
        target: TargetSummary::default(),
        started_at: "then".into(),
        finished_at: None,
        complete: false,
        interrupted: None,
        machine: "here".into(),
        command: "run".into(),
        summary: Summary::of(&results, 0),
        results,
    }
}
