//! Which route an alert takes, and the escalation its policy starts: the timed pages, each
//! step's contacts (schedules resolved to their on-call) and channels. (Silences, inhibition
//! and quiet hours are applied when notifications are sent: see [`crate::notify::dispatch`].)

use vigil_schema::Millis;

use super::config::{Channel, NotifyConfig, PolicySpec, RouteSpec};
use super::schedule::on_call;

/// What routing looks at in an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertFacts<'a> {
    /// The ticket.
    pub ticket_id: &'a str,
    /// `warning` or `breach`.
    pub level: &'a str,
    /// `response` or `resolution`.
    pub goal: &'a str,
    /// Priority name.
    pub priority: &'a str,
    /// Service type.
    pub service_type: &'a str,
}

impl RouteSpec {
    /// Whether the route takes the alert (an absent matcher takes anything).
    pub fn matches(&self, a: &AlertFacts<'_>) -> bool {
        let m = &self.matches;
        [
            (&m.level, a.level),
            (&m.goal, a.goal),
            (&m.priority, a.priority),
            (&m.service_type, a.service_type),
        ]
        .iter()
        .all(|(matcher, value)| matcher.as_ref().is_none_or(|m| m.contains(value)))
    }
}

/// One page of an escalation: who is notified how, and when (after the alert fired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Step index in the policy.
    pub step: usize,
    /// 0 for the first pass through the steps, then 1.. for the repeats.
    pub round: u32,
    /// When, after the alert fired.
    pub after_ms: i64,
    /// Contact ids (schedules resolved to their on-call at that instant), without repeats.
    pub contacts: Vec<String>,
    /// Channels.
    pub channels: Vec<Channel>,
}

impl NotifyConfig {
    /// The first route that takes the alert.
    pub fn route_for(&self, alert: &AlertFacts<'_>) -> Option<&RouteSpec> {
        self.routes.iter().find(|r| r.matches(alert))
    }

    /// A policy by id.
    pub fn policy(&self, id: &str) -> Option<&PolicySpec> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// The pages `policy` sends for an alert that fired at `fired_at`, if nobody
    /// acknowledges: each step after the waits of the steps before it, the whole list again
    /// `repeat` times.
    pub fn escalation(&self, policy: &PolicySpec, fired_at: Millis) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut after = 0i64;
        for round in 0..=policy.repeat {
            for (step, spec) in policy.steps.iter().enumerate() {
                let mut contacts: Vec<String> = Vec::new();
                for target in &spec.notify {
                    let who = match target.split_once(':') {
                        Some(("contact", id)) => Some(id),
                        Some(("schedule", id)) => self
                            .schedules
                            .iter()
                            .find(|s| s.id == id)
                            .and_then(|s| on_call(s, fired_at + after)),
                        _ => None,
                    };
                    if let Some(who) = who {
                        if !contacts.iter().any(|c| c == who) {
                            contacts.push(who.to_string());
                        }
                    }
                }
                pages.push(Page {
                    step,
                    round,
                    after_ms: after,
                    contacts,
                    channels: spec.channels.clone(),
                });
                after += spec.wait.as_millis();
            }
        }
        pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[smtp]
host = "127.0.0.1"
from = "vigil@example.com"

[sms]
url = "http://127.0.0.1:9000/sms"

[[contacts]]
id = "alice"
email = "alice@example.com"
phone = "+8613800000001"

[[contacts]]
id = "bob"
email = "bob@example.com"

[[contacts]]
id = "carol"
phone = "+8613800000003"

[[schedules]]
id = "primary"
timezone = "Asia/Shanghai"
rotation = ["alice", "bob"]
handover = "mon 09:00"
start = "2026-11-02"

[[policies]]
id = "critical"
repeat = 1
steps = [
  { notify = ["schedule:primary"], channels = ["sms", "email"], wait = "5m" },
  { notify = ["contact:carol", "schedule:primary"], channels = ["sms"], wait = "10m" },
]

[[policies]]
id = "warn"
steps = [{ notify = ["schedule:primary"] }]

[[routes]]
match = { level = "breach", priority = ["CRITICAL", "HIGH"] }
policy = "critical"

[[routes]]
policy = "warn"
"#;

    fn config() -> NotifyConfig {
        toml::from_str(CONFIG).unwrap()
    }

    fn alert<'a>(level: &'a str, priority: &'a str) -> AlertFacts<'a> {
        AlertFacts {
            ticket_id: "T",
            level,
            goal: "response",
            priority,
            service_type: "incident",
        }
    }

    #[test]
    fn the_first_matching_route_wins() {
        let c = config();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(
            c.route_for(&alert("breach", "HIGH")).unwrap().policy,
            "critical"
        );
        assert_eq!(c.route_for(&alert("breach", "LOW")).unwrap().policy, "warn");
        assert_eq!(
            c.route_for(&alert("warning", "CRITICAL")).unwrap().policy,
            "warn"
        );
        let defaults = c.route_for(&alert("warning", "LOW")).unwrap();
        assert_eq!(
            (defaults.group_wait.as_millis(), defaults.send_resolved),
            (30_000, true)
        );
    }

    #[test]
    fn escalation_steps_follow_the_waits_and_repeat() {
        let c = config();
        let fired = vigil_schema::parse_instant("2026-11-03T00:00:00Z").unwrap();
        let pages = c.escalation(c.policy("critical").unwrap(), fired);
        let plan: Vec<(usize, u32, i64, Vec<&str>)> = pages
            .iter()
            .map(|p| {
                (
                    p.step,
                    p.round,
                    p.after_ms / 60_000,
                    p.contacts.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            plan,
            [
                (0, 0, 0, vec!["alice"]),
                (1, 0, 5, vec!["carol", "alice"]),
                (0, 1, 15, vec!["alice"]),
                (1, 1, 20, vec!["carol", "alice"]),
            ]
        );
        assert_eq!(pages[0].channels, [Channel::Sms, Channel::Email]);
    }

    #[test]
    fn bad_references_and_values_are_reported_with_their_field() {
        let text = CONFIG
            .replace(
                "rotation = [\"alice\", \"bob\"]",
                "rotation = [\"alice\", \"zoe\"]",
            )
            .replace("handover = \"mon 09:00\"", "handover = \"monday\"")
            .replace("policy = \"warn\"", "policy = \"nope\"")
            .replace("phone = \"+8613800000003\"", "phone = \"555\"");
        let c: NotifyConfig = toml::from_str(&text).unwrap();
        let problems: Vec<String> = c
            .problems()
            .iter()
            .map(|(p, m)| format!("{p}: {m}"))
            .collect();
        for expected in [
            "notify.schedules[0].rotation: no contact \"zoe\"",
            "notify.schedules[0].handover",
            "notify.routes[1].policy: no policy \"nope\"",
            "notify.contacts[2].phone",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected} not in {problems:#?}"
            );
        }
    }
}
