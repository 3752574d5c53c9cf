//! What a silence (maintenance window, stored by [`crate::store::silences`]) holds back:
//! notifications of the alerts it matches on tenant, priority, service type and ticket while
//! it is in force. An absent matcher matches anything.

use vigil_schema::Millis;

use super::escalation::AlertFacts;
use crate::store::silences::Silence;

impl Silence {
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
    use crate::store::silences::tests::silence;

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
}
