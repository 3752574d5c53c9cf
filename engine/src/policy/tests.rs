//! Policy merging and compilation (DESIGN.md §3 and §3.1): default ⊕ tenant ⊕ service type per
//! goal, validation that names every bad field at once, and policy updates as versions.

use std::collections::BTreeMap;

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const TENANT: u64 = 12345;

const BUSINESS: &str = r#"
timezone = "Asia/Shanghai"
hours = { mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00", thu = "09:00-18:00", fri = "09:00-18:00" }
holidays = ["2026-10-01", "2026-10-02"]
"#;

fn policy(toml_text: &str) -> PolicySpec {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
}

fn calendars() -> BTreeMap<String, CalendarSpec> {
    BTreeMap::from([("business".to_string(), toml::from_str(BUSINESS).unwrap())])
}

/// A book from `[sla]` and one tenant file (none when `tenant` is empty).
fn book(sla: &str, tenant: &str) -> PolicyBook {
    let tenants = if tenant.is_empty() {
        BTreeMap::new()
    } else {
        BTreeMap::from([(TENANT, policy(tenant))])
    };
    PolicyBook::build(&policy(sla), &calendars(), &tenants).unwrap_or_else(|e| panic!("{e:?}"))
}

fn build_errors(
    sla: &str,
    cals: &BTreeMap<String, CalendarSpec>,
    tenants: &[(u64, &str)],
) -> Vec<(Option<u64>, String)> {
    let tenants = tenants.iter().map(|(t, s)| (*t, policy(s))).collect();
    match PolicyBook::build(&policy(sla), cals, &tenants) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => {
            let mut out: Vec<_> = errors.into_iter().map(|e| (e.tenant, e.path)).collect();
            out.sort();
            out
        }
    }
}

/// The name of a compiled calendar, by identity with the book's calendars.
fn calendar_name(book: &PolicyBook, c: &Arc<Calendar>) -> String {
    book.calendars
        .iter()
        .find(|(_, known)| Arc::ptr_eq(known, c))
        .map_or_else(|| "?".into(), |(n, _)| n.clone())
}

/// `[response, resolution]` and the calendar name of a priority for a service type.
fn rules_of(
    book: &PolicyBook,
    v: &PolicyVersion,
    service_type: &str,
    priority: &str,
) -> (Option<[i64; 2]>, String) {
    let rules = v.rules_index(service_type);
    let targets = v.priority_index(priority).and_then(|p| v.targets(rules, p));
    (targets, calendar_name(book, &v.rules_at(rules).calendar))
}

struct MergeCase {
    name: &'static str,
    sla: &'static str,
    tenant: &'static str,
    service_type: &'static str,
    priority: &'static str,
    targets: Option<[i64; 2]>,
    calendar: &'static str,
}

