//! gRPC's length-prefixed messages, cut out of a response body's chunks as
//! they arrive: how the load path and the scale scenario's raw streams read
//! their replies without a codec.

use bytes::{Buf, Bytes, BytesMut};

/// The gRPC message prefix: a compression flag and a 4-byte length.
pub(crate) const PREFIX: usize = 5;

/// A message flagged as compressed, which no request of the suite's raw
/// paths asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compressed;

/// The bytes of a body not yet cut into whole messages.
#[derive(Debug, Default)]
pub(crate) struct MessageReader {
    /// The usual case, a chunk holding whole messages, is read in place;
    /// only a message split across chunks is copied together.
    unread: Bytes,
}

impl MessageReader {
    /// The next chunk of the body.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if self.unread.is_empty() {
            self.unread = chunk;
        } else {
            let mut joined = BytesMut::with_capacity(self.unread.len() + chunk.len());
            joined.extend_from_slice(&self.unread);
            joined.extend_from_slice(&chunk);
            self.unread = joined.freeze();
        }
    }

    /// The next whole message, without its prefix; None until one is whole.
    pub(crate) fn next_message(&mut self) -> Result<Option<Bytes>, Compressed> {
        let Some(prefix) = self.unread.get(..PREFIX) else {
            return Ok(None);
        };
        let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if self.unread.len() < PREFIX + length {
            return Ok(None);
        }
        if prefix[0] != 0 {
            return Err(Compressed);
        }
        self.unread.advance(PREFIX);
        let message = self.unread.split_to(length);
        if self.unread.is_empty() {
            // An empty slice would still hold the chunk's buffer: a stream
            // that stays open (ten thousand of them) keeps nothing.
            self.unread = Bytes::new();
        }
        Ok(Some(message))
    }

    /// Bytes of a message begun but not whole.
    pub(crate) fn leftover(&self) -> usize {
        self.unread.len()
    }
}

/// `message` with gRPC's prefix (uncompressed).
pub(crate) fn prefixed(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(PREFIX + message.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(message);
    framed.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_out_whole_however_the_chunks_cut_them() {
        let mut body = Vec::new();
        for message in [&b"one"[..], b"", b"three"] {
            body.extend_from_slice(&prefixed(message));
        }
        for cut in 0..=body.len() {
            let mut reader = MessageReader::default();
            let mut got = Vec::new();
            for chunk in [&body[..cut], &body[cut..]] {
                reader.push(Bytes::copy_from_slice(chunk));
                while let Some(message) = reader.next_message().expect("uncompressed") {
                    got.push(message);
                }
            }
            assert_eq!(got, [&b"one"[..], b"", b"three"], "cut at {cut}");
            assert_eq!(reader.leftover(), 0, "cut at {cut}");
        }
    }

    #[test]
    fn a_message_begun_but_not_whole_is_left_over_and_compression_is_refused() {
        let mut reader = MessageReader::default();
        let whole = prefixed(b"abcdef");
        reader.push(whole.slice(..7));
        assert_eq!(reader.next_message(), Ok(None));
        assert_eq!(reader.leftover(), 7);

        let mut compressed = prefixed(b"x").to_vec();
        compressed[0] = 1;
        let mut reader = MessageReader::default();
        reader.push(Bytes::from(compressed));
        assert_eq!(reader.next_message(), Err(Compressed));
    }
}
