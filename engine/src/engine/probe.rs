//! [`ProbeIndex`]: `u32` values (ticket slots, interned ids) found by a 64-bit hash and an
//! equality check on what they point to, in a table whose lookups can be prefetched.
//!
//! Why not `hashbrown`: with a thousand tenants and events arriving in any order, every lookup
//! in a tenant's index is a cache miss, then another for the ticket it names. A caller that
//! knows its next events asks for both ahead ([`prefetch`](ProbeIndex::prefetch), then
//! [`prefetch_value`](ProbeIndex::prefetch_value) once the first line has arrived), and the
//! misses overlap with the work on the events before them. That needs the address of a key's
//! entry, which `hashbrown` does not give.
//!
//! Linear probing over 8-byte entries: the hash's low 32 bits and the value. A key's home is
//! those bits masked to the table's size, so entries move without their keys being hashed
//! again (on growth and on removal, which shifts the rest of the run back: no tombstones).
//! Kept at most 4/5 full (a lookup that finds nothing reads about 13 entries then, two cache
//! lines); the size is a power of two.

use vigil_schema::prefetch::prefetch;

/// A value that marks an empty entry (never a slot or an id: a tenant holds fewer than 2³²).
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The low 32 bits of the key's hash.
    tag: u32,
    value: u32,
}

impl Entry {
    const EMPTY: Entry = Entry {
        tag: 0,
        value: EMPTY,
    };

    fn is_empty(self) -> bool {
        self.value == EMPTY
    }
}

/// Values by hash; the caller's `eq` tells which of the values with a hash's tag is its key's.
#[derive(Debug, Clone, Default)]
pub struct ProbeIndex {
    entries: Vec<Entry>,
    len: usize,
}

impl ProbeIndex {
    /// An index with room for `n` values before it grows.
    pub fn with_capacity(n: usize) -> ProbeIndex {
        let mut index = ProbeIndex::default();
        if n > 0 {
            index.entries = vec![Entry::EMPTY; size_for(n)];
        }
        index
    }

    /// Values held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.entries.len().wrapping_sub(1)
    }

    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// Starts loading the entry where a lookup of `hash` begins.
    pub fn prefetch(&self, hash: u64) {
        if let Some(entry) = self.entries.get(self.home(hash as u32)) {
            prefetch(entry);
        }
    }

    /// The first value whose entry has `hash`'s tag, without checking its key: for a caller
    /// that prefetches what the value points to. Best read after [`prefetch`](Self::prefetch).
    pub fn prefetch_value(&self, hash: u64) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// The value whose key `eq` accepts among those with `hash`'s tag, in probe order.
    pub fn find(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(hash, eq).map(|i| self.entries[i].value)
    }

    /// Where the first entry with `hash`'s tag whose value `eq` accepts stands.
    fn position(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        let tag = hash as u32;
        let mask = self.mask();
        let mut i = self.home(tag);
        // A run ends at an empty entry, and there is one: the table is never full.
        while let Some(&entry) = self.entries.get(i) {
            if entry.is_empty() {
                return None;
            }
            if entry.tag == tag && eq(entry.value) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Adds `value` under `hash`. The caller knows the key is not held.
    pub fn insert(&mut self, hash: u64, value: u32) {
        debug_assert_ne!(value, EMPTY, "the empty marker is not a value");
        if (self.len + 1) * 5 > self.entries.len() * 4 {
            self.grow();
        }
        self.place(Entry {
            tag: hash as u32,
            value,
        });
        self.len += 1;
    }

    fn place(&mut self, entry: Entry) {
        let mask = self.mask();
        let mut i = self.home(entry.tag);
        while !self.entries[i].is_empty() {
            i = (i + 1) & mask;
        }
        self.entries[i] = entry;
    }

    fn grow(&mut self) {
        let size = size_for(self.len + 1).max(self.entries.len() * 2);
        let old = std::mem::replace(&mut self.entries, vec![Entry::EMPTY; size]);
        for entry in old.into_iter().filter(|e| !e.is_empty()) {
            self.place(entry);
        }
    }

    /// Removes `value`, held under `hash`; whether it was there.
    pub fn remove(&mut self, hash: u64, value: u32) -> bool {
        let Some(mut hole) = self.position(hash, |v| v == value) else {
            return false;
        };
        let mask = self.mask();
        // Shift the rest of the run back over the hole: an entry moves when its home is not
        // between the hole and where it stands.
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let entry = self.entries[i];
            if entry.is_empty() {
                break;
            }
            let from_home = i.wrapping_sub(self.home(entry.tag)) & mask;
            let from_hole = i.wrapping_sub(hole) & mask;
            if from_home >= from_hole {
                self.entries[hole] = entry;
                hole = i;
            }
        }
        self.entries[hole] = Entry::EMPTY;
        self.len -= 1;
        true
    }
}

