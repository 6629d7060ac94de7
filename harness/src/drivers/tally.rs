//! Counting outcomes into a verdict: a [`Tally`] of like RPCs renders the
//! standard "N of M … (first: …)" line; [`Checks`] collects a scenario's
//! separate checks into a finding.

use std::fmt::Display;

use super::{Call, RpcError};
use crate::verdict::Finding;

/// Outcomes of like RPCs: how many there were, which failed and how.
#[derive(Debug, Default)]
pub struct Tally {
    total: usize,
    failures: Vec<String>,
}

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one outcome; a failure is kept as "`label`: error". Returns
    /// the value of a success.
    pub fn record<T, E: Display>(
        &mut self,
        label: impl Display,
        outcome: Result<T, E>,
    ) -> Option<T> {
        self.total += 1;
        match outcome {
            Ok(value) => Some(value),
            Err(err) => {
                self.failures.push(format!("{label}: {err}"));
                None
            }
        }
    }

    /// Counts one RPC's outcome, a failure as "`label`: error" (a stall
    /// names what it waited for, the call's label, already). Returns the
    /// value of a success.
    pub fn count<T>(&mut self, label: &str, outcome: Result<T, RpcError>) -> Option<T> {
        match outcome {
            Ok(value) => {
                self.pass();
                Some(value)
            }
            Err(stalled @ RpcError::Stalled(_)) => {
                self.fail(stalled.to_string());
                None
            }
            Err(err) => {
                self.fail(format!("{label}: {err}"));
                None
            }
        }
    }

    /// Waits for each call, in order, and counts it under its label: the
    /// tally, and the values of those that succeeded.
    pub async fn join<T>(calls: Vec<Call<T>>) -> (Tally, Vec<T>) {
        let mut tally = Tally::new();
        let mut values = Vec::with_capacity(calls.len());
        for call in calls {
            let label = call.label().to_owned();
            values.extend(tally.count(&label, call.join().await));
        }
        (tally, values)
    }

    /// Tallies outcomes whose errors name their call themselves; returns
    /// the values of the successes too.
    pub fn of<T>(outcomes: impl IntoIterator<Item = Result<T, RpcError>>) -> (Tally, Vec<T>) {
        let mut tally = Tally::new();
        let mut values = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(value) => {
                    tally.pass();
                    values.push(value);
                }
                Err(err) => tally.fail(err.to_string()),
            }
        }
        (tally, values)
    }

    /// Counts one success.
    pub fn pass(&mut self) {
        self.total += 1;
    }

    /// Counts one failure, described by `what`.
    pub fn fail(&mut self, what: impl Into<String>) {
        self.total += 1;
        self.failures.push(what.into());
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    pub fn succeeded(&self) -> usize {
        self.total - self.failures.len()
    }

    pub fn all_passed(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// "F of N `what` (first: …)": the standard line for failed RPCs.
    pub fn line(&self, what: &str) -> String {
        match self.failures.first() {
            Some(first) => format!(
                "{} of {} {what} (first: {first})",
                self.failed(),
                self.total
            ),
            None => format!("0 of {} {what}", self.total),
        }
    }

    /// A failed finding: `line(what)`, with the next few failures as
    /// evidence.
    pub fn fail_finding(&self, what: &str) -> Finding {
        let mut finding = Finding::fail(self.line(what));
        for failure in self.failures.iter().skip(1).take(4) {
            finding = finding.evidence(failure.clone());
        }
        finding
    }
}

/// A scenario's separate checks: problems found and lines of evidence,
/// turned into one finding.
#[derive(Debug, Default)]
pub struct Checks {
    problems: Vec<String>,
    lines: Vec<String>,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem: the scenario fails, the first problem is its
    /// reason.
    pub fn problem(&mut self, what: impl Into<String>) {
        self.problems.push(what.into());
    }

    /// Records a line of evidence, whatever the verdict.
    pub fn line(&mut self, what: impl Into<String>) {
        self.lines.push(what.into());
    }

    /// Records `passed` as evidence when `ok`, `failed()` as a problem
    /// otherwise.
    pub fn expect(&mut self, ok: bool, passed: impl Into<String>, failed: impl FnOnce() -> String) {
        if ok {
            self.line(passed);
        } else {
            self.problem(failed());
        }
    }

    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Fail with "`failed`: first problem" (further problems, then the lines,
    /// as evidence), or pass with `passed` then the lines.
    pub fn finding(self, failed: &str, passed: impl Into<String>) -> Finding {
        let mut problems = self.problems.into_iter();
        let mut finding = match problems.next() {
            Some(first) => Finding::fail(format!("{failed}: {first}")),
            None => Finding::pass().evidence(passed),
        };
        for line in problems.chain(self.lines) {
            finding = finding.evidence(line);
        }
        finding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    fn stalled(what: &str) -> RpcError {
        RpcError::Stalled(super::super::Stalled {
            what: what.to_owned(),
            after: std::time::Duration::from_millis(5),
        })
    }

    #[test]
    fn a_tally_renders_the_standard_line() {
        let mut tally = Tally::new();
        assert_eq!(tally.count("a", Ok::<_, RpcError>(1)), Some(1));
        tally.count::<()>("b", Err(RpcError::wrong("a reply of another request")));
        tally.count::<()>("c", Err(stalled("c")));
        assert_eq!(
            (tally.total(), tally.failed(), tally.succeeded()),
            (3, 2, 1)
        );
        assert_eq!(
            tally.line("RPCs failed"),
            "2 of 3 RPCs failed (first: b: a reply of another request)"
        );
        // A stall names its call already: the label is not said twice.
        assert_eq!(tally.failures()[1], "c: no answer within 5 ms");
        let finding = tally.fail_finding("RPCs failed");
        assert_eq!(finding.verdict, Verdict::Fail);
        assert_eq!(finding.evidence, ["c: no answer within 5 ms"]);
    }

    #[test]
    fn checks_fail_with_the_first_problem_and_keep_the_rest_as_evidence() {
        let mut checks = Checks::new();
        checks.line("seen");
        checks.expect(true, "fine", || unreachable!());
        assert!(checks.passed());
        checks.problem("first");
        checks.expect(false, "unused", || "second".to_owned());
        let finding = checks.finding("it broke", "all good");
        assert_eq!(finding.verdict, Verdict::Fail);
        assert_eq!(
            finding.reason.map(|(_, reason)| reason).as_deref(),
            Some("it broke: first")
        );
        assert_eq!(finding.evidence, ["second", "seen", "fine"]);

        let mut clean = Checks::new();
        clean.line("seen");
        let finding = clean.finding("it broke", "all good");
        assert_eq!(finding.verdict, Verdict::Pass);
        assert_eq!(finding.evidence, ["all good", "seen"]);
    }
}
