//! `grpc-conformance contract`: every check passes on the reference server,
//! and a check fails, naming what differed, on a server that breaks it.

use crate::support::run;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_reference_server_keeps_the_whole_contract() {
    let output = run(&["contract"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("contract: 20 passed, 0 failed, 0 skipped"),
        "{text}"
    );
}

#[test]
fn a_server_that_breaks_it_fails_the_check_aimed_at_the_break() {
    let cases = [
        (
            "half-duplex-answers-early",
            "FAIL  HalfDuplexCall answers only after the half-close",
            "a response arrived before the half-close",
        ),
        (
            "ignore-cancellation",
            "FAIL  Hold UNTIL_CANCELLED, dropped by the client: CANCELLED",
            "Observe reports Running, not Cancelled",
        ),
    ];
    for (defect, check, why) in cases {
        let output = run(&["contract", "--defect", defect]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "--defect {defect}:\n{text}");
        let line = text
            .lines()
            .find(|line| line.starts_with(check))
            .unwrap_or_else(|| panic!("--defect {defect}: no line {check:?} in\n{text}"));
        assert!(line.contains(why), "--defect {defect}: {line}");
    }
}
