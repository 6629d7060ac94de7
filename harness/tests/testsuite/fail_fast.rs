//! Fail fast with proof: against a server that serialises handlers, the
//! scenarios whose evidence proves the stall end on that proof (a stream
//! without its answer while siblings that had theirs wait, a barrier that
//! holds fewer than its parties and admits no more) instead of waiting out their limits.
//! The assertions are on the ordering evidence in the reason; the time bound
//! is only the limit the scenario would otherwise have waited out.

use super::support::{read_report, run};

/// Each scenario, the phrase of the proof its reason must give, and the
/// limit it would otherwise have waited out (ms).
const CASES: &[(&str, &str, u64)] = &[
    (
        "channel.parallel-duplex-streams",
        "waited, still open, for them",
        5_000,
    ),
    ("handler.several-services", "stay open", 5_000),
    (
        "channel.parallel-rendezvous-8",
        "inside, blocked waiting for the others, and admitted no more",
        5_000,
    ),
    (
        "channel.health-watch-held-open",
        "before the streams stalled",
        5_000,
    ),
    (
        "handler.slow-handler",
        "while the slow handler was provably open",
        5_000,
    ),
];

#[test]
fn a_serialising_server_is_caught_on_proof_before_the_limits() {
    let out = tempfile::tempdir().expect("a temp dir");
    let out_dir = out.path().to_str().expect("a UTF-8 path");
    let mut args = vec![
        "run",
        "--defect",
        "serialize-per-connection",
        "--jobs",
        "1",
        "--out",
        out_dir,
    ];
    for (id, _, _) in CASES {
        args.extend(["--filter", id]);
    }
    let output = run(&args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = read_report(out.path());
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), CASES.len(), "{report:#}");
    for (id, proof, limit_ms) in CASES {
        let result = results
            .iter()
            .find(|result| result["id"] == *id)
            .unwrap_or_else(|| panic!("no result for {id}"));
        let reason = result["reason"].as_str().unwrap_or_default();
        assert_eq!(result["verdict"], "fail", "{id}: {reason}");
        assert!(reason.contains(proof), "{id}: {reason:?} lacks {proof:?}");
        let took = result["duration_ms"].as_u64().expect("duration_ms");
        assert!(
            took < *limit_ms,
            "{id} took {took} ms, not ending before the {limit_ms} ms it would have waited out: {reason}"
        );
    }
}

/// A graceful stop does not wait for a serialising server to start the
/// in-flight RPCs one after another: those it holds back are cancelled, the
/// stop begins with the one it runs, and the verdict (the stop itself was
/// graceful) is unchanged.
#[test]
fn a_graceful_stop_cancels_the_rpcs_a_serialising_server_held_back() {
    let out = tempfile::tempdir().expect("a temp dir");
    let out_dir = out.path().to_str().expect("a UTF-8 path");
    let id = "handler.graceful-shutdown";
    let output = run(&[
        "run",
        "--defect",
        "serialize-per-connection",
        "--filter",
        id,
        "--out",
        out_dir,
    ]);
    let report = read_report(out.path());
    let result = &report["results"][0];
    assert_eq!(result["id"], id, "{report:#}");
    assert_eq!(
        result["verdict"],
        "pass",
        "{result:#}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The four Holds run one at a time on one connection: only the first
    // starts, the other three are held back behind it.
    assert_eq!(result["figures"]["in_flight_held_back"], 3.0, "{result:#}");
    assert_eq!(result["figures"]["in_flight_completed"], 1.0, "{result:#}");
    let evidence = result["evidence"].to_string();
    assert!(evidence.contains("the server held them back"), "{evidence}");
}
