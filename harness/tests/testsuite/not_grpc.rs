//! A target that answers but does not speak gRPC over HTTP/2 is named for
//! what it is (exit 3), not reported as a client library's protocol error.

use std::io::{Read, Write};

use crate::support::{run, stderr};

/// A loopback server that answers every connection with `reply` and closes
/// it; serves `connections` connections, then ends.
fn answering(reply: &'static [u8], connections: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(reply);
        }
    });
    format!("http://{address}")
}

/// Runs the suite against a peer answering `reply`; it must exit 3, and
/// what it printed is returned.
fn refused_with(reply: &'static [u8]) -> String {
    let uri = answering(reply, 8);
    let out = tempfile::tempdir().expect("temp dir");
    let out_dir = out.path().to_str().expect("utf-8");
    let output = run(&["run", "--target", &uri, "--out", out_dir]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn an_http1_server_is_named_as_such() {
    let text = refused_with(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    assert!(
        text.contains("HTTP/1.x") && text.contains("not with HTTP/2"),
        "{text}"
    );
}

#[test]
fn a_tls_server_dialled_in_plaintext_is_named_as_such() {
    // A TLS alert record, as a TLS server sends to a peer that is not TLS.
    let text = refused_with(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
    assert!(text.contains("https://"), "{text}");
}
