//! `vigil replay` (DESIGN.md §3, §4): the engine in event time over an NDJSON file, run as the
//! real binary. Every test works in its own temp dir, so no `config/vigil.toml` is picked up
//! by accident: without `--config` the built-in default policy applies (24x7, warn at 0.8,
//! CRITICAL 30/240 min, HIGH 120/1440 min).

mod support;

use support::*;

const TENANT: u64 = 7;

/// Two tickets on the default policy:
/// - T1 CRITICAL at 06:00, IN_PROGRESS at 06:20 (response met), RESOLVED at 09:30 (resolution
///   met after its 0.8 warning at 06:00 + 192 min = 09:12), CLOSED at 10:30.
/// - T2 HIGH at 06:00, first response only at 10:00: response warning at 06:00 + 96 min =
///   07:36, breach at 08:00, both resolved when the response comes.
fn two_tickets() -> Vec<Ev> {
    let t = |hm: &str| ms(&format!("2026-11-22T{hm}:00Z"));
    vec![
        Ev::created(TENANT, "T1", t("06:00"), "CRITICAL", "e1"),
        Ev::created(TENANT, "T2", t("06:00"), "HIGH", "e2"),
        Ev::status(TENANT, "T1", t("06:20"), "IN_PROGRESS", "e3"),
        Ev::status(TENANT, "T1", t("09:30"), "RESOLVED", "e4"),
        Ev::responded(TENANT, "T2", t("10:00"), "e5"),
        Ev::status(TENANT, "T1", t("10:30"), "CLOSED", "e6"),
    ]
}

/// What [`two_tickets`] must give, in any order.
fn two_tickets_expected() -> Vec<AlertKey> {
    let k = |ticket, goal, level, threshold, state, at: &str| {
        key(
            TENANT,
            ticket,
            goal,
            level,
            threshold,
            state,
            &format!("2026-11-22T{at}:00Z"),
        )
    };
    let mut v = vec![
        k("T2", "response", "warning", "0.8", "firing", "07:36"),
        k("T2", "response", "breach", "1", "firing", "08:00"),
        k("T1", "resolution", "warning", "0.8", "firing", "09:12"),
        k("T1", "resolution", "warning", "0.8", "resolved", "09:12"),
        k("T2", "response", "warning", "0.8", "resolved", "07:36"),
        k("T2", "response", "breach", "1", "resolved", "08:00"),
    ];
    v.sort();
    v
}

const TWO_TICKETS_SUMMARY: Summary = Summary {
    events: 6,
    rejected: 0,
    warnings: 2,
    breaches: 1,
    resolved: 3,
    retracted: 0,
};

#[test]
fn replay_writes_one_record_per_alert_change_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, ndjson_of(&two_tickets())).unwrap();

    let (alerts, summary) = replay(dir.path(), &input, &[]);

    assert_eq!(sorted_keys(&alerts), two_tickets_expected());
    assert_eq!(summary, TWO_TICKETS_SUMMARY);
    // Records come out in SLA-time order of their changes: every firing record before the
    // resolved record of the same key.
    for (i, a) in alerts.iter().enumerate() {
        if a.state == "resolved" {
            assert!(
                alerts[..i]
                    .iter()
                    .any(|b| b.state == "firing" && b.dedupe_key() == a.dedupe_key()),
                "{} resolved before it fired",
                a.dedupe_key()
            );
        }
    }
    // The other fields of the record (DESIGN.md §4).
    let breach = alerts
        .iter()
        .find(|a| a.level == "breach" && a.state == "firing")
        .unwrap();
    assert_eq!(breach.threshold, 1.0);
    assert_eq!(breach.target_ms, 120 * MIN);
    assert_eq!(breach.elapsed_ms, 120 * MIN);
    assert_eq!(breach.deadline, "2026-11-22T08:00:00Z");
    assert_eq!(breach.priority, "HIGH");
    assert_eq!(breach.service_type, "incident");
    assert_eq!(breach.policy_version, 1);
    let warning = alerts
        .iter()
        .find(|a| a.ticket_id == "T1" && a.state == "firing")
        .unwrap();
    assert_eq!(warning.target_ms, 240 * MIN);
    assert_eq!(warning.elapsed_ms, 192 * MIN);
    assert_eq!(warning.deadline, "2026-11-22T10:00:00Z");
    // The same key has the same stable id in every state.
    let ids: std::collections::BTreeSet<(String, String)> = alerts
        .iter()
        .map(|a| (a.dedupe_key(), a.alert_id.clone()))
        .collect();
    assert_eq!(ids.len(), 3, "one alert_id per dedupe key: {ids:?}");
}

