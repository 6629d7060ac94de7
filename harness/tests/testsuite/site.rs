//! The published site: hostile text from a target (its name, versions,
//! reasons, evidence, the commands in its report) comes out escaped in
//! every page the suite writes (the site, the per-target report, the
//! badge), and `report merge` writes the whole site with what changed.

use std::path::PathBuf;

use harness::report::{self, Report, html, site};

use crate::support::{run, stderr};

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
    // A previous matrix where every cell passed: each failure is a change
    // listed (with the hostile name) at the top of the page.
    let mut previous = site::build(&reports, HOSTILE);
    for target in &mut previous.targets {
        for cell in target.cells.values_mut() {
            cell.verdict = harness::verdict::Verdict::Pass;
        }
    }
    let mut matrix = site::with_previous(&reports, HOSTILE, Some(&previous));
    assert!(!matrix.since.as_ref().expect("changes").changes.is_empty());
    matrix.not_run.push(site::NotRun {
        name: HOSTILE.to_owned(),
        why: HOSTILE.to_owned(),
    });
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

fn fixture_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/testsuite/fixtures/reports/{name}.json"))
        .to_string_lossy()
        .into_owned()
}

/// `report merge` writes the whole site from reports, and marks what
/// changed since the `--previous` matrix (or `<out>/matrix.previous.json`).
#[test]
fn report_merge_writes_the_site_and_what_changed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("site");
    let out_arg = out.to_str().expect("utf-8 path");
    let (faithful, defective) = (fixture_path("faithful"), fixture_path("defective"));
    let first = run(&["report", "merge", &faithful, &defective, "--out", out_arg]);
    assert!(first.status.success(), "merge failed: {}", stderr(&first));
    let matrix = site::model::read(&out.join("matrix.json")).expect("matrix.json reads back");
    assert!(matrix.since.is_none(), "no previous matrix was there");
    for target in &matrix.targets {
        for file in ["report.html", "report.json"] {
            assert!(
                out.join(&target.folder).join(file).is_file(),
                "{} {file}",
                target.folder
            );
        }
        assert!(out.join(format!("badges/{}.svg", target.folder)).is_file());
    }
    // The previous publication: the same, but every cell a pass.
    let mut previous = matrix.clone();
    for target in &mut previous.targets {
        for cell in target.cells.values_mut() {
            cell.verdict = harness::verdict::Verdict::Pass;
        }
    }
    let kept = out.join(site::PREVIOUS);
    std::fs::write(&kept, serde_json::to_vec(&previous).expect("json")).expect("write");
    let second = run(&["report", "merge", &faithful, &defective, "--out", out_arg]);
    assert!(second.status.success(), "merge failed: {}", stderr(&second));
    let page = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(
        page.contains("Changed since"),
        "matrix.previous.json was not read"
    );
    let since = site::model::read(&out.join("matrix.json"))
        .expect("matrix.json")
        .since
        .expect("changes are in matrix.json too");
    assert!(
        since
            .changes
            .iter()
            .any(|change| change.after.starts_with("FAIL"))
    );
    std::fs::write(&kept, "{}").expect("write");
    let broken = run(&["report", "merge", &faithful, "--out", out_arg]);
    assert_eq!(
        broken.status.code(),
        Some(2),
        "an unreadable previous matrix is a usage error"
    );
    assert!(
        stderr(&broken).contains(site::PREVIOUS),
        "the error names the file: {}",
        stderr(&broken)
    );
}

/// Shards of one target's run, merged, each keep a folder (and so links)
/// of their own.
#[test]
fn reports_of_one_name_get_folders_of_their_own() {
    let shard = hostile_report();
    let matrix = site::build(&[shard.clone(), shard.clone(), shard], "shards");
    let folders: Vec<&str> = matrix.targets.iter().map(|t| t.folder.as_str()).collect();
    let base = folders[0];
    assert_eq!(
        folders,
        [base.to_owned(), format!("{base}-2"), format!("{base}-3")]
    );
}

/// The committed site: every target in reports/ is in its matrix.json and
/// linked from its index.html, and reports/ stays under 1 MB in all.
#[test]
fn the_committed_site_shows_every_target_and_stays_small() {
    let reports = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reports");
    let matrix = site::model::read(&reports.join("matrix.json")).expect("reports/matrix.json");
    let index = std::fs::read_to_string(reports.join("index.html")).expect("reports/index.html");
    let regenerate =
        "regenerate: grpc-conformance report merge reports/*/report.json --out reports";
    let mut total = 0;
    for entry in std::fs::read_dir(&reports).expect("reports/") {
        let path = entry.expect("an entry").path();
        total += weight(&path);
        if path.join("report.json").is_file() {
            let folder = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            assert!(
                matrix.targets.iter().any(|target| target.folder == folder),
                "reports/{folder} is not in matrix.json; {regenerate}"
            );
            let link = format!("href=\"{}\"", site::links::report(&folder));
            assert!(
                index.contains(&link),
                "index.html does not link {folder}; {regenerate}"
            );
        }
    }
    assert!(
        total < 1_000_000,
        "reports/ weighs {total} bytes, over 1 MB"
    );
    // Each folder holds its own target's report (the site pairs reports
    // with targets by position; a reordering once swapped them).
    for target in &matrix.targets {
        let path = reports.join(&target.folder).join("report.json");
        let text = std::fs::read_to_string(&path).expect("the target's report.json");
        let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            report["target"]["name"],
            target.name,
            "{} holds another target's report; {regenerate}",
            path.display()
        );
        let role = report["target"]["role"].as_str().unwrap_or("server");
        assert_eq!(
            serde_json::to_value(target.role).expect("a role"),
            role,
            "{}: the role; {regenerate}",
            path.display()
        );
    }
}

fn weight(path: &std::path::Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .expect("a folder")
            .map(|entry| weight(&entry.expect("an entry").path()))
            .sum()
    } else {
        std::fs::metadata(path).expect("a file").len()
    }
}
