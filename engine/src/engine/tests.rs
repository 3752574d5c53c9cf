//! Table-driven tests of every SLA rule of DESIGN.md §3, through the event-time driver.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_schema::{decode, format_instant, Event, RejectReason, Rejection};

use crate::alert::AlertRecord;
use crate::calendar::CalendarSpec;
use crate::engine::EngineSettings;
use crate::event_time::{Collected, EventTimeDriver, Sink};
use crate::policy::{PolicyBook, PolicySpec};

#[derive(Default)]
struct Collect {
    alerts: Vec<String>,
    rejected: Vec<(String, RejectReason)>,
}

impl Sink<()> for Collect {
    fn applied(&mut self, _: &Event, _: ()) {}
    fn rejected(&mut self, e: &Event, _: (), r: Rejection) {
        self.rejected.push((e.event_id.to_string(), r.reason));
    }
    fn alert(&mut self, r: AlertRecord) {
        self.alerts.push(fmt(&r));
    }
}

fn fmt(r: &AlertRecord) -> String {
    format!(
        "{} {} {} {} {} {}",
        r.ticket_id,
        r.goal.as_str(),
        r.level.as_str(),
        r.threshold,
        r.state.as_str(),
        format_instant(r.fired_at)
    )
}

const BUSINESS: &str = r#"
timezone = "Asia/Shanghai"
hours = { mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00", thu = "09:00-18:00", fri = "09:00-18:00" }
holidays = ["2026-10-01"]
"#;

fn book(sla: &str) -> Arc<PolicyBook> {
    let sla: PolicySpec = toml::from_str(sla).unwrap();
    let cals = BTreeMap::from([(
        "business".to_string(),
        toml::from_str::<CalendarSpec>(BUSINESS).unwrap(),
    )]);
    Arc::new(PolicyBook::build(&sla, &cals, &BTreeMap::new()).unwrap())
}

/// `(minute offset from 2026-11-23T00:00Z (a Monday), type, extra fields)`
fn run(sla: &str, events: &[(i64, &str, &str, &str)]) -> Collect {
    drive(EngineSettings::default(), sla, events).0
}

/// [`run`] with `settings`; also returns the driver, to look at its tenants.
fn drive(
    settings: EngineSettings,
    sla: &str,
    events: &[(i64, &str, &str, &str)],
) -> (Collect, EventTimeDriver<()>) {
    let mut sink = Collect::default();
    let d = drive_into(settings, sla, events, &mut sink);
    (sink, d)
}

/// Drives `events` (minute, ticket, event type, more fields) into `sink`.
fn drive_into(
    settings: EngineSettings,
    sla: &str,
    events: &[(i64, &str, &str, &str)],
    sink: &mut impl Sink<()>,
) -> EventTimeDriver<()> {
    let mut d = EventTimeDriver::new(book(sla), Arc::new(settings), 300_000);
    let base = vigil_schema::parse_instant("2026-11-23T00:00:00Z").unwrap();
    for (i, (min, ticket, kind, extra)) in events.iter().enumerate() {
        let at = format_instant(base + min * 60_000);
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(",{extra}")
        };
        let json = format!(
            r#"{{"schema":1,"event_id":"e{i}","event_type":"{kind}","tenant_id":1,"ticket_id":"{ticket}","occurred_at":"{at}"{extra}}}"#
        );
        let ev = decode(json.as_bytes()).unwrap_or_else(|r| panic!("{json}: {r}"));
        d.offer(ev, (), sink);
    }
    d.finish(sink);
    d
}

const CRIT_30: &str = r#"warn_at = [0.8]
[targets]
CRITICAL = { response = 30, resolution = 240 }
LOW = { response = 1440, resolution = 10080 }
"#;

fn created(
    min: i64,
    t: &'static str,
    p: &'static str,
) -> (i64, &'static str, &'static str, &'static str) {
    let extra: &'static str = match p {
        "CRITICAL" => r#""priority":"CRITICAL""#,
        "LOW" => r#""priority":"LOW""#,
        _ => r#""priority":"HIGH""#,
    };
    (min, t, "ticket.created", extra)
}

