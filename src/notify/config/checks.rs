//! The checks of `[notify]` that serde cannot express: every reference resolved, every id
//! unique, every time zone, hand-over, duration and channel usable; each problem with its field
//! (what `vigil check-config` and `vigil run` report).

use std::collections::BTreeSet;

use super::{Channel, NotifyConfig};
use crate::notify::lease::lease_problem;
use crate::notify::schedule::{parse_handover, parse_range};
use crate::setting::FieldPath;

/// A problem with `[notify]`: the field (below `notify`) and what is wrong.
pub type NotifyProblem = (FieldPath, String);

fn at(parts: &[&str], index: Option<usize>, field: &str) -> FieldPath {
    let mut p = FieldPath::keys("notify");
    for part in parts {
        p = p.key(part);
    }
    if let Some(i) = index {
        p.0.push(crate::setting::Seg::Index(i));
    }
    if field.is_empty() {
        p
    } else {
        p.key(field)
    }
}

fn valid_time_zone(name: &str) -> bool {
    jiff::tz::TimeZone::get(name).is_ok()
}

impl NotifyConfig {
    /// Every reference resolved, every id unique, every time zone, hand-over, duration and
    /// channel usable; each problem with its field.
    pub fn problems(&self) -> Vec<NotifyProblem> {
        let mut out = Vec::new();
        let mut bad = |path: FieldPath, message: String| out.push((path, message));
        let contacts = unique_ids(
            self.contacts.iter().map(|c| c.id.as_str()),
            "contacts",
            &mut bad,
        );
        let schedules = unique_ids(
            self.schedules.iter().map(|s| s.id.as_str()),
            "schedules",
            &mut bad,
        );
        let policies = unique_ids(
            self.policies.iter().map(|p| p.id.as_str()),
            "policies",
            &mut bad,
        );
        if let Some((field, message)) = lease_problem(self.delivery.claim_timeout.as_std()) {
            bad(at(&["delivery"], None, field), message);
        }
        for (i, c) in self.contacts.iter().enumerate() {
            if c.email.is_none() && c.phone.is_none() {
                bad(
                    at(&["contacts"], Some(i), "email"),
                    format!("contact {:?} has neither email nor phone", c.id),
                );
            }
            if let Some(phone) = &c.phone {
                let digits = phone.strip_prefix('+').unwrap_or("");
                if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    bad(
                        at(&["contacts"], Some(i), "phone"),
                        format!("{phone:?} is not an E.164 number like \"+8613800000001\""),
                    );
                }
            }
            if let Some(tz) = &c.timezone {
                if !valid_time_zone(tz) {
                    bad(
                        at(&["contacts"], Some(i), "timezone"),
                        format!("unknown time zone {tz:?} (an IANA name like \"Asia/Shanghai\")"),
                    );
                }
            }
            if let Some(q) = &c.quiet_hours {
                if parse_range(q).is_none() {
                    bad(
                        at(&["contacts"], Some(i), "quiet_hours"),
                        format!("{q:?} is not a range like \"22:00-07:00\""),
                    );
                }
            }
        }
        for (i, s) in self.schedules.iter().enumerate() {
            if !valid_time_zone(&s.timezone) {
                bad(
                    at(&["schedules"], Some(i), "timezone"),
                    format!("unknown time zone {:?}", s.timezone),
                );
            }
            if parse_handover(&s.handover).is_none() {
                bad(
                    at(&["schedules"], Some(i), "handover"),
                    format!(
                        "{:?} is not a weekday and time like \"mon 09:00\"",
                        s.handover
                    ),
                );
            }
            if s.rotation.is_empty() {
                bad(
                    at(&["schedules"], Some(i), "rotation"),
                    "name at least one contact".into(),
                );
            }
            for who in s
                .rotation
                .iter()
                .chain(s.overrides.iter().map(|o| &o.contact))
            {
                if !contacts.contains(who.as_str()) {
                    bad(
                        at(&["schedules"], Some(i), "rotation"),
                        format!("no contact {who:?}"),
                    );
                }
            }
            if let Some(start) = &s.start {
                if start.parse::<jiff::civil::Date>().is_err() {
                    bad(
                        at(&["schedules"], Some(i), "start"),
                        format!("{start:?} is not a date like 2026-01-05"),
                    );
                }
            }
            for (j, o) in s.overrides.iter().enumerate() {
                let (from, to) = (
                    vigil_schema::parse_instant(&o.start),
                    vigil_schema::parse_instant(&o.end),
                );
                let ok = matches!((from, to), (Some(f), Some(t)) if f < t);
                if !ok {
                    let mut p = at(&["schedules"], Some(i), "overrides");
                    p.0.push(crate::setting::Seg::Index(j));
                    bad(
                        p,
                        "start and end must be RFC 3339 instants, start before end".into(),
                    );
                }
            }
        }
        for (i, p) in self.policies.iter().enumerate() {
            if p.steps.is_empty() {
                bad(
                    at(&["policies"], Some(i), "steps"),
                    "name at least one step".into(),
                );
            }
            for (j, step) in p.steps.iter().enumerate() {
                let mut path = at(&["policies"], Some(i), "steps");
                path.0.push(crate::setting::Seg::Index(j));
                if step.notify.is_empty() {
                    bad(
                        path.key("notify"),
                        "name at least one contact:<id> or schedule:<id>".into(),
                    );
                }
                for target in &step.notify {
                    let known = match target.split_once(':') {
                        Some(("contact", id)) => contacts.contains(id),
                        Some(("schedule", id)) => schedules.contains(id),
                        _ => false,
                    };
                    if !known {
                        bad(
                            path.key("notify"),
                            format!("{target:?} is not a known contact:<id> or schedule:<id>"),
                        );
                    }
                }
                if step.channels.is_empty() {
                    bad(
                        path.key("channels"),
                        "name at least one of email, sms, webhook".into(),
                    );
                }
                if step.channels.contains(&Channel::Email) && self.smtp.is_none() {
                    bad(path.key("channels"), "email needs [notify.smtp]".into());
                }
                if step.channels.contains(&Channel::Sms) && self.sms.is_none() {
                    bad(path.key("channels"), "sms needs [notify.sms]".into());
                }
                if step.channels.contains(&Channel::Webhook) && self.webhook.is_none() {
                    bad(
                        path.key("channels"),
                        "webhook needs [notify.webhook]".into(),
                    );
                }
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if !policies.contains(r.policy.as_str()) {
                bad(
                    at(&["routes"], Some(i), "policy"),
                    format!("no policy {:?}", r.policy),
                );
            }
            let m = &r.matches;
            for (field, value, allowed) in [
                ("level", &m.level, &["warning", "breach"][..]),
                ("goal", &m.goal, &["response", "resolution"][..]),
            ] {
                if let Some(v) = value {
                    for x in v.values() {
                        if !allowed.contains(&x) {
                            bad(
                                at(&["routes"], Some(i), "match").key(field),
                                format!("{x:?} is not one of {}", allowed.join(", ")),
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

/// The ids, after reporting duplicates.
fn unique_ids<'a>(
    ids: impl Iterator<Item = &'a str>,
    section: &str,
    bad: &mut impl FnMut(FieldPath, String),
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            bad(
                at(&[section], Some(i), "id"),
                format!("{id:?} is used twice"),
            );
        }
    }
    seen
}
