//! Hostile text from a target (its name, versions, reasons, evidence, the
//! commands in its report) comes out escaped in every page the suite
//! writes: the site, the per-target report and the badge.

use std::path::PathBuf;

use harness::report::{self, Report, html, site};

const HOSTILE: &str = "<script>alert(1)</script>";

fn hostile_report() -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testsuite/fixtures/reports/defective.json");
    let mut report = report::read(&path).unwrap_or_else(|err| panic!("fixture: {err}"));
    let t = &mut report.target;
    for field in [
        &mut t.name,
        &mut t.description,
        &mut t.implementation,
        &mut t.version,
        &mut t.threading,
        &mut report.machine,
        &mut report.started_at,
    ] {
        *field = format!("{HOSTILE}\"'><img src=x onerror=alert(2)>");
    }
    t.capabilities.push(HOSTILE.to_owned());
    for result in &mut report.results {
        result.reason = Some(HOSTILE.to_owned());
        result.evidence.push(HOSTILE.to_owned());
        result.title = HOSTILE.to_owned();
        result.guarantee = HOSTILE.to_owned();
        result.repro = HOSTILE.to_owned();
        result.area = format!("channel{HOSTILE}");
        result.figures.insert(HOSTILE.to_owned(), 1.0);
    }
    report
}

fn assert_inert(page: &str, what: &str) {
    assert!(
        !page.contains(HOSTILE),
        "{what}: a <script> from the report reached it"
    );
    assert!(
        !page.contains("<img src=x"),
        "{what}: an <img> from the report reached it"
    );
    assert!(
        !page.contains("\"'>"),
        "{what}: a quote broke out of an attribute"
    );
}

#[test]
fn hostile_text_is_escaped_in_every_page() {
    let reports = [hostile_report()];
    let previous = site::build(&reports, HOSTILE);
    let matrix = site::with_previous(&reports, HOSTILE, Some(&previous));
    assert_inert(&site::page::render(&matrix), "index.html");
    assert_inert(&html::render(&reports[0]), "report.html");
    for target in &matrix.targets {
        assert_inert(&site::badge::render(target), "the badge");
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let written = site::write(dir.path(), &reports, &matrix).expect("the site is written");
    let folder = &matrix.targets[0].folder;
    assert!(
        !folder.contains('/'),
        "a target name left its folder: {folder}"
    );
    for path in written {
        if path.is_file() && path.extension().is_some_and(|ext| ext == "html") {
            let page = std::fs::read_to_string(&path).expect("read");
            assert_inert(&page, &path.display().to_string());
        }
    }
    let report = std::fs::read_to_string(dir.path().join(folder).join("report.html"))
        .expect("the target's report is written");
    assert_inert(&report, "the written report.html");
}
