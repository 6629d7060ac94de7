//! The HPACK decoder: header blocks into fields, following the dynamic
//! table the peer's encoder builds.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{DEFAULT_TABLE_SIZE, FIRST_DYNAMIC, Field, STATIC_TABLE, entry_size, huffman};

/// Decodes the header blocks of one connection, in order.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Newest first: the entry at index [`FIRST_DYNAMIC`].
    table: VecDeque<Field>,
    size: usize,
    /// The table's maximum size, as the peer's encoder last set it.
    max_size: usize,
    /// The largest the peer may set it to: this side's
    /// SETTINGS_HEADER_TABLE_SIZE.
    limit: usize,
}

/// Reads one block.
struct Reader {
    block: Bytes,
    at: usize,
}

impl Reader {
    fn byte(&self) -> Result<u8, String> {
        self.block
            .get(self.at)
            .copied()
            .ok_or_else(|| "a header block ends inside a field".to_owned())
    }

    /// An integer with a `prefix`-bit prefix (RFC 7541, 5.1).
    fn int(&mut self, prefix: u32) -> Result<usize, String> {
        let max = (1usize << prefix) - 1;
        let mut value = usize::from(self.byte()?) & max;
        self.at += 1;
        if value < max {
            return Ok(value);
        }
        for shift in (0..).step_by(7) {
            let byte = self.byte()?;
            self.at += 1;
            // Five continuation bytes already exceed any size that matters.
            if shift > 28 {
                return Err("a header block holds an integer too large".to_owned());
            }
            value += usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        Ok(value)
    }

    /// A string literal (RFC 7541, 5.2): a slice of the block, or its
    /// Huffman decoding.
    fn string(&mut self) -> Result<Bytes, String> {
        let huffman = self.byte()? & 0x80 != 0;
        let length = self.int(7)?;
        let end = self
            .at
            .checked_add(length)
            .filter(|&end| end <= self.block.len())
            .ok_or_else(|| "a header block ends inside a string".to_owned())?;
        let raw = self.block.slice(self.at..end);
        self.at = end;
        if !huffman {
            return Ok(raw);
        }
        let mut plain = Vec::with_capacity(raw.len() * 8 / 5);
        huffman::decode(&raw, &mut plain).map_err(str::to_owned)?;
        Ok(Bytes::from(plain))
    }
}

impl Decoder {
    /// A decoder for a connection whose SETTINGS_HEADER_TABLE_SIZE is
    /// `limit`.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE.min(limit),
            limit,
        }
    }

    /// Decodes `block`, appending its fields to `out`.
    pub(crate) fn decode(&mut self, block: Bytes, out: &mut Vec<Field>) -> Result<(), String> {
        let mut reader = Reader { block, at: 0 };
        while reader.at < reader.block.len() {
            let first = reader.byte()?;
            if first & 0x80 != 0 {
                // Indexed field.
                let index = reader.int(7)?;
                out.push(self.get(index)?);
            } else if first & 0xc0 == 0x40 {
                // Literal with incremental indexing.
                let name = self.name(&mut reader, 6)?;
                let value = reader.string()?;
                self.insert(name.clone(), value.clone());
                out.push((name, value));
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update.
                let size = reader.int(5)?;
                if size > self.limit {
                    return Err(format!(
                        "the peer set its header table to {size} bytes, above the {} this side allows",
                        self.limit
                    ));
                }
                self.max_size = size;
                self.evict(0);
            } else {
                // Literal without indexing, or never indexed.
                let name = self.name(&mut reader, 4)?;
                let value = reader.string()?;
                out.push((name, value));
            }
        }
        Ok(())
    }

    /// A literal's name: an index with a `prefix`-bit prefix, or (index 0)
    /// a string.
    fn name(&self, reader: &mut Reader, prefix: u32) -> Result<Bytes, String> {
        match reader.int(prefix)? {
            0 => reader.string(),
            index => Ok(self.get(index)?.0),
        }
    }

    fn get(&self, index: usize) -> Result<Field, String> {
        if let Some(&(name, value)) = index.checked_sub(1).and_then(|i| STATIC_TABLE.get(i)) {
            return Ok((
                Bytes::from_static(name.as_bytes()),
                Bytes::from_static(value.as_bytes()),
            ));
        }
        index
            .checked_sub(FIRST_DYNAMIC)
            .and_then(|i| self.table.get(i))
            .cloned()
            .ok_or_else(|| format!("a header block refers to index {index}, which no table holds"))
    }

    fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        // An entry larger than the table empties it and is not added.
        self.evict(size);
        if size <= self.max_size {
            self.size += size;
            self.table.push_front((name, value));
        }
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((name, value)) = self.table.pop_back() else {
                break;
            };
            self.size -= entry_size(&name, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(decoded: &[Field]) -> Vec<(String, String)> {
        decoded
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn hex(text: &str) -> Bytes {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| {
                u8::from_str_radix(std::str::from_utf8(pair).expect("hex"), 16).expect("hex")
            })
            .collect::<Vec<u8>>()
            .into()
    }

    /// RFC 7541, C.4: three requests with Huffman coding, on one decoder.
    #[test]
    fn the_rfc_requests_decode_in_sequence() {
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut out = Vec::new();
        decoder
            .decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), &mut out)
            .expect("C.4.1");
        assert_eq!(
            fields(&out),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ])
        );
        out.clear();
        decoder
            .decode(hex("8286 84be 5886 a8eb 1064 9cbf"), &mut out)
            .expect("C.4.2");
        assert_eq!(
            fields(&out),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ])
        );
        out.clear();
        decoder
            .decode(
                hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
                &mut out,
            )
            .expect("C.4.3");
        assert_eq!(
            fields(&out),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ])
        );
        assert_eq!(decoder.size, 164);
    }

    /// RFC 7541, C.5: responses that overflow a 256-byte table, evicting.
    #[test]
    fn the_rfc_responses_evict_the_oldest_entries() {
        let mut decoder = Decoder::new(256);
        let mut out = Vec::new();
        decoder
            .decode(
                hex(
                    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                ),
                &mut out,
            )
            .expect("C.5.1");
        assert_eq!(decoder.size, 222);
        out.clear();
        decoder
            .decode(hex("4803 3330 37c1 c0bf"), &mut out)
            .expect("C.5.2");
        assert_eq!(
            fields(&out),
            pairs(&[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ])
        );
        assert_eq!(decoder.size, 222);
    }

    #[test]
    fn a_bad_index_a_short_block_and_an_oversized_table_are_refused() {
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut out = Vec::new();
        assert!(
            decoder.decode(hex("be"), &mut out).is_err(),
            "index 62, empty table"
        );
        assert!(decoder.decode(hex("80"), &mut out).is_err(), "index 0");
        assert!(
            decoder.decode(hex("4003 6162"), &mut out).is_err(),
            "cut string"
        );
        // A size update to 8192, above the 4096 this side allows.
        assert!(decoder.decode(hex("3fe1 3f"), &mut out).is_err());
        // One to 0 empties the table.
        decoder.decode(hex("4001 6101 62"), &mut out).expect("a: b");
        assert_eq!(decoder.table.len(), 1);
        decoder.decode(hex("20"), &mut out).expect("size 0");
        assert!(decoder.table.is_empty());
    }
}
