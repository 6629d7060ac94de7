//! The machine-readable matrix, `matrix.json` (schema [`SCHEMA`]): each
//! target's summary and the cell of every scenario on it, built from JSON
//! reports. The site is rendered from this model, and other tools read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::changes::Since;
use crate::expectations::Outcome;
use crate::verdict::Verdict;

pub use super::counts::Counts;

/// The schema this version writes; readers refuse any other.
pub const SCHEMA: &str = "grpc-conformance/matrix/v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Matrix {
    pub schema: String,
    pub suite_version: String,
    pub title: String,
    /// The latest start of a target's run: what this matrix publishes
    /// (taken from the reports, so regenerating it changes nothing).
    pub published: String,
    pub targets: Vec<Target>,
    /// Every scenario of any target, by area then id.
    pub scenarios: Vec<Scenario>,
    /// Targets the matrix could not run, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<NotRun>,
    /// What changed since a previous matrix, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

/// Which side of gRPC a target's run tested (its report's `role`): client
/// targets get a table of their own.
pub use crate::drivers::Subject as Role;

impl Target {
    /// Its name as the matrix's columns and filters show it: a client
    /// library is told apart from a server of the same name.
    pub fn label(&self) -> String {
        match self.role {
            Role::Server => self.name.clone(),
            Role::Client => format!("{} (client)", self.name),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub name: String,
    #[serde(default)]
    pub role: Role,
    /// The folder of its published report: `<folder>/report.html`.
    pub folder: String,
    pub implementation: String,
    pub version: String,
    pub threading: String,
    pub description: String,
    pub started_at: String,
    pub complete: bool,
    /// Cells by verdict, over every scenario.
    pub totals: Counts,
    /// Cells by verdict, per area (promise): channel, stream, handler.
    pub areas: BTreeMap<String, Counts>,
    /// The cell of each scenario it ran, by scenario id.
    pub cells: BTreeMap<String, Cell>,
}

/// One scenario on one target: its worst run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cell {
    pub verdict: Verdict,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The id of the run's entry in the target's report, when it is not
    /// the scenario id (a later run was the worst).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

impl Cell {
    /// The verdict as people read it: "FAIL (known)".
    pub fn label(&self) -> String {
        crate::report::markdown::verdict_label(self.verdict, self.outcome)
    }

    /// Whether the target kept this scenario's promise (a pass or a skip).
    pub fn kept(&self) -> bool {
        !matches!(self.verdict, Verdict::Fail | Verdict::Error)
    }

    /// The id of its entry in the target's report.
    pub fn anchor<'a>(&'a self, id: &'a str) -> &'a str {
        self.anchor.as_deref().unwrap_or(id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scenario {
    pub area: String,
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotRun {
    pub name: String,
    pub why: String,
}

/// Reads a matrix JSON, checking its schema.
pub fn read(path: &std::path::Path) -> Result<Matrix, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read: {err}", path.display()))?;
    let matrix: Matrix = serde_json::from_str(&text)
        .map_err(|err| format!("{}: not a grpc-conformance matrix: {err}", path.display()))?;
    if matrix.schema != SCHEMA {
        return Err(format!(
            "{}: matrix schema {:?} is not the supported {SCHEMA:?}",
            path.display(),
            matrix.schema
        ));
    }
    Ok(matrix)
}

impl Matrix {
    /// The areas (promises) of its scenarios: the suite's three in their
    /// order, then any other a report named.
    pub fn areas(&self) -> Vec<String> {
        let mut areas: Vec<String> = crate::scenario::Area::ALL
            .iter()
            .map(|area| area.as_str().to_owned())
            .collect();
        for scenario in &self.scenarios {
            if !areas.contains(&scenario.area) {
                areas.push(scenario.area.clone());
            }
        }
        areas
    }
}

/// The suite's statement of an area's promise ("" for an unknown area).
pub fn guarantee(area: &str) -> &'static str {
    crate::scenario::Area::named(area).map_or("", |area| area.guarantee())
}
