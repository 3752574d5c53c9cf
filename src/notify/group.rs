//! Grouping (as Alertmanager does it): the first notification of a group waits `group_wait`
//! so that the burst it belongs to goes out as one message; later ones go out together at most
//! every `group_interval`. A group that stayed empty for a whole interval is forgotten, so the
//! next burst waits `group_wait` again.

use std::collections::HashMap;
use std::hash::Hash;

use vigil_streams::Millis;

/// One group's state.
#[derive(Debug)]
struct Group<T> {
    pending: Vec<T>,
    next_flush: Option<Millis>,
    last_flush: Option<Millis>,
    wait: i64,
    interval: i64,
}

/// Groups of items by key.
#[derive(Debug)]
pub struct Grouper<K, T> {
    groups: HashMap<K, Group<T>>,
}

impl<K, T> Default for Grouper<K, T> {
    fn default() -> Self {
        Grouper {
            groups: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, T> Grouper<K, T> {
    /// Adds an item at `now` to the group `key`, whose route waits `wait_ms` before its first
    /// message and `interval_ms` between messages.
    pub fn add(&mut self, key: K, item: T, now: Millis, wait_ms: i64, interval_ms: i64) {
        let g = self.groups.entry(key).or_insert_with(|| Group {
            pending: Vec::new(),
            next_flush: None,
            last_flush: None,
            wait: wait_ms,
            interval: interval_ms,
        });
        g.pending.push(item);
        if g.next_flush.is_none() {
            g.next_flush = Some(match g.last_flush {
                None => now + g.wait,
                Some(last) => (last + g.interval).max(now),
            });
        }
    }

    /// The groups due at `now`, each with its items in the order they came; forgets groups
    /// that have been quiet for a whole interval.
    pub fn due(&mut self, now: Millis) -> Vec<(K, Vec<T>)> {
        let mut out = Vec::new();
        for (key, g) in &mut self.groups {
            if g.next_flush.is_some_and(|at| at <= now) {
                out.push((key.clone(), std::mem::take(&mut g.pending)));
                g.next_flush = None;
                g.last_flush = Some(now);
            }
        }
        self.groups.retain(|_, g| {
            g.next_flush.is_some() || g.last_flush.is_some_and(|last| now < last + g.interval)
        });
        out
    }

    /// When the next group is due, if any is waiting.
    pub fn next_due(&self) -> Option<Millis> {
        self.groups.values().filter_map(|g| g.next_flush).min()
    }

    /// Groups held (waiting or recently flushed).
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no group is held.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: i64 = 30_000;
    const INTERVAL: i64 = 300_000;

    #[test]
    fn a_burst_goes_out_as_one_message_after_group_wait() {
        let mut g: Grouper<&str, u32> = Grouper::default();
        g.add("t1/critical", 1, 0, WAIT, INTERVAL);
        g.add("t1/critical", 2, 10_000, WAIT, INTERVAL);
        g.add("t2/critical", 3, 10_000, WAIT, INTERVAL);
        assert!(g.due(29_999).is_empty());
        assert_eq!(g.next_due(), Some(30_000));
        let mut due = g.due(30_000);
        due.sort();
        assert_eq!(due, [("t1/critical", vec![1, 2])]);
        assert_eq!(g.due(40_000), [("t2/critical", vec![3])]);
    }

    #[test]
    fn later_items_wait_for_the_group_interval_then_the_group_is_forgotten() {
        let mut g: Grouper<u8, u32> = Grouper::default();
        g.add(1, 1, 0, WAIT, INTERVAL);
        assert_eq!(g.due(WAIT).len(), 1);
        // Joins the flushed group: waits until 30 s + 5 min, not group_wait.
        g.add(1, 2, 60_000, WAIT, INTERVAL);
        assert!(g.due(WAIT + INTERVAL - 1).is_empty());
        assert_eq!(g.due(WAIT + INTERVAL), [(1, vec![2])]);
        // Quiet for a whole interval: forgotten; the next burst waits group_wait again.
        assert!(g.due(WAIT + 2 * INTERVAL).is_empty());
        assert!(g.is_empty());
        g.add(1, 3, 1_000_000, WAIT, INTERVAL);
        assert_eq!(g.next_due(), Some(1_000_000 + WAIT));
    }
}
