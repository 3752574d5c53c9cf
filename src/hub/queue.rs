//! One client's bounded outgoing queue. Fan-out only ever pushes here (never waits on a
//! socket), so a slow client cannot slow the engine or other clients:
//! - an update that supersedes a queued one (the same tenant's metrics, the same ticket)
//!   replaces it, moving to the back so `seq` stays in order;
//! - when the queue is full, the oldest supersedable update is dropped to make room;
//! - when it is full of alerts and the client has taken nothing for `stall_limit` (or the
//!   queue reaches its hard limit, 16 times the capacity), the client is closed with 1013.
//!   A client that keeps reading may fall behind by a burst without being dropped.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use crate::telemetry::metrics::{ws_dropped, ws_messages_sent};

/// What makes an update supersede an older one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Supersedes {
    /// A tenant's metrics.
    Metrics(u64),
    /// One ticket of a tenant.
    Ticket(u64, Box<str>),
}

/// A message for the client.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The JSON text.
    pub text: Utf8Bytes,
    /// `type` of the message (for metrics).
    pub kind: &'static str,
    /// Set on updates a newer one may replace; `None` on alerts and snapshots.
    pub supersedes: Option<Supersedes>,
}

/// What the writer should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Send this text.
    Text(Utf8Bytes),
    /// Send a ping.
    Ping,
    /// Close with this code and reason, then stop.
    Close(u16, &'static str),
}

#[derive(Debug)]
struct State {
    items: VecDeque<Outgoing>,
    held: Option<Vec<Outgoing>>,
    ping: bool,
    closing: Option<(u16, &'static str)>,
    /// When the writer last took a message (or the queue was made).
    last_taken: Instant,
}

/// The queue. Pushers never wait.
#[derive(Debug)]
pub struct ClientQueue {
    state: Mutex<State>,
    /// Wakes the one writer.
    ready: Notify,
    /// Wakes everybody waiting for the close.
    closed_signal: Notify,
    capacity: usize,
    stall_limit: Duration,
}

/// Close code: the client cannot keep up with alerts.
pub const CLOSE_SLOW: u16 = 1013;
/// Close code: idle, or the server is going away.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: asked for data it may not see.
pub const CLOSE_POLICY: u16 = 1008;
/// The reason of a 1013 close.
const SLOW_REASON: &str = "too slow: alerts could not be delivered";
/// The hard limit is this many times the capacity.
const HARD_LIMIT_FACTOR: usize = 16;

impl ClientQueue {
    /// An empty queue of `capacity` messages (at least 1) whose client counts as too slow
    /// once it is full of alerts and has taken nothing for `stall_limit`.
    pub fn new(capacity: usize, stall_limit: Duration) -> ClientQueue {
        ClientQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                held: None,
                ping: false,
                closing: None,
                last_taken: Instant::now(),
            }),
            ready: Notify::new(),
            closed_signal: Notify::new(),
            capacity: capacity.max(1),
            stall_limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a message; see the module docs for what happens when the client is slow.
    pub fn push(&self, message: Outgoing) {
        let mut s = self.lock();
        if s.closing.is_some() {
            return;
        }
        if let Some(held) = s.held.as_mut() {
            held.push(message);
            if held.len() > self.capacity * HARD_LIMIT_FACTOR {
                s.close(CLOSE_SLOW, SLOW_REASON);
                drop(s);
                self.wake();
            }
            return;
        }
        s.enqueue(message, self.capacity, self.stall_limit);
        drop(s);
        self.wake();
    }

    /// Holds messages pushed from now on aside until [`ClientQueue::release`], so a snapshot
    /// being built goes out before the deltas that follow it.
    pub fn hold(&self) {
        let mut s = self.lock();
        if s.held.is_none() {
            s.held = Some(Vec::new());
        }
    }

