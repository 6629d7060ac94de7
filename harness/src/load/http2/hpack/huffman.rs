//! HPACK's Huffman code (RFC 7541, Appendix B) for decoding string
//! literals. The code is canonical: each symbol's code follows from the code
//! lengths alone (codes of one length are consecutive, in symbol order, and
//! each length's first code follows the last of the shorter ones), so only
//! the lengths are written down here and the codes are derived from them.

use std::sync::OnceLock;

/// The code length of each symbol: bytes 0 to 255, then EOS (256).
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// End of string: it may only appear as padding, never as a symbol.
const EOS: u16 = 256;

/// A child that is a symbol, not another node.
const LEAF: u16 = 0x8000;

/// The decoding tree: each node's two children by the next bit; a child is
/// a node index, or a symbol with [`LEAF`] set. Index 0 is the root, which
/// is no node's child, so 0 also marks a child not yet set while building.
struct Tree {
    nodes: Vec<[u16; 2]>,
}

/// Each symbol's code, from the lengths.
pub(super) fn codes() -> [(u32, u8); 257] {
    let mut symbols: Vec<u16> = (0..=EOS).collect();
    symbols.sort_by_key(|&symbol| (CODE_LENGTHS[symbol as usize], symbol));
    let mut codes = [(0u32, 0u8); 257];
    let (mut code, mut length) = (0u32, CODE_LENGTHS[symbols[0] as usize]);
    for (rank, &symbol) in symbols.iter().enumerate() {
        let wanted = CODE_LENGTHS[symbol as usize];
        if rank > 0 {
            code = (code + 1) << (wanted - length);
            length = wanted;
        }
        codes[symbol as usize] = (code, length);
    }
    codes
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut nodes = vec![[0u16; 2]];
        for (symbol, (code, length)) in codes().into_iter().enumerate() {
            let mut node = 0usize;
            for shift in (0..length).rev() {
                let bit = ((code >> shift) & 1) as usize;
                if shift == 0 {
                    nodes[node][bit] = LEAF | symbol as u16;
                } else {
                    if nodes[node][bit] == 0 {
                        nodes.push([0, 0]);
                        nodes[node][bit] = (nodes.len() - 1) as u16;
                    }
                    node = nodes[node][bit] as usize;
                }
            }
        }
        Tree { nodes }
    })
}

/// Decodes a Huffman-coded string literal. Errors on the EOS symbol, on
/// padding longer than 7 bits or not all ones (RFC 7541, 5.2).
pub(super) fn decode(coded: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let nodes = &tree().nodes;
    let mut node = 0usize;
    // Bits read since the last symbol, and whether all of them were ones.
    let (mut pending, mut all_ones) = (0u32, true);
    for &byte in coded {
        for shift in (0..8).rev() {
            let bit = usize::from((byte >> shift) & 1);
            let child = nodes[node][bit];
            if child & LEAF != 0 {
                let symbol = child & !LEAF;
                if symbol == EOS {
                    return Err("a Huffman-coded string holds the EOS symbol");
                }
                out.push(symbol as u8);
                node = 0;
                (pending, all_ones) = (0, true);
            } else if child == 0 {
                // Every path of the complete code ends in a symbol.
                return Err("an invalid Huffman code");
            } else {
                node = child as usize;
                pending += 1;
                all_ones &= bit == 1;
            }
        }
    }
    if pending > 7 || !all_ones {
        return Err("a Huffman-coded string ends in invalid padding");
    }
    Ok(())
}

#[cfg(test)]
pub(super) fn encode(plain: &[u8]) -> Vec<u8> {
    let codes = codes();
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u64, 0u32);
    for &byte in plain {
        let (code, length) = codes[byte as usize];
        acc = (acc << length) | u64::from(code);
        bits += u32::from(length);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        // Padded with the most significant bits of EOS: all ones.
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_those_of_the_rfc() {
        let codes = codes();
        // RFC 7541, Appendix B: '0' 00000, 'a' 00011, ' ' 010100,
        // 0xff 11111111|11111111|11111011|10, EOS 30 ones.
        assert_eq!(codes[b'0' as usize], (0b00000, 5));
        assert_eq!(codes[b'a' as usize], (0b00011, 5));
        assert_eq!(codes[b' ' as usize], (0b010100, 6));
        assert_eq!(codes[255], (0x3ffffee, 26));
        assert_eq!(codes[EOS as usize], (0x3fffffff, 30));
    }

    #[test]
    fn the_rfc_examples_decode() {
        // RFC 7541, C.4.1 and C.6.1.
        for (coded, plain) in [
            (
                &[
                    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
                ][..],
                &b"www.example.com"[..],
            ),
            (&[0x64, 0x02][..], &b"302"[..]),
            (&[0xae, 0xc3, 0x77, 0x1a, 0x4b][..], &b"private"[..]),
        ] {
            let mut out = Vec::new();
            decode(coded, &mut out).expect("an RFC example");
            assert_eq!(out, plain);
        }
    }

    #[test]
    fn every_byte_value_round_trips_and_bad_padding_is_refused() {
        let plain: Vec<u8> = (0..=255u8)
            .chain(b"application/grpc".iter().copied())
            .collect();
        let mut out = Vec::new();
        decode(&encode(&plain), &mut out).expect("round trip");
        assert_eq!(out, plain);
        // "0" is 00000; three bits of padding must be ones.
        assert!(decode(&[0b0000_0111], &mut Vec::new()).is_ok());
        assert!(decode(&[0b0000_0101], &mut Vec::new()).is_err());
        // A whole byte of padding is too long.
        assert!(decode(&[0b0000_0111, 0xff], &mut Vec::new()).is_err());
        // EOS coded as a symbol: 30 ones.
        assert!(decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new()).is_err());
    }
}