#[test]
fn warning_and_breach_fire_at_their_crossing_instants() {
    let out = run(
        CRIT_30,
        &[
            created(0, "T", "CRITICAL"),
            (500, "X", "ticket.created", r#""priority":"LOW""#),
        ],
    );
    assert_eq!(
        out.alerts[..4],
        [
            "T response warning 0.8 firing 2026-11-23T00:24:00Z",
            "T response breach 1 firing 2026-11-23T00:30:00Z",
            "T resolution warning 0.8 firing 2026-11-23T03:12:00Z",
            "T resolution breach 1 firing 2026-11-23T04:00:00Z",
        ]
    );
}

#[test]
fn a_stop_exactly_at_the_deadline_is_met_and_resolves_the_warning() {
    let out = run(
        CRIT_30,
        &[
            created(0, "T", "CRITICAL"),
            (30, "T", "ticket.responded", ""),
        ],
    );
    assert_eq!(
        out.alerts,
        [
            "T response warning 0.8 firing 2026-11-23T00:24:00Z",
            "T response warning 0.8 resolved 2026-11-23T00:24:00Z",
        ]
    );
}

#[test]
fn alerts_are_the_same_without_metrics_or_alert_ids_and_no_metrics_are_kept() {
    use crate::metrics::{GroupBy, RollingMetrics};
    let events = [
        created(0, "A", "CRITICAL"),
        created(5, "B", "LOW"),
        (
            10,
            "A",
            "ticket.status_changed",
            r#""status":"IN_PROGRESS""#,
        ),
        (40, "A", "ticket.priority_changed", r#""priority":"LOW""#),
        (50, "B", "ticket.status_changed", r#""status":"ON_HOLD""#),
        (
            90,
            "B",
            "ticket.status_changed",
            r#""status":"IN_PROGRESS""#,
        ),
        (300, "A", "ticket.status_changed", r#""status":"RESOLVED""#),
        (
            310,
            "A",
            "ticket.satisfaction_rated",
            r#""satisfaction":4.5"#,
        ),
        (
            20_000,
            "B",
            "ticket.status_changed",
            r#""status":"RESOLVED""#,
        ),
        created(20_001, "C", "CRITICAL"),
    ];
    let (with, kept) = drive(EngineSettings::default(), CRIT_30, &events);
    let without_metrics = EngineSettings {
        keep_metrics: false,
        ..EngineSettings::default()
    };
    let (without, skipped) = drive(without_metrics, CRIT_30, &events);
    assert!(with.alerts.len() >= 4, "{:?}", with.alerts);
    assert_eq!(with.alerts, without.alerts);
    assert_eq!(with.rejected, without.rejected);
    let now = minute(30_000);
    let metrics = |d: &EventTimeDriver<()>| d.tenants().next().map(|e| e.metrics().clone());
    let compliance = |d: &EventTimeDriver<()>| {
        d.tenants().next().map(|e| {
            e.compliance()
                .by(GroupBy::Priority, now, minute(-1), now)
                .len()
        })
    };
    assert_ne!(metrics(&kept), Some(RollingMetrics::default()));
    assert_ne!(compliance(&kept), Some(0));
    assert_eq!(metrics(&skipped), Some(RollingMetrics::default()));
    assert_eq!(compliance(&skipped), Some(0));

    // Without alert ids, the records are the same once their sink derives them.
    let without_ids = EngineSettings {
        alert_ids: false,
        ..EngineSettings::default()
    };
    let (mut whole, mut derived) = (Collected::default(), Collected::default());
    drive_into(EngineSettings::default(), CRIT_30, &events, &mut whole);
    drive_into(without_ids, CRIT_30, &events, &mut derived);
    assert!(whole.alerts.iter().all(|r| !r.alert_id.is_empty()));
    assert!(derived.alerts.iter().all(|r| r.alert_id.is_empty()));
    derived
        .alerts
        .iter_mut()
        .for_each(AlertRecord::derive_alert_id);
    assert_eq!(whole.alerts, derived.alerts);
}

#[test]
fn pause_delays_and_crossing_at_pause_fires_at_resume() {
    let out = run(
        CRIT_30,
        &[
            created(0, "T", "CRITICAL"),
            (1, "T", "ticket.status_changed", r#""status":"IN_PROGRESS""#),
            // resolution warning at 192 min: pause exactly then, resume at 300.
            (192, "T", "ticket.status_changed", r#""status":"ON_HOLD""#),
            (
                300,
                "T",
                "ticket.status_changed",
                r#""status":"IN_PROGRESS""#,
            ),
            (301, "T", "ticket.status_changed", r#""status":"RESOLVED""#),
        ],
    );
    assert_eq!(
        out.alerts,
        [
            "T resolution warning 0.8 firing 2026-11-23T05:00:00Z",
            "T resolution warning 0.8 resolved 2026-11-23T05:00:00Z",
        ]
    );
}

#[test]
fn priority_change_fires_past_thresholds_at_the_change() {
    let out = run(
        CRIT_30,
        &[
            created(0, "T", "LOW"),
            (
                100,
                "T",
                "ticket.priority_changed",
                r#""priority":"CRITICAL""#,
            ),
            (101, "T", "ticket.responded", ""),
        ],
    );
    assert_eq!(
        out.alerts,
        [
            "T response warning 0.8 firing 2026-11-23T01:40:00Z",
            "T response breach 1 firing 2026-11-23T01:40:00Z",
            "T response warning 0.8 resolved 2026-11-23T01:40:00Z",
            "T response breach 1 resolved 2026-11-23T01:40:00Z",
        ]
    );
}

#[test]
fn business_calendar_accrues_only_in_hours_and_reaches_at_the_close() {
    // Created Monday 00:00Z = 08:00 Shanghai; opens 09:00 (01:00Z). 540 minutes a day.
    let sla = r#"calendar = "business"
warn_at = [0.5]
[targets]
HIGH = { response = 540, resolution = "18h" }
"#;
    let out = run(
        sla,
        &[
            created(0, "T", "HIGH"),
            (3000, "X", "ticket.created", r#""priority":"HIGH""#),
        ],
    );
    assert_eq!(
        out.alerts[..4],
        [
            "T response warning 0.5 firing 2026-11-23T05:30:00Z",
            "T response breach 1 firing 2026-11-23T10:00:00Z",
            "T resolution warning 0.5 firing 2026-11-23T10:00:00Z",
            "T resolution breach 1 firing 2026-11-24T10:00:00Z",
        ]
    );
}

#[test]
fn reopen_resumes_resolution_from_its_elapsed_time() {
    let out = run(
        CRIT_30,
        &[
            created(0, "T", "CRITICAL"),
            (
                10,
                "T",
                "ticket.status_changed",
                r#""status":"IN_PROGRESS""#,
            ),
            (100, "T", "ticket.status_changed", r#""status":"RESOLVED""#),
            (
                1000,
                "T",
                "ticket.status_changed",
                r#""status":"IN_PROGRESS""#,
            ),
            (2000, "X", "ticket.created", r#""priority":"LOW""#),
        ],
    );
    // 100 minutes elapsed before the stop; warning at 192 → 92 minutes after 1000.
    assert!(
        out.alerts
            .contains(&"T resolution warning 0.8 firing 2026-11-23T18:12:00Z".to_string()),
        "{:?}",
        out.alerts
    );
}

#[test]
fn rejects_name_their_reason_and_change_nothing() {
    use RejectReason::*;
    let out = run(
        CRIT_30,
        &[
            created(0, "T", "CRITICAL"),
            created(1, "T", "CRITICAL"),
            (2, "U", "ticket.responded", ""),
            (3, "T", "ticket.status_changed", r#""status":"RESOLVED""#),
            (4, "T", "ticket.priority_changed", r#""priority":"P9""#),
            (5, "V", "ticket.created", r#""priority":"P9""#),
            (6, "T", "ticket.status_changed", r#""status":"CANCELLED""#),
            (7, "T", "ticket.responded", ""),
        ],
    );
    let reasons: Vec<_> = out.rejected.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        reasons,
        [
            DuplicateTicket,
            UnknownTicket,
            InvalidTransition,
            UnknownPriority,
            UnknownPriority
        ]
    );
    assert!(out.alerts.is_empty(), "{:?}", out.alerts);
}

/// DESIGN.md §3.1: an event is judged on its own (fields, priority and status names), then as a
/// repeat, then against its ticket; a final ticket accepts valid events and changes nothing,
/// but never moves out of its final status.
#[test]
fn rejections_follow_the_order_of_judgement() {
    use RejectReason::*;
    /// (minute, event id, ticket, type, extra fields, expected rejection)
    type Case = (
        i64,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<RejectReason>,
    );
    let cases: &[Case] = &[
        (
            0,
            "c-t",
            "T",
            "ticket.created",
            r#""priority":"CRITICAL""#,
            None,
        ),
        (
            1,
            "x-t",
            "T",
            "ticket.status_changed",
            r#""status":"CANCELLED""#,
            None,
        ),
        // Final ticket: invalid on its own keeps its reason; a move out is invalid.
        (
            2,
            "p-t",
            "T",
            "ticket.priority_changed",
            r#""priority":"P9""#,
            Some(UnknownPriority),
        ),
        (
            3,
            "m-t",
            "T",
            "ticket.status_changed",
            r#""status":"IN_PROGRESS""#,
            Some(InvalidTransition),
        ),
        (
            3,
            "m2-t",
            "T",
            "ticket.status_changed",
            r#""status":"CANCELLED""#,
            Some(InvalidTransition),
        ),
        // Final ticket: valid events are accepted and change nothing.
        (
            4,
            "a-t",
            "T",
            "ticket.assigned",
            r#""assignee_id":"eng-1""#,
            None,
        ),
        (4, "r-t", "T", "ticket.responded", "", None),
        (
            4,
            "q-t",
            "T",
            "ticket.priority_changed",
            r#""priority":"LOW""#,
            None,
        ),
        // Unknown ticket: an unknown priority is judged first.
        (
            5,
            "p-x",
            "X",
            "ticket.priority_changed",
            r#""priority":"P9""#,
            Some(UnknownPriority),
        ),
        (
            5,
            "q-x",
            "X",
            "ticket.priority_changed",
            r#""priority":"LOW""#,
            Some(UnknownTicket),
        ),
        // A repeated id: judged on its own first, then as a repeat, before its ticket.
        (
            6,
            "c-t",
            "Y",
            "ticket.created",
            r#""priority":"P9""#,
            Some(UnknownPriority),
        ),
        (
            6,
            "c-t",
            "Y",
            "ticket.created",
            r#""priority":"LOW""#,
            Some(DuplicateEvent),
        ),
        (
            6,
            "c-t",
            "T",
            "ticket.status_changed",
            r#""status":"PENDING""#,
            Some(DuplicateEvent),
        ),
        // A repeat of a rejected event is judged on its own (and here accepted).
        (
            7,
            "p-t",
            "T",
            "ticket.assigned",
            r#""assignee_id":"eng-2""#,
            None,
        ),
        // A second creation: an unknown priority wins over the repeated ticket.
        (
            8,
            "c2-t",
            "T",
            "ticket.created",
            r#""priority":"P9""#,
            Some(UnknownPriority),
        ),
        (
            8,
            "c3-t",
            "T",
            "ticket.created",
            r#""priority":"LOW""#,
            Some(DuplicateTicket),
        ),
        // CLOSED is final too.
        (9, "c-w", "W", "ticket.created", r#""priority":"LOW""#, None),
        (
            9,
            "w1",
            "W",
            "ticket.status_changed",
            r#""status":"IN_PROGRESS""#,
            None,
        ),
        (
            9,
            "w2",
            "W",
            "ticket.status_changed",
            r#""status":"RESOLVED""#,
            None,
        ),
        (
            9,
            "w3",
            "W",
            "ticket.status_changed",
            r#""status":"CLOSED""#,
            None,
        ),
        (
            10,
            "w4",
            "W",
            "ticket.status_changed",
            r#""status":"IN_PROGRESS""#,
            Some(InvalidTransition),
        ),
        (
            10,
            "w5",
            "W",
            "ticket.satisfaction_rated",
            r#""satisfaction":4.5"#,
            None,
        ),
    ];
    let mut d = EventTimeDriver::new(book(CRIT_30), Arc::new(EngineSettings::default()), 0);
    let mut sink = Collect::default();
    let base = vigil_schema::parse_instant("2026-11-23T00:00:00Z").unwrap();
    for &(min, id, ticket, kind, extra, expected) in cases {
        let at = format_instant(base + min * 60_000);
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(",{extra}")
        };
        let json = format!(
            r#"{{"schema":1,"event_id":"{id}","event_type":"{kind}","tenant_id":1,"ticket_id":"{ticket}","occurred_at":"{at}"{extra}}}"#
        );
        let ev = decode(json.as_bytes()).unwrap_or_else(|r| panic!("{json}: {r}"));
        let before = sink.rejected.len();
        d.offer(ev, (), &mut sink);
        d.finish(&mut sink);
        let got = sink.rejected[before..].first().map(|(_, r)| *r);
        assert_eq!(sink.rejected.len() - before, usize::from(got.is_some()));
        assert_eq!(got, expected, "{id} {ticket} {kind} {extra}");
    }
}

#[test]
fn too_late_and_shuffled_within_lateness() {
    let sorted = run(
        CRIT_30,
        &[
            created(0, "A", "CRITICAL"),
            created(2, "B", "CRITICAL"),
            (20, "A", "ticket.responded", ""),
            (40, "Z", "ticket.created", r#""priority":"LOW""#),
        ],
    );
    let shuffled = run(
        CRIT_30,
        &[
            created(2, "B", "CRITICAL"),
            created(0, "A", "CRITICAL"),
            (40, "Z", "ticket.created", r#""priority":"LOW""#),
            (20, "A", "ticket.responded", ""),
        ],
    );
    assert!(sorted.rejected.is_empty());
    assert_eq!(
        shuffled.rejected.len(),
        1,
        "the responded event is 20 minutes late"
    );
    assert_eq!(shuffled.rejected[0].1, RejectReason::TooLate);
    let _ = sorted;
}

#[test]
fn a_late_stop_retracts_alerts_it_preceded_and_resolves_the_rest() {
    use crate::engine::TenantEngine;
    let mut engine = TenantEngine::new(1, book(CRIT_30), Arc::new(EngineSettings::default()));
    let base = minute(0);
    let mut out = Vec::new();
    engine
        .apply(
            &late_event("c", "ticket.created", 0, r#","priority":"CRITICAL""#),
            &mut out,
        )
        .unwrap();
    // The wall clock reaches 31 minutes: warning (24 min) and breach (30 min) fire on time.
    engine.advance(base + 31 * 60_000, true, &mut out);
    assert_eq!(out.len(), 2);
    out.clear();
    // Then the response arrives, late: it happened at minute 27.
    engine
        .apply(&late_event("r", "ticket.responded", 27, ""), &mut out)
        .unwrap();
    let got: Vec<String> = out.iter().map(fmt).collect();
    assert_eq!(
        got,
        [
            "T response warning 0.8 resolved 2026-11-23T00:24:00Z",
            "T response breach 1 retracted 2026-11-23T00:30:00Z",
        ]
    );
}

#[test]
fn a_ticket_stays_small() {
    // Memory per open ticket is a benchmark target (300 bytes); the struct is most of it, the
    // ticket id included (inline up to 24 bytes).
    assert!(std::mem::size_of::<Option<crate::engine::Ticket>>() <= 120);
}

#[test]
fn a_late_pause_retracts_alerts_it_preceded() {
    use crate::engine::TenantEngine;
    let mut engine = TenantEngine::new(1, book(CRIT_30), Arc::new(EngineSettings::default()));
    let base = minute(0);
    let mut out = Vec::new();
    let created = late_event("c", "ticket.created", 0, r#","priority":"CRITICAL""#);
    engine.apply(&created, &mut out).unwrap();
    let started = late_event(
        "s",
        "ticket.status_changed",
        1,
        r#","status":"IN_PROGRESS""#,
    );
    engine.apply(&started, &mut out).unwrap();
    // The wall clock reaches 200 minutes: the resolution warning (192 min) fires on time.
    engine.advance(base + 200 * 60_000, true, &mut out);
    assert_eq!(
        out.len(),
        1,
        "{:?}",
        out.iter().map(fmt).collect::<Vec<_>>()
    );
    out.clear();
    // Then a pause arrives that happened at minute 150: the warning was never crossed.
    let hold = late_event("h", "ticket.status_changed", 150, r#","status":"ON_HOLD""#);
    engine.apply(&hold, &mut out).unwrap();
    let got: Vec<String> = out.iter().map(fmt).collect();
    assert_eq!(
        got,
        ["T resolution warning 0.8 retracted 2026-11-23T03:12:00Z"]
    );
}

/// An instant `min` minutes after 2026-11-23T00:00Z (a Monday).
fn minute(min: i64) -> vigil_schema::Millis {
    vigil_schema::parse_instant("2026-11-23T00:00:00Z").unwrap() + min * 60_000
}

/// An event of ticket `T` of tenant 1 at `min` minutes.
fn late_event(id: &str, kind: &str, min: i64, extra: &str) -> Event {
    decode(
        format!(
            r#"{{"schema":1,"event_id":"{id}","event_type":"{kind}","tenant_id":1,"ticket_id":"T","occurred_at":"{}"{extra}}}"#,
            format_instant(minute(min))
        )
        .as_bytes(),
    )
    .unwrap()
}

/// An event of ticket `ticket` of tenant 1 at `min` minutes.
fn event_of(id: &str, ticket: &str, kind: &str, min: i64, extra: &str) -> Event {
    decode(
        format!(
            r#"{{"schema":1,"event_id":"{id}","event_type":"{kind}","tenant_id":1,"ticket_id":"{ticket}","occurred_at":"{}"{extra}}}"#,
            format_instant(minute(min))
        )
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn at_risk_lists_running_goals_soonest_deadline_first() {
    let mut e = crate::TenantEngine::new(1, book(CRIT_30), Arc::new(EngineSettings::default()));
    let mut out = Vec::new();
    let crit = r#","priority":"CRITICAL""#;
    let low = r#","priority":"LOW""#;
    e.apply(&event_of("a", "LOWT", "ticket.created", 0, low), &mut out)
        .unwrap();
    e.apply(&event_of("b", "CRIT", "ticket.created", 5, crit), &mut out)
        .unwrap();
    e.apply(&event_of("c", "HOLD", "ticket.created", 6, crit), &mut out)
        .unwrap();
    for (id, status) in [("d", "IN_PROGRESS"), ("e", "ON_HOLD")] {
        let extra = format!(r#","status":"{status}""#);
        e.apply(
            &event_of(id, "HOLD", "ticket.status_changed", 7, &extra),
            &mut out,
        )
        .unwrap();
    }
    let now = minute(10);
    let risk = e.at_risk(now, 10);
    let ids: Vec<&str> = risk.iter().map(|v| v.ticket_id.as_str()).collect();
    // A paused ticket has no deadline; CRITICAL (response due at 35 min) before LOW.
    assert_eq!(ids, ["CRIT", "LOWT"]);
    assert_eq!(risk[0].next_deadline(), Some(minute(35)));
    assert_eq!(e.at_risk(now, 1).len(), 1);
    // Past its response target, CRIT's next deadline is its resolution deadline (240 min).
    let later = minute(100);
    let risk = e.at_risk(later, 10);
    assert_eq!(risk[0].ticket_id, "CRIT");
    assert_eq!(risk[0].next_deadline(), Some(minute(245)));
    let views = e.ticket_views(["CRIT", "nope"], now);
    assert!(views[0].1.is_some() && views[1].1.is_none());
}

#[test]
fn stopped_goals_are_counted_per_priority_and_service_type() {
    use crate::metrics::GroupBy;
    let mut e = crate::TenantEngine::new(1, book(CRIT_30), Arc::new(EngineSettings::default()));
    let mut out = Vec::new();
    let crit = r#","priority":"CRITICAL","service_type":"incident""#;
    let low = r#","priority":"LOW","service_type":"request""#;
    e.apply(&event_of("a", "A", "ticket.created", 0, crit), &mut out)
        .unwrap();
    e.apply(&event_of("b", "B", "ticket.created", 0, low), &mut out)
        .unwrap();
    // Both responses are met (at 10 and 20 min).
    for (id, t, min) in [("c", "A", 10), ("d", "B", 20)] {
        e.apply(
            &event_of(
                id,
                t,
                "ticket.status_changed",
                min,
                r#","status":"IN_PROGRESS""#,
            ),
            &mut out,
        )
        .unwrap();
    }
    // A is resolved after its 240 min resolution target: a violation.
    e.apply(
        &event_of(
            "e",
            "A",
            "ticket.status_changed",
            300,
            r#","status":"RESOLVED""#,
        ),
        &mut out,
    )
    .unwrap();
    let now = minute(301);
    let by_priority = e
        .compliance()
        .by(GroupBy::Priority, now, now - 24 * 3_600_000, now);
    let crit_row = by_priority.iter().find(|(k, _)| k == "CRITICAL").unwrap();
    assert_eq!(crit_row.1.response.met, 1);
    assert_eq!(crit_row.1.resolution.breached, 1);
    assert_eq!(crit_row.1.violations, 1);
    let low_row = by_priority.iter().find(|(k, _)| k == "LOW").unwrap();
    assert_eq!((low_row.1.response.met, low_row.1.violations), (1, 0));
    let by_type = e
        .compliance()
        .by(GroupBy::ServiceType, now, now - 24 * 3_600_000, now);
    let keys: Vec<&str> = by_type.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["incident", "request"]);
    // Nothing stopped in a range before any event.
    assert!(e
        .compliance()
        .by(GroupBy::Priority, now, minute(-120), minute(-60))
        .is_empty());
}

#[test]
fn next_due_follows_the_top_timer_as_its_goal_changes_or_its_ticket_goes() {
    let mut e = crate::TenantEngine::new(1, book(CRIT_30), Arc::new(EngineSettings::default()));
    let mut out = Vec::new();
    let crit = r#","priority":"CRITICAL""#;
    e.apply(&event_of("a", "T", "ticket.created", 0, crit), &mut out)
        .unwrap();
    // Response warning at 80% of 30 min; asked again, the same.
    assert_eq!(e.next_due(), Some(minute(24)));
    assert_eq!(e.next_due(), Some(minute(24)));
    let mut status_at = |id: &str, min: i64, status: &str| {
        let extra = format!(r#","status":"{status}""#);
        e.apply(
            &event_of(id, "T", "ticket.status_changed", min, &extra),
            &mut out,
        )
        .unwrap();
        e.next_due()
    };
    // The first response stops the response goal: its timer is dead, the resolution's is next.
    assert_eq!(status_at("c", 1, "IN_PROGRESS"), Some(minute(192)));
    // A pause leaves no timer due; the resume moves the resolution's by the pause.
    assert_eq!(status_at("d", 2, "ON_HOLD"), None);
    assert_eq!(status_at("e", 12, "IN_PROGRESS"), Some(minute(202)));
    // A final ticket leaves no timer.
    assert_eq!(status_at("f", 13, "CANCELLED"), None);
}
