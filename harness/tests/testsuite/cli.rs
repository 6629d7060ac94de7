//! Exit codes and messages of the CLI against bad targets.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::{read_report, run, scenario_dir, stderr};

#[test]
fn unreachable_target_exits_3_with_a_clear_message() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--out",
        out.path().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains(&port.to_string()), "{message}");
}

#[test]
fn a_target_that_never_answers_times_out_within_each_budget() {
    // Accepts TCP, reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64).flatten() {
            let mut reader = stream.try_clone().expect("clone");
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            });
            held.push(stream);
        }
    });
    let scenario = r#"
id = "stream.hung-target"
area = "stream"
title = "t"
guarantee = "g"
driver = "duplex-sequence"
budget_ms = 1500
[params]
messages = 10
reply_timeout_ms = 60000
"#;
    let dir = scenario_dir(&[("stream/hung.toml", scenario)]);
    let out = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = run(&[
        "run",
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--scenarios",
        dir.path().to_str().expect("utf-8"),
        "--out",
        out.path().to_str().expect("utf-8"),
        "--repeat",
        "2",
    ]);
    // Discovery waits 5 s for an answer, then each run has 1.5 s.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = read_report(out.path());
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for result in results {
        assert_eq!(result["verdict"], "fail");
        assert_eq!(result["reason_kind"], "timeout");
        assert!(result["duration_ms"].as_u64().expect("duration") < 3_000);
    }
}

#[test]
fn list_and_explain_describe_the_catalog() {
    let output = run(&["list"]);
    assert!(output.status.success());
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(
        listing.contains("channel.parallel-rendezvous-8"),
        "{listing}"
    );

    let output = run(&["explain", "channel.parallel-rendezvous-8"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for part in [
        "Guarantee checked:",
        "Method (rendezvous driver):",
        "Evidence recorded:",
        "--filter channel.parallel-rendezvous-8",
        "Runs beside others under --jobs",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    let output = run(&["explain", "handler.blocking-capacity"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Runs alone"), "{text}");

    let output = run(&["explain", "channel.no-such-thing"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn jobs_must_be_at_least_one() {
    let output = run(&["run", "--jobs", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--jobs"), "{}", stderr(&output));
}

#[test]
fn a_filter_that_matches_nothing_is_an_error() {
    let output = run(&["run", "--filter", "nothing.*"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("matches no scenario"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_run_writes_every_report_format() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--filter",
        "channel.parallel-rendezvous-8",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = read_report(out.path());
    assert_eq!(report["schema"], "grpc-conformance/report/v1");
    assert_eq!(report["complete"], true);
    assert_eq!(report["results"][0]["verdict"], "pass");
    assert_eq!(
        report["results"][0]["timeline"].as_array().map(Vec::len),
        Some(8)
    );
    let junit = std::fs::read_to_string(out.path().join("report.xml")).expect("junit");
    assert!(
        junit.contains("<testcase name=\"channel.parallel-rendezvous-8\""),
        "{junit}"
    );
    assert!(
        junit.contains("classname=\"grpc-conformance.channel\""),
        "{junit}"
    );
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("html");
    assert!(
        html.contains("<svg") && html.contains("<rect"),
        "timeline picture missing"
    );
    let markdown = std::fs::read_to_string(out.path().join("report.md")).expect("markdown");
    assert!(
        markdown.contains("| `channel.parallel-rendezvous-8` | PASS |"),
        "{markdown}"
    );

    // A known failure that passes fails the run, unless allowed.
    let expectations = out.path().join("expect.toml");
    std::fs::write(
        &expectations,
        "[[known_failure]]\nid = \"channel.parallel-rendezvous-8\"\nreason = \"test\"\n",
    )
    .expect("write");
    let again = tempfile::tempdir().expect("temp dir");
    let args = [
        "run",
        "--filter",
        "channel.parallel-rendezvous-8",
        "--expectations",
        expectations.to_str().expect("utf-8"),
        "--out",
        again.path().to_str().expect("utf-8"),
    ];
    let output = run(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unexpected pass"),
        "{}",
        stderr(&output)
    );
    let mut allowed = args.to_vec();
    allowed.push("--allow-unexpected-pass");
    assert!(run(&allowed).status.success());

    // Merging reports builds the site, the matrix in Markdown among it.
    let matrix = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "report",
        "merge",
        out.path().join("report.json").to_str().expect("utf-8"),
        again.path().join("report.json").to_str().expect("utf-8"),
        "--out",
        matrix.path().to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = std::fs::read_to_string(matrix.path().join("README.md")).expect("matrix");
    assert!(matrix.path().join("index.html").is_file(), "no site");
    assert!(
        table.contains("`channel.parallel-rendezvous-8` | PASS | PASS (unexpected) |"),
        "{table}"
    );
}

#[test]
fn the_package_is_the_tool_and_ci_md_installs_and_caches_it_by_that_name() {
    assert_eq!(env!("CARGO_PKG_NAME"), "grpc-conformance");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../CI.md");
    let text = std::fs::read_to_string(&path).expect("CI.md");
    // An install command may run over several lines of a YAML block.
    let installs: Vec<&str> = text.split("cargo install").skip(1).collect();
    assert!(installs.len() >= 3, "{installs:?}");
    for install in installs {
        let command: String = install.split("\n\n").next().unwrap_or_default().into();
        assert!(command.contains(" grpc-conformance --locked"), "{command}");
        assert!(!command.contains(" harness "), "{command}");
    }
    assert!(
        text.contains("key: grpc-conformance-${{ runner.os }}-${{ env.GRPC_CONFORMANCE_VERSION }}")
    );
    assert!(text.contains("key: \"grpc-conformance-$GRPC_CONFORMANCE_VERSION\""));
}
