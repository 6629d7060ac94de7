//! The HPACK encoder of the load's requests. It adds a field to the table
//! only while the field fits without evicting another, and never Huffman
//! codes: once the fields a load repeats are in the table, every request's
//! block is the same few index bytes, which the load may cache and send again
//! for as long as [`Encoder::generation`] stays the same.

use std::collections::VecDeque;

use super::{
    DEFAULT_TABLE_SIZE, FIRST_DYNAMIC, Field, STATIC_TABLE, encode_int, encode_str, entry_size,
};

#[derive(Debug)]
pub(crate) struct Encoder {
    /// Newest first, as the peer's decoder holds it.
    table: VecDeque<Field>,
    size: usize,
    /// The table's maximum size in effect.
    max_size: usize,
    /// A smaller maximum the next block must announce first.
    pending_update: Option<usize>,
    /// Changes at every change of the table.
    generation: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
            pending_update: None,
            generation: 0,
        }
    }
}

impl Encoder {
    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed to `limit`. The
    /// encoder never uses more than the default it started with, so only a
    /// smaller limit changes anything: the table shrinks to it, and the
    /// next block announces that.
    pub(crate) fn peer_limit(&mut self, limit: usize) {
        let max = limit.min(DEFAULT_TABLE_SIZE);
        if max == self.max_size {
            return;
        }
        self.max_size = max;
        while self.size > max {
            let Some((name, value)) = self.table.pop_back() else {
                break;
            };
            self.size -= entry_size(&name, &value);
        }
        self.pending_update = Some(self.pending_update.map_or(max, |pending| pending.min(max)));
        self.generation += 1;
    }

    /// Changes whenever the table does: a block encoded without adding to
    /// the table stays valid until then.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Appends the size update the next block must start with, if any
    /// (once).
    pub(crate) fn take_size_update(&mut self, out: &mut Vec<u8>) {
        if let Some(size) = self.pending_update.take() {
            encode_int(out, 0x20, 5, size);
            if size != self.max_size {
                encode_int(out, 0x20, 5, self.max_size);
            }
        }
    }

    /// Appends the block of `fields` to `out` (without any pending size
    /// update: see [`Encoder::take_size_update`]).
    pub(crate) fn encode(&mut self, fields: &[Field], out: &mut Vec<u8>) {
        for (name, value) in fields {
            let (exact, named) = self.find(name, value);
            if let Some(index) = exact {
                encode_int(out, 0x80, 7, index);
                continue;
            }
            let size = entry_size(name, value);
            let index_it = self.size + size <= self.max_size;
            let (flags, prefix) = if index_it { (0x40, 6) } else { (0x00, 4) };
            encode_int(out, flags, prefix, named.unwrap_or(0));
            if named.is_none() {
                encode_str(out, name);
            }
            encode_str(out, value);
            if index_it {
                self.table.push_front((name.clone(), value.clone()));
                self.size += size;
                self.generation += 1;
            }
        }
    }

    /// The index of an entry equal to the field, and of one with its name.
    fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut named = None;
        let statics = STATIC_TABLE
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .enumerate()
            .map(|(i, field)| (i + 1, field));
        let dynamics = self
            .table
            .iter()
            .map(|(n, v)| (&n[..], &v[..]))
            .enumerate()
            .map(|(i, field)| (i + FIRST_DYNAMIC, field));
        for (index, (n, v)) in statics.chain(dynamics) {
            if n == name {
                if v == value {
                    return (Some(index), Some(index));
                }
                named.get_or_insert(index);
            }
        }
        (None, named)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::*;
    use bytes::Bytes;

    fn field(name: &'static str, value: &'static str) -> Field {
        (
            Bytes::from_static(name.as_bytes()),
            Bytes::from_static(value.as_bytes()),
        )
    }

    #[test]
    fn a_repeated_block_adds_nothing_and_keeps_its_generation() {
        let mut encoder = Encoder::default();
        let fields = [field(":method", "POST"), field("te", "trailers")];
        let mut first = Vec::new();
        encoder.encode(&fields, &mut first);
        let generation = encoder.generation();
        assert_eq!(first[0], 0x83, ":method POST is static entry 3");
        let mut again = Vec::new();
        encoder.encode(&fields, &mut again);
        assert_eq!(again, [0x83, 0xbe], "te: trailers is now dynamic entry 62");
        assert_eq!(encoder.generation(), generation);
    }

    #[test]
    fn a_smaller_peer_table_shrinks_it_and_the_next_block_says_so() {
        let mut encoder = Encoder::default();
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let fields = [field("x-a", "1"), field("x-b", "2")];
        let mut block = Vec::new();
        encoder.encode(&fields, &mut block);
        decoder
            .decode(Bytes::from(block), &mut Vec::new())
            .expect("first block");
        encoder.peer_limit(40);
        let mut block = Vec::new();
        encoder.take_size_update(&mut block);
        encoder.encode(&fields, &mut block);
        assert_eq!(block[0], 0x20 | 0x1f, "a size update first");
        let mut decoded = Vec::new();
        decoder
            .decode(Bytes::from(block), &mut decoded)
            .expect("after the update");
        assert_eq!(decoded, fields);
        let mut block = Vec::new();
        encoder.take_size_update(&mut block);
        assert!(block.is_empty(), "announced once");
    }
}
