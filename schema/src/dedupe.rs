//! Bounded-memory memory of applied events, for the `duplicate_event` rejection.
//!
//! An event is identified by `(tenant_id, event_id)`. [`Dedupe`] keeps only a 128-bit hash of
//! that pair ([`EventKey`]: XXH3-128 of the tenant id and the length-prefixed event id, with a
//! fixed seed; fixed by its specification, so equal across runs, machines and Rust releases,
//! and safe to put in a snapshot). A remembered key is its top 96 bits: 88 identify the event,
//! and the 8 below them hold the tag of its time bucket, the bucket of the event's
//! `occurred_at`. All keys live in one set of tables, so a lookup is one probe however many
//! buckets are live.
//! [`Dedupe::expire_before`] forgets whole buckets that fell out of the window behind a
//! watermark (one sweep of the keys), so memory is bounded by the number of events whose
//! `occurred_at` lies in the window, plus one bucket of slack.
//!
//! # Bounds
//! - Memory: about 15–19 bytes per remembered event (a 12-byte slot per key, in tables kept
//!   64–80 % full); [`Dedupe::approx_bytes`] reports it. A sweep sizes each table for the keys
//!   it keeps.
//! - Buckets: at most `buckets + 2` are live, whatever the spread of `occurred_at` (an event
//!   from before the window is filed in the oldest live bucket, one from after the watermark in
//!   the newest); a lookup probes one table of one shard.
//! - Collisions: every input bit reaches the 88 identifying bits and the id is
//!   length-prefixed, so neighbouring tenants or ids cannot be made to collide by construction;
//!   the chance that some new event is taken for a duplicate by accident is about `n² / 2⁸⁹`
//!   for `n` remembered events (≈ 10⁻¹³ for ten million).
//!
//! # Invariants
//! Callers insert an event only after it was applied, so a repeat of a rejected event is judged
//! again on its own. A duplicate is found in any live bucket, whatever its `occurred_at`. An
//! event older than the window is kept in the oldest live bucket, so it too is remembered for
//! at least one bucket width.

use std::collections::BTreeMap;

use crate::time::Millis;

mod table;

use table::{KeyTable, Stored, TAG_BITS};

/// Default window: events are remembered for 48 hours of `occurred_at` behind the watermark.
pub const DEFAULT_WINDOW_MS: Millis = 48 * 3_600_000;
/// Default number of buckets the window is cut into (the memory slack is one bucket).
pub const DEFAULT_BUCKETS: u32 = 8;
/// Seed of [`EventKey`]: fixed forever, or snapshots would lose their meaning.
const KEY_SEED: u64 = 0x7669_6769_6c5f_6964; // "vigil_id"

/// The stable 128-bit identity of `(tenant_id, event_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(pub u128);

impl EventKey {
    /// The key of an event: XXH3-128, with a fixed seed, of the tenant id (8 bytes, little
    /// endian), the event id's length in bytes (4 bytes, little endian) and the event id.
    pub fn new(tenant_id: u64, event_id: &str) -> Self {
        // Event ids are at most 128 characters (512 bytes); longer input takes the slow path.
        let id = event_id.as_bytes();
        let mut buf = [0u8; 12 + 512];
        let input: &[u8] = if id.len() <= 512 {
            buf[..8].copy_from_slice(&tenant_id.to_le_bytes());
            buf[8..12].copy_from_slice(&(id.len() as u32).to_le_bytes());
            buf[12..12 + id.len()].copy_from_slice(id);
            &buf[..12 + id.len()]
        } else {
            return EventKey::from_parts(tenant_id, id);
        };
        EventKey(xxhash_rust::xxh3::xxh3_128_with_seed(input, KEY_SEED))
    }

    fn from_parts(tenant_id: u64, id: &[u8]) -> Self {
        let mut input = Vec::with_capacity(12 + id.len());
        input.extend_from_slice(&tenant_id.to_le_bytes());
        input.extend_from_slice(&(id.len() as u32).to_le_bytes());
        input.extend_from_slice(id);
        EventKey(xxhash_rust::xxh3::xxh3_128_with_seed(&input, KEY_SEED))
    }
}

