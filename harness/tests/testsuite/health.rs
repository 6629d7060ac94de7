//! Health mode: a server with grpc.health.v1.Health but no TestService runs
//! the health scenarios and skips the others with the reason; a gRPC server
//! with neither is refused with what the suite needs.

use crate::support::{read_report, run, stderr};

#[test]
fn a_health_only_server_runs_the_health_scenarios_and_skips_the_rest() {
    let out = tempfile::tempdir().expect("temp dir");
    let out_dir = out.path().to_str().expect("utf-8");
    let output = run(&["run", "--health-only", "--out", out_dir]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("mode: health"),
        "{}",
        stderr(&output)
    );
    let report = read_report(out.path());
    let results = report["results"].as_array().expect("results");
    let mut passed = Vec::new();
    for result in results {
        let id = result["id"].as_str().unwrap_or_default();
        let verdict = result["verdict"].as_str().unwrap_or_default();
        if id.contains(".health-") {
            assert_eq!(verdict, "pass", "{id}: {result}");
            passed.push(id.to_owned());
        } else {
            assert_eq!(verdict, "skip", "{id}: {result}");
            let reason = result.to_string();
            assert!(
                reason.contains("grpc.testing.TestService"),
                "{id}: {reason}"
            );
        }
    }
    assert_eq!(passed.len(), 2, "{passed:?}");
}

/// A gRPC server on a loopback port that answers every call UNIMPLEMENTED
/// (a server with services of its own only); serves for at most a minute.
fn unimplemented_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let serve = async {
                while let Ok((tcp, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let Ok(mut connection) = h2::server::handshake(tcp).await else {
                            return;
                        };
                        while let Some(Ok((_, mut respond))) = connection.accept().await {
                            let response = http::Response::builder()
                                .header("content-type", "application/grpc")
                                .header("grpc-status", "12")
                                .header("grpc-message", "unknown service")
                                .body(());
                            if let Ok(response) = response {
                                let _ = respond.send_response(response, true);
                            }
                        }
                    });
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), serve).await;
        });
    });
    format!("http://{address}")
}

#[test]
fn a_server_with_neither_service_is_told_what_the_suite_needs() {
    let uri = unimplemented_server();
    let out = tempfile::tempdir().expect("temp dir");
    let out_dir = out.path().to_str().expect("utf-8");
    let output = run(&["run", "--target", &uri, "--out", out_dir]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    for needed in [
        "neither grpc.testing.TestService",
        "grpc.health.v1.Health",
        "grpcio-health-checking",
        "targets/",
    ] {
        assert!(text.contains(needed), "{needed:?} missing: {text}");
    }
    assert!(!text.contains("--server-cmd"), "{text}");
}

#[test]
fn list_and_explain_name_the_mode() {
    let listed = run(&["list", "--filter", "*health-watch*"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("channel.health-watch-held-open") && text.contains(" health "),
        "{text}"
    );
    let explained = run(&["explain", "channel.health-watch-held-open"]);
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(
        text.contains("Runs in: health mode and TestService mode"),
        "{text}"
    );
}