/// The smallest power of two that holds `n` values at most 4/5 full (at least 8 entries).
fn size_for(n: usize) -> usize {
    n.saturating_mul(5).div_ceil(4).next_power_of_two().max(8)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Keys hashed so that tags collide often and runs wrap around the end of the table.
    fn hash(key: u16) -> u64 {
        u64::from(key % 13).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20 | u64::from(key) << 40
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Remove(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..300).prop_map(Op::Insert),
            (0u16..300).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The index finds what a map holds, after any inserts and removals.
        #[test]
        fn finds_what_a_map_holds(ops in proptest::collection::vec(op(), 0..600)) {
            let mut index = ProbeIndex::default();
            let mut model: HashMap<u16, u32> = HashMap::new();
            let mut values: Vec<u16> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k) if !model.contains_key(&k) => {
                        let v = values.len() as u32;
                        values.push(k);
                        index.insert(hash(k), v);
                        model.insert(k, v);
                    }
                    Op::Insert(_) => {}
                    Op::Remove(k) => {
                        let held = model.remove(&k);
                        let removed = held.is_some_and(|v| index.remove(hash(k), v));
                        prop_assert_eq!(removed, held.is_some());
                    }
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for k in 0u16..300 {
                let found = index.find(hash(k), |v| values[v as usize] == k);
                prop_assert_eq!(found, model.get(&k).copied(), "key {}", k);
            }
        }
    }

    #[test]
    fn an_empty_index_finds_nothing_and_removes_nothing() {
        let mut index = ProbeIndex::default();
        assert_eq!(index.find(7, |_| true), None);
        assert_eq!(index.prefetch_value(7), None);
        assert!(!index.remove(7, 0));
        index.prefetch(7);
        assert!(index.is_empty());
    }

    #[test]
    fn the_first_value_with_a_tag_is_offered_for_prefetching() {
        let mut index = ProbeIndex::with_capacity(4);
        index.insert(0x1_0000_0005, 1);
        index.insert(0x2_0000_0005, 2);
        index.insert(0x6, 3);
        // Equal low bits, equal tags: the first in probe order, whatever its key.
        assert_eq!(index.prefetch_value(0x3_0000_0005), Some(1));
        assert_eq!(index.prefetch_value(0x6), Some(3));
        assert_eq!(index.prefetch_value(0x7), None);
        assert_eq!(index.find(0x5, |v| v == 2), Some(2));
    }

    #[test]
    fn grows_past_four_fifths_and_keeps_every_value() {
        let mut index = ProbeIndex::with_capacity(12);
        assert_eq!(index.entries.len(), 16);
        for v in 0..13u32 {
            index.insert(u64::from(v) * 0x1234_5679, v);
        }
        assert_eq!(index.entries.len(), 32, "13 values do not fit 4/5 of 16");
        for v in 0..13u32 {
            assert_eq!(index.find(u64::from(v) * 0x1234_5679, |x| x == v), Some(v));
        }
    }
}