/// The most buckets a window may be cut into: with the two of slack, every live bucket has a
/// tag of its own.
const MAX_BUCKETS: u32 = (1 << TAG_BITS) - 2;

/// The tag of bucket `bucket`: its index modulo 256, distinct among the at most
/// `MAX_BUCKETS + 2` consecutive buckets that are live at once.
fn tag_of(bucket: i64) -> u8 {
    bucket.rem_euclid(1 << TAG_BITS) as u8
}

/// Shards of the remembered keys, by the key's top bits.
const SHARD_BITS: u32 = 4;

/// The remembered keys, each tagged with its bucket, in `2^SHARD_BITS` tables chosen by the
/// key's top bits. A lookup probes one table whatever the number of buckets. A table grows by
/// a quarter, old and new copies side by side while it moves; in shards, only a sixteenth of
/// the keys move at a time, so growth adds a sixteenth of their room to the peak, not all of it.
#[derive(Debug, Clone)]
struct Shards([KeyTable; 1 << SHARD_BITS]);

impl Default for Shards {
    fn default() -> Self {
        Shards(std::array::from_fn(|_| KeyTable::new(SHARD_BITS)))
    }
}

impl Shards {
    /// The shard of a key: its top bits.
    fn shard(key: u128) -> usize {
        (key >> (128 - SHARD_BITS)) as usize
    }

    fn contains(&self, key: u128) -> bool {
        self.0[Shards::shard(key)].contains(Stored::of(key))
    }

    fn prefetch(&self, key: u128) {
        self.0[Shards::shard(key)].prefetch(Stored::of(key));
    }

    /// Remembers `key` tagged `tag`; false (and nothing changed) if it was remembered already.
    fn insert(&mut self, key: u128, tag: u8) -> bool {
        self.0[Shards::shard(key)].insert(Stored::of(key), tag)
    }

    /// Makes room for `more` keys spread evenly over the shards, and a sixteenth to spare.
    fn reserve(&mut self, more: usize) {
        let per_shard = more / self.0.len();
        for table in &mut self.0 {
            table.reserve(per_shard + per_shard / 16 + 16);
        }
    }

    /// Forgets every key whose tag is marked in `dead`, each shard then sized for the rest.
    fn forget(&mut self, dead: &[bool; 1 << TAG_BITS]) {
        for table in &mut self.0 {
            table.forget(dead);
        }
    }

    fn allocation_size(&self) -> usize {
        self.0.iter().map(KeyTable::allocation_size).sum()
    }

    /// Every key with its tag.
    fn iter(&self) -> impl Iterator<Item = (Stored, u8)> + '_ {
        self.0.iter().flat_map(KeyTable::iter)
    }
}

/// Remembers applied events for a window of `occurred_at`, in bounded memory.
#[derive(Debug, Clone)]
pub struct Dedupe {
    window: Millis,
    bucket_ms: Millis,
    /// Buckets the window is cut into.
    buckets_in_window: i64,
    /// Every remembered key, tagged with its bucket.
    keys: Shards,
    /// Bucket index (`occurred_at / bucket_ms`) → how many keys it holds (none is absent).
    buckets: BTreeMap<i64, usize>,
    /// Lowest bucket index still live; older events are filed here. `None` until the first
    /// insert or watermark.
    floor: Option<i64>,
    len: usize,
}

impl Default for Dedupe {
    fn default() -> Self {
        Dedupe::new(DEFAULT_WINDOW_MS)
    }
}

impl Dedupe {
    /// Remembers events for `window_ms` of `occurred_at`, in [`DEFAULT_BUCKETS`] buckets.
    pub fn new(window_ms: Millis) -> Self {
        Dedupe::with_buckets(window_ms, DEFAULT_BUCKETS)
    }

    /// Remembers events for `window_ms`, cut into `buckets` buckets (1 to 254): more buckets
    /// mean less memory slack and more frequent sweeps of the keys at expiry.
    pub fn with_buckets(window_ms: Millis, buckets: u32) -> Self {
        let window = window_ms.max(1);
        let buckets = i64::from(buckets.clamp(1, MAX_BUCKETS));
        Dedupe {
            window,
            bucket_ms: (window / buckets).max(1),
            buckets_in_window: buckets,
            keys: Shards::default(),
            buckets: BTreeMap::new(),
            floor: None,
            len: 0,
        }
    }

