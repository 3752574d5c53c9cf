//! Counters every client task updates, and the report built from them at the end.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::histogram::Histogram;
use super::message::Kind;

/// Live counters shared by all clients.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages received, by [`Kind::index`].
    pub messages: [AtomicU64; Kind::ALL.len()],
    /// Bytes of text received.
    pub bytes: AtomicU64,
    /// Clients whose WebSocket handshake succeeded.
    pub connected: AtomicU64,
    /// Clients connected now.
    pub open: AtomicU64,
    /// Clients that received their first snapshot.
    pub subscribed: AtomicU64,
    /// Clients that could not connect.
    pub failed: AtomicU64,
    /// Connected clients whose connection ended before the end of the run.
    pub dropped: AtomicU64,
    /// Firing alerts of this run's breaching tickets (one per client that received it).
    pub alerts_matched: AtomicU64,
    /// Firing alerts of this run's tickets that were not meant to breach.
    pub alerts_unexpected: AtomicU64,
    /// Firing alerts of tickets of other runs or producers.
    pub alerts_foreign: AtomicU64,
    /// Push latency of every matched alert message, µs.
    pub latency: Histogram,
    /// Push latency of the first alert of each breaching ticket (at any client), µs.
    pub first_latency: Histogram,
    /// Time between consecutive `metrics` updates of one client (so of its tenant), µs.
    pub metrics_interval: Histogram,
    /// Most `metrics` updates one client received within one second.
    pub metrics_max_per_sec: AtomicU64,
    /// Why clients failed to connect or were dropped, with counts.
    reasons: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    /// Fresh counters.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Counts a received message.
    pub fn message(&self, kind: Kind, bytes: usize) {
        self.messages[kind.index()].fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Messages received so far, all types.
    pub fn total_messages(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| m.load(Ordering::Relaxed))
            .sum()
    }

    /// Messages received so far, by type.
    pub fn messages_by_kind(&self) -> [u64; Kind::ALL.len()] {
        std::array::from_fn(|i| self.messages[i].load(Ordering::Relaxed))
    }

    /// Notes why a client failed or was dropped (`http 429`, `close 1013`, `io: …`).
    pub fn reason(&self, why: String) {
        if let Ok(mut reasons) = self.reasons.lock() {
            *reasons.entry(why).or_default() += 1;
        }
    }

    /// The reasons noted so far.
    pub fn reasons(&self) -> BTreeMap<String, u64> {
        self.reasons.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// One client's view of its tenant's `metrics` updates: the interval since the previous one and
/// how many arrived within the last second.
#[derive(Debug, Default)]
pub struct MetricsPace {
    recent: VecDeque<Instant>,
}

impl MetricsPace {
    /// Notes an update received at `at`; returns the interval since the previous update (none
    /// for the first) and the number of updates within the second ending at `at`.
    pub fn note(&mut self, at: Instant) -> (Option<Duration>, usize) {
        let interval = self
            .recent
            .back()
            .map(|last| at.saturating_duration_since(*last));
        self.recent.push_back(at);
        while self
            .recent
            .front()
            .is_some_and(|first| at.saturating_duration_since(*first) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        (interval, self.recent.len())
    }
}

/// The figures of one run, printed as a table and as one JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Clients asked for.
    pub clients: u64,
    /// Tenants they were spread over.
    pub tenants: u64,
    /// Clients whose handshake succeeded.
    pub clients_connected: u64,
    /// Clients that received their first snapshot.
    pub clients_subscribed: u64,
    /// Clients that could not connect.
    pub clients_failed: u64,
    /// Connected clients dropped before the end (closed by the server or broken).
    pub clients_dropped: u64,
    /// Seconds from the first connect to the last connection settled.
    pub connect_seconds: f64,
    /// Events published (acknowledged by JetStream).
    pub events_published: u64,
    /// Events not acknowledged.
    pub events_failed: u64,
    /// Breaching tickets published.
    pub breaching_published: u64,
    /// Breaching tickets with at least one alert received.
    pub breaching_alerted: u64,
    /// Publish rate reached, events/s.
    pub publish_events_per_sec: f64,
    /// Seconds of the measurement window (publishing and the drain after it).
    pub window_seconds: f64,
    /// Push latency samples (firing alerts of breaching tickets, over all clients).
    pub push_latency_samples: u64,
    /// Push latency p50, ms.
    pub push_latency_p50_ms: f64,
    /// Push latency p90, ms.
    pub push_latency_p90_ms: f64,
    /// Push latency p99, ms.
    pub push_latency_p99_ms: f64,
    /// Push latency maximum, ms.
    pub push_latency_max_ms: f64,
    /// First alert of a ticket at any client: p50, ms.
    pub first_push_latency_p50_ms: f64,
    /// First alert of a ticket at any client: p99, ms.
    pub first_push_latency_p99_ms: f64,
    /// Firing alerts of this run's tickets that were not meant to breach.
    pub alerts_unexpected: u64,
    /// Firing alerts of other tickets (earlier runs, other producers).
    pub alerts_foreign: u64,
    /// Messages received per second in the window, all clients.
    pub messages_per_sec: f64,
    /// Messages per second in the window, by type.
    pub messages_per_sec_by_type: BTreeMap<&'static str, f64>,
    /// Messages received over the whole run, by type.
    pub messages_by_type: BTreeMap<&'static str, u64>,
    /// Megabytes of text received per second in the window.
    pub received_mb_per_sec: f64,
    /// Interval between a tenant's `metrics` updates: p50, ms.
    pub metrics_interval_p50_ms: f64,
    /// Interval between a tenant's `metrics` updates: 1st percentile, ms (≥ 250 when coalesced
    /// to 4/s, less network jitter).
    pub metrics_interval_p1_ms: f64,
    /// Most `metrics` updates one client got within one second (≤ 4 expected, 5 with jitter).
    pub metrics_max_per_sec: u64,
    /// Why clients failed or were dropped.
    pub failure_reasons: BTreeMap<String, u64>,
}

/// Microseconds as milliseconds with µs precision.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Report {
    /// The report as one JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
    }

    /// The report as an aligned two-column table (`figure  value`), one figure per line.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            ("clients".into(), self.clients.to_string()),
            ("tenants".into(), self.tenants.to_string()),
            (
                "clients_connected".into(),
                self.clients_connected.to_string(),
            ),
            (
                "clients_subscribed".into(),
                self.clients_subscribed.to_string(),
            ),
            ("clients_failed".into(), self.clients_failed.to_string()),
            ("clients_dropped".into(), self.clients_dropped.to_string()),
            (
                "connect_seconds".into(),
                format!("{:.1}", self.connect_seconds),
            ),
            ("events_published".into(), self.events_published.to_string()),
            ("events_failed".into(), self.events_failed.to_string()),
            (
                "publish_events_per_sec".into(),
                format!("{:.0}", self.publish_events_per_sec),
            ),
            (
                "breaching_published".into(),
                self.breaching_published.to_string(),
            ),
            (
                "breaching_alerted".into(),
                self.breaching_alerted.to_string(),
            ),
            (
                "window_seconds".into(),
                format!("{:.1}", self.window_seconds),
            ),
            (
                "push_latency_samples".into(),
                self.push_latency_samples.to_string(),
            ),
            (
                "push_latency_p50_ms".into(),
                format!("{:.1}", self.push_latency_p50_ms),
            ),
            (
                "push_latency_p90_ms".into(),
                format!("{:.1}", self.push_latency_p90_ms),
            ),
            (
                "push_latency_p99_ms".into(),
                format!("{:.1}", self.push_latency_p99_ms),
            ),
            (
                "push_latency_max_ms".into(),
                format!("{:.1}", self.push_latency_max_ms),
            ),
            (
                "first_push_latency_p50_ms".into(),
                format!("{:.1}", self.first_push_latency_p50_ms),
            ),
            (
                "first_push_latency_p99_ms".into(),
                format!("{:.1}", self.first_push_latency_p99_ms),
            ),
            (
                "alerts_unexpected".into(),
                self.alerts_unexpected.to_string(),
            ),
            ("alerts_foreign".into(), self.alerts_foreign.to_string()),
            (
                "messages_per_sec".into(),
                format!("{:.0}", self.messages_per_sec),
            ),
        ];
        for (kind, rate) in &self.messages_per_sec_by_type {
            rows.push((format!("messages_per_sec.{kind}"), format!("{rate:.0}")));
        }
        for (kind, n) in &self.messages_by_type {
            rows.push((format!("messages.{kind}"), n.to_string()));
        }
        rows.extend([
            (
                "received_mb_per_sec".into(),
                format!("{:.2}", self.received_mb_per_sec),
            ),
            (
                "metrics_interval_p50_ms".into(),
                format!("{:.0}", self.metrics_interval_p50_ms),
            ),
            (
                "metrics_interval_p1_ms".into(),
                format!("{:.0}", self.metrics_interval_p1_ms),
            ),
            (
                "metrics_max_per_sec".into(),
                self.metrics_max_per_sec.to_string(),
            ),
        ]);
        for (why, n) in &self.failure_reasons {
            rows.push((format!("failures[{why}]"), n.to_string()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = format!("{:<width$}  value\n", "figure");
        for (k, v) in rows {
            out.push_str(&format!("{k:<width$}  {v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_pace_counts_the_last_second() {
        let t0 = Instant::now();
        let mut pace = MetricsPace::default();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(pace.note(at(0)), (None, 1));
        assert_eq!(pace.note(at(250)), (Some(Duration::from_millis(250)), 2));
        assert_eq!(pace.note(at(500)).1, 3);
        assert_eq!(pace.note(at(750)).1, 4);
        // Exactly one second after the first: the first is out of the window.
        assert_eq!(pace.note(at(1000)).1, 4);
        // A burst.
        assert_eq!(pace.note(at(1010)), (Some(Duration::from_millis(10)), 5));
        assert_eq!(pace.note(at(5000)).1, 1);
    }

    #[test]
    fn stats_count_messages_and_reasons() {
        let s = Stats::new();
        s.message(Kind::Alert, 10);
        s.message(Kind::Alert, 10);
        s.message(Kind::Metrics, 5);
        assert_eq!(s.total_messages(), 3);
        assert_eq!(s.messages_by_kind()[Kind::Alert.index()], 2);
        assert_eq!(s.bytes.load(Ordering::Relaxed), 25);
        s.reason("http 429".into());
        s.reason("http 429".into());
        s.reason("close 1013".into());
        assert_eq!(s.reasons().get("http 429"), Some(&2));
        assert_eq!(s.reasons().len(), 2);
    }

    fn report() -> Report {
        Report {
            clients: 10,
            tenants: 2,
            clients_connected: 10,
            clients_subscribed: 10,
            clients_failed: 0,
            clients_dropped: 1,
            connect_seconds: 0.5,
            events_published: 100,
            events_failed: 0,
            breaching_published: 5,
            breaching_alerted: 5,
            publish_events_per_sec: 100.0,
            window_seconds: 2.0,
            push_latency_samples: 20,
            push_latency_p50_ms: 1.5,
            push_latency_p90_ms: 2.0,
            push_latency_p99_ms: 3.5,
            push_latency_max_ms: 4.0,
            first_push_latency_p50_ms: 1.0,
            first_push_latency_p99_ms: 2.0,
            alerts_unexpected: 0,
            alerts_foreign: 0,
            messages_per_sec: 50.0,
            messages_per_sec_by_type: BTreeMap::from([("alert", 10.0), ("metrics", 40.0)]),
            messages_by_type: BTreeMap::from([("alert", 20), ("metrics", 80)]),
            received_mb_per_sec: 0.01,
            metrics_interval_p50_ms: 250.0,
            metrics_interval_p1_ms: 249.0,
            metrics_max_per_sec: 4,
            failure_reasons: BTreeMap::from([("close 1013".to_string(), 1)]),
        }
    }

    #[test]
    fn the_report_prints_as_a_table_and_one_json_line() {
        let r = report();
        let table = r.table();
        assert!(table.starts_with("figure"), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("push_latency_p99_ms ") && l.ends_with("  3.5")),
            "{table}"
        );
        assert!(table.contains("messages_per_sec.metrics"), "{table}");
        assert!(table.contains("failures[close 1013]"), "{table}");
        let json = r.json();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["push_latency_p99_ms"], 3.5);
        assert_eq!(v["messages_by_type"]["alert"], 20);
        assert_eq!(v["clients_dropped"], 1);
    }

    #[test]
    fn micros_to_millis() {
        assert_eq!(ms(1500), 1.5);
    }
}
