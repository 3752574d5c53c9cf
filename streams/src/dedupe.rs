//! Bounded-memory memory of applied events, for the `duplicate_event` rejection.
//!
//! An event is identified by `(tenant_id, event_id)`. [`Dedupe`] keeps only a 64-bit hash of
//! that pair ([`EventKey`], XXH3 seeded with the tenant id: fixed by its specification, so
//! equal across runs, machines and Rust releases, and safe to put in a snapshot), in time
//! buckets keyed by the event's `occurred_at`. [`Dedupe::expire_before`] drops whole buckets
//! that fell out of the window behind a watermark, so memory is bounded by the number of
//! events whose `occurred_at` lies in the window (default 48 h, plus one bucket of slack).
//!
//! # Bounds
//! - Memory: about 10–21 bytes per remembered event (an 8-byte key and a 1-byte control word
//!   per slot of a hash table kept 44–88 % full); [`Dedupe::approx_bytes`] reports it.
//! - Lookups probe each live bucket (at most `buckets + 1`, default 9), so the cost does not
//!   grow with the number of events.
//! - A 64-bit hash can collide: with `n` events in the window the chance that some new event
//!   is taken for a duplicate is about `n² / 2⁶⁵` (≈ 3·10⁻⁶ for ten million).
//!
//! # Invariants
//! Callers insert an event only after it was applied, so a repeat of a rejected event is judged
//! again on its own. A duplicate is found in any live bucket, whatever its `occurred_at`. An
//! event older than the window is kept in the oldest live bucket, so it too is remembered for
//! at least one bucket width.

use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashSet;

use crate::time::Millis;

/// Default window: events are remembered for 48 hours of `occurred_at` behind the watermark.
pub const DEFAULT_WINDOW_MS: Millis = 48 * 3_600_000;
/// Default number of buckets the window is cut into (the memory slack is one bucket).
pub const DEFAULT_BUCKETS: u32 = 8;

/// The stable 64-bit identity of `(tenant_id, event_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(pub u64);

impl EventKey {
    /// The key of an event: XXH3-64 of the `event_id` bytes with the tenant id as seed.
    pub fn new(tenant_id: u64, event_id: &str) -> Self {
        EventKey(xxhash_rust::xxh3::xxh3_64_with_seed(
            event_id.as_bytes(),
            tenant_id,
        ))
    }
}

/// Keys are already uniform hashes; hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// Remembers applied events for a window of `occurred_at`, in bounded memory.
#[derive(Debug, Clone)]
pub struct Dedupe {
    window: Millis,
    bucket_ms: Millis,
    /// Bucket index (`occurred_at / bucket_ms`) → keys of that bucket.
    buckets: BTreeMap<i64, KeySet>,
    /// Lowest bucket index still live; older events are filed here.
    floor: i64,
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

    /// Remembers events for `window_ms`, cut into `buckets` buckets: more buckets mean less
    /// memory slack and slower lookups.
    pub fn with_buckets(window_ms: Millis, buckets: u32) -> Self {
        let window = window_ms.max(1);
        Dedupe {
            window,
            bucket_ms: (window / i64::from(buckets.max(1))).max(1),
            buckets: BTreeMap::new(),
            floor: i64::MIN,
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
        self.buckets.values().any(|set| set.contains(&key.0))
    }

    /// Remembers an applied event. Returns false if it was already remembered.
    pub fn insert(&mut self, tenant_id: u64, event_id: &str, occurred_at: Millis) -> bool {
        self.insert_key(EventKey::new(tenant_id, event_id), occurred_at)
    }

    /// Remembers `key` in the bucket of `occurred_at` (also to restore a snapshot taken with
    /// [`entries`](Self::entries)). Returns false if it was already remembered.
    pub fn insert_key(&mut self, key: EventKey, occurred_at: Millis) -> bool {
        if self.contains_key(key) {
            return false;
        }
        self.insert_checked(key, occurred_at);
        true
    }

    /// Remembers `key`, which the caller has just checked with
    /// [`contains_key`](Self::contains_key) (the hot path checks before applying an event and
    /// remembers it after, so checking again would only repeat the lookups).
    pub fn insert_checked(&mut self, key: EventKey, occurred_at: Millis) {
        let bucket = occurred_at.div_euclid(self.bucket_ms).max(self.floor);
        if self.buckets.entry(bucket).or_default().insert(key.0) {
            self.len += 1;
        }
    }

    /// Forgets every bucket that lies wholly before `watermark_ms - window`. Returns how many
    /// events were forgotten. The watermark never needs to be monotonic; a lower one is a no-op.
    pub fn expire_before(&mut self, watermark_ms: Millis) -> usize {
        let horizon = watermark_ms.saturating_sub(self.window);
        // Bucket `b` spans [b·w, (b+1)·w): it is wholly before the horizon iff b < horizon / w.
        let first_live = horizon.div_euclid(self.bucket_ms);
        if first_live <= self.floor {
            return 0;
        }
        self.floor = first_live;
        let live = self.buckets.split_off(&first_live);
        let dropped: usize = std::mem::replace(&mut self.buckets, live)
            .values()
            .map(KeySet::len)
            .sum();
        self.len -= dropped;
        dropped
    }

    /// Number of remembered events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the hash tables (not counting the few bytes per bucket of the map).
    pub fn approx_bytes(&self) -> usize {
        self.buckets.values().map(KeySet::allocation_size).sum()
    }

    /// Every remembered key with the start of its bucket, for a snapshot; restore with
    /// [`insert_key`](Self::insert_key) into a `Dedupe` of the same window.
    pub fn entries(&self) -> impl Iterator<Item = (EventKey, Millis)> + '_ {
        self.buckets.iter().flat_map(move |(&bucket, set)| {
            let start = bucket.saturating_mul(self.bucket_ms);
            set.iter().map(move |&key| (EventKey(key), start))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Millis = 3_600_000;

    #[test]
    fn keys_are_stable_and_tenant_scoped() {
        // XXH3 is specified; this value must never change, or snapshots would lose their meaning.
        assert_eq!(EventKey::new(0, ""), EventKey(0x2d06_8005_38d3_94c2));
        assert_eq!(EventKey::new(7, "e-1"), EventKey::new(7, "e-1"));
        assert_ne!(EventKey::new(7, "e-1"), EventKey::new(8, "e-1"));
        assert_ne!(EventKey::new(7, "e-1"), EventKey::new(7, "e-2"));
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
        assert!(per_event < 24.0, "{per_event} bytes per event");
    }

    #[test]
    fn entries_restore_into_an_equal_set() {
        let mut d = Dedupe::new(48 * HOUR);
        for i in 0..100 {
            d.insert(i % 3 + 1, &format!("e{i}"), i as Millis * HOUR / 4);
        }
        let mut restored = Dedupe::new(48 * HOUR);
        for (key, at) in d.entries() {
            assert!(restored.insert_key(key, at));
        }
        assert_eq!(restored.len(), d.len());
        assert!((0..100).all(|i| restored.contains(i % 3 + 1, &format!("e{i}"))));
    }
}
