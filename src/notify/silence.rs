//! Silences (maintenance windows): for a while, notifications of the alerts they match are
//! held back. Matchers on tenant, priority, service type and ticket; an absent matcher matches
//! anything, but a silence must match something.

use serde::{Deserialize, Serialize};
use vigil_streams::Millis;

use super::route::AlertFacts;

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// Only this tenant's alerts.
    pub tenant_id: Option<u64>,
    /// Only these priorities.
    pub priority: Option<Vec<String>>,
    /// Only these service types.
    pub service_type: Option<Vec<String>>,
    /// Only this ticket.
    pub ticket_id: Option<String>,
    /// From (inclusive).
    pub starts_at: Millis,
    /// Until (exclusive).
    pub ends_at: Millis,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Why the silence cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        self.problem_field().map(|(_, reason)| reason)
    }

    /// [`Silence::problem`] with the field to blame, for answers that name it.
    pub fn problem_field(&self) -> Option<(&'static str, &'static str)> {
        if self.ends_at <= self.starts_at {
            return Some(("ends_at", "ends_at must be after starts_at"));
        }
        let matches_something = self.tenant_id.is_some()
            || self.priority.as_ref().is_some_and(|p| !p.is_empty())
            || self.service_type.as_ref().is_some_and(|s| !s.is_empty())
            || self.ticket_id.is_some();
        if !matches_something {
            return Some((
                "tenant_id",
                "name at least one of tenant_id, priority, service_type, ticket_id",
            ));
        }
        if self.comment.trim().is_empty() {
            return Some(("comment", "say why in comment"));
        }
        None
    }

    /// Where it stands at `t`: `pending` (starts later), `active` (in force) or `expired`.
    pub fn state_at(&self, t: Millis) -> &'static str {
        if t >= self.ends_at {
            "expired"
        } else if t < self.starts_at {
            "pending"
        } else {
            "active"
        }
    }

    /// Whether it is in force at `t`.
    pub fn active_at(&self, t: Millis) -> bool {
        self.starts_at <= t && t < self.ends_at
    }

    /// Whether it holds back a notification of `alert` (of `tenant_id`) at `t`.
    pub fn silences(&self, tenant_id: u64, alert: &AlertFacts<'_>, t: Millis) -> bool {
        let one_of = |list: &Option<Vec<String>>, value: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
        };
        self.active_at(t)
            && self.tenant_id.is_none_or(|id| id == tenant_id)
            && one_of(&self.priority, alert.priority)
            && one_of(&self.service_type, alert.service_type)
            && self
                .ticket_id
                .as_deref()
                .is_none_or(|id| id == alert.ticket_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence() -> Silence {
        Silence {
            id: "s1".into(),
            tenant_id: Some(7),
            priority: Some(vec!["LOW".into(), "MEDIUM".into()]),
            service_type: None,
            ticket_id: None,
            starts_at: 1_000,
            ends_at: 2_000,
            created_by: "olga".into(),
            comment: "database maintenance".into(),
        }
    }

    fn alert<'a>(ticket_id: &'a str, priority: &'a str) -> AlertFacts<'a> {
        AlertFacts {
            ticket_id,
            level: "breach",
            goal: "response",
            priority,
            service_type: "incident",
        }
    }

    #[test]
    fn a_silence_holds_back_matching_alerts_in_its_window_only() {
        let s = silence();
        assert!(s.problem().is_none());
        assert!(s.silences(7, &alert("T", "LOW"), 1_000));
        assert!(!s.silences(7, &alert("T", "LOW"), 2_000));
        assert!(!s.silences(7, &alert("T", "CRITICAL"), 1_500));
        assert!(!s.silences(8, &alert("T", "LOW"), 1_500));
        let one_ticket = Silence {
            priority: None,
            ticket_id: Some("T".into()),
            ..silence()
        };
        assert!(one_ticket.silences(7, &alert("T", "CRITICAL"), 1_500));
        assert!(!one_ticket.silences(7, &alert("U", "CRITICAL"), 1_500));
    }

    #[test]
    fn a_silence_must_match_something_end_after_it_starts_and_say_why() {
        let everything = Silence {
            tenant_id: None,
            priority: None,
            ..silence()
        };
        assert!(everything.problem().is_some());
        let backwards = Silence {
            ends_at: 500,
            ..silence()
        };
        assert_eq!(backwards.problem(), Some("ends_at must be after starts_at"));
        let no_reason = Silence {
            comment: " ".into(),
            ..silence()
        };
        assert_eq!(no_reason.problem(), Some("say why in comment"));
        assert_eq!(no_reason.problem_field().map(|(f, _)| f), Some("comment"));
        assert_eq!(backwards.problem_field().map(|(f, _)| f), Some("ends_at"));
    }

    #[test]
    fn a_silence_is_pending_then_active_then_expired() {
        let s = silence();
        assert_eq!(s.state_at(999), "pending");
        assert_eq!(s.state_at(1_000), "active");
        assert_eq!(s.state_at(1_999), "active");
        assert_eq!(s.state_at(2_000), "expired");
    }
}