    /// The window in milliseconds.
    pub fn window_ms(&self) -> Millis {
        self.window
    }

    /// Whether `(tenant_id, event_id)` was inserted and has not expired.
    pub fn contains(&self, tenant_id: u64, event_id: &str) -> bool {
        self.contains_key(EventKey::new(tenant_id, event_id))
    }

    /// Whether `key` was inserted and has not expired.
    pub fn contains_key(&self, key: EventKey) -> bool {
        self.keys.contains(key.0)
    }

    /// Starts loading what a lookup of `key` reads first into the CPU's cache, for callers that
    /// know which keys they look up next (a replay, a few events ahead). Changes nothing.
    pub fn prefetch(&self, key: EventKey) {
        self.keys.prefetch(key.0);
    }

    /// Remembers an applied event. Returns false if it was already remembered.
    pub fn insert(&mut self, tenant_id: u64, event_id: &str, occurred_at: Millis) -> bool {
        self.insert_key(EventKey::new(tenant_id, event_id), occurred_at)
    }

    /// Remembers `key` in the bucket of `occurred_at` (also to restore a snapshot taken with
    /// [`entries`](Self::entries)). Returns false if it was already remembered.
    ///
    /// The bucket is that of `occurred_at`, held between the oldest live bucket and one past
    /// the watermark's, so no spread of `occurred_at` adds buckets. Before any watermark, the
    /// first event's `occurred_at` stands for it.
    pub fn insert_key(&mut self, key: EventKey, occurred_at: Millis) -> bool {
        let own = occurred_at.div_euclid(self.bucket_ms);
        let floor = *self
            .floor
            .get_or_insert_with(|| own.saturating_sub(self.buckets_in_window));
        let newest = floor.saturating_add(self.buckets_in_window + 1);
        let bucket = own.clamp(floor, newest);
        if !self.keys.insert(key.0, tag_of(bucket)) {
            return false;
        }
        *self.buckets.entry(bucket).or_default() += 1;
        self.len += 1;
        true
    }

    /// Makes room for `more` events, as a restore that knows their number does first: the tables
    /// are sized once instead of growing step by step.
    pub fn reserve(&mut self, more: usize) {
        self.keys.reserve(more);
    }

    /// Forgets every bucket that lies wholly before `watermark_ms - window`. Returns how many
    /// events were forgotten. The watermark never needs to be monotonic; a lower one is a no-op.
    /// Forgetting sweeps the remembered keys once (at most once per bucket width of watermark).
    pub fn expire_before(&mut self, watermark_ms: Millis) -> usize {
        let horizon = watermark_ms.saturating_sub(self.window);
        // Bucket `b` spans [b·w, (b+1)·w): it is wholly before the horizon iff b < horizon / w.
        let first_live = horizon.div_euclid(self.bucket_ms);
        if self.floor.is_some_and(|floor| first_live <= floor) {
            return 0;
        }
        self.floor = Some(first_live);
        let live = self.buckets.split_off(&first_live);
        let expired = std::mem::replace(&mut self.buckets, live);
        let dropped: usize = expired.values().sum();
        if dropped > 0 {
            // Every bucket held lies within `MAX_BUCKETS + 2` consecutive ones, so a tag names
            // one bucket.
            let mut dead = [false; 1 << TAG_BITS];
            for &bucket in expired.keys() {
                dead[usize::from(tag_of(bucket))] = true;
            }
            self.keys.forget(&dead);
        }
        self.len -= dropped;
        dropped
    }

    /// The lowest watermark at which [`expire_before`](Self::expire_before) would forget
    /// something or move the window: callers on a hot path compare against it instead of
    /// calling every time.
    pub fn next_expiry(&self) -> Millis {
        match self.floor {
            None => Millis::MIN,
            Some(floor) => floor
                .saturating_add(1)
                .saturating_mul(self.bucket_ms)
                .saturating_add(self.window),
        }
    }

    /// Number of remembered events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of live buckets (at most `buckets + 2`).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Bytes held by the hash tables (not counting the few bytes per bucket of the map).
    pub fn approx_bytes(&self) -> usize {
        self.keys.allocation_size()
    }

