//! Sparse ring of time buckets at one resolution, generic over what a bucket counts.

use std::collections::VecDeque;

use vigil_schema::Millis;

use super::{histogram_bucket, histogram_quantile, GoalStats, StoppedGoal, WindowStats};
use crate::engine::GoalOutcome;

/// Counts of one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Bucket {
    pub created: u32,
    pub met: [u32; 2],
    pub breached: [u32; 2],
    pub warnings: u32,
    pub breaches: u32,
    pub time_sum_ms: [u64; 2],
    pub hist: [[u32; 12]; 2],
    pub satisfaction_centi: u32,
    pub satisfaction_n: u32,
}

/// What a ring bucket holds: counts that add up.
pub(super) trait Counts: Default + Clone {
    /// Adds another bucket's counts to this one.
    fn add(&mut self, other: &Self);
}

impl Counts for Bucket {
    fn add(&mut self, o: &Bucket) {
        self.created += o.created;
        self.warnings += o.warnings;
        self.breaches += o.breaches;
        self.satisfaction_centi += o.satisfaction_centi;
        self.satisfaction_n += o.satisfaction_n;
        for i in 0..2 {
            self.met[i] += o.met[i];
            self.breached[i] += o.breached[i];
            self.time_sum_ms[i] += o.time_sum_ms[i];
            for h in 0..12 {
                self.hist[i][h] = self.hist[i][h].saturating_add(o.hist[i][h]);
            }
        }
    }
}

impl Bucket {
    pub(super) fn goal_stopped(&mut self, g: StoppedGoal) {
        let i = g.goal.index();
        match g.outcome {
            GoalOutcome::Met => self.met[i] += 1,
            GoalOutcome::Breached => self.breached[i] += 1,
            GoalOutcome::Cancelled => return,
        }
        self.time_sum_ms[i] += g.elapsed_ms.max(0) as u64;
        let h = histogram_bucket(g.elapsed_ms);
        self.hist[i][h] = self.hist[i][h].saturating_add(1);
    }

    pub(super) fn stats(&self) -> WindowStats {
        let goal = |i: usize| {
            let n = u64::from(self.met[i]) + u64::from(self.breached[i]);
            let p95 = histogram_quantile(&self.hist[i].map(u64::from), 95);
            GoalStats {
                met: self.met[i].into(),
                breached: self.breached[i].into(),
                compliance: (n > 0).then(|| f64::from(self.met[i]) / n as f64),
                mean_ms: (n > 0).then(|| self.time_sum_ms[i] as f64 / n as f64),
                p95_ms: p95,
            }
        };
        WindowStats {
            created: self.created.into(),
            resolved: u64::from(self.met[1]) + u64::from(self.breached[1]),
            response: goal(0),
            resolution: goal(1),
            warnings: self.warnings.into(),
            breaches: self.breaches.into(),
            satisfaction: (self.satisfaction_n > 0).then(|| {
                f64::from(self.satisfaction_centi) / 100.0 / f64::from(self.satisfaction_n)
            }),
        }
    }
}

/// Buckets `(index, counts)` in index order; at most `keep` of them, newest kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Ring<B = Bucket> {
    buckets: VecDeque<(i64, B)>,
}

impl<B> Default for Ring<B> {
    fn default() -> Self {
        Ring {
            buckets: VecDeque::new(),
        }
    }
}

impl<B: Counts> Ring<B> {
    pub(super) fn record(&mut self, t: Millis, width: i64, keep: usize, f: &impl Fn(&mut B)) {
        let idx = t.div_euclid(width);
        if let Some((i, b)) = self.buckets.back_mut() {
            if *i == idx {
                f(b);
                return;
            }
        }
        let newest = self.buckets.back().map_or(idx, |(i, _)| *i);
        if idx <= newest - keep as i64 {
            return; // Older than the ring reaches.
        }
        let pos = self.buckets.partition_point(|(i, _)| *i < idx);
        match self.buckets.get_mut(pos) {
            Some((i, b)) if *i == idx => f(b),
            _ => {
                let mut b = B::default();
                f(&mut b);
                self.buckets.insert(pos, (idx, b));
            }
        }
        let newest = self.buckets.back().map_or(idx, |(i, _)| *i);
        while self
            .buckets
            .front()
            .is_some_and(|(i, _)| *i <= newest - keep as i64)
        {
            self.buckets.pop_front();
        }
    }

    /// Sum of the buckets overlapping `(from, now]`.
    pub(super) fn sum(&self, from: Millis, now: Millis, width: i64) -> B {
        let (lo, hi) = (from.div_euclid(width), now.div_euclid(width));
        let mut total = B::default();
        for (i, b) in &self.buckets {
            if *i > lo && *i <= hi || (*i == lo && lo == hi) {
                total.add(b);
            }
        }
        total
    }

    /// The buckets whose start is in `[from, to)`, one per `width` step, empty ones included:
    /// `(bucket start, counts)`, oldest first.
    pub(super) fn series(&self, from: Millis, to: Millis, width: i64) -> Vec<(Millis, B)> {
        let (lo, hi) = (from.div_euclid(width), (to - 1).div_euclid(width));
        let mut out: Vec<(Millis, B)> = (lo..=hi).map(|i| (i * width, B::default())).collect();
        for (i, b) in &self.buckets {
            if (lo..=hi).contains(i) {
                out[(*i - lo) as usize].1 = b.clone();
            }
        }
        out
    }

    pub(super) fn len(&self) -> usize {
        self.buckets.len()
    }
}
