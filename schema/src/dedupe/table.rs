//! A compact set of remembered event keys: 12 bytes per slot, kept 64–80 % full.
//!
//! Keys are uniform hashes already, so the table uses a key's own bits as its hash. It is an
//! ordered linear-probing table: the slots hold keys sorted by their top 64 bits (`hi`), and a
//! key's home slot is `hi` scaled to the table's length, which is monotonic in `hi`. So every
//! key lies at or after its home, with no empty slot in between, and a lookup stops at the
//! first empty slot or the first larger `hi` (about two slots at 80 % full, found or not). An
//! insert shifts the rest of its run one slot right. There is no wrap-around: the slots end
//! with a margin, and a run that would reach past it makes the table grow.
//!
//! Growth is by a quarter, not by doubling, so the table is never less than 64 % full after
//! it grew (a doubling table is 44–88 % full); the old slots are already in order, so a
//! rebuild is one pass. The empty slot is all zero; a key whose `hi` is zero is stored with
//! `hi` = 1, which merges two of 2⁶⁴ values and changes nothing else.

/// A remembered key: `hi` (the key's bits 64–127) and `lo` (bits 32–63, whose bottom 8 bits
/// hold the bucket's tag), as three `u32` so that a slot takes 12 bytes, not 16.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot([u32; 3]);

impl Slot {
    fn new(hi: u64, lo: u32) -> Slot {
        Slot([(hi >> 32) as u32, hi as u32, lo])
    }

    fn hi(self) -> u64 {
        (u64::from(self.0[0]) << 32) | u64::from(self.0[1])
    }

    fn lo(self) -> u32 {
        self.0[2]
    }

    fn is_empty(self) -> bool {
        self.0[0] == 0 && self.0[1] == 0
    }
}

/// Bytes of a key in [`KeyTable::write_keys`]: `hi` (8) and `lo` (4).
pub(super) const KEY_BYTES: usize = 12;

/// Bits of `lo` that hold the tag, not the key's own bits.
pub(super) const TAG_BITS: u32 = 8;
const TAG_MASK: u32 = (1 << TAG_BITS) - 1;

/// A key as the table stores it: `(hi, lo)` with the tag bits of `lo` cleared, and `hi`
/// never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stored {
    hi: u64,
    lo: u32,
}

impl Stored {
    /// The stored form of a 128-bit key: its top 96 bits, less the tag bits.
    pub(super) fn of(key: u128) -> Stored {
        Stored {
            hi: ((key >> 64) as u64).max(1),
            lo: (key >> 32) as u32 & !TAG_MASK,
        }
    }

    /// The key as 128 bits, with `tag` in the tag bits and zeros below them.
    pub(super) fn with_tag(self, tag: u8) -> u128 {
        (u128::from(self.hi) << 64) | (u128::from(self.lo | u32::from(tag)) << 32)
    }
}

/// Most keys per slot before the table grows: 4/5.
const MAX_LOAD: (usize, usize) = (4, 5);
/// Slots per key when the table is built or grows: 25/16, so it is 64 % full.
const ROOM: (usize, usize) = (25, 16);
/// Smallest number of home slots.
const MIN_HOMES: usize = 16;

/// The remembered keys of one shard, each with its bucket's tag.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyTable {
    /// `homes` slots that keys hash to, then the margin that runs may spill into.
    slots: Vec<Slot>,
    homes: usize,
    len: usize,
    /// Bits at the top of `hi` that are the same for every key of the table (the shard's).
    shared_bits: u32,
}

impl KeyTable {
    /// An empty table whose keys share their top `shared_bits` bits.
    pub(super) fn new(shared_bits: u32) -> KeyTable {
        KeyTable {
            shared_bits,
            ..KeyTable::default()
        }
    }

    /// The home slot of `hi`: its varying bits scaled to `homes`, monotonic in `hi`.
    fn home(&self, hi: u64) -> usize {
        let scaled = u128::from(hi << self.shared_bits) * self.homes as u128;
        (scaled >> 64) as usize
    }

    /// Where `key` is (`Ok`), or the slot it would go to (`Err`; the slots' length if its run
    /// reaches the end).
    fn search(&self, key: Stored) -> Result<usize, usize> {
        for i in self.home(key.hi)..self.slots.len() {
            let slot = self.slots[i];
            if slot.is_empty() || slot.hi() > key.hi {
                return Err(i);
            }
            if slot.hi() == key.hi && slot.lo() & !TAG_MASK == key.lo {
                return Ok(i);
            }
        }
        Err(self.slots.len())
    }

