//! Ctrl-C (SIGINT) leaves a valid partial JSON report marked incomplete,
//! and a run killed outright (SIGKILL, no chance to write anything more)
//! still leaves every result it had finished readable.

use std::path::Path;
use std::process::Child;

use crate::support::{BIN, catalog, read_report, wait_for_results};

/// A run that lasts long enough to be stopped midway: a quick scenario, 200
/// times, its reports in `out`.
fn long_run(out: &Path) -> Child {
    std::process::Command::new(BIN)
        .args([
            "run",
            "--filter",
            "handler.slow-handler",
            "--repeat",
            "200",
            "--scenarios",
            catalog().to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .env("CI", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the CLI runs")
}

#[test]
fn interrupting_a_run_leaves_a_valid_partial_report() {
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = long_run(out.path());
    wait_for_results(out.path(), 2);
    let signalled = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let status = child.wait().expect("the CLI ends");
    assert_eq!(status.code(), Some(130));
    let report = read_report(out.path());
    assert_eq!(report["complete"], false);
    // Several runs were in flight (8 at once against the embedded server):
    // the note names what was abandoned.
    let why = report["interrupted"].as_str().expect("why");
    assert!(why.contains("interrupted"), "{why}");
    assert!(why.contains("during handler.slow-handler"), "{why}");
    let results = report["results"].as_array().expect("results").len();
    assert!((2..200).contains(&results), "{results} results");
    assert!(
        out.path().join("report.html").exists(),
        "the other formats are written too"
    );
}

#[test]
fn a_killed_run_leaves_the_results_it_finished_on_disk() {
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = long_run(out.path());
    wait_for_results(out.path(), 3);
    child.kill().expect("SIGKILL");
    child.wait().expect("the CLI ends");
    // Written as each result finished: valid JSON, marked incomplete, and
    // every result whole (its timeline too).
    let report = read_report(out.path());
    assert_eq!(report["complete"], false);
    let results = report["results"].as_array().expect("results");
    assert!(
        (3..200).contains(&results.len()),
        "{} results",
        results.len()
    );
    for result in results {
        assert_eq!(result["id"], "handler.slow-handler");
        assert!(result["verdict"].is_string(), "{result}");
        assert!(
            !result["timeline"]
                .as_array()
                .expect("a timeline")
                .is_empty(),
            "{result}"
        );
    }
    assert_eq!(
        report["summary"]["total"].as_u64(),
        Some(results.len() as u64)
    );
}
