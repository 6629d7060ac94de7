//! Running the CLI binary and making scenario directories for tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_grpc-conformance");

/// The repository's scenario catalog.
pub fn catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Runs the CLI to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("CI", "1")
        .output()
        .expect("the CLI runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A scenario directory with the given files (`area/name.toml` → text).
pub fn scenario_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write scenario");
    }
    dir
}

/// Copies one scenario of the catalog into a directory.
pub fn copy_scenario(dir: &Path, relative: &str) {
    let target = dir.join(relative);
    std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
    std::fs::copy(catalog().join(relative), target).expect("copy scenario");
}

pub fn read_report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json exists");
    serde_json::from_str(&text).expect("report.json is valid JSON")
}

/// Waits (up to 30 s) until the report in `dir` holds at least `count` results.
pub fn wait_for_results(dir: &Path, count: usize) {
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "fewer than {count} results on disk after 30 s"
        );
        let done = std::fs::read_to_string(dir.join("report.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|report| report["results"].as_array().map(Vec::len))
            .unwrap_or(0);
        if done >= count {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// An HTTP/2 server (h2's) on a loopback port that takes one connection
/// and hands every stream it accepts, numbered from 0, to `stream` with the
/// connection (to shut it down, say). Returns its address and how many
/// streams it saw.
pub async fn h2_server<F>(stream: F) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>)
where
    F: FnMut(
            usize,
            h2::server::SendResponse<bytes::Bytes>,
            &mut h2::server::Connection<tokio::net::TcpStream, bytes::Bytes>,
        ) + Send
        + 'static,
{
    h2_server_with(h2::server::Builder::new(), stream).await
}

/// [`h2_server`] with the server's settings in `builder`.
pub async fn h2_server_with<F>(
    builder: h2::server::Builder,
    mut stream: F,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>)
where
    F: FnMut(
            usize,
            h2::server::SendResponse<bytes::Bytes>,
            &mut h2::server::Connection<tokio::net::TcpStream, bytes::Bytes>,
        ) + Send
        + 'static,
{
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut connection) = builder.handshake(tcp).await else {
            return;
        };
        while let Some(Ok((_request, respond))) = connection.accept().await {
            stream(
                counter.fetch_add(1, Ordering::SeqCst),
                respond,
                &mut connection,
            );
        }
    });
    (format!("http://{address}"), seen)
}

/// Answers a gRPC call with one message (`frame`, prefixed) and status OK.
pub fn grpc_answer(respond: &mut h2::server::SendResponse<bytes::Bytes>, frame: bytes::Bytes) {
    let response = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .expect("a response head");
    let Ok(mut body) = respond.send_response(response, false) else {
        return;
    };
    let _ = body.send_data(frame, false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = body.send_trailers(trailers);
}