    /// Queues `first` (the snapshots), then what was held back.
    pub fn release(&self, first: Vec<Outgoing>) {
        let mut s = self.lock();
        let held = s.held.take().unwrap_or_default();
        if s.closing.is_none() {
            for m in first.into_iter().chain(held) {
                s.enqueue(m, self.capacity, self.stall_limit);
            }
        }
        drop(s);
        self.wake();
    }

    /// Asks the writer to ping (ahead of queued messages).
    pub fn ping(&self) {
        self.lock().ping = true;
        self.ready.notify_one();
    }

    /// Closes: the writer sends what is queued (nothing, for 1013), a close frame with
    /// `code`, and stops.
    pub fn close(&self, code: u16, reason: &'static str) {
        self.lock().close(code, reason);
        self.wake();
    }

    /// Wakes the writer, and whoever waits for the close if it is closing.
    fn wake(&self) {
        self.ready.notify_one();
        if self.lock().closing.is_some() {
            self.closed_signal.notify_waiters();
        }
    }

    /// Why the queue is closing, once it is.
    pub fn closing(&self) -> Option<(u16, &'static str)> {
        self.lock().closing
    }

    /// Closes with 1013 if the client is full of alerts and has taken nothing for the stall
    /// limit (checked on every push, and by the connection's heartbeat).
    pub fn close_if_stalled(&self) {
        let mut s = self.lock();
        if s.closing.is_none() && s.stalled(self.capacity, self.stall_limit) {
            s.close(CLOSE_SLOW, SLOW_REASON);
            drop(s);
            self.wake();
        }
    }