    /// Asks the CPU to start loading the slot where a lookup of `key` begins, for a lookup that
    /// comes soon: the table is too large for the caches, and a caller that knows its next keys
    /// can overlap their first cache misses with its work.
    pub(super) fn prefetch(&self, key: Stored) {
        if let Some(slot) = self.slots.get(self.home(key.hi)) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Whether `key` is remembered.
    pub(super) fn contains(&self, key: Stored) -> bool {
        self.search(key).is_ok()
    }

    /// Remembers `key` with `tag`; false (and nothing changed) if it was remembered already.
    pub(super) fn insert(&mut self, key: Stored, tag: u8) -> bool {
        if self.search(key).is_ok() {
            return false;
        }
        if (self.len + 1) * MAX_LOAD.1 > self.homes * MAX_LOAD.0 {
            let homes = homes_for(self.len + 1);
            self.rebuild(homes, margin(homes), |_| true);
        }
        let slot = Slot::new(key.hi, key.lo | u32::from(tag));
        loop {
            let at = match self.search(key) {
                Ok(at) | Err(at) => at,
            };
            if let Some(free) = self.slots[at..].iter().position(|s| s.is_empty()) {
                self.slots.copy_within(at..at + free, at + 1);
                self.slots[at] = slot;
                self.len += 1;
                return true;
            }
            // The run reaches past the margin (keys crowded at the end): widen the margin.
            let spill = self.slots.len() - self.homes;
            self.rebuild(self.homes, spill * 2, |_| true);
        }
    }

    /// Makes room for `more` keys beyond those held, so that inserting them does not grow the
    /// table step by step.
    pub(super) fn reserve(&mut self, more: usize) {
        let homes = homes_for(self.len + more);
        if homes > self.homes {
            self.rebuild(homes, margin(homes), |_| true);
        }
    }

    /// Forgets every key whose tag `dead` marks, and sizes the table for the rest.
    pub(super) fn forget(&mut self, dead: &[bool; 1 << TAG_BITS]) {
        let alive = |slot: Slot| !slot.is_empty() && !dead[(slot.lo() & TAG_MASK) as usize];
        let homes = homes_for(self.slots.iter().filter(|s| alive(**s)).count());
        self.rebuild(homes, margin(homes), alive);
    }

    /// Rebuilds the table with `homes` home slots and `spill` more after them, keeping the keys
    /// `keep` accepts. The slots are in order, so each kept key goes to its new home or just
    /// after the key before it, in one pass; if that passes the end, the margin doubles.
    fn rebuild(&mut self, homes: usize, mut spill: usize, keep: impl Fn(Slot) -> bool) {
        let old = std::mem::take(&mut self.slots);
        self.homes = homes;
        'sizes: loop {
            let mut slots = vec![Slot::default(); homes + spill];
            let (mut next, mut len) = (0, 0);
            for slot in old.iter().copied().filter(|s| !s.is_empty() && keep(*s)) {
                let at = self.home(slot.hi()).max(next);
                if at >= slots.len() {
                    spill *= 2;
                    continue 'sizes;
                }
                slots[at] = slot;
                next = at + 1;
                len += 1;
            }
            self.slots = slots;
            self.len = len;
            return;
        }
    }

    /// Number of keys.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of the slots.
    pub(super) fn allocation_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    /// Appends every key with its tag to `out`, in the table's order (ascending `hi`),
    /// [`KEY_BYTES`] each: `hi` (little endian), then `lo` with the tag (little endian).
    pub(super) fn write_keys(&self, out: &mut Vec<u8>) {
        out.reserve(self.len * KEY_BYTES);
        for slot in self.slots.iter().filter(|s| !s.is_empty()) {
            out.extend_from_slice(&slot.hi().to_le_bytes());
            out.extend_from_slice(&slot.lo().to_le_bytes());
        }
    }

    /// The table of the keys [`write_keys`](Self::write_keys) wrote, from a table whose keys
    /// share their top `shared_bits` bits, equal to `prefix`. Each key's tag is passed to
    /// `on_tag`. The keys are in order already, so this is one pass with no lookups. `None` if
    /// the bytes are not such keys: cut short, out of order, repeated, or with other top bits.
    pub(super) fn from_keys(
        shared_bits: u32,
        prefix: u64,
        bytes: &[u8],
        mut on_tag: impl FnMut(u8),
    ) -> Option<KeyTable> {
        if !bytes.len().is_multiple_of(KEY_BYTES) {
            return None;
        }
        let mut slots = Vec::with_capacity(bytes.len() / KEY_BYTES);
        let mut last = Slot::default();
        for key in bytes.chunks_exact(KEY_BYTES) {
            let (hi, lo) = key.split_at(8);
            let slot = Slot::new(
                u64::from_le_bytes(hi.try_into().ok()?),
                u32::from_le_bytes(lo.try_into().ok()?),
            );
            let (hi, lo) = (slot.hi(), slot.lo() & !TAG_MASK);
            let in_order = hi > last.hi() || (hi == last.hi() && lo != last.lo() & !TAG_MASK);
            let top = hi.checked_shr(64 - shared_bits).unwrap_or(0);
            if slot.is_empty() || !in_order || top != prefix {
                return None;
            }
            on_tag((slot.lo() & TAG_MASK) as u8);
            slots.push(slot);
            last = slot;
        }
        let mut table = KeyTable {
            slots,
            ..KeyTable::new(shared_bits)
        };
        let homes = homes_for(table.slots.len());
        table.rebuild(homes, margin(homes), |_| true);
        Some(table)
    }

