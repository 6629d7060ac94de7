//! Scenario files and expectations files are validated before anything
//! runs, with file, line and column.

use crate::support::{run, scenario_dir, stderr};

const GOOD: &str = r#"id = "channel.ok"
area = "channel"
title = "t"
guarantee = "g"
driver = "rendezvous"
[params]
parties = 2
"#;

fn load_error(files: &[(&str, &str)]) -> String {
    let dir = scenario_dir(files);
    let output = run(&["list", "--scenarios", dir.path().to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let message = load_error(&[(
        "channel/bad.toml",
        "id = \"channel.x\"\narea = \"channel\"\ntitle = \n",
    )]);
    assert!(message.contains("channel/bad.toml:3:"), "{message}");
}

#[test]
fn an_unknown_field_is_refused() {
    let text = GOOD.replace("title = \"t\"", "title = \"t\"\ncolour = \"blue\"");
    let message = load_error(&[("channel/a.toml", &text)]);
    assert!(message.contains("channel/a.toml:4:1"), "{message}");
    assert!(message.contains("colour"), "{message}");
}

#[test]
fn a_driver_parameter_is_checked_with_its_position() {
    let text = GOOD.replace("parties = 2", "parties = 2\npartys = 3");
    let message = load_error(&[("channel/a.toml", &text)]);
    assert!(message.contains("channel/a.toml:8:1"), "{message}");
    assert!(message.contains("partys"), "{message}");
}

#[test]
fn exclusive_must_be_true_or_false() {
    let text = GOOD.replace("title = \"t\"", "title = \"t\"\nexclusive = \"yes\"");
    let message = load_error(&[("channel/a.toml", &text)]);
    assert!(message.contains("channel/a.toml:4:13"), "{message}");
}

#[test]
fn an_unknown_driver_is_refused() {
    let text = GOOD.replace("driver = \"rendezvous\"", "driver = \"teleport\"");
    let message = load_error(&[("channel/a.toml", &text)]);
    assert!(message.contains("channel/a.toml:5:10"), "{message}");
    assert!(message.contains("unknown driver \"teleport\""), "{message}");
}

#[test]
fn a_duplicate_id_is_refused() {
    let message = load_error(&[("channel/a.toml", GOOD), ("channel/b.toml", GOOD)]);
    assert!(message.contains("channel/b.toml:1:"), "{message}");
    assert!(
        message.contains("duplicate scenario id \"channel.ok\""),
        "{message}"
    );
}

#[test]
fn an_unknown_defect_is_refused() {
    let text = GOOD.replace(
        "driver = \"rendezvous\"",
        "driver = \"rendezvous\"\ndefects = [\"gremlins\"]",
    );
    let message = load_error(&[("channel/a.toml", &text)]);
    assert!(message.contains("channel/a.toml:6:"), "{message}");
    assert!(message.contains("unknown defect"), "{message}");
}

#[test]
fn an_expectation_that_matches_nothing_is_refused() {
    let dir = scenario_dir(&[("channel/a.toml", GOOD)]);
    let expectations = dir.path().join("expect.toml");
    std::fs::write(
        &expectations,
        "[[known_failure]]\nid = \"stream.*\"\nreason = \"x\"\n",
    )
    .expect("write");
    let output = run(&[
        "run",
        "--scenarios",
        dir.path().to_str().expect("utf-8"),
        "--expectations",
        expectations.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("expect.toml:2:6"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("matches no scenario"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_partial_params_table_takes_the_driver_defaults() {
    let text = r#"id = "stream.partial"
area = "stream"
title = "t"
guarantee = "g"
driver = "half-duplex"
[params]
requests = 3
"#;
    let dir = scenario_dir(&[("stream/partial.toml", text)]);
    let output = run(&["list", "--scenarios", dir.path().to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", stderr(&output));
}
