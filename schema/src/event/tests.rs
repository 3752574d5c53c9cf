use super::*;

const OK: &str = r#"{"schema":1,"event_id":"e1","event_type":"ticket.created","tenant_id":7,
 "ticket_id":"T-1","occurred_at":"2026-11-22T06:00:00.000Z","priority":"HIGH",
 "service_type":"incident","status":"PENDING","assignee_id":"eng-7","attributes":{"x":1}}"#;

fn with(field: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(OK).unwrap();
    if value == "<absent>" {
        v.as_object_mut().unwrap().remove(field);
    } else {
        v[field] = serde_json::from_str(value).unwrap();
    }
    v.to_string()
}

#[test]
fn decodes_a_full_created_event() {
    let e = decode(OK.as_bytes()).unwrap();
    assert_eq!(e.event_id, "e1");
    assert_eq!(e.tenant_id, 7);
    assert_eq!(e.ticket_id, "T-1");
    assert_eq!(
        e.occurred_at,
        crate::parse_instant("2026-11-22T06:00:00Z").unwrap()
    );
    assert_eq!(
        e.kind,
        EventKind::Created {
            priority: "HIGH".into()
        }
    );
    assert_eq!(e.service_type.as_deref(), Some("incident"));
    assert_eq!(e.assignee_id.as_deref(), Some("eng-7"));
}

#[test]
fn each_defect_has_its_reason() {
    use RejectReason::*;
    let long = format!("\"{}\"", "x".repeat(129));
    let cases: Vec<(String, RejectReason)> = vec![
        ("not json".into(), ParseError),
        ("[1,2]".into(), ParseError),
        (r#"{"schema":1,"schema":1}"#.into(), ParseError),
        (with("schema", "<absent>"), MissingField),
        (with("schema", "2"), InvalidField),
        (with("schema", "\"1\""), InvalidField),
        (with("event_id", "<absent>"), MissingField),
        (with("event_id", "\"\""), InvalidField),
        (with("event_id", &long), InvalidField),
        (with("event_type", "<absent>"), MissingField),
        (with("event_type", "\"ticket.exploded\""), UnknownEventType),
        (with("tenant_id", "<absent>"), MissingField),
        (with("tenant_id", "0"), InvalidField),
        (with("tenant_id", "-4"), InvalidField),
        (with("tenant_id", "1.5"), InvalidField),
        (with("tenant_id", "\"7\""), InvalidField),
        (with("ticket_id", "<absent>"), MissingField),
        (with("ticket_id", &long), InvalidField),
        (with("occurred_at", "<absent>"), MissingField),
        (with("occurred_at", "\"2026-11-22 06:00\""), InvalidField),
        (with("occurred_at", "\"2026-11-22T06:00:00\""), InvalidField),
        (with("priority", "<absent>"), MissingField),
        (with("status", "\"OPEN\""), UnknownStatus),
        (with("status", "\"IN_PROGRESS\""), InvalidTransition),
        (with("attributes", "[1]"), InvalidField),
        (with("service_type", "\"\""), InvalidField),
        // The largest tenant id the store holds is 2^63 - 1.
        (with("tenant_id", "9223372036854775808"), InvalidField),
        (with("tenant_id", "18446744073709551615"), InvalidField),
        // Control characters in ids (escaped in JSON, so the fast path sees them decoded).
        (with("event_id", r#""e\r\nRCPT TO:<x@y>""#), InvalidField),
        (with("ticket_id", r#""T\u0000""#), InvalidField),
        (with("ticket_id", r#""T\u001b[31m""#), InvalidField),
        (with("assignee_id", r#""eng\n7""#), InvalidField),
        (with("service_type", r#""inc\u007f""#), InvalidField),
    ];
    for (input, reason) in cases {
        let got = decode(input.as_bytes()).map(|_| ()).unwrap_err();
        assert_eq!(got.reason, reason, "{input}: {}", got.message());
    }
}

#[test]
fn type_specific_fields() {
    use RejectReason::*;
    let base = |extra: &str| {
        format!(
            r#"{{"schema":1,"event_id":"e","tenant_id":1,"ticket_id":"T","occurred_at":"2026-11-22T06:00:00Z",{extra}}}"#
        )
    };
    let cases = [
        (
            r#""event_type":"ticket.status_changed""#,
            Some(MissingField),
        ),
        (
            r#""event_type":"ticket.status_changed","status":"on_hold""#,
            Some(UnknownStatus),
        ),
        (
            r#""event_type":"ticket.status_changed","status":"ON_HOLD""#,
            None,
        ),
        (r#""event_type":"ticket.assigned""#, Some(MissingField)),
        (r#""event_type":"ticket.assigned","assignee_id":"a""#, None),
        (
            r#""event_type":"ticket.satisfaction_rated","satisfaction":5.5"#,
            Some(InvalidField),
        ),
        (
            r#""event_type":"ticket.satisfaction_rated","satisfaction":0.9"#,
            Some(InvalidField),
        ),
        (
            r#""event_type":"ticket.satisfaction_rated","satisfaction":1"#,
            None,
        ),
        (
            r#""event_type":"ticket.priority_changed""#,
            Some(MissingField),
        ),
        (r#""event_type":"ticket.responded""#, None),
        (r#""event_type":"sla.policy_updated""#, Some(MissingField)),
        (
            r#""event_type":"sla.policy_updated","policy":3"#,
            Some(InvalidPolicy),
        ),
        (
            r#""event_type":"sla.policy_updated","policy":{"calendar":"24x7"}"#,
            None,
        ),
    ];
    for (extra, want) in cases {
        let got = decode(base(extra).as_bytes()).err().map(|r| r.reason);
        assert_eq!(got, want, "{extra}");
    }
}

#[test]
fn largest_tenant_id_and_printable_ids_pass() {
    let e = decode(with("tenant_id", "9223372036854775807").as_bytes()).unwrap();
    assert_eq!(e.tenant_id, i64::MAX as u64);
    // Non-ASCII text and U+0080 upwards are not control characters of the wire formats.
    let e = decode(with("ticket_id", r#""工单-1 ü\u0085""#).as_bytes()).unwrap();
    assert_eq!(e.ticket_id, "工单-1 ü\u{85}");
}

#[test]
fn oversize_is_invalid_field() {
    let big = with(
        "attributes",
        &format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_EVENT_BYTES)),
    );
    assert_eq!(
        decode(big.as_bytes()).unwrap_err().reason,
        RejectReason::InvalidField
    );
}

#[test]
fn escaped_strings_decode() {
    let e = decode(with("ticket_id", r#""T\u002d1""#).as_bytes()).unwrap();
    assert_eq!(e.ticket_id, "T-1");
}

#[test]
fn status_machine() {
    use Status::*;
    assert!(Pending.can_move_to(InProgress));
    assert!(!Pending.can_move_to(OnHold));
    assert!(Resolved.can_move_to(InProgress));
    assert!(!Closed.can_move_to(InProgress));
    assert!(!Cancelled.can_move_to(Pending));
    assert!(OnHold.can_move_to(Cancelled));
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let _ = decode(&bytes);
    }
}