const MERGES: &[MergeCase] = &[
    MergeCase {
        name: "built-in defaults",
        sla: "",
        tenant: "",
        service_type: "",
        priority: "HIGH",
        targets: Some([120 * MIN, 1440 * MIN]),
        calendar: "24x7",
    },
    MergeCase {
        name: "[sla] names one goal; the built-in keeps the other",
        sla: "[targets]\nHIGH = { resolution = \"8h\" }",
        tenant: "",
        service_type: "",
        priority: "HIGH",
        targets: Some([120 * MIN, 8 * HOUR]),
        calendar: "24x7",
    },
    MergeCase {
        name: "tenant HIGH = { response = 60 } keeps the default HIGH resolution",
        sla: "",
        tenant: "calendar = \"business\"\n[targets]\nHIGH = { response = 60 }",
        service_type: "",
        priority: "HIGH",
        targets: Some([60 * MIN, 1440 * MIN]),
        calendar: "business",
    },
    MergeCase {
        name: "tenant over [sla] over built-in, per goal",
        sla: "[targets]\nHIGH = { resolution = \"8h\" }",
        tenant: "[targets]\nHIGH = { response = 60 }",
        service_type: "",
        priority: "HIGH",
        targets: Some([60 * MIN, 8 * HOUR]),
        calendar: "24x7",
    },
    MergeCase {
        name: "priorities the tenant does not name keep the defaults",
        sla: "",
        tenant: "[targets]\nHIGH = { response = 60, resolution = 480 }",
        service_type: "",
        priority: "CRITICAL",
        targets: Some([30 * MIN, 240 * MIN]),
        calendar: "24x7",
    },
    MergeCase {
        name: "a tenant may add a priority",
        sla: "",
        tenant: "[targets]\nP1 = { response = \"90s\", resolution = \"1d\" }",
        service_type: "",
        priority: "P1",
        targets: Some([90_000, 24 * HOUR]),
        calendar: "24x7",
    },
    MergeCase {
        name: "service type overrides the calendar only",
        sla: "",
        tenant: "calendar = \"business\"\n[service_types.incident]\ncalendar = \"24x7\"",
        service_type: "incident",
        priority: "HIGH",
        targets: Some([120 * MIN, 1440 * MIN]),
        calendar: "24x7",
    },
    MergeCase {
        name: "other service types use the tenant policy",
        sla: "",
        tenant: "calendar = \"business\"\n[service_types.incident]\ncalendar = \"24x7\"",
        service_type: "request",
        priority: "HIGH",
        targets: Some([120 * MIN, 1440 * MIN]),
        calendar: "business",
    },
    MergeCase {
        name: "service type targets merge per goal over the tenant's",
        sla: "",
        tenant: "[targets]\nHIGH = { response = 60 }\n[service_types.incident.targets]\nHIGH = { resolution = 240 }",
        service_type: "incident",
        priority: "HIGH",
        targets: Some([60 * MIN, 240 * MIN]),
        calendar: "24x7",
    },
    MergeCase {
        name: "a service type without a calendar runs on the tenant's",
        sla: "",
        tenant: "calendar = \"business\"\n[service_types.incident.targets]\nLOW = { response = 60 }",
        service_type: "incident",
        priority: "LOW",
        targets: Some([60 * MIN, 10080 * MIN]),
        calendar: "business",
    },
    MergeCase {
        name: "[sla] service type, tenant sets its calendar: targets kept",
        sla: "[service_types.incident.targets]\nCRITICAL = { response = 10 }",
        tenant: "[service_types.incident]\ncalendar = \"business\"",
        service_type: "incident",
        priority: "CRITICAL",
        targets: Some([10 * MIN, 240 * MIN]),
        calendar: "business",
    },
    MergeCase {
        name: "a priority only a service type knows is unknown elsewhere",
        sla: "",
        tenant: "[service_types.vip.targets]\nVIP = { response = 5, resolution = 60 }",
        service_type: "other",
        priority: "VIP",
        targets: None,
        calendar: "24x7",
    },
    MergeCase {
        name: "a priority only a service type knows",
        sla: "",
        tenant: "[service_types.vip.targets]\nVIP = { response = 5, resolution = 60 }",
        service_type: "vip",
        priority: "VIP",
        targets: Some([5 * MIN, 60 * MIN]),
        calendar: "24x7",
    },
];

#[test]
fn policies_merge_per_goal_default_then_tenant_then_service_type() {
    for case in MERGES {
        let b = book(case.sla, case.tenant);
        let v = b.initial(TENANT);
        assert_eq!(v.version, 1, "{}", case.name);
        assert_eq!(v.effective_from, Millis::MIN, "{}", case.name);
        let (targets, calendar) = rules_of(&b, &v, case.service_type, case.priority);
        assert_eq!(targets, case.targets, "{}", case.name);
        assert_eq!(calendar, case.calendar, "{}", case.name);
    }
}

#[test]
fn tenants_without_a_file_get_the_default_policy() {
    let b = book(
        "warn_at = [0.5]",
        "calendar = \"business\"\n[targets]\nHIGH = { response = 60 }",
    );
    let other = b.initial(7);
    assert_eq!(
        rules_of(&b, &other, "", "HIGH"),
        (Some([120 * MIN, 1440 * MIN]), "24x7".into())
    );
    assert_eq!(
        other.warn_at,
        [Fraction {
            numerator: 5,
            scale: 1
        }]
    );
    // The tenant inherits what it does not name.
    let own = b.initial(TENANT);
    assert_eq!(
        own.warn_at,
        [Fraction {
            numerator: 5,
            scale: 1
        }]
    );
    assert!(own.pauses[Status::OnHold.index()]);
    assert!(!own.pauses[Status::InProgress.index()]);
    assert_eq!(b.configured_tenants().collect::<Vec<_>>(), [TENANT]);
    assert_eq!(b.calendar_names().collect::<Vec<_>>(), ["24x7", "business"]);
}

#[test]
fn a_tenant_pause_list_replaces_the_default_one() {
    let b = book(
        "",
        "pause_statuses = [\"PENDING\", \"ON_HOLD\", \"PENDING\"]",
    );
    let v = b.initial(TENANT);
    let paused: Vec<bool> = v.pauses.to_vec();
    assert_eq!(paused, [true, false, true, false, false, false]);
    let none = book("", "pause_statuses = []").initial(TENANT);
    assert_eq!(none.pauses, [false; 6]);
}

