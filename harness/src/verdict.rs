//! What a scenario run concludes: the verdict, the reason and the evidence
//! behind it, measured figures, and the per-RPC timeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::timeline::Span;

/// The verdict of one scenario run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The guarantee held, with evidence.
    Pass,
    /// The target broke the guarantee (reason and evidence say how).
    Fail,
    /// The scenario could not apply to this target (reason says why).
    Skip,
    /// The run could not reach a verdict: the harness or the target broke.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
            Verdict::Error => "error",
        }
    }
}

/// Why a verdict other than pass was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonKind {
    /// The evidence contradicts the guarantee.
    Violation,
    /// The scenario did not finish within its time budget.
    Timeout,
    /// The target lacks a capability the scenario needs.
    Capability,
    /// The target stopped answering or died.
    Target,
    /// The harness itself failed (a driver panicked, bad parameters).
    Harness,
}

/// What a driver found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub verdict: Verdict,
    pub reason: Option<(ReasonKind, String)>,
    pub evidence: Vec<String>,
    pub figures: BTreeMap<String, f64>,
    pub timeline: Vec<Span>,
}

impl Finding {
    pub fn pass() -> Self {
        Self {
            verdict: Verdict::Pass,
            reason: None,
            evidence: Vec::new(),
            figures: BTreeMap::new(),
            timeline: Vec::new(),
        }
    }

    pub fn fail(reason: impl Into<String>) -> Self {
        Self::with(Verdict::Fail, ReasonKind::Violation, reason)
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Self::with(Verdict::Skip, ReasonKind::Capability, reason)
    }

    pub fn with(verdict: Verdict, kind: ReasonKind, reason: impl Into<String>) -> Self {
        Self {
            reason: Some((kind, reason.into())),
            verdict,
            ..Self::pass()
        }
    }

    /// Adds one line of evidence.
    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    /// Adds a measured figure.
    pub fn figure(mut self, name: &str, value: f64) -> Self {
        self.figures.insert(name.to_owned(), value);
        self
    }
}
