//! `--server-cmd`: the harness starts the server, and a server that dies
//! mid-run yields `error` verdicts with its exit status, the rest of the run
//! completing; graceful-stop scenarios run only where the stop is declared;
//! reports that cannot be written fail the run.

use crate::support::{BIN, copy_scenario, read_report, run, stderr, wait_for_results};

#[test]
fn a_server_command_runs_the_catalog() {
    let out = tempfile::tempdir().expect("temp dir");
    let command = format!("{BIN} serve --port {{port}} --enable-probes");
    let output = run(&[
        "run",
        "--server-cmd",
        &command,
        "--filter",
        "channel.parallel-rendezvous-8",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read_report(out.path())["results"][0]["verdict"], "pass");
}

#[test]
fn a_server_killed_mid_run_gives_error_verdicts_with_its_exit_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_scenario(dir.path(), "channel/parallel-rendezvous-8.toml");
    copy_scenario(dir.path(), "handler/slow-handler.toml");
    let out = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("server.pid");
    let command = format!(
        "echo $$ > {}; exec {BIN} serve --port {{port}} --enable-probes",
        pid_file.display()
    );
    let child = std::process::Command::new(BIN)
        .args([
            "run",
            "--server-cmd",
            &command,
            "--no-restart",
            "--repeat",
            "5",
            "--scenarios",
            dir.path().to_str().expect("utf-8"),
            "--out",
            out.path().to_str().expect("utf-8"),
        ])
        .env("CI", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the CLI runs");
    // Kill the server once the first result is on disk.
    wait_for_results(out.path(), 1);
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let output = child.wait_with_output().expect("the CLI ends");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = read_report(out.path());
    assert_eq!(report["complete"], true, "the rest of the run completes");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 10);
    let last = results.last().expect("a last result");
    assert_eq!(last["verdict"], "error", "{last}");
    assert_eq!(last["reason_kind"], "target");
    let reason = last["reason"].as_str().expect("reason");
    assert!(reason.contains("killed by signal 9"), "{reason}");
}

/// Runs handler.graceful-shutdown against a server command, with `extra`
/// options; returns the result's verdict and reason.
fn graceful_shutdown_with(extra: &[&str]) -> (String, String) {
    let out = tempfile::tempdir().expect("temp dir");
    let command = format!("{BIN} serve --port {{port}} --enable-probes");
    let mut args = vec!["run", "--server-cmd", &command];
    args.extend_from_slice(extra);
    let out_dir = out.path().to_str().expect("utf-8");
    args.extend(["--filter", "handler.graceful-shutdown", "--out", out_dir]);
    let output = run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let result = read_report(out.path())["results"][0].clone();
    (
        result["verdict"].as_str().unwrap_or_default().to_owned(),
        result["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn graceful_stop_runs_only_where_declared() {
    let (verdict, reason) = graceful_shutdown_with(&[]);
    assert_eq!(verdict, "skip", "{reason}");
    assert!(reason.contains("--graceful-stop"), "{reason}");
    let (verdict, reason) = graceful_shutdown_with(&["--graceful-stop", "SIGTERM"]);
    assert_eq!(verdict, "pass", "{reason}");
}

#[test]
fn an_output_directory_that_cannot_be_written_is_refused_before_running() {
    let output = run(&[
        "run",
        "--filter",
        "stream.server-duplex",
        "--out",
        "/proc/nope",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot write the reports"),
        "{}",
        stderr(&output)
    );
}
