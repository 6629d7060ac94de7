//! JUnit XML for CI test views: one test suite per area, one test case per
//! scenario run (`name` = scenario id, `classname` = `grpc-conformance.<area>`).
//! Known failures are reported as skipped with their reason, so that a CI
//! view shows them without failing the build.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{Report, ScenarioResult, run_suffix};
use crate::expectations::Outcome;
use crate::verdict::Verdict;

fn details(result: &ScenarioResult) -> String {
    let mut text = String::new();
    if let Some(reason) = &result.reason {
        text.push_str(reason);
        text.push('\n');
    }
    for line in &result.evidence {
        text.push_str("evidence: ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("reproduce: ");
    text.push_str(&result.repro);
    text
}

fn case(result: &ScenarioResult) -> TestCase {
    let message = result.reason.clone().unwrap_or_default();
    let status = match (result.verdict, result.outcome) {
        (_, Outcome::ExpectedFailure) | (_, Outcome::Flaky) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!("expected ({:?}): {message}", result.outcome));
            status.set_description(details(result));
            status
        }
        (Verdict::Pass, Outcome::UnexpectedPass) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(
                "unexpected pass: the expectations file lists this scenario as a known failure",
            );
            status.set_description(details(result));
            status
        }
        (Verdict::Pass, _) => TestCaseStatus::success(),
        (Verdict::Skip, _) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(message);
            status
        }
        (Verdict::Fail, _) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(message);
            status.set_description(details(result));
            status
        }
        (Verdict::Error, _) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(message);
            status.set_description(details(result));
            status
        }
    };
    let name = format!("{}{}", result.id, run_suffix(result.attempt));
    let mut case = TestCase::new(name, status);
    case.set_classname(format!("grpc-conformance.{}", result.area));
    case.set_time(Duration::from_millis(result.duration_ms));
    if !result.evidence.is_empty() && result.verdict == Verdict::Pass {
        case.set_system_out(result.evidence.join("\n"));
    }
    case
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> std::io::Result<String> {
    let role = if report.target.role.is_server() {
        ""
    } else {
        "client "
    };
    let mut junit = JunitReport::new(format!(
        "grpc-conformance: {role}{}",
        report.target.description
    ));
    let mut by_area: BTreeMap<&str, Vec<&ScenarioResult>> = BTreeMap::new();
    for result in &report.results {
        by_area.entry(&result.area).or_default().push(result);
    }
    let mut total = 0u64;
    for (area, results) in by_area {
        let mut suite = TestSuite::new(format!("grpc-conformance.{area}"));
        let mut time = 0u64;
        for result in results {
            time += result.duration_ms;
            suite.add_test_case(case(result));
        }
        suite.set_time(Duration::from_millis(time));
        total += time;
        junit.add_test_suite(suite);
    }
    junit.set_time(Duration::from_millis(total));
    junit.to_string().map_err(std::io::Error::other)
}