#[test]
fn every_problem_of_the_main_file_is_reported_at_once_with_its_path() {
    let mut cals = calendars();
    cals.insert(
        "broken".into(),
        toml::from_str("timezone = \"Nowhere/Special\"\nhours = { mon = \"9-5\" }").unwrap(),
    );
    cals.insert(
        "24x7".into(),
        toml::from_str("timezone = \"UTC\"\nhours = { mon = \"09:00-18:00\" }").unwrap(),
    );
    let sla = r#"
calendar = "office"
warn_at = [0.8, 1.0]
pause_statuses = ["ON_HOLD", "WAITING"]
[targets]
URGENT = { response = 10 }
[service_types.incident]
calendar = "night_shift"
[service_types.incident.targets]
SEV1 = { resolution = 60 }
"#;
    assert_eq!(
        build_errors(sla, &cals, &[]),
        [
            (None, "calendar".to_string()),
            (None, "calendars.24x7".into()),
            (None, "calendars.broken.hours.mon".into()),
            (None, "calendars.broken.timezone".into()),
            (None, "pause_statuses".into()),
            (None, "service_types.incident.calendar".into()),
            (None, "service_types.incident.targets.SEV1.response".into()),
            (
                None,
                "service_types.incident.targets.URGENT.resolution".into()
            ),
            (None, "targets.URGENT.resolution".into()),
            (None, "warn_at".into()),
        ]
    );
}

#[test]
fn tenant_problems_name_the_tenant_and_all_tenants_are_checked() {
    let errors = build_errors(
        "",
        &calendars(),
        &[
            (5, "calendar = \"nope\"\nwarn_at = [0.0]"),
            (6, "[service_types.incident]\ncalendar = \"nope\"\n[service_types.incident.targets]\nP9 = { resolution = 5 }"),
            (7, "[targets]\nHIGH = { response = 1 }"),
            (8, "pause_statuses = [\"on_hold\"]"),
        ],
    );
    assert_eq!(
        errors,
        [
            (Some(5), "calendar".to_string()),
            (Some(5), "warn_at".into()),
            (Some(6), "service_types.incident.calendar".into()),
            (Some(6), "service_types.incident.targets.P9.response".into()),
            (Some(8), "pause_statuses".into()),
        ]
    );
}

#[test]
fn a_problem_of_the_main_file_is_not_blamed_on_tenants() {
    // The tenant files are fine; only `[sla]` names an unknown calendar. PolicyError::tenant
    // is documented as "the tenant whose file or update is at fault".
    let errors = build_errors(
        "calendar = \"office\"",
        &calendars(),
        &[(1, ""), (2, "[targets]\nHIGH = { response = 60 }")],
    );
    assert_eq!(errors, [(None, "calendar".to_string())]);
}

#[test]
fn error_messages_say_what_is_wrong() {
    let err = PolicyBook::build(
        &policy("calendar = \"office\""),
        &calendars(),
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].path, "calendar");
    assert!(err[0].message.contains("\"office\""), "{}", err[0]);
    assert!(
        err[0].message.contains("business"),
        "names the known calendars: {}",
        err[0]
    );
    assert!(err[0].to_string().starts_with("calendar: "));
}

/// `(warn_at as written in TOML, thresholds compiled, or None for an error at warn_at)`.
#[rustfmt::skip]
const WARN_AT: &[(&str, Option<&[f64]>)] = &[
    ("[0.8]", Some(&[0.8])),
    ("[0.8, 0.5, 0.8]", Some(&[0.5, 0.8])),
    ("[0.80, 0.8]", Some(&[0.8])),
    ("[0.9, 0.25, 0.5, 0.25]", Some(&[0.25, 0.5, 0.9])),
    ("[0.05, 0.5, 0.125]", Some(&[0.05, 0.125, 0.5])),
    ("[0.999]", Some(&[0.999])),
    ("[]", Some(&[])),
    ("[0.0]", None),
    ("[1.0]", None),
    ("[0.5, 1.5]", None),
    ("[0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17]", None),
];

