//! A target that answers but does not speak gRPC over HTTP/2 is named for
//! what it is (exit 3), not reported as a client library's protocol error.

use std::io::{Read, Write};

use crate::support::{run, stderr};

/// A loopback server that answers every connection with `reply` and closes
/// it; serves `connections` connections, then ends. With `hold_first`, the
/// first connection is held open without a word instead (a first call that
/// never ends).
fn answering(reply: &'static [u8], connections: usize, hold_first: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().take(connections).enumerate() {
            let Ok(mut stream) = stream else { continue };
            if hold_first && index == 0 {
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_secs(20));
                    drop(stream);
                });
                continue;
            }
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
    refused(answering(reply, 8, false))
}

fn refused(uri: String) -> String {
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

#[test]
fn a_peer_whose_first_call_hangs_is_still_named_for_what_it_answers() {
    // The first call gets no answer within discovery's limit; what the peer
    // answers a raw connection then names it, instead of a run of failures.
    let uri = answering(
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
        8,
        true,
    );
    let text = refused(uri);
    assert!(
        text.contains("HTTP/1.x") && text.contains("got no answer within 5 s"),
        "{text}"
    );
}
