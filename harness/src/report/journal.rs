//! The JSON report of a run, written as the run goes: each result is
//! appended to `report.json` the moment its scenario finishes, and the run
//! keeps in memory only what its summaries need (the result without its
//! timeline, and where the full result lies in the file). A long run
//! (`--repeat 20`, a scale scenario's 2,000 spans per run) therefore holds
//! one result's timeline at a time, however many results it writes.
//!
//! While the run goes on, `report.json` is a valid partial report (marked
//! incomplete) with its results in the order they finished: each append is
//! one positioned write that replaces the closing bracket and the summary
//! with the new result, a new closing bracket and the new summary, so a
//! process killed at any moment leaves the results finished so far
//! readable. At the end, [`Journal::finish`] writes the final report (its
//! results in catalog order) to a temporary file, copying each result's
//! bytes from the partial one, and renames it over `report.json`. The
//! bytes are those `serde_json::to_vec_pretty` gives for the whole report.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Report, ScenarioResult, Summary, write_atomic};
use crate::timeline::Span;

/// How the results array opens in a pretty-printed report without results;
/// a newline cannot occur inside a JSON string, so this is the key itself.
const EMPTY_RESULTS: &str = "\n  \"results\": []";
/// Indentation of a result inside the results array.
const ITEM_INDENT: &str = "\n    ";
/// The results array's closing bracket when it holds results.
const CLOSE: &str = "\n  ]";

/// Where one result lies in the partial report, or why it is not there.
#[derive(Debug)]
struct Placed {
    /// Offset and length of its bytes in the partial report; `None` if it
    /// could not be written (then the run kept it whole in memory).
    at: Option<(u64, usize)>,
}

/// `report.json` being written as the run goes; see the module docs.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Where the next result goes: the results' closing bracket.
    tail_at: u64,
    /// The results written, in report order.
    placed: Vec<Placed>,
    /// Results appended to the file so far (in any order).
    written: usize,
    /// A write failed, perhaps halfway: the next one also cuts the file
    /// to its own end.
    torn: bool,
}

/// `report` without its results: what comes before and after them.
fn shell(report: &Report) -> Report {
    Report {
        schema: report.schema.clone(),
        suite_version: report.suite_version.clone(),
        target: report.target.clone(),
        started_at: report.started_at.clone(),
        finished_at: report.finished_at.clone(),
        complete: report.complete,
        interrupted: report.interrupted.clone(),
        machine: report.machine.clone(),
        command: report.command.clone(),
        results: Vec::new(),
        summary: report.summary.clone(),
    }
}

/// The pretty JSON of `report` without its results, cut where they go:
/// the text before the results array's `[` and the text after its `]`.
fn split(report: &Report) -> std::io::Result<(String, String)> {
    let pretty = serde_json::to_string_pretty(&shell(report)).map_err(std::io::Error::other)?;
    let at = pretty.find(EMPTY_RESULTS).ok_or_else(|| {
        std::io::Error::other("the report's JSON has no results array where one was expected")
    })?;
    let end = at + EMPTY_RESULTS.len();
    Ok((pretty[..end - 2].to_owned(), pretty[end..].to_owned()))
}

/// What follows the results: the summary and the end of the report.
fn after_results(summary: &Summary) -> std::io::Result<String> {
    let pretty = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
    Ok(format!(
        ",\n  \"summary\": {}\n}}",
        pretty.replace('\n', "\n  ")
    ))
}

/// One result as it stands in the results array (without the indentation
/// of its first line).
fn item(result: &ScenarioResult) -> std::io::Result<String> {
    let pretty = serde_json::to_string_pretty(result).map_err(std::io::Error::other)?;
    Ok(pretty.replace('\n', ITEM_INDENT))
}