    /// Every remembered key with the start of its bucket, for a snapshot; restore with
    /// [`insert_key`](Self::insert_key) into a `Dedupe` of the same window. Only a key's top 88
    /// bits are its own: the 8 below them hold its bucket's tag and the rest are zero;
    /// restoring ignores all 40.
    pub fn entries(&self) -> impl Iterator<Item = (EventKey, Millis)> + '_ {
        let mut start_of_tag = [0; 1 << TAG_BITS];
        for &bucket in self.buckets.keys() {
            start_of_tag[usize::from(tag_of(bucket))] = bucket.saturating_mul(self.bucket_ms);
        }
        self.keys
            .iter()
            .map(move |(key, tag)| (EventKey(key.with_tag(tag)), start_of_tag[usize::from(tag)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bits at the bottom of a key that are not kept: a remembered key is its top 96 bits, of
    /// which the bottom [`TAG_BITS`] hold its bucket's tag.
    const UNKEPT_BITS: u32 = 32 + TAG_BITS;

    /// What identifies a key: its top 88 bits.
    fn identity(key: u128) -> u128 {
        key >> UNKEPT_BITS
    }

    const HOUR: Millis = 3_600_000;

    #[test]
    fn keys_are_stable_and_tenant_scoped() {
        // XXH3 is specified; this value must never change, or snapshots would lose their meaning.
        assert_eq!(EventKey::new(0, ""), EventKey(KEY_OF_EMPTY));
        assert_eq!(EventKey::new(7, "e-1"), EventKey::new(7, "e-1"));
        assert_ne!(EventKey::new(7, "e-1"), EventKey::new(8, "e-1"));
        assert_ne!(EventKey::new(7, "e-1"), EventKey::new(7, "e-2"));
        // The pairs the tenant-as-seed key of earlier releases took for one another.
        assert_ne!(EventKey::new(3, "e14"), EventKey::new(4, "e15"));
        // Long ids (past the stack buffer) hash the same bytes the same way.
        let long = "x".repeat(600);
        assert_eq!(
            EventKey::new(1, &long),
            EventKey::from_parts(1, long.as_bytes())
        );
        assert_eq!(EventKey::new(1, "abc"), EventKey::from_parts(1, b"abc"));
    }

    const KEY_OF_EMPTY: u128 = 0x0f93_16d2_eb4d_900c_89c4_0b29_f773_b79b;

    /// Sequential numeric and short ids over neighbouring tenants: the shapes real upstreams
    /// use, and the ones a seeded 64-bit key confused.
    #[test]
    fn sequential_ids_of_neighbouring_tenants_never_collide() {
        let mut seen = hashbrown::HashSet::with_capacity(2_100_000);
        for tenant in 1..=500u64 {
            for i in 0..2_000u32 {
                assert!(seen.insert(EventKey::new(tenant, &i.to_string()).0));
                assert!(seen.insert(EventKey::new(tenant, &format!("e{i}")).0));
            }
        }
        for i in 0..1_000u32 {
            // One LOW ticket per five events over 200 tenants, ids e0…e999 (the reported case).
            let tenant = 1 + u64::from(i / 5) % 200;
            assert!(seen.insert(EventKey::new(tenant, &format!("x{i}")).0));
        }
        assert_eq!(seen.len(), 2 * 500 * 2_000 + 1_000);
    }

    proptest::proptest! {
        #[test]
        fn distinct_identities_get_distinct_keys(
            tenant in 1u64..=i64::MAX as u64,
            id in "[ -~]{1,40}",
            other_tenant in 1u64..=i64::MAX as u64,
            other_id in "[ -~]{1,40}",
        ) {
            let same = tenant == other_tenant && id == other_id;
            proptest::prop_assert_eq!(
                EventKey::new(tenant, &id) == EventKey::new(other_tenant, &other_id),
                same
            );
            // Neighbours: the next tenant with the next id, and the id with a byte more.
            let next = format!("{id}0");
            proptest::prop_assert_ne!(EventKey::new(tenant, &id), EventKey::new(tenant, &next));
            proptest::prop_assert_ne!(
                EventKey::new(tenant, &id),
                EventKey::new(tenant.wrapping_add(1), &id)
            );
        }
    }

    #[test]
    fn occurred_at_spread_over_centuries_adds_no_buckets() {
        let mut d = Dedupe::with_buckets(48 * HOUR, 8);
        d.expire_before(1_800_000_000_000);
        let year = 365 * 24 * HOUR;
        for i in 0..10_000i64 {
            let at = -70 * year + i * (year / 20); // 1900 … 2400
            assert!(d.insert(1, &format!("e{i}"), at));
        }
        assert!(d.bucket_count() <= 10, "{} buckets", d.bucket_count());
        assert_eq!(d.len(), 10_000);
        // Every one is still found as a duplicate.
        assert!((0..10_000).all(|i| d.contains(1, &format!("e{i}"))));
    }

    #[test]
    fn next_expiry_is_the_first_watermark_that_moves_the_window() {
        let mut d = Dedupe::with_buckets(48 * HOUR, 8); // 6 h buckets
        assert_eq!(d.next_expiry(), Millis::MIN);
        d.insert(1, "a", 100 * HOUR);
        let at = d.next_expiry();
        assert!(at > 100 * HOUR);
        let before = d.clone();
        assert_eq!(d.expire_before(at - 1), 0);
        assert_eq!(d.next_expiry(), before.next_expiry());
        d.expire_before(at);
        assert!(d.next_expiry() > at);
    }

    #[test]
    fn insert_then_contains_across_buckets() {
        let mut d = Dedupe::new(48 * HOUR);
        assert!(!d.contains(1, "a"));
        assert!(d.insert(1, "a", 10 * HOUR));
        assert!(d.contains(1, "a"));
        assert!(!d.contains(2, "a"));
        // The same id with another occurred_at is still a duplicate.
        assert!(!d.insert(1, "a", 30 * HOUR));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn expiry_drops_only_whole_buckets_past_the_window() {
        let mut d = Dedupe::with_buckets(48 * HOUR, 8); // 6 h buckets
        d.insert(1, "old", HOUR); // bucket [0h, 6h)
        d.insert(1, "mid", 7 * HOUR); // bucket [6h, 12h)
        d.insert(1, "new", 50 * HOUR);
        // Horizon 5h: the first bucket still reaches past it.
        assert_eq!(d.expire_before(53 * HOUR), 0);
        assert!(d.contains(1, "old"));
        // Horizon 6h: [0h, 6h) is wholly before it.
        assert_eq!(d.expire_before(54 * HOUR), 1);
        assert!(!d.contains(1, "old"));
        assert!(d.contains(1, "mid") && d.contains(1, "new"));
        // A lower watermark changes nothing.
        assert_eq!(d.expire_before(0), 0);
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn events_older_than_the_window_are_filed_in_the_oldest_live_bucket() {
        let mut d = Dedupe::with_buckets(48 * HOUR, 8);
        d.expire_before(100 * HOUR); // horizon 52h, floor bucket [48h, 54h)
        d.insert(1, "ancient", HOUR);
        assert!(d.contains(1, "ancient"));
        assert_eq!(d.expire_before(101 * HOUR), 0);
        assert!(d.contains(1, "ancient"));
        assert_eq!(d.expire_before(102 * HOUR), 1);
        assert!(!d.contains(1, "ancient"));
    }

    #[test]
    fn memory_stays_bounded_over_a_long_run() {
        let mut d = Dedupe::with_buckets(48 * HOUR, 8);
        let per_hour = 1_000;
        for hour in 0..24 * 14 {
            for i in 0..per_hour {
                let t = hour * HOUR + i * (HOUR / per_hour);
                assert!(d.insert(7, &format!("{hour}-{i}"), t));
            }
            d.expire_before((hour + 1) * HOUR);
        }
        // At most the window plus one bucket of events is remembered.
        assert!(d.len() <= (48 + 6) * per_hour as usize, "{}", d.len());
        assert!(d.len() >= 48 * per_hour as usize, "{}", d.len());
        let per_event = d.approx_bytes() as f64 / d.len() as f64;
        assert!(per_event < 20.0, "{per_event} bytes per event");
    }

    /// The rules of [`Dedupe`] on plain maps: each identity with its bucket.
    struct Model {
        bucket_ms: Millis,
        window: Millis,
        buckets_in_window: i64,
        floor: Option<i64>,
        keys: std::collections::HashMap<u128, i64>,
    }

    impl Model {
        fn insert(&mut self, key: EventKey, at: Millis) -> bool {
            let own = at.div_euclid(self.bucket_ms);
            let floor = *self.floor.get_or_insert(own - self.buckets_in_window);
            let bucket = own.clamp(floor, floor + self.buckets_in_window + 1);
            match self.keys.entry(identity(key.0)) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(bucket);
                    true
                }
            }
        }

        fn expire_before(&mut self, watermark: Millis) -> usize {
            let first_live = (watermark - self.window).div_euclid(self.bucket_ms);
            if self.floor.is_some_and(|f| first_live <= f) {
                return 0;
            }
            self.floor = Some(first_live);
            let before = self.keys.len();
            self.keys.retain(|_, bucket| *bucket >= first_live);
            before - self.keys.len()
        }
    }

    proptest::proptest! {
        /// Inserts, lookups and expiries in any order agree with [`Model`], and a snapshot of
        /// the result restores to the same set.
        #[test]
        fn agrees_with_plain_maps(
            ops in proptest::collection::vec((0u8..4, 0u64..300, 0i64..400), 1..400),
            buckets in 1u32..12,
        ) {
            let window = 48 * HOUR;
            let mut d = Dedupe::with_buckets(window, buckets);
            let mut m = Model {
                bucket_ms: window / i64::from(buckets),
                window,
                buckets_in_window: i64::from(buckets),
                floor: None,
                keys: Default::default(),
            };
            let mut watermark = 0;
            for (op, id, hours) in ops {
                let key = EventKey::new(1, &id.to_string());
                match op {
                    0 | 1 => proptest::prop_assert_eq!(
                        d.insert_key(key, hours * HOUR / 2),
                        m.insert(key, hours * HOUR / 2)
                    ),
                    2 => proptest::prop_assert_eq!(
                        d.contains_key(key),
                        m.keys.contains_key(&identity(key.0))
                    ),
                    _ => {
                        watermark += hours * HOUR / 20;
                        proptest::prop_assert_eq!(
                            d.expire_before(watermark),
                            m.expire_before(watermark)
                        );
                    }
                }
                proptest::prop_assert_eq!(d.len(), m.keys.len());
            }
            proptest::prop_assert!(d.bucket_count() <= buckets as usize + 2);
            let mut restored = Dedupe::with_buckets(window, buckets);
            restored.floor = d.floor;
            for (key, at) in d.entries() {
                proptest::prop_assert!(restored.insert_key(key, at));
                proptest::prop_assert_eq!(
                    Some(&at.div_euclid(m.bucket_ms)),
                    m.keys.get(&identity(key.0))
                );
            }
            proptest::prop_assert_eq!(restored.len(), d.len());
        }
    }

    #[test]
    fn a_key_is_found_whatever_its_bottom_bits() {
        let mut d = Dedupe::new(48 * HOUR);
        let key = EventKey::new(3, "e-1");
        assert!(d.insert_key(EventKey(key.0 ^ 0x5a), HOUR));
        assert!(d.contains_key(key));
        assert!(!d.insert_key(key, 30 * HOUR));
        assert!(d.contains_key(EventKey(key.0 ^ ((1 << UNKEPT_BITS) - 1))));
        assert!(!d.contains_key(EventKey(key.0 ^ (1 << UNKEPT_BITS))));
    }

    #[test]
    fn entries_restore_into_an_equal_set() {
        let mut d = Dedupe::new(48 * HOUR);
        for i in 0..100 {
            d.insert(i % 3 + 1, &format!("e{i}"), i as Millis * HOUR / 4);
        }
        let mut restored = Dedupe::new(48 * HOUR);
        restored.reserve(d.len());
        for (key, at) in d.entries() {
            assert!(restored.insert_key(key, at));
        }
        assert_eq!(restored.len(), d.len());
        assert!((0..100).all(|i| restored.contains(i % 3 + 1, &format!("e{i}"))));
    }
}