    /// Waits for the next thing to do.
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if s.closing.is_none() && std::mem::take(&mut s.ping) {
                    return Next::Ping;
                }
                // A closing queue still hands out what it holds (an error message before a
                // policy close); a slow client's queue was emptied when it closed.
                if let Some(m) = s.items.pop_front() {
                    s.last_taken = Instant::now();
                    ws_messages_sent(m.kind).increment(1);
                    return Next::Text(m.text);
                }
                if let Some((code, reason)) = s.closing {
                    return Next::Close(code, reason);
                }
            }
            notified.await;
        }
    }

    /// The next thing to do if there is one now (to batch writes).
    pub fn try_next(&self) -> Option<Next> {
        let mut s = self.lock();
        if let Some(m) = s.items.pop_front() {
            s.last_taken = Instant::now();
            ws_messages_sent(m.kind).increment(1);
            return Some(Next::Text(m.text));
        }
        s.closing.map(|(code, reason)| Next::Close(code, reason))
    }

    /// Resolves once the queue is closing (to stop waiting on a socket that does not drain).
    pub async fn closed(&self) -> (u16, &'static str) {
        loop {
            let notified = self.closed_signal.notified();
            tokio::pin!(notified);
            // Registered before the check, so a close in between is not missed.
            notified.as_mut().enable();
            if let Some(c) = self.closing() {
                return c;
            }
            notified.await;
        }
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn close(&mut self, code: u16, reason: &'static str) {
        if self.closing.is_none() {
            self.closing = Some((code, reason));
            if code == CLOSE_SLOW {
                self.items.clear();
            }
            self.held = None;
        }
    }

    fn stalled(&self, capacity: usize, stall_limit: Duration) -> bool {
        self.items.len() >= capacity * HARD_LIMIT_FACTOR
            || (self.items.len() >= capacity && self.last_taken.elapsed() >= stall_limit)
    }

    fn enqueue(&mut self, message: Outgoing, capacity: usize, stall_limit: Duration) {
        if let Some(key) = &message.supersedes {
            if let Some(i) = self
                .items
                .iter()
                .position(|m| m.supersedes.as_ref() == Some(key))
            {
                self.items.remove(i);
                ws_dropped("superseded").increment(1);
            }
        }
        if self.items.len() >= capacity {
            match self.items.iter().position(|m| m.supersedes.is_some()) {
                Some(i) => {
                    self.items.remove(i);
                    ws_dropped("shed").increment(1);
                }
                None if message.supersedes.is_some() => {
                    ws_dropped("shed").increment(1);
                    return;
                }
                None if self.stalled(capacity, stall_limit) => {
                    self.close(CLOSE_SLOW, SLOW_REASON);
                    return;
                }
                // Full of alerts, but the client is taking them: it may fall behind by a burst.
                None => {}
            }
        }
        self.items.push_back(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u32) -> Outgoing {
        Outgoing {
            text: format!("alert {n}").into(),
            kind: "alert",
            supersedes: None,
        }
    }

    fn metrics(tenant: u64, n: u32) -> Outgoing {
        Outgoing {
            text: format!("metrics {tenant} {n}").into(),
            kind: "metrics",
            supersedes: Some(Supersedes::Metrics(tenant)),
        }
    }

    async fn drain(q: &ClientQueue) -> Vec<String> {
        let mut out = Vec::new();
        while !q.is_empty() {
            if let Next::Text(t) = q.next().await {
                out.push(t.to_string());
            }
        }
        out
    }

    const STALL: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_newer_update_replaces_the_queued_one_at_the_back() {
        let q = ClientQueue::new(10, STALL);
        q.push(metrics(1, 1));
        q.push(alert(2));
        q.push(metrics(2, 3));
        q.push(metrics(1, 4));
        assert_eq!(drain(&q).await, ["alert 2", "metrics 2 3", "metrics 1 4"]);
    }

    #[tokio::test]
    async fn a_full_queue_sheds_updates_then_closes_a_stalled_client() {
        let q = ClientQueue::new(3, Duration::ZERO);
        q.push(metrics(1, 1));
        q.push(alert(1));
        q.push(alert(2));
        // Full: the metrics update makes room for the alert.
        q.push(alert(3));
        assert_eq!(q.closing(), None);
        assert_eq!(q.len(), 3);
        // Full of alerts: an update is dropped, another alert closes the stalled client.
        q.push(metrics(1, 2));
        assert_eq!(q.len(), 3);
        q.push(alert(4));
        assert_eq!(q.closing().map(|c| c.0), Some(CLOSE_SLOW));
        assert_eq!(q.next().await, Next::Close(CLOSE_SLOW, SLOW_REASON));
    }

    #[tokio::test]
    async fn a_reading_client_may_fall_behind_by_a_burst_up_to_the_hard_limit() {
        let q = ClientQueue::new(2, STALL);
        for n in 0..(2 * HARD_LIMIT_FACTOR as u32 - 1) {
            q.push(alert(n));
        }
        assert_eq!(q.closing(), None);
        q.push(alert(99));
        q.close_if_stalled();
        assert_eq!(q.closing().map(|c| c.0), Some(CLOSE_SLOW));
    }

    #[tokio::test]
    async fn a_policy_close_delivers_what_was_queued_first() {
        let q = ClientQueue::new(4, STALL);
        q.push(alert(1));
        q.close(CLOSE_POLICY, "forbidden");
        assert_eq!(q.next().await, Next::Text("alert 1".into()));
        assert_eq!(q.next().await, Next::Close(CLOSE_POLICY, "forbidden"));
    }

    #[tokio::test]
    async fn held_messages_follow_the_snapshot() {
        let q = ClientQueue::new(10, STALL);
        q.hold();
        q.push(alert(7));
        assert!(q.is_empty());
        q.release(vec![Outgoing {
            text: "snapshot".into(),
            kind: "snapshot",
            supersedes: None,
        }]);
        assert_eq!(drain(&q).await, ["snapshot", "alert 7"]);
    }

    #[tokio::test]
    async fn a_ping_goes_ahead_of_queued_messages() {
        let q = ClientQueue::new(10, STALL);
        q.push(alert(1));
        q.ping();
        assert_eq!(q.next().await, Next::Ping);
        assert_eq!(q.next().await, Next::Text("alert 1".into()));
    }
}