impl Journal {
    /// Starts `path` as the partial report of `report` (no results yet).
    pub fn create(path: &Path, report: &Report) -> std::io::Result<Self> {
        let (before, after) = split(report)?;
        write_atomic(path, format!("{before}[]{after}").as_bytes())?;
        let file = File::options().read(true).write(true).open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            tail_at: before.len() as u64 + 1,
            placed: Vec::new(),
            written: 0,
            torn: false,
        })
    }

    /// The report's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `result`, which goes at `position` among the results the
    /// run holds (catalog order), and the run's summary so far. On an
    /// error nothing of it is in the file, and the result is recorded as
    /// kept in memory (the caller keeps it whole).
    pub fn append(
        &mut self,
        position: usize,
        result: &ScenarioResult,
        summary: &Summary,
    ) -> std::io::Result<()> {
        let written = self.write(result, summary);
        let at = written.as_ref().ok().copied();
        self.placed
            .insert(position.min(self.placed.len()), Placed { at });
        written.map(|_| ())
    }

    fn write(
        &mut self,
        result: &ScenarioResult,
        summary: &Summary,
    ) -> std::io::Result<(u64, usize)> {
        let item = item(result)?;
        let separator = if self.written == 0 { "" } else { "," };
        let chunk = format!(
            "{separator}{ITEM_INDENT}{item}{CLOSE}{}",
            after_results(summary)?
        );
        // One positioned write: the old closing bracket and summary are
        // replaced by the result and new ones in a single system call, and
        // the file only grows, so it never ends mid-result.
        if let Err(err) = self.file.write_all_at(chunk.as_bytes(), self.tail_at) {
            self.torn = true;
            return Err(err);
        }
        if self.torn {
            self.file.set_len(self.tail_at + chunk.len() as u64)?;
            self.torn = false;
        }
        let offset = self.tail_at + (separator.len() + ITEM_INDENT.len()) as u64;
        self.tail_at = offset + item.len() as u64;
        self.written += 1;
        Ok((offset, item.len()))
    }

    /// The result at `position` in the report as written (with its
    /// timeline), or `None` if it is not in the file.
    pub fn read(&self, position: usize) -> std::io::Result<Option<ScenarioResult>> {
        let Some((offset, len)) = self.placed.get(position).and_then(|placed| placed.at) else {
            return Ok(None);
        };
        let mut bytes = vec![0; len];
        self.file.read_exact_at(&mut bytes, offset)?;
        serde_json::from_slice(&bytes).map(Some).map_err(|err| {
            std::io::Error::other(format!(
                "{}: the result at byte {offset} does not read back: {err}",
                self.path.display()
            ))
        })
    }

    /// The timeline of the result at `position`: from the file if it is
    /// there (a read failure is logged and draws no timeline), else the
    /// one `result` kept in memory.
    pub fn timeline<'a>(&self, position: usize, result: &'a ScenarioResult) -> Cow<'a, [Span]> {
        match self.read(position) {
            Ok(Some(full)) => Cow::Owned(full.timeline),
            Ok(None) => Cow::Borrowed(&result.timeline),
            Err(err) => {
                tracing::warn!("cannot read a timeline back for the HTML report: {err}");
                Cow::Borrowed(&[])
            }
        }
    }

    /// Writes the final report: `report`'s fields, and its results in
    /// report order, each copied from the partial report (or serialised
    /// from `report` for one kept in memory). `report.results` are the
    /// results the run kept, one for each appended. Atomic: a temporary
    /// file renamed over the partial report.
    pub fn finish(self, report: &Report) -> std::io::Result<()> {
        if report.results.len() != self.placed.len() {
            return Err(std::io::Error::other(format!(
                "the run holds {} results but wrote {}",
                report.results.len(),
                self.placed.len()
            )));
        }
        let (before, after) = split(report)?;
        let dir = self
            .path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temporary = dir.join(format!(".report.json.{}.final.tmp", std::process::id()));
        let mut out = BufWriter::new(File::create(&temporary)?);
        out.write_all(before.as_bytes())?;
        out.write_all(b"[")?;
        let mut bytes = Vec::new();
        for (index, (placed, result)) in self.placed.iter().zip(&report.results).enumerate() {
            out.write_all(if index == 0 { b"" } else { b"," })?;
            out.write_all(ITEM_INDENT.as_bytes())?;
            match placed.at {
                Some((offset, len)) => {
                    bytes.resize(len, 0);
                    self.file.read_exact_at(&mut bytes, offset)?;
                    out.write_all(&bytes)?;
                }
                None => out.write_all(item(result)?.as_bytes())?,
            }
        }
        out.write_all(if self.placed.is_empty() {
            b"]"
        } else {
            CLOSE.as_bytes()
        })?;
        out.write_all(after.as_bytes())?;
        out.into_inner()
            .map_err(|err| err.into_error())?
            .sync_data()?;
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expectations::{Expected, Outcome};
    use crate::timeline::Label;
    use crate::verdict::Verdict;

    fn result(id: &str, attempt: u32, spans: u64) -> ScenarioResult {
        ScenarioResult {
            id: id.to_owned(),
            area: "channel".into(),
            title: format!("the \"{id}\" scenario\nover two lines"),
            guarantee: String::new(),
            attempt,
            verdict: Verdict::Pass,
            reason_kind: None,
            reason: None,
            expected: Expected::Pass,
            outcome: Outcome::AsExpected,
            evidence: vec!["\"results\": [] in a string".into()],
            figures: [("wall_ms".to_owned(), 1.5)].into_iter().collect(),
            timeline: (0..spans)
                .map(|index| Span {
                    label: Label::Numbered("RPC", index),
                    start_us: index,
                    first_message_us: None,
                    end_us: Some(index + 3),
                    ok: true,
                })
                .collect(),
            timeline_dropped: 0,
            duration_ms: 7,
            budget_ms: 1_000,
            repro: "grpc-conformance run".into(),
        }
    }

    fn report() -> Report {
        crate::report::test_report(Vec::new())
    }

    fn read_json(path: &Path) -> Report {
        let text = std::fs::read_to_string(path).expect("the report reads");
        serde_json::from_str(&text).expect("the report is valid JSON at every step")
    }

    #[test]
    fn the_partial_report_is_valid_after_every_append_and_the_final_one_is_pretty_json() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("report.json");
        let mut full = report();
        let mut journal = Journal::create(&path, &full).expect("created");
        assert!(read_json(&path).results.is_empty());
        // Finished out of order: b (order 2), a#1 (0), a#2 (1).
        let finished = [
            (2, result("b", 1, 3)),
            (0, result("a", 1, 5)),
            (1, result("a", 2, 0)),
        ];
        let mut kept: Vec<(usize, ScenarioResult)> = Vec::new();
        for (count, (order, done)) in finished.iter().enumerate() {
            let position = kept.partition_point(|(other, _)| other < order);
            full.summary = Summary::of(
                &kept
                    .iter()
                    .map(|(_, r)| r.clone())
                    .chain([done.clone()])
                    .collect::<Vec<_>>(),
                count as u64,
            );
            journal
                .append(position, done, &full.summary)
                .expect("appended");
            kept.insert(position, (*order, done.clone()));
            let partial = read_json(&path);
            assert_eq!(partial.results.len(), count + 1);
            assert_eq!(partial.summary, full.summary);
            assert!(!partial.complete);
        }
        for (position, (_, kept)) in kept.iter().enumerate() {
            let back = journal.read(position).expect("reads").expect("on disk");
            assert_eq!((&back.id, back.attempt), (&kept.id, kept.attempt));
            // A label reads back as text: compare as the JSON has them.
            assert_eq!(
                serde_json::to_value(&back.timeline).expect("json"),
                serde_json::to_value(&kept.timeline).expect("json")
            );
        }
        // What the run keeps: results without timelines.
        full.results = kept
            .iter()
            .map(|(_, r)| ScenarioResult {
                timeline: Vec::new(),
                ..r.clone()
            })
            .collect();
        full.complete = true;
        full.finished_at = Some("now".into());
        journal.finish(&full).expect("finished");
        full.results = kept.into_iter().map(|(_, r)| r).collect();
        let expected = serde_json::to_vec_pretty(&full).expect("serialises");
        assert_eq!(
            String::from_utf8(std::fs::read(&path).expect("reads")).expect("utf-8"),
            String::from_utf8(expected).expect("utf-8"),
            "the final report is byte for byte the pretty JSON of the whole report"
        );
    }

    #[test]
    fn a_report_without_results_finishes_as_pretty_json() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("report.json");
        let journal = Journal::create(&path, &report()).expect("created");
        journal.finish(&report()).expect("finished");
        let expected = serde_json::to_vec_pretty(&report()).expect("serialises");
        assert_eq!(std::fs::read(&path).expect("reads"), expected);
    }
}