    /// Every key with its tag.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Stored, u8)> + '_ {
        self.slots.iter().filter(|s| !s.is_empty()).map(|s| {
            (
                Stored {
                    hi: s.hi(),
                    lo: s.lo() & !TAG_MASK,
                },
                (s.lo() & TAG_MASK) as u8,
            )
        })
    }
}

/// Home slots for `keys` keys: room to spare ([`ROOM`]), at least [`MIN_HOMES`].
fn homes_for(keys: usize) -> usize {
    (keys * ROOM.0 / ROOM.1).max(MIN_HOMES)
}

/// Slots after the last home that runs may spill into.
fn margin(homes: usize) -> usize {
    32 + homes / 64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> u128 {
        // Uniform keys, as XXH3 gives them.
        let h = xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
        h & !(0xf << 124) // shard 0 of 16
    }

    #[test]
    fn slots_take_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 12);
    }

    #[test]
    fn keys_are_found_after_growth_and_stay_sorted() {
        let mut t = KeyTable::new(4);
        for n in 0..20_000 {
            assert!(t.insert(Stored::of(key(n)), (n % 7) as u8));
        }
        assert_eq!(t.len(), 20_000);
        assert!((0..20_000).all(|n| t.contains(Stored::of(key(n)))));
        assert!((20_000..40_000).all(|n| !t.contains(Stored::of(key(n)))));
        assert!(!t.insert(Stored::of(key(5)), 3));
        let his: Vec<u64> = t.iter().map(|(k, _)| k.hi).collect();
        assert!(his.windows(2).all(|w| w[0] <= w[1]));
        let load = t.len() as f64 / t.homes as f64;
        assert!((0.5..=0.8).contains(&load), "load {load}");
        assert!(
            t.allocation_size() <= 20_000 * 12 * 2,
            "{}",
            t.allocation_size()
        );
    }

    #[test]
    fn reserved_room_is_filled_without_growing() {
        let mut t = KeyTable::new(4);
        t.insert(Stored::of(key(0)), 0);
        t.reserve(10_000);
        let (homes, bytes) = (t.homes, t.allocation_size());
        for n in 1..=10_000 {
            assert!(t.insert(Stored::of(key(n)), 0));
        }
        assert_eq!((t.homes, t.allocation_size()), (homes, bytes));
        assert!((0..=10_000).all(|n| t.contains(Stored::of(key(n)))));
    }

    #[test]
    fn forgetting_keeps_the_other_tags_and_shrinks() {
        let mut t = KeyTable::new(4);
        for n in 0..10_000 {
            t.insert(Stored::of(key(n)), (n % 4) as u8);
        }
        let before = t.allocation_size();
        let mut dead = [false; 256];
        dead[0] = true;
        dead[1] = true;
        t.forget(&dead);
        assert_eq!(t.len(), 5_000);
        assert!((0..10_000).all(|n| t.contains(Stored::of(key(n))) == (n % 4 >= 2)));
        assert!(t.allocation_size() < before * 2 / 3);
        assert!(t.iter().all(|(_, tag)| tag >= 2));
    }

    #[test]
    fn a_zero_key_and_equal_tops_are_kept_apart() {
        let mut t = KeyTable::new(4);
        let zero = Stored::of(0);
        let one = Stored::of(1 << 64);
        let same_top = Stored::of(1 << 40);
        assert!(t.insert(zero, 1));
        assert!(!t.contains(Stored::of(2 << 64)));
        // A zero `hi` is stored as 1: the two are one key.
        assert!(t.contains(one));
        assert!(t.insert(same_top, 2));
        assert_eq!(t.len(), 2);
        assert!(t.contains(zero) && t.contains(same_top));
        // The tag and the bits below it are not part of the key.
        assert!(t.contains(Stored::of((1 << 40) | 0xff_ffff_ffff)));
    }

    #[test]
    fn runs_at_the_end_make_the_table_grow() {
        let mut t = KeyTable::new(4);
        // Keys whose homes are all the last slot.
        for n in 0..200u64 {
            let k = (u128::from(u64::MAX >> 4) << 64) | (u128::from(n) << 40);
            assert!(t.insert(Stored::of(k), 0));
        }
        assert_eq!(t.len(), 200);
        assert!((0..200u64).all(|n| t.contains(Stored::of(
            (u128::from(u64::MAX >> 4) << 64) | (u128::from(n) << 40)
        ))));
    }
}
