//! HPACK (RFC 7541), as much as the load's client needs: a complete decoder,
//! because a server uses the dynamic table and Huffman coding as it likes,
//! and a plain encoder that indexes a header only while it fits the table
//! without evicting another, so a header block stays valid for as long as
//! nothing new is added (see [`Encoder`]).

mod decode;
mod encode;
mod huffman;

use bytes::Bytes;

pub(crate) use decode::Decoder;
pub(crate) use encode::Encoder;

/// A header field: name and value.
pub(crate) type Field = (Bytes, Bytes);

/// The static table (RFC 7541, Appendix A); index 1 is the first entry.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Dynamic table indices start after the static table's.
const FIRST_DYNAMIC: usize = STATIC_TABLE.len() + 1;

/// The table size the protocol starts with (SETTINGS_HEADER_TABLE_SIZE's
/// default).
pub(crate) const DEFAULT_TABLE_SIZE: usize = 4_096;

/// An entry's size in a dynamic table (RFC 7541, 4.1).
fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// Appends `value` as an integer with a `prefix`-bit prefix (RFC 7541,
/// 5.1), the prefix's first byte carrying `flags` in its high bits.
fn encode_int(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Appends `bytes` as a string literal without Huffman coding.
fn encode_str(out: &mut Vec<u8>, bytes: &[u8]) {
    encode_int(out, 0, 7, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_their_prefix_then_continuation_bytes() {
        // RFC 7541, C.1.1 to C.1.3.
        let mut out = Vec::new();
        encode_int(&mut out, 0, 5, 10);
        assert_eq!(out, [0b01010]);
        out.clear();
        encode_int(&mut out, 0, 5, 1337);
        assert_eq!(out, [0b11111, 0b1001_1010, 0b0000_1010]);
        out.clear();
        encode_int(&mut out, 0, 8, 42);
        assert_eq!(out, [42]);
    }

    /// Every block an encoder writes reads back as what it was given,
    /// through a decoder that follows its table (insertions, and entries
    /// referred to by index once inserted).
    #[test]
    fn what_the_encoder_writes_the_decoder_reads() {
        let mut encoder = Encoder::default();
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let request = |tag: &str| -> Vec<Field> {
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/grpc.testing.TestService/UnaryCall"),
                (":authority", "127.0.0.1:50051"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("x-grpc-test-echo-initial", tag),
            ]
            .into_iter()
            .map(|(n, v)| (Bytes::from(n.to_owned()), Bytes::from(v.to_owned())))
            .collect()
        };
        let mut sizes = Vec::new();
        for round in 0..3 {
            for worker in 0..80 {
                let fields = request(&format!("w{worker}"));
                let mut block = Vec::new();
                encoder.encode(&fields, &mut block);
                let mut decoded = Vec::new();
                decoder
                    .decode(Bytes::from(block.clone()), &mut decoded)
                    .expect("the encoder's own block");
                assert_eq!(decoded, fields, "round {round}, worker {worker}");
                sizes.push(block.len());
            }
        }
        // Once the table holds them, the shared headers and the first
        // workers' tags are an index each (one or two bytes); tags past the
        // table's room stay literals.
        assert!(sizes[80] <= 2 * 7, "{sizes:?}");
        assert!(sizes[80 + 79] > 2 * 7, "{sizes:?}");
        assert!(encoder.size() <= DEFAULT_TABLE_SIZE);
    }
}
