//! Tickets that reached a final status, remembered (as hashes) for the stream's retention so
//! late events for them are accepted and change nothing.

use std::collections::VecDeque;

use hashbrown::HashSet;
use vigil_schema::Millis;

/// Hashes of final tickets, expiring in the order they became final.
#[derive(Debug, Default)]
pub struct FinalTickets {
    set: HashSet<u64>,
    order: VecDeque<(Millis, u64)>,
}

impl FinalTickets {
    /// Remembers a ticket (by id hash) that became final at `t`.
    pub fn insert(&mut self, hash: u64, t: Millis) {
        if self.set.insert(hash) {
            self.order.push_back((t, hash));
        }
    }

    /// Whether the ticket is remembered as final.
    pub fn contains(&self, hash: u64) -> bool {
        self.set.contains(&hash)
    }

    /// Every remembered ticket, `(became final at, id hash)`, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (Millis, u64)> + '_ {
        self.order.iter().copied()
    }

    /// Remembers `entries` (oldest first), as [`entries`](Self::entries) gave them.
    pub fn from_entries(entries: Vec<(Millis, u64)>) -> FinalTickets {
        let mut finals = FinalTickets::default();
        for (t, hash) in entries {
            finals.insert(hash, t);
        }
        finals
    }

    /// Forgets tickets that became final before `before`.
    pub fn expire(&mut self, before: Millis) {
        while let Some(&(t, h)) = self.order.front() {
            if t >= before {
                break;
            }
            self.order.pop_front();
            self.set.remove(&h);
        }
    }
}
