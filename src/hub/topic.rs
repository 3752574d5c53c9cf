//! One tenant's topic: its `seq`, the recent alert messages kept for `resume_from`, and its
//! subscribers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::protocol::Channels;
use super::queue::{ClientQueue, Outgoing};

/// A client's subscription to a topic (or to every topic).
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The client's id.
    pub client: u64,
    /// Its queue.
    pub queue: Arc<ClientQueue>,
    /// What it asked for.
    pub channels: Channels,
    /// Who (the token's subject), for flags that list users.
    pub user: Arc<str>,
}

/// A tenant's topic.
#[derive(Debug)]
pub struct Topic {
    state: Mutex<TopicState>,
    /// Subscribers that want metrics or ticket updates (read without the lock on every
    /// engine change).
    pub watchers: AtomicUsize,
    /// Of those, the ones that want ticket updates (so nobody's tickets are read for nothing).
    pub ticket_watchers: AtomicUsize,
}

/// The locked part of a topic.
#[derive(Debug)]
pub struct TopicState {
    /// The last seq given out.
    pub seq: u64,
    recent: VecDeque<(u64, Outgoing)>,
    keep: usize,
    /// Everything up to this seq may be missing from `recent`.
    evicted_through: u64,
    /// The latest alert changes pushed, `(alert id, state)`, as many as `recent` keeps: the
    /// same change arrives from the local fan-out and relayed from NATS.
    delivered: VecDeque<(String, String)>,
    /// Current subscribers.
    pub subscribers: Vec<Subscriber>,
}

impl Topic {
    /// A topic whose seq starts after `seq_base`, keeping `keep` alert messages.
    pub fn new(seq_base: u64, keep: usize) -> Topic {
        Topic {
            state: Mutex::new(TopicState {
                seq: seq_base,
                recent: VecDeque::new(),
                keep,
                evicted_through: seq_base,
                delivered: VecDeque::new(),
                subscribers: Vec::new(),
            }),
            watchers: AtomicUsize::new(0),
            ticket_watchers: AtomicUsize::new(0),
        }
    }

    /// Locks the topic.
    pub fn lock(&self) -> MutexGuard<'_, TopicState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a subscriber (the caller holds no lock).
    pub fn subscribe(&self, state: &mut TopicState, s: Subscriber) {
        if s.channels.wants_updates() {
            self.watchers.fetch_add(1, Ordering::Relaxed);
        }
        if s.channels.tickets {
            self.ticket_watchers.fetch_add(1, Ordering::Relaxed);
        }
        state.subscribers.push(s);
    }

    /// Removes a client's subscription, if any.
    pub fn unsubscribe(&self, client: u64) {
        let mut state = self.lock();
        state.subscribers.retain(|s| {
            let keep = s.client != client;
            if !keep && s.channels.wants_updates() {
                self.watchers.fetch_sub(1, Ordering::Relaxed);
            }
            if !keep && s.channels.tickets {
                self.ticket_watchers.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }
}

impl TopicState {
    /// The next seq.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether this alert change is pushed for the first time (remembering it if so).
    pub fn first_delivery(&mut self, alert_id: &str, state: &str) -> bool {
        if self
            .delivered
            .iter()
            .any(|(id, st)| id == alert_id && st == state)
        {
            return false;
        }
        self.delivered
            .push_back((alert_id.to_string(), state.to_string()));
        while self.delivered.len() > self.keep.max(1) {
            self.delivered.pop_front();
        }
        true
    }

    /// Keeps an alert message for resumption.
    pub fn remember(&mut self, seq: u64, message: Outgoing) {
        self.recent.push_back((seq, message));
        while self.recent.len() > self.keep {
            if let Some((evicted, _)) = self.recent.pop_front() {
                self.evicted_through = evicted;
            }
        }
    }

    /// The alert messages after `seq`, if every one of them is still kept (and `seq` is one
    /// this topic gave out); `None` means the client needs a fresh snapshot.
    pub fn missed_since(&self, seq: u64) -> Option<Vec<Outgoing>> {
        if seq < self.evicted_through || seq > self.seq {
            return None;
        }
        Some(
            self.recent
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, m)| m.clone())
                .collect(),
        )
    }

    /// Queues `message` for every subscriber that `wants` it.
    pub fn fan_out(&self, message: &Outgoing, wants: impl Fn(&Subscriber) -> bool) {
        for s in &self.subscribers {
            if wants(s) {
                s.queue.push(message.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(seq: u64) -> Outgoing {
        Outgoing {
            text: format!("a{seq}").into(),
            kind: "alert",
            supersedes: None,
        }
    }

    #[test]
    fn resumption_is_possible_only_while_nothing_missed_was_evicted() {
        let topic = Topic::new(1000, 3);
        let mut st = topic.lock();
        for _ in 0..5 {
            let seq = st.next_seq();
            st.remember(seq, alert(seq));
        }
        // Kept: 1003, 1004, 1005; 1001 and 1002 evicted.
        assert!(st.missed_since(1001).is_none());
        let missed: Vec<String> = st
            .missed_since(1002)
            .unwrap()
            .iter()
            .map(|m| m.text.to_string())
            .collect();
        assert_eq!(missed, ["a1003", "a1004", "a1005"]);
        assert_eq!(st.missed_since(1005).unwrap().len(), 0);
        // A seq this topic never gave out (another process's): snapshot.
        assert!(st.missed_since(2000).is_none());
        assert!(st.missed_since(10).is_none());
    }
}
