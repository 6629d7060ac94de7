//! Snapshot tests of everything the suite writes for people and tools: each
//! report format and the matrix rendered from fixture reports
//! (`fixtures/reports/`: a faithful target with a skip and an error, a
//! defective one with expected, unexpected and stale results, reasons and
//! evidence carrying markup), the published site (page, matrix.json,
//! badges), `explain`, and the expectations' classification. Review a
//! change with `cargo insta review`, or accept it with
//! `INSTA_UPDATE=always cargo test --release -p grpc-conformance --test testsuite outputs`.

use std::path::PathBuf;

use harness::expectations::{Expected, classify};
use harness::report::{self, Report, html, junit, markdown, matrix, site};
use harness::verdict::Verdict;

use crate::support::run;

fn fixture(name: &str) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testsuite/fixtures/reports")
        .join(format!("{name}.json"));
    report::read(&path).unwrap_or_else(|err| panic!("fixture {name}: {err}"))
}

fn both() -> [(&'static str, Report); 2] {
    [
        ("faithful", fixture("faithful")),
        ("defective", fixture("defective")),
    ]
}

#[test]
fn markdown_report() {
    for (name, report) in both() {
        let text = markdown::render(&report);
        assert!(
            !text.contains("<script>alert") && !text.contains("<img src=x"),
            "markup from a target's reason or evidence reached the Markdown unescaped"
        );
        insta::assert_snapshot!(format!("markdown_{name}"), text);
    }
}

#[test]
fn junit_report() {
    for (name, report) in both() {
        let xml = junit::render(&report).expect("JUnit renders");
        insta::assert_snapshot!(format!("junit_{name}"), xml);
    }
}

#[test]
fn html_report() {
    for (name, report) in both() {
        let page = html::render(&report);
        assert!(
            !page.contains("<script>alert") && !page.contains("<img src=x"),
            "markup from a target's reason or evidence reached the page unescaped"
        );
        insta::assert_snapshot!(format!("html_{name}"), page);
    }
}

#[test]
fn json_report_for_publication() {
    let report = fixture("faithful").for_publication(3);
    let kept: Vec<(String, usize, usize)> = report
        .results
        .iter()
        .map(|r| (r.id.clone(), r.timeline.len(), r.timeline_dropped))
        .collect();
    insta::assert_debug_snapshot!("published_timelines", kept);
}

#[test]
fn matrix_markdown() {
    let reports: Vec<Report> = both().into_iter().map(|(_, report)| report).collect();
    let title = "compatibility matrix";
    insta::assert_snapshot!("matrix_markdown", matrix::render_markdown(&reports, title));
}

/// The previous matrix the site's "changed since" compares with: the
/// faithful fixture alone, its error cell then a pass.
fn previous() -> site::Matrix {
    let mut before = fixture("faithful");
    for result in &mut before.results {
        if result.verdict == Verdict::Error {
            result.verdict = Verdict::Pass;
            result.reason = None;
        }
    }
    site::build(&[before], "before")
}

#[test]
fn site_pages() {
    let reports: Vec<Report> = both().into_iter().map(|(_, report)| report).collect();
    let matrix = site::with_previous(&reports, "compatibility site", Some(&previous()));
    let since = matrix.since.as_ref().expect("a previous matrix was given");
    assert_eq!(
        since.new_targets,
        vec!["serialising <b>server</b>".to_owned()]
    );
    assert_eq!(since.changes.len(), 1, "only the error cell changed");
    let json = serde_json::to_string_pretty(&matrix).expect("the matrix serialises");
    insta::assert_snapshot!("site_matrix_json", json);
    let page = site::page::render(&matrix);
    assert!(
        !page.contains("<b>server</b>"),
        "a target name's markup reached the page"
    );
    assert!(
        page.contains("class=\"error changed\""),
        "the changed cell is not marked"
    );
    insta::assert_snapshot!("site_index_html", page);
    for target in &matrix.targets {
        insta::assert_snapshot!(
            format!(
                "site_badge_{}",
                target.folder.replace(['<', '>', '/', ' '], "_")
            ),
            site::badge::render(target)
        );
    }
}

#[test]
fn published_json_reads_back_as_written() {
    for (name, report) in both() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let files = report::ReportFiles::new(dir.path());
        files.write_published(&report).expect("published");
        let back = report::read(&files.json()).unwrap_or_else(|err| panic!("{name}: {err}"));
        let expected = report.for_publication(report::PUBLISHED_SPANS);
        assert_eq!(
            serde_json::to_value(&back).expect("json"),
            serde_json::to_value(&expected).expect("json"),
            "{name}: the one-result-a-line layout lost or changed something"
        );
        let text = std::fs::read_to_string(files.json()).expect("read");
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("    {\"id\":"))
                .count(),
            report.results.len(),
            "{name}: not one scenario result a line"
        );
    }
}

#[test]
fn explain_output() {
    // From the repository root, as a user runs it: the scenario file's
    // path is then relative, the same on every checkout.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for id in ["channel.parallel-rendezvous-8", "handler.stalled-reader"] {
        let output = std::process::Command::new(crate::support::BIN)
            .args(["explain", id])
            .current_dir(&root)
            .env("CI", "1")
            .output()
            .expect("the CLI runs");
        assert!(output.status.success(), "explain {id} failed");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        insta::assert_snapshot!(format!("explain_{}", id.replace('.', "_")), text);
    }
}

#[test]
fn expectations_classification() {
    let expected = [
        Expected::Pass,
        Expected::KnownFailure("r".into()),
        Expected::KnownFlaky("r".into()),
    ];
    let mut table = String::new();
    for verdict in [Verdict::Pass, Verdict::Fail, Verdict::Error, Verdict::Skip] {
        for expectation in &expected {
            let outcome = classify(verdict, expectation);
            table.push_str(&format!(
                "{:<5} {:<14} -> {:<19} fails the run: {}\n",
                verdict.as_str(),
                match expectation {
                    Expected::Pass => "pass",
                    Expected::KnownFailure(_) => "known-failure",
                    Expected::KnownFlaky(_) => "known-flaky",
                },
                format!("{outcome:?}"),
                outcome.fails_run(false)
            ));
        }
    }
    insta::assert_snapshot!("classification", table);
}

#[test]
fn expectations_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cases = [
        (
            "unknown-id",
            "[[known_failure]]\nid = \"channel.no-such\"\nreason = \"x\"\n",
        ),
        (
            "mistyped-field",
            "[[known_failure]]\nid = \"channel.*\"\nreasn = \"x\"\n",
        ),
        ("not-toml", "[[known_failure]\n"),
    ];
    let mut lines = String::new();
    for (name, text) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write");
        let output = run(&[
            "run",
            "--filter",
            "channel.one-connection",
            "--expectations",
            path.to_str().expect("utf-8 path"),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr)
            .replace(dir.path().to_str().expect("utf-8 path"), "<dir>");
        lines.push_str(&format!(
            "{name}: exit {:?}\n{}\n",
            output.status.code(),
            stderr.trim()
        ));
    }
    insta::assert_snapshot!("expectations_errors", lines);
}
