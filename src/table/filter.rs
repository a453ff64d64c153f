//! The absent-key filter stored in every map makemap writes.
//!
//! Contract: a [`Filter`] says of a key either "certainly not in the map"
//! or "maybe" (a false "maybe" for under 1% of absent keys, never a false
//! "not"). makemap builds one over the keys it stores, as stored (folded,
//! with the NUL of `-N`), and writes it into the map under [`KEY`], a key
//! no text table can produce: it starts with a NUL byte, and the builder
//! refuses every key starting `\0mxgate-` as data ([`is_reserved`]). A
//! reader loads it once per mapped file and answers an absent key without
//! descending LMDB's tree: most lookups an MTA makes miss (`Connect:` for
//! each prefix of an address, `From:` for each domain suffix), and a miss
//! in a large table otherwise costs as much as a hit, several cache misses
//! deep. Maps without one (older builds,
//! `-d` maps whose values LMDB keeps as sorted keys of 511 bytes at most)
//! are searched as before; a filter that does not parse is ignored.
//!
//! Layout: a split-block Bloom filter, as Parquet specifies one: blocks of
//! eight 32-bit words; a key's 64-bit SipHash-1-3 picks a block with its
//! high half and, with its low half times eight fixed odd constants, one
//! bit in each word. One cache line per probe. Stored as the magic
//! `MXBF`, a version byte, three zero bytes, the block count (u32 LE) and
//! the words (u32 LE).

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// The reserved key the filter is stored under.
pub const KEY: &[u8] = b"\0mxgate-absent-key-filter-1";

/// Keys starting with this are mxgate's own, never table data: a listing
/// skips them and makemap refuses them as input, so a later build may
/// store other things under them without an older one copying them as data.
const RESERVED: &[u8] = b"\0mxgate-";

/// Whether `key` (as stored) is one of mxgate's own ([`KEY`] and its kin).
pub fn is_reserved(key: &[u8]) -> bool {
    key.starts_with(RESERVED)
}

/// Bits of filter per stored key (under 1% false "maybe").
const BITS_PER_KEY: usize = 12;
const MAGIC: &[u8; 4] = b"MXBF";
const VERSION: u8 = 1;
const HEADER: usize = 12;
/// Parquet's split-block salts: one odd multiplier per word of a block.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

type Block = [u32; 8];

/// A split-block Bloom filter over a map's stored keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    blocks: Vec<Block>,
}

/// The 64-bit hash of a key, as stored, that the filter and the hash index
/// ([`super::index`]) both use: computed once per lookup.
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(0, 0);
    h.write(key);
    h.finish()
}

fn block_count(keys: usize) -> usize {
    keys.saturating_mul(BITS_PER_KEY)
        .div_ceil(256)
        .clamp(1, u32::MAX as usize)
}

fn masks(low: u32) -> Block {
    SALT.map(|s| 1u32 << (low.wrapping_mul(s) >> 27))
}

impl Filter {
    /// An empty filter sized for `keys` keys.
    pub fn with_capacity(keys: usize) -> Filter {
        Filter {
            blocks: vec![[0; 8]; block_count(keys)],
        }
    }

    /// How many bytes [`Filter::to_bytes`] gives for a filter sized for `keys`.
    pub fn stored_len(keys: usize) -> usize {
        HEADER + block_count(keys) * 32
    }

    /// The block `key` maps to and the bit it sets in each word: the
    /// hash's high half scaled to the block count (no modulo bias, no
    /// division), its low half through the salts.
    fn slot(&self, h: u64) -> (usize, Block) {
        let block = (((h >> 32) * self.blocks.len() as u64) >> 32) as usize;
        (block, masks(h as u32))
    }

    /// Add a key, as stored.
    pub fn insert(&mut self, key: &[u8]) {
        self.insert_hash(key_hash(key));
    }

    /// [`Filter::insert`] for a key whose [`key_hash`] is `h`.
    pub fn insert_hash(&mut self, h: u64) {
        let (i, bits) = self.slot(h);
        for (w, m) in self.blocks[i].iter_mut().zip(bits) {
            *w |= m;
        }
    }

    /// False when `key` (as stored) is certainly not in the map.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(key_hash(key))
    }

    /// [`Filter::may_contain`] for a key whose [`key_hash`] is `h`.
    pub fn may_contain_hash(&self, h: u64) -> bool {
        let (i, bits) = self.slot(h);
        self.blocks[i].iter().zip(bits).all(|(w, m)| w & m == m)
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.blocks.len() * 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, 0, 0, 0]);
        out.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        for w in self.blocks.iter().flatten() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Read the stored form; `None` when it is not one this build knows.
    pub fn from_bytes(b: &[u8]) -> Option<Filter> {
        let (head, words) = b.split_at_checked(HEADER)?;
        if &head[..4] != MAGIC || head[4] != VERSION {
            return None;
        }
        let n = u32::from_le_bytes(head[8..12].try_into().ok()?) as usize;
        if n == 0 || words.len() != n.checked_mul(32)? {
            return None;
        }
        let blocks = words
            .chunks_exact(32)
            .map(|c| {
                let mut block = [0u32; 8];
                for (w, b) in block.iter_mut().zip(c.chunks_exact(4)) {
                    *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                block
            })
            .collect();
        Some(Filter { blocks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_says_no_to_a_stored_key_and_rarely_yes_to_others() {
        let n = 100_000;
        let mut f = Filter::with_capacity(n);
        let key = |i: usize| format!("connect:10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        for i in 0..n {
            f.insert(key(i).as_bytes());
        }
        let back = Filter::from_bytes(&f.to_bytes()).expect("own stored form");
        assert_eq!(back, f);
        assert_eq!(f.to_bytes().len(), Filter::stored_len(n));
        assert!((0..n).all(|i| back.may_contain(key(i).as_bytes())));
        // Deterministic keys and hash: the count is fixed; 1% is twice the design rate.
        let wrong = (n..2 * n)
            .filter(|&i| back.may_contain(key(i).as_bytes()))
            .count();
        assert!(wrong < n / 100, "{wrong} false positives in {n}");
    }

    #[test]
    fn a_stored_form_this_build_does_not_know_is_refused() {
        let good = Filter::with_capacity(10).to_bytes();
        assert!(Filter::from_bytes(&good).is_some());
        assert!(Filter::from_bytes(b"REJECT").is_none());
        assert!(Filter::from_bytes(&good[..good.len() - 1]).is_none());
        let mut other = good.clone();
        other[4] = 2;
        assert!(Filter::from_bytes(&other).is_none());
        let mut empty = good;
        empty.truncate(HEADER);
        empty[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(Filter::from_bytes(&empty).is_none());
    }
}