#[test]
fn bad_lines_are_rejected_and_skipped_and_blank_lines_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let good = two_tickets();
    let at = ms("2026-11-22T06:05:00Z");
    let mut lines: Vec<String> = vec![
        good[0].line(),
        "this is not json".into(),
        String::new(),
        good[1].line(),
        // An unknown event type for an existing ticket.
        Ev::of_type("ticket.exploded", TENANT, "T1", at, "bad-2").line(),
        "   \t".into(),
        // A ticket.created without its priority: had it been applied, T3 would breach.
        Ev::created(TENANT, "T3", at, "CRITICAL", "bad-3")
            .without("priority")
            .line(),
        // Truncated JSON.
        r#"{"schema":1,"event_id":"bad-4","event_type":"ticket.responded""#.into(),
    ];
    for e in &good[2..] {
        lines.push(e.line());
    }
    lines.push(String::new());
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, ndjson(&lines)).unwrap();

    let (alerts, summary) = replay(dir.path(), &input, &[]);

    assert_eq!(sorted_keys(&alerts), two_tickets_expected());
    assert_eq!(
        summary,
        Summary {
            events: 10,
            rejected: 4,
            ..TWO_TICKETS_SUMMARY
        }
    );
}

#[test]
fn replay_reads_stdin_when_input_is_dash() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_vigil(
        dir.path(),
        &["replay", "--input", "-"],
        Some(&ndjson_of(&two_tickets())),
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        sorted_keys(&parse_alerts(&run.stdout)),
        two_tickets_expected()
    );
    assert_eq!(Summary::from_stderr(&run.stderr), TWO_TICKETS_SUMMARY);
}

#[test]
fn replay_writes_records_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, ndjson_of(&two_tickets())).unwrap();
    let output = dir.path().join("alerts.ndjson");

    let run = run_vigil(
        dir.path(),
        &[
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
        None,
    );

    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "", "records go to the file, not stdout");
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.ends_with('\n'));
    assert_eq!(sorted_keys(&parse_alerts(&written)), two_tickets_expected());
    assert_eq!(Summary::from_stderr(&run.stderr), TWO_TICKETS_SUMMARY);
}

/// A business calendar (Asia/Shanghai, UTC+8, Mon–Fri 09:00–18:00, Monday 2026-11-23 a
/// holiday) and HIGH response = 60 min:
/// - FRI1 created Fri 17:00 local: warning 17:48, breach exactly at the 18:00 close, which is
///   when it fires, not at the next opening.
/// - FRI2 created Fri 17:12 local: warning exactly at the 18:00 close; the remaining 12 minutes
///   run from Tuesday's opening (Monday is a holiday, the weekend is closed): breach Tue 09:12.
/// - SAT created Saturday: accrues nothing until Tuesday 09:00: warning 09:48, breach 10:00.
/// - END created Tue 11:00 local, last: end of input takes the clock to it.
#[test]
fn business_calendar_alerts_fire_at_closing_and_count_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("biz.toml");
    std::fs::write(
        &config,
        r#"
[sla]
calendar = "biz"
warn_at = [0.8]
[sla.targets]
HIGH = { response = 60, resolution = "100h" }

[calendars.biz]
timezone = "Asia/Shanghai"
hours = { mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00", thu = "09:00-18:00", fri = "09:00-18:00" }
holidays = ["2026-11-23"]
"#,
    )
    .unwrap();
    let tenant = 9;
    let events = [
        Ev::created(
            tenant,
            "FRI1",
            ms("2026-11-20T17:00:00+08:00"),
            "HIGH",
            "c1",
        ),
        Ev::created(
            tenant,
            "FRI2",
            ms("2026-11-20T17:12:00+08:00"),
            "HIGH",
            "c2",
        ),
        Ev::created(tenant, "SAT", ms("2026-11-21T12:00:00+08:00"), "HIGH", "c3"),
        Ev::created(tenant, "END", ms("2026-11-24T11:00:00+08:00"), "HIGH", "c4"),
    ];
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, ndjson_of(&events)).unwrap();

    let (alerts, summary) = replay(dir.path(), &input, &["--config", config.to_str().unwrap()]);

    let k = |ticket, level, threshold, at_local: &str| {
        key(
            tenant,
            ticket,
            "response",
            level,
            threshold,
            "firing",
            &ts(ms(at_local)),
        )
    };
    let mut expected = vec![
        k("FRI1", "warning", "0.8", "2026-11-20T17:48:00+08:00"),
        k("FRI1", "breach", "1", "2026-11-20T18:00:00+08:00"),
        k("FRI2", "warning", "0.8", "2026-11-20T18:00:00+08:00"),
        k("FRI2", "breach", "1", "2026-11-24T09:12:00+08:00"),
        k("SAT", "warning", "0.8", "2026-11-24T09:48:00+08:00"),
        k("SAT", "breach", "1", "2026-11-24T10:00:00+08:00"),
    ];
    expected.sort();
    assert_eq!(sorted_keys(&alerts), expected);
    assert_eq!(
        summary,
        Summary {
            events: 4,
            rejected: 0,
            warnings: 3,
            breaches: 3,
            resolved: 0,
            retracted: 0,
        }
    );
    // Business time elapsed at the crossing, and the deadline in business time.
    let fri2 = alerts
        .iter()
        .find(|a| a.ticket_id == "FRI2" && a.level == "warning")
        .unwrap();
    assert_eq!(fri2.elapsed_ms, 48 * MIN);
    assert_eq!(fri2.deadline, ts(ms("2026-11-24T09:12:00+08:00")));
}