#[test]
fn warn_at_is_sorted_deduplicated_and_strictly_between_0_and_1() {
    for (written, want) in WARN_AT {
        let sla = format!("warn_at = {written}");
        let got = PolicyBook::build(&policy(&sla), &calendars(), &BTreeMap::new());
        match (got, want) {
            (Ok(b), Some(want)) => {
                let v = b.initial(1);
                let got: Vec<f64> = v.warn_at.iter().map(|f| f.as_f64()).collect();
                assert_eq!(got, *want, "{written}");
            }
            (Err(errors), None) => {
                let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
                assert_eq!(paths, ["warn_at"], "{written}");
            }
            (Ok(_), None) => panic!("{written}: accepted"),
            (Err(e), Some(_)) => panic!("{written}: {e:?}"),
        }
    }
    // Fifteen distinct thresholds are allowed, duplicates not counted.
    let fifteen = format!(
        "warn_at = [{}, 0.05]",
        (1..=15)
            .map(|i| format!("0.{i:02}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let b = PolicyBook::build(&policy(&fifteen), &calendars(), &BTreeMap::new()).unwrap();
    assert_eq!(b.initial(1).warn_at.len(), 15);
}

// ----- policy updates -----

fn at(s: &str) -> Millis {
    parse_instant(s).unwrap_or_else(|| panic!("bad instant {s}"))
}

fn policies(b: &PolicyBook) -> TenantPolicies {
    TenantPolicies::new(b.initial(TENANT))
}

#[test]
fn an_update_needs_a_valid_effective_from() {
    let b = book("", "");
    let mut p = policies(&b);
    for json in [
        r#"{"calendar":"24x7"}"#,
        r#"{"effective_from":null,"calendar":"24x7"}"#,
        r#"{"effective_from":"tomorrow"}"#,
        r#"{"effective_from":"2026-11-23"}"#,
    ] {
        let err = p.apply_update(&b, TENANT, json).unwrap_err();
        assert_eq!(
            (err.tenant, err.path.as_str()),
            (Some(TENANT), "policy.effective_from"),
            "{json}"
        );
    }
    for json in [
        "42",
        "{",
        r#"{"effective_from":"2026-11-23T00:00:00Z","warn_at":"soon"}"#,
    ] {
        let err = p.apply_update(&b, TENANT, json).unwrap_err();
        assert_eq!(
            (err.tenant, err.path.as_str()),
            (Some(TENANT), "policy"),
            "{json}"
        );
    }
    assert_eq!(p.latest().version, 1, "nothing was applied");
}

#[test]
fn updates_make_new_versions_over_the_latest() {
    let b = book("", "calendar = \"business\"");
    let mut p = policies(&b);
    let v2 = p
        .apply_update(
            &b,
            TENANT,
            r#"{"effective_from":"2026-11-23T00:00:00Z","warn_at":[0.5,0.8],"targets":{"HIGH":{"response":60}}}"#,
        )
        .unwrap()
        .clone();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.effective_from, at("2026-11-23T00:00:00Z"));
    assert_eq!(
        rules_of(&b, &v2, "", "HIGH"),
        (Some([60 * MIN, 1440 * MIN]), "business".into())
    );
    assert_eq!(v2.warn_at.len(), 2);

    let v3 = p
        .apply_update(
            &b,
            TENANT,
            r#"{"effective_from":"2026-12-01T00:00:00Z","calendar":"24x7","targets":{"HIGH":{"resolution":"8h"}}}"#,
        )
        .unwrap()
        .clone();
    assert_eq!(v3.version, 3);
    // Over version 2, not over the configured policy: HIGH response 60 and warn_at stay.
    assert_eq!(
        rules_of(&b, &v3, "", "HIGH"),
        (Some([60 * MIN, 8 * HOUR]), "24x7".into())
    );
    assert_eq!(v3.warn_at.len(), 2);

    assert_eq!(p.latest().version, 3);
    assert_eq!(p.get(1).map(|v| v.version), Some(1));
    assert_eq!(p.get(2).map(|v| v.version), Some(2));
    assert_eq!(p.get(3).map(|v| v.version), Some(3));
    assert!(p.get(0).is_none());
    assert!(p.get(4).is_none());
    // Version 1 is untouched.
    assert_eq!(
        rules_of(&b, p.get(1).unwrap(), "", "HIGH"),
        (Some([120 * MIN, 1440 * MIN]), "business".into())
    );
}

#[test]
fn updates_ignore_unknown_keys() {
    let b = book("", "");
    let mut p = policies(&b);
    let v = p
        .apply_update(
            &b,
            TENANT,
            r#"{"effective_from":"2026-11-23T00:00:00Z","colour":"blue","targets":{"LOW":{"response":"2h","escalate":true}},"service_types":{"incident":{"calendar":"business","owner":"ops"}}}"#,
        )
        .unwrap()
        .clone();
    assert_eq!(
        rules_of(&b, &v, "", "LOW"),
        (Some([2 * HOUR, 10080 * MIN]), "24x7".into())
    );
    assert_eq!(
        rules_of(&b, &v, "incident", "LOW"),
        (Some([2 * HOUR, 10080 * MIN]), "business".into())
    );
}

/// `(update fields besides effective_from, path of the rejection)`: none may become a version.
#[rustfmt::skip]
const BAD_UPDATES: &[(&str, &str)] = &[
    (r#""calendar":"office""#, "calendar"),
    (r#""service_types":{"incident":{"calendar":"office"}}"#, "service_types.incident.calendar"),
    (r#""warn_at":[0.5,1]"#, "warn_at"),
    (r#""pause_statuses":["PAUSED"]"#, "pause_statuses"),
    (r#""targets":{"P7":{"response":5}}"#, "targets.P7.resolution"),
    (r#""targets":{"HIGH":{"response":0}}"#, "policy"),
    (r#""targets":{"HIGH":{"response":"soon"}}"#, "policy"),
];

#[test]
fn a_bad_update_is_rejected_with_its_path_and_changes_nothing() {
    let b = book("", "");
    let mut p = policies(&b);
    p.apply_update(
        &b,
        TENANT,
        r#"{"effective_from":"2026-11-01T00:00:00Z","warn_at":[0.5]}"#,
    )
    .unwrap();
    for (fields, path) in BAD_UPDATES {
        let json = format!(r#"{{"effective_from":"2026-11-23T00:00:00Z",{fields}}}"#);
        let err = p.apply_update(&b, TENANT, &json).unwrap_err();
        assert_eq!(
            (err.tenant, err.path.as_str()),
            (Some(TENANT), *path),
            "{json}"
        );
        assert_eq!(p.latest().version, 2, "{json}");
        assert!(p.get(3).is_none(), "{json}");
    }
    // The next good update is version 3.
    let v = p
        .apply_update(&b, TENANT, r#"{"effective_from":"2026-11-24T00:00:00Z"}"#)
        .unwrap();
    assert_eq!(v.version, 3);
    assert_eq!(
        v.warn_at,
        [Fraction {
            numerator: 5,
            scale: 1
        }]
    );
}

#[test]
fn update_warn_at_written_differently_is_deduplicated_and_sorted() {
    let b = book("", "");
    let mut p = policies(&b);
    let v = p
        .apply_update(
            &b,
            TENANT,
            r#"{"effective_from":"2026-11-23T00:00:00Z","warn_at":["0.850",0.85,0.5,"0.5",0.25]}"#,
        )
        .unwrap();
    assert_eq!(
        v.warn_at,
        [
            Fraction {
                numerator: 25,
                scale: 2
            },
            Fraction {
                numerator: 5,
                scale: 1
            },
            Fraction {
                numerator: 85,
                scale: 2
            },
        ]
    );
}

#[test]
fn the_version_in_force_is_the_greatest_effective_from_not_after_t_and_the_later_of_equals() {
    let b = book("", "");
    let mut p = policies(&b);
    for eff in [
        "2026-11-23T00:00:00Z",      // v2
        "2026-11-20T00:00:00Z",      // v3: applied later, effective earlier
        "2026-11-23T08:00:00+08:00", // v4: the same instant as v2, applied later
        "2026-12-01T00:00:00.5Z",    // v5
    ] {
        p.apply_update(&b, TENANT, &format!(r#"{{"effective_from":"{eff}"}}"#))
            .unwrap();
    }
    let table: &[(&str, u32)] = &[
        ("1970-01-01T00:00:00Z", 1),
        ("2026-11-19T23:59:59.999Z", 1),
        ("2026-11-20T00:00:00Z", 3),
        ("2026-11-22T23:59:59.999Z", 3),
        ("2026-11-23T00:00:00Z", 4),
        ("2026-11-30T00:00:00Z", 4),
        ("2026-12-01T00:00:00.499Z", 4),
        ("2026-12-01T00:00:00.500Z", 5),
        ("2030-01-01T00:00:00Z", 5),
    ];
    for (t, want) in table {
        assert_eq!(p.in_force_at(at(t)).version, *want, "at {t}");
    }
    assert_eq!(p.latest().version, 5);
}

#[test]
fn an_update_for_a_tenant_without_a_file_starts_from_the_default() {
    let b = book("", "calendar = \"business\"");
    let mut p = TenantPolicies::new(b.initial(99));
    let v = p
        .apply_update(
            &b,
            99,
            r#"{"effective_from":"2026-11-23T00:00:00Z","targets":{"HIGH":{"response":60}}}"#,
        )
        .unwrap();
    assert_eq!(v.version, 2);
    assert_eq!(
        rules_of(&b, v, "", "HIGH"),
        (Some([60 * MIN, 1440 * MIN]), "24x7".into())
    );
}
