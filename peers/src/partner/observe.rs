//! What the partner saw: calls per endpoint by status, the PUT record ids in arrival order
//! (bounded), records stored and requests hanging. Kept in a `watch` channel so tests can
//! await a count instead of polling.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// The partner API's endpoints, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `PUT <prefix>/records/{record_id}`.
    PutRecord,
    /// `GET <prefix>/records?date=…`.
    GetRecords,
    /// `POST <prefix>/oauth/token`.
    Token,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 3] = [Endpoint::PutRecord, Endpoint::GetRecords, Endpoint::Token];
}

/// Calls of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Calls that arrived (answered or not).
    pub received: u64,
    /// Calls answered, by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Calls whose connection was closed unanswered (an outage in `close` mode).
    pub closed: u64,
}

impl CallCounts {
    /// Calls answered with `status`.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Calls answered with a 2xx status.
    pub fn succeeded(&self) -> u64 {
        self.by_status.range(200..300).map(|(_, n)| n).sum()
    }
}

/// One PUT as answered, in arrival order of the answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PutReceived {
    /// The record id from the path, percent-decoded.
    pub record_id: String,
    /// The status answered; `None` when the connection was closed unanswered.
    pub status: Option<u16>,
}

/// The observation state.
#[derive(Debug)]
pub(super) struct Observed {
    pub calls: BTreeMap<Endpoint, CallCounts>,
    /// The newest PUTs, at most `put_log_capacity`.
    pub puts: VecDeque<PutReceived>,
    pub put_log_capacity: usize,
    /// Every PUT answered (or closed) so far, beyond the log too.
    pub puts_total: u64,
    /// PUTs answered 2xx so far.
    pub puts_accepted: u64,
    /// Records in the table.
    pub stored: usize,
    /// Requests hanging now.
    pub hung: usize,
}

impl Observed {
    /// Nothing seen; the PUT log keeps `put_log_capacity` entries.
    pub fn new(put_log_capacity: usize) -> Observed {
        Observed {
            calls: BTreeMap::new(),
            puts: VecDeque::new(),
            put_log_capacity,
            puts_total: 0,
            puts_accepted: 0,
            stored: 0,
            hung: 0,
        }
    }

    /// A call arrived.
    pub fn received(&mut self, endpoint: Endpoint) {
        self.calls.entry(endpoint).or_default().received += 1;
    }

    /// A call was answered with `status` (`None`: closed unanswered).
    pub fn answered(&mut self, endpoint: Endpoint, record_id: Option<&str>, status: Option<u16>) {
        let counts = self.calls.entry(endpoint).or_default();
        match status {
            Some(status) => *counts.by_status.entry(status).or_default() += 1,
            None => counts.closed += 1,
        }
        if endpoint != Endpoint::PutRecord {
            return;
        }
        self.puts_total += 1;
        if status.is_some_and(|status| (200..300).contains(&status)) {
            self.puts_accepted += 1;
        }
        if self.put_log_capacity == 0 {
            return;
        }
        if self.puts.len() >= self.put_log_capacity {
            self.puts.pop_front();
        }
        self.puts.push_back(PutReceived {
            record_id: record_id.unwrap_or_default().to_owned(),
            status,
        });
    }

    /// Forgets calls and PUTs (not the stored count or hanging requests).
    pub fn reset_counts(&mut self) {
        self.calls.clear();
        self.puts.clear();
        self.puts_total = 0;
        self.puts_accepted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_put_log_keeps_the_newest_and_the_total_keeps_counting() {
        let mut seen = Observed::new(2);
        for (id, status) in [("a", Some(200)), ("b", Some(503)), ("c", None)] {
            seen.received(Endpoint::PutRecord);
            seen.answered(Endpoint::PutRecord, Some(id), status);
        }
        let ids: Vec<_> = seen.puts.iter().map(|p| p.record_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!((seen.puts_total, seen.puts_accepted), (3, 1));
        let counts = &seen.calls[&Endpoint::PutRecord];
        assert_eq!(
            (counts.received, counts.status(503), counts.closed),
            (3, 1, 1)
        );
        assert_eq!(counts.succeeded(), 1);
    }
}