/// A file shuffled within the allowed lateness (5 min) gives exactly the alerts of the sorted
/// file. Into the shuffled copy, two extra events go in the middle: one exactly the lateness
/// behind the newest event so far (in time: applied) and one a second more behind (`too_late`:
/// rejected, and its ticket never alerts).
#[test]
fn shuffled_within_lateness_gives_the_sorted_alerts_and_too_late_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let base = ms("2026-11-22T00:00:00Z");
    let sorted = workload(&[7, 8], 40, base, 42);
    let (mut shuffled, moved) = shuffle_within(&sorted, 120_000, 7);
    assert!(moved > 20, "the shuffle moved only {moved} events");

    // The two extra events, placed after the middle of the shuffled file.
    let cut = shuffled.len() / 2;
    let newest = shuffled[..cut].iter().map(Ev::at).max().unwrap();
    let edge = Ev::created(7, "EDGE", newest - 5 * MIN, "CRITICAL", "edge-1");
    let late = Ev::created(7, "LATE", newest - 5 * MIN - 1000, "CRITICAL", "late-1");
    shuffled.insert(cut, late.clone());
    shuffled.insert(cut, edge.clone());
    let mut reference = sorted.clone();
    reference.push(edge);
    reference.sort_by_key(Ev::at);

    let sorted_file = dir.path().join("sorted.ndjson");
    std::fs::write(&sorted_file, ndjson_of(&reference)).unwrap();
    let shuffled_file = dir.path().join("shuffled.ndjson");
    std::fs::write(&shuffled_file, ndjson_of(&shuffled)).unwrap();

    let (expected, expected_summary) = replay(dir.path(), &sorted_file, &[]);
    let (got, summary) = replay(dir.path(), &shuffled_file, &[]);

    // The reference is not trivial: alerts of every kind, EDGE's among them.
    assert!(expected_summary.warnings > 20, "{expected_summary:?}");
    assert!(expected_summary.breaches > 10, "{expected_summary:?}");
    assert!(expected_summary.resolved > 10, "{expected_summary:?}");
    assert!(expected.iter().any(|a| a.ticket_id == "EDGE"));
    assert_eq!(expected_summary.rejected, 0);

    assert!(
        got.iter().all(|a| a.ticket_id != "LATE"),
        "the too-late ticket was applied"
    );
    // Full records, not only keys: targets, elapsed, deadlines, ids.
    let full = |v: &[Alert]| {
        let mut s: Vec<String> = v.iter().map(|a| format!("{a:?}")).collect();
        s.sort();
        s
    };
    assert_eq!(full(&got), full(&expected));
    assert_eq!(
        summary,
        Summary {
            events: expected_summary.events + 1,
            rejected: 1,
            ..expected_summary
        }
    );
}
