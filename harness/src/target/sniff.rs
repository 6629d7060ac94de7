//! What answers at an address that does not speak gRPC as dialled: read
//! from a raw TCP connection, so that an unreachable target's reason names
//! what was found (an HTTP/1.x server, TLS where plaintext was dialled or
//! the reverse, a peer that sends no HTTP/2 preface) instead of a client
//! library's protocol error.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(2);
/// The client connection preface and an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// The first bytes the peer at `authority` (host:port) sends back to an
/// HTTP/2 preface (None if nothing could be read in time).
async fn first_bytes(authority: &str) -> Option<Vec<u8>> {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(authority).await.ok()?;
        tcp.write_all(PREFACE).await.ok()?;
        let mut first = [0u8; 64];
        let read = tcp.read(&mut first).await.ok()?;
        Some(first[..read].to_vec())
    };
    tokio::time::timeout(LIMIT, exchange).await.ok().flatten()
}

/// An HTTP/2 server's preface is a SETTINGS frame: type 4 at offset 3.
fn is_settings_frame(first: &[u8]) -> bool {
    first.len() >= 9 && first[3] == 0x04
}

/// What answered a plaintext HTTP/2 preface, when it was not HTTP/2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// TLS records: a TLS server dialled in plaintext.
    Tls(String),
    /// Something else that is not HTTP/2 (HTTP/1.x, silence, noise).
    NotHttp2(String),
}

#[cfg(test)]
impl Sniffed {
    fn text(&self) -> &str {
        match self {
            Sniffed::Tls(text) | Sniffed::NotHttp2(text) => text,
        }
    }
}

/// What the peer at `authority` (host:port) sent back to an HTTP/2
/// preface; None if it looks like a plaintext HTTP/2 server or nothing
/// could be learned.
pub async fn plaintext_peer(authority: &str) -> Option<Sniffed> {
    describe(&first_bytes(authority).await?)
}

/// Names what a peer's first bytes (after our preface) show.
fn describe(first: &[u8]) -> Option<Sniffed> {
    if first.is_empty() {
        return Some(Sniffed::NotHttp2(
            "it accepted the connection but closed it without a word to an HTTP/2 preface".into(),
        ));
    }
    let text = first
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if first.starts_with(b"HTTP/1.") || text {
        let line = String::from_utf8_lossy(first);
        let line = line.lines().next().unwrap_or_default();
        return Some(Sniffed::NotHttp2(format!(
            "it answers in text ({line:?}) as an HTTP/1.x server does, not with HTTP/2 frames: gRPC needs HTTP/2"
        )));
    }
    if first[0] == 0x15 || first[0] == 0x16 {
        return Some(Sniffed::Tls(
            "it answers with TLS records: the server expects TLS, so dial it with https://".into(),
        ));
    }
    if is_settings_frame(first) {
        return None;
    }
    let shown: Vec<String> = first.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Some(Sniffed::NotHttp2(format!(
        "it does not send an HTTP/2 preface (SETTINGS); its first bytes were {}",
        shown.join(" ")
    )))
}

/// Whether a plaintext HTTP/2 server answers at `authority`: for an
/// https:// target that failed its TLS handshake.
pub async fn speaks_plaintext_http2(authority: &str) -> bool {
    first_bytes(authority)
        .await
        .is_some_and(|first| is_settings_frame(&first))
}

#[cfg(test)]
mod tests {
    use super::{Sniffed, describe};

    fn text(first: &[u8]) -> String {
        describe(first)
            .map(|sniffed| sniffed.text().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn names_what_answered() {
        let http1 = text(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert!(http1.contains("HTTP/1.x"), "{http1}");
        let tls = describe(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
        assert!(
            matches!(&tls, Some(Sniffed::Tls(text)) if text.contains("https://")),
            "{tls:?}"
        );
        let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
        assert_eq!(describe(&settings), None);
        let noise = text(b"\x01\x02garbage");
        assert!(noise.contains("01 02"), "{noise}");
        let silent = text(b"");
        assert!(silent.contains("closed"), "{silent}");
    }
}
