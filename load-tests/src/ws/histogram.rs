//! A lock-free log-linear histogram of microseconds: fixed memory, shared by every client task,
//! with a relative error below 1/128 (0.8 %) and the exact maximum.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: values below `SUB` are exact, larger ones share a bucket with
/// values less than `1/SUB` of them apart.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values from `2^MAX_BITS` µs (12.7 days) on are counted in the last bucket.
const MAX_BITS: u32 = 40;
const BUCKETS: usize = (SUB + (MAX_BITS - SUB_BITS) as u64 * SUB) as usize;

/// A histogram of durations in microseconds that many tasks record into at once.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
    sum: AtomicU64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .field("max", &self.max())
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram (about 35 KB).
    pub fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts one value, in microseconds.
    pub fn record(&self, micros: u64) {
        self.buckets[index(micros)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
        self.sum.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one duration (whole microseconds).
    pub fn record_duration(&self, d: Duration) {
        self.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The largest value counted (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The mean, 0 when empty.
    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            0.0
        } else {
            self.sum.load(Ordering::Relaxed) as f64 / n as f64
        }
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding the value of rank
    /// `ceil(q × count)`, never more than the maximum (which the last rank is, exactly); 0 when
    /// empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
        if rank == n {
            return self.max();
        }
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket(i);
                return (low + (width - 1) / 2).min(self.max());
            }
        }
        self.max()
    }
}

/// The bucket of a value.
fn index(v: u64) -> usize {
    let v = v.min((1 << MAX_BITS) - 1);
    if v < SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = (v >> shift) - SUB;
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The smallest value of a bucket and how many values it holds.
fn bucket(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    ((SUB + sub) << shift, 1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        let mut expected_low = 0;
        for i in 0..BUCKETS {
            let (low, width) = bucket(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(index(low), i);
            assert_eq!(index(low + width - 1), i);
            expected_low = low + width;
        }
        assert_eq!(expected_low, 1 << MAX_BITS);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let h = Histogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.9), 90);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(1.0), 100);
        assert_eq!(h.quantile(0.0), 1);
        assert_eq!(h.max(), 100);
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn large_values_are_within_one_percent() {
        let h = Histogram::new();
        // 1 ms .. 10 s in steps of 1 ms.
        for ms in 1..=10_000u64 {
            h.record(ms * 1000);
        }
        for (q, want) in [(0.5, 5_000_000.0), (0.9, 9_000_000.0), (0.99, 9_900_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.quantile(1.0), 10_000_000);
    }

    #[test]
    fn empty_is_zero_and_durations_are_micros() {
        let h = Histogram::new();
        assert_eq!((h.count(), h.max(), h.quantile(0.99)), (0, 0, 0));
        assert_eq!(h.mean(), 0.0);
        h.record_duration(Duration::from_millis(3));
        assert_eq!(h.max(), 3000);
        assert!((h.quantile(0.5) as i64 - 3000).abs() <= 3000 / 128);
    }
}
