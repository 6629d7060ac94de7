//! Per-target expectations: known failures (and known flaky scenarios), each
//! with a reason. A listed failure does not fail the run; a listed failure
//! that passes is reported, because stale expectations hide regressions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scenario::Catalog;
use crate::verdict::Verdict;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    known_failure: Vec<Entry>,
    #[serde(default)]
    known_flaky: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: toml::Spanned<String>,
    reason: String,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    matcher: glob::Pattern,
    reason: String,
}

/// What the expectations say of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "reason")]
pub enum Expected {
    Pass,
    KnownFailure(String),
    KnownFlaky(String),
}

/// How a result compares with its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    AsExpected,
    ExpectedFailure,
    Flaky,
    UnexpectedFailure,
    UnexpectedPass,
    Skipped,
}

impl Outcome {
    /// Whether this outcome fails the run.
    pub fn fails_run(self, allow_unexpected_pass: bool) -> bool {
        match self {
            Outcome::UnexpectedFailure => true,
            Outcome::UnexpectedPass => !allow_unexpected_pass,
            _ => false,
        }
    }
}

/// The expectations of one target.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub path: Option<PathBuf>,
    failures: Vec<Rule>,
    flaky: Vec<Rule>,
}

impl Expectations {
    /// Loads and checks an expectations file against the catalog: every
    /// entry must match at least one scenario, and no scenario may be both
    /// known-failing and known-flaky.
    pub fn load(path: &Path, catalog: &Catalog) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            format!(
                "{}: cannot read the expectations file: {err}",
                path.display()
            )
        })?;
        let file: File = toml::from_str(&text)
            .map_err(|err| crate::scenario::toml_error(path, &text, &err).to_string())?;
        let rules = |entries: Vec<Entry>| -> Result<Vec<Rule>, String> {
            entries
                .into_iter()
                .map(|entry| {
                    let (line, column) = crate::scenario::position(&text, entry.id.span().start);
                    let pattern = entry.id.into_inner();
                    let matcher = glob::Pattern::new(&pattern)
                        .map_err(|err| format!("{}:{line}:{column}: bad id pattern {pattern:?}: {err}", path.display()))?;
                    if !catalog.scenarios.iter().any(|s| matcher.matches(&s.id)) {
                        return Err(format!(
                            "{}:{line}:{column}: {pattern:?} matches no scenario (run `grpc-conformance list` for the ids)",
                            path.display()
                        ));
                    }
                    if entry.reason.trim().is_empty() {
                        return Err(format!("{}:{line}:{column}: {pattern:?} needs a reason", path.display()));
                    }
                    Ok(Rule {
                        pattern,
                        matcher,
                        reason: entry.reason,
                    })
                })
                .collect()
        };
        let expectations = Self {
            path: Some(path.to_owned()),
            failures: rules(file.known_failure)?,
            flaky: rules(file.known_flaky)?,
        };
        for scenario in &catalog.scenarios {
            let failing = expectations
                .failures
                .iter()
                .find(|r| r.matcher.matches(&scenario.id));
            let flaky = expectations
                .flaky
                .iter()
                .find(|r| r.matcher.matches(&scenario.id));
            if let (Some(failing), Some(flaky)) = (failing, flaky) {
                return Err(format!(
                    "{}: scenario {} is both a known failure ({:?}) and known flaky ({:?}); pick one",
                    path.display(),
                    scenario.id,
                    failing.pattern,
                    flaky.pattern
                ));
            }
        }
        Ok(expectations)
    }

    pub fn expected(&self, id: &str) -> Expected {
        if let Some(rule) = self.failures.iter().find(|r| r.matcher.matches(id)) {
            return Expected::KnownFailure(rule.reason.clone());
        }
        if let Some(rule) = self.flaky.iter().find(|r| r.matcher.matches(id)) {
            return Expected::KnownFlaky(rule.reason.clone());
        }
        Expected::Pass
    }
}

/// Compares a verdict with its expectation.
pub fn classify(verdict: Verdict, expected: &Expected) -> Outcome {
    match (verdict, expected) {
        (Verdict::Skip, _) => Outcome::Skipped,
        (Verdict::Pass, Expected::KnownFailure(_)) => Outcome::UnexpectedPass,
        (Verdict::Pass, _) => Outcome::AsExpected,
        (Verdict::Fail | Verdict::Error, Expected::KnownFailure(_)) => Outcome::ExpectedFailure,
        (Verdict::Fail | Verdict::Error, Expected::KnownFlaky(_)) => Outcome::Flaky,
        (Verdict::Fail | Verdict::Error, Expected::Pass) => Outcome::UnexpectedFailure,
    }
}
