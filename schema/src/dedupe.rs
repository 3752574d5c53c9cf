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
//! event older than the window is kept in the oldest live bucket, so it too is remembered
//! until that bucket expires: for up to one bucket width of watermark.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

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
    #[cfg(test)]
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

    /// The memory as a snapshot keeps it; [`restore_image`](Self::restore_image) reads it
    /// back.
    pub fn image(&self) -> DedupeImage {
        DedupeImage {
            window_ms: self.window,
            bucket_ms: self.bucket_ms,
            floor: self.floor,
            buckets: self.buckets.keys().copied().collect(),
            shards: self
                .keys
                .0
                .iter()
                .map(|table| {
                    let mut keys = Vec::new();
                    table.write_keys(&mut keys);
                    ByteBuf::from(keys)
                })
                .collect(),
        }
    }

    /// Restores what [`image`](Self::image) took, in place of what this memory holds. An
    /// image of the same window and buckets is loaded in one pass with no lookups; one of
    /// another is restored key by key into this memory's buckets. An image that does not hold
    /// together is refused with nothing changed.
    pub fn restore_image(&mut self, image: DedupeImage) -> Result<(), CorruptImage> {
        if image.shards.len() != self.keys.0.len() {
            return Err(CorruptImage("another number of shards"));
        }
        // Live buckets span fewer than 256 indices, so each has a tag of its own.
        let ascending = image.buckets.windows(2).all(|w| w[0] < w[1]);
        let span = match (image.buckets.first(), image.buckets.last()) {
            (Some(first), Some(last)) => last.saturating_sub(*first),
            _ => 0,
        };
        if !ascending || span > i64::from(MAX_BUCKETS) + 1 || image.bucket_ms < 1 {
            return Err(CorruptImage(
                "its buckets are out of order or too far apart",
            ));
        }
        let mut per_tag = [0usize; 1 << TAG_BITS];
        let mut shards = Vec::with_capacity(image.shards.len());
        for (prefix, keys) in (0u64..).zip(&image.shards) {
            let table = KeyTable::from_keys(SHARD_BITS, prefix, keys, |tag| {
                per_tag[usize::from(tag)] += 1;
            })
            .ok_or(CorruptImage("its keys are not a shard's keys in order"))?;
            shards.push(table);
        }
        let live_tags: usize = image
            .buckets
            .iter()
            .map(|&bucket| per_tag[usize::from(tag_of(bucket))])
            .sum();
        if live_tags != per_tag.iter().sum::<usize>() {
            return Err(CorruptImage("a key's tag names no live bucket"));
        }
        if (image.window_ms, image.bucket_ms) != (self.window, self.bucket_ms) {
            self.restore_rebucketed(&image, &shards);
            return Ok(());
        }
        let Ok(shards) = shards.try_into() else {
            return Err(CorruptImage("another number of shards"));
        };
        self.keys = Shards(shards);
        self.floor = image.floor;
        self.buckets = image
            .buckets
            .iter()
            .map(|&bucket| (bucket, per_tag[usize::from(tag_of(bucket))]))
            .filter(|&(_, keys)| keys > 0)
            .collect();
        self.len = live_tags;
        Ok(())
    }

    /// Replaces what this memory holds with keys taken with another window, key by key, each
    /// into this memory's bucket of its old bucket's start.
    fn restore_rebucketed(&mut self, image: &DedupeImage, shards: &[KeyTable]) {
        *self = Dedupe {
            keys: Shards::default(),
            buckets: BTreeMap::new(),
            len: 0,
            ..*self
        };
        let mut start_of_tag = [0; 1 << TAG_BITS];
        for &bucket in &image.buckets {
            start_of_tag[usize::from(tag_of(bucket))] = bucket.saturating_mul(image.bucket_ms);
        }
        // The old memory's watermark, at least: its window after its floor, and its newest
        // bucket. This memory's floor lies its own window behind that.
        let newest = image
            .buckets
            .last()
            .map(|b| b.saturating_mul(image.bucket_ms));
        let behind_floor = image.floor.map(|f| {
            f.saturating_mul(image.bucket_ms)
                .saturating_add(image.window_ms)
        });
        self.floor = newest.max(behind_floor).map(|watermark| {
            watermark
                .saturating_sub(self.window)
                .div_euclid(self.bucket_ms)
        });
        self.reserve(shards.iter().map(KeyTable::len).sum());
        for (key, tag) in shards.iter().flat_map(KeyTable::iter) {
            self.insert_key(EventKey(key.with_tag(tag)), start_of_tag[usize::from(tag)]);
        }
    }
}

