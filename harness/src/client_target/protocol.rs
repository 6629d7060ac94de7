//! The client-under-test protocol's framing (`proto/conformance/v1/client.proto`):
//! each message is a 4-byte big-endian length and that many bytes of
//! protobuf, the harness's on the adapter's stdin, the adapter's on its
//! stdout.

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version this harness speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame accepted: far beyond any result, small enough that a
/// stray text line on stdout (read as a length) is refused, not allocated.
pub const MAX_FRAME: u32 = 16 * 1024 * 1024;

/// What went wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the stream ended")]
    Closed,
    #[error("cannot read or write: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "a frame of {length} bytes announced (its first bytes {first:?}), more than the {MAX_FRAME} allowed: is something other than protocol frames written to stdout (a log line)? Logs go to stderr"
    )]
    TooLarge { length: u32, first: String },
    #[error("a frame that is not a valid {kind}: {error}")]
    Malformed {
        kind: &'static str,
        error: prost::DecodeError,
    },
}

/// Writes one message as a frame and flushes it.
pub async fn write_frame<M: Message>(
    out: &mut (impl AsyncWrite + Unpin),
    message: &M,
) -> Result<(), FrameError> {
    let body = message.encode_to_vec();
    let length = u32::try_from(body.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "a message over 4 GiB")
    })?;
    out.write_all(&length.to_be_bytes()).await?;
    out.write_all(&body).await?;
    out.flush().await?;
    Ok(())
}

/// Reads one frame and decodes it as `M` (`kind` names it in errors).
pub async fn read_frame<M: Message + Default>(
    input: &mut (impl AsyncRead + Unpin),
    kind: &'static str,
) -> Result<M, FrameError> {
    let mut prefix = [0u8; 4];
    match input.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(FrameError::Closed);
        }
        Err(err) => return Err(err.into()),
    }
    let length = u32::from_be_bytes(prefix);
    if length > MAX_FRAME {
        return Err(FrameError::TooLarge {
            length,
            first: String::from_utf8_lossy(&prefix).into_owned(),
        });
    }
    let mut body = vec![0u8; length as usize];
    input.read_exact(&mut body).await?;
    M::decode(body.as_slice()).map_err(|error| FrameError::Malformed { kind, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conformance::proto::probe::{HarnessMessage, Hello, harness_message};

    #[tokio::test]
    async fn a_frame_round_trips_and_a_text_line_is_refused() {
        let hello = HarnessMessage {
            kind: Some(harness_message::Kind::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
            })),
        };
        let mut wire = Vec::new();
        write_frame(&mut wire, &hello).await.expect("written");
        let read: HarnessMessage = read_frame(&mut wire.as_slice(), "HarnessMessage")
            .await
            .expect("read back");
        assert_eq!(read, hello);

        let text = b"listening on 127.0.0.1:50051\n".to_vec();
        let err = read_frame::<HarnessMessage>(&mut text.as_slice(), "HarnessMessage")
            .await
            .expect_err("a text line is not a frame");
        assert!(err.to_string().contains("\"list\""), "{err}");
        let empty: &[u8] = &[];
        assert!(matches!(
            read_frame::<HarnessMessage>(&mut &*empty, "HarnessMessage").await,
            Err(FrameError::Closed)
        ));
    }
}
