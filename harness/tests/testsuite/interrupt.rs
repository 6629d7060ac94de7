//! Ctrl-C (SIGINT) leaves a valid partial JSON report marked incomplete.

use crate::support::{BIN, catalog, read_report, wait_for_results};

#[test]
fn interrupting_a_run_leaves_a_valid_partial_report() {
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = std::process::Command::new(BIN)
        .args([
            "run",
            "--filter",
            "handler.slow-handler",
            "--repeat",
            "200",
            "--scenarios",
            catalog().to_str().expect("utf-8"),
            "--out",
            out.path().to_str().expect("utf-8"),
        ])
        .env("CI", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the CLI runs");
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
