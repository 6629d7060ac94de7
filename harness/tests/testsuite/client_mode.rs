//! `--client-cmd`: a client library under test through its adapter. Only
//! the client scenarios run; an adapter that crashes, stalls, writes
//! garbage or speaks another protocol version ends in a clear `error` (or
//! is refused at start) and the run goes on.

use crate::support::{BIN, copy_scenario, read_report, run, scenario_dir, stderr};

fn adapter(extra: &str) -> String {
    format!("{BIN} client-adapter{extra}")
}

/// The verdict and reason of the result with `id`.
fn result(report: &serde_json::Value, id: &str) -> (String, String) {
    let results = report["results"].as_array().expect("results");
    let found = results
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result for {id}: {report}"));
    (
        found["verdict"].as_str().unwrap_or_default().to_owned(),
        found["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_client_command_runs_the_client_scenarios_and_skips_the_server_ones() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--client-cmd",
        &adapter(""),
        "--filter",
        "channel.client-parallel-calls",
        "--filter",
        "channel.parallel-rendezvous-8",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("client adapter: tonic"),
        "{}",
        stderr(&output)
    );
    let report = read_report(out.path());
    assert_eq!(result(&report, "channel.client-parallel-calls").0, "pass");
    let (verdict, reason) = result(&report, "channel.parallel-rendezvous-8");
    assert_eq!(verdict, "skip");
    assert!(
        reason.contains("this run checks a client library"),
        "{reason}"
    );
}

#[test]
fn a_server_run_skips_the_client_scenarios_naming_client_cmd() {
    let out = tempfile::tempdir().expect("temp dir");
    let server = format!("{BIN} serve --port {{port}} --enable-probes");
    let output = run(&[
        "run",
        "--server-cmd",
        &server,
        "--filter",
        "channel.client-parallel-calls",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (verdict, reason) = result(&read_report(out.path()), "channel.client-parallel-calls");
    assert_eq!(verdict, "skip");
    assert!(reason.contains("--client-cmd"), "{reason}");
}

#[test]
fn an_adapter_that_crashes_errors_its_scenario_and_is_restarted_for_the_next() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("crashed-once");
    // Crashes on its first instruction only: the restart then works.
    let command = format!(
        "if [ -e {m} ]; then exec {BIN} client-adapter; else touch {m}; exec {BIN} client-adapter --fault crash; fi",
        m = marker.display()
    );
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--client-cmd",
        &command,
        "--filter",
        "channel.client-parallel-calls",
        "--filter",
        "channel.client-several-stubs",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = read_report(out.path());
    let results = report["results"].as_array().expect("results");
    let errors: Vec<_> = results.iter().filter(|r| r["verdict"] == "error").collect();
    let passes: Vec<_> = results.iter().filter(|r| r["verdict"] == "pass").collect();
    assert_eq!((errors.len(), passes.len()), (1, 1), "{report}");
    let reason = errors[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("ended (exit status 3)"), "{reason}");
    assert!(
        reason.contains("crashing on an instruction"),
        "the stderr tail: {reason}"
    );
}

#[test]
fn an_adapter_that_stops_answering_runs_into_its_limit() {
    let dir = scenario_dir(&[(
        "stream/quick.toml",
        r#"id = "stream.quick-exchange"
area = "stream"
title = "a quick exchange"
guarantee = "g"
driver = "client-exchange"
budget_ms = 8000

[params]
messages = 2
deadline_ms = 300
"#,
    )]);
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--client-cmd",
        &adapter(" --fault stall"),
        "--scenarios",
        dir.path().to_str().expect("utf-8"),
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let (verdict, reason) = result(&read_report(out.path()), "stream.quick-exchange");
    assert_eq!(verdict, "error");
    assert!(reason.contains("gave no result within"), "{reason}");
}

#[test]
fn garbage_on_the_adapters_stdout_is_a_protocol_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_scenario(dir.path(), "channel/client-parallel-calls.toml");
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--client-cmd",
        &adapter(" --fault garbage"),
        "--scenarios",
        dir.path().to_str().expect("utf-8"),
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let (verdict, reason) = result(&read_report(out.path()), "channel.client-parallel-calls");
    assert_eq!(verdict, "error");
    assert!(reason.contains("broke the protocol"), "{reason}");
    assert!(
        reason.contains("client-adapter --fault garbage"),
        "names the adapter: {reason}"
    );
    assert!(reason.contains("\"not \""), "shows the bytes: {reason}");
}

#[test]
fn an_adapter_of_another_protocol_version_is_refused_at_start() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--client-cmd",
        &adapter(" --fault other-version"),
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("speaks protocol version 99, the suite speaks version 1"),
        "{text}"
    );
}

#[test]
fn an_adapter_command_that_does_not_start_is_refused_with_its_output() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "run",
        "--client-cmd",
        "no-such-adapter-command --flag",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("cannot start the client adapter"), "{text}");
    assert!(text.contains("not found"), "the shell's message: {text}");
}