/// The dedupe memory as a snapshot keeps it: its live buckets, and each shard's keys with their
/// buckets' tags, 12 bytes each in the order the tables hold them, so that restoring needs no
/// lookup. A key keeps its top 96 bits, as the memory does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupeImage {
    /// The window, in milliseconds of `occurred_at`.
    window_ms: Millis,
    /// Width of a bucket, in milliseconds of `occurred_at`.
    bucket_ms: Millis,
    /// Lowest live bucket index.
    floor: Option<i64>,
    /// Indices (`occurred_at / bucket_ms`) of the buckets that hold keys, ascending.
    buckets: Vec<i64>,
    /// Each shard's keys: bits 64–127, then 32–63 with the tag in the bottom 8, little endian.
    shards: Vec<ByteBuf>,
}

/// A [`DedupeImage`] that cannot be restored (the snapshot holding it is not used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the dedupe memory's image is corrupt: {0}")]
pub struct CorruptImage(&'static str);

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
            proptest::prop_assert!(restored.restore_image(d.image()).is_ok());
            proptest::prop_assert_eq!(restored.len(), d.len());
            proptest::prop_assert_eq!(&restored.buckets, &d.buckets);
            proptest::prop_assert_eq!(restored.next_expiry(), d.next_expiry());
            proptest::prop_assert_eq!(restored.image(), d.image());
            for (key, tag) in restored.keys.iter() {
                let bucket = restored.buckets.keys().find(|&&b| tag_of(b) == tag);
                proptest::prop_assert_eq!(bucket, m.keys.get(&identity(key.with_tag(0))));
            }
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

    /// A memory of 100 events over 25 hours, in five 6-hour buckets.
    fn hundred_events() -> Dedupe {
        let mut d = Dedupe::new(48 * HOUR);
        d.expire_before(25 * HOUR);
        for i in 0..100 {
            d.insert(i % 3 + 1, &format!("e{i}"), i as Millis * HOUR / 4);
        }
        d
    }

    #[test]
    fn an_image_restores_the_same_memory() {
        let d = hundred_events();
        let mut restored = Dedupe::new(48 * HOUR);
        restored.restore_image(d.image()).unwrap();
        assert_eq!(restored.len(), 100);
        assert_eq!(restored.buckets, d.buckets);
        assert!((0..100).all(|i| restored.contains(i % 3 + 1, &format!("e{i}"))));
        assert!(!restored.contains(1, "e1"));
        // Expiry goes on as it would have: the first 6-hour bucket goes at 54 hours.
        assert_eq!(restored.expire_before(54 * HOUR), 24);
        assert!(!restored.contains(1, "e0") && restored.contains(1, "e24"));
    }

    #[test]
    fn an_image_of_another_window_is_restored_into_this_ones_buckets() {
        let d = hundred_events();
        let mut restored = Dedupe::with_buckets(24 * HOUR, 24); // 1-hour buckets
        restored.restore_image(d.image()).unwrap();
        assert_eq!(restored.len(), 100);
        assert!((0..100).all(|i| restored.contains(i % 3 + 1, &format!("e{i}"))));
        // Keys keep their old buckets' starts: hours 0, 6, 12, 18, 24.
        assert_eq!(restored.bucket_count(), 5);
    }

    #[test]
    fn an_image_that_does_not_hold_together_is_refused_with_nothing_changed() {
        let image = hundred_events().image();
        let with_shard = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bad = image.clone();
            let shard = bad.shards.iter_mut().find(|k| k.len() >= 24).unwrap();
            edit(shard);
            bad
        };
        let cut_short = with_shard(&|keys| keys.truncate(keys.len() - 1));
        let swapped = with_shard(&|keys| keys[..24].rotate_left(12));
        let other_shard = with_shard(&|keys| keys[7] ^= 0x80);
        let mut unknown_bucket = image.clone();
        unknown_bucket.buckets.pop();
        let mut far_apart = image.clone();
        far_apart.buckets[0] -= 300;
        for bad in [cut_short, swapped, other_shard, unknown_bucket, far_apart] {
            let mut d = Dedupe::new(48 * HOUR);
            assert!(d.restore_image(bad).is_err());
            assert!(d.is_empty() && d.bucket_count() == 0 && d.next_expiry() == Millis::MIN);
        }
    }

    #[test]
    fn an_image_replaces_what_the_memory_held() {
        for buckets in [8, 12] {
            let mut other = Dedupe::with_buckets(48 * HOUR, buckets);
            other.insert(1, "x", 0);
            other.restore_image(hundred_events().image()).unwrap();
            assert_eq!(other.len(), 100);
            assert!(!other.contains(1, "x") && other.contains(1, "e0"));
        }
    }
}
