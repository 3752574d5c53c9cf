//! Feature flags: switches of Vigil's own behaviour, each on or off per tenant, evaluated in
//! process (no network call per evaluation). The configuration center
//! ([`crate::runtime_config`]) keeps their rules as the runtime keys `flags.<name>` and swaps
//! the applied set into [`Flags`]; components below it (the hub) only read [`Flags`].
//!
//! A flag's rule (the value of `flags.<name>`, JSON):
//! `{"on": true}` (every tenant), `{"on": false}` (none), or `{"on": true, "tenants": [7, 9],
//! "percent": 25}`: the listed tenants plus a stable quarter of all tenants, chosen by a hash
//! of the tenant id salted with the flag's name (a tenant in the 25% stays in when the rollout
//! grows to 50%). A flag nobody set is on: every switch guards behaviour that Vigil has by
//! default. A rule of a switch a user acts through (`ws.tickets`: a dashboard session) may
//! also list `"users"` (token subjects) it is on for, whatever their tenant.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::setting::ConfigDuration;

/// Most tenants one rule may list.
pub const MAX_LISTED_TENANTS: usize = 10_000;

/// Most users one rule may list.
pub const MAX_LISTED_USERS: usize = 1_000;

/// Longest user (token subject) a rule may list, in bytes.
pub const MAX_USER_BYTES: usize = 256;

/// A behaviour a flag switches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Switch {
    /// `notify.sms`: notifications by SMS. Off for a tenant: its SMS notifications are
    /// cancelled with the flag as the reason (the other channels of the step still go).
    Sms,
    /// `notify.retractions`: the notice that an alert someone was paged for was retracted
    /// (late data). Off for a tenant: those notices are cancelled with the flag as the reason.
    Retractions,
    /// `ws.tickets`: the `tickets` channel of the WebSocket hub. Off for a tenant: its ticket
    /// deltas stop and subscriptions asking for it are refused.
    WsTickets,
    /// `partner.<id>`: the exchange with one partner. Off for a tenant: its records wait in
    /// the partner's outbox (looked at again every 5 s) until the flag is on again.
    Partner(String),
}

impl Switch {
    /// The flags that exist whatever the configuration (a `partner.<id>` flag exists for each
    /// configured partner).
    pub const FIXED: [Switch; 3] = [Switch::Sms, Switch::Retractions, Switch::WsTickets];

    /// Parses a flag name (the key without `flags.`); `partner.<id>` for any well-formed id
    /// (whether the partner exists is checked against the configuration).
    pub fn parse(name: &str) -> Option<Switch> {
        if let Some(fixed) = Switch::FIXED.into_iter().find(|s| s.to_string() == name) {
            return Some(fixed);
        }
        let id = name.strip_prefix("partner.")?;
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Switch::Partner(id.to_string()))
    }

    /// What the flag switches, for listings.
    pub fn description(&self) -> &'static str {
        match self {
            Switch::Sms => "notifications by SMS",
            Switch::Retractions => "notices that an alert paged for was retracted",
            Switch::WsTickets => "the tickets channel of the WebSocket hub",
            Switch::Partner(_) => "the exchange with this partner",
        }
    }

    /// Whether a user acts through the switch, so a rule may list users: the tickets channel
    /// (a dashboard session's token subject). The others act for a tenant only.
    pub fn acts_for_users(&self) -> bool {
        matches!(self, Switch::WsTickets)
    }
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Switch::Sms => f.write_str("notify.sms"),
            Switch::Retractions => f.write_str("notify.retractions"),
            Switch::WsTickets => f.write_str("ws.tickets"),
            Switch::Partner(id) => write!(f, "partner.{id}"),
        }
    }
}

/// A flag's rule: the value of `flags.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    /// Off for every tenant when false; when true, on for every tenant unless `tenants`,
    /// `users` or `percent` narrow it.
    pub on: bool,
    /// On for these tenants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<u64>,
    /// On for these users (token subjects), where a user acts ([`Switch::acts_for_users`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// On for this share of all tenants (0–100), chosen by a stable hash of the tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// Switch the flag back to its previous version when this happens after it went on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_when: Option<RollbackWhen>,
}

/// An automatic rollback condition on one of Vigil's own figures: when more than `above`
/// notifications on `channel` failed for good within `within` (counted from the flag's change
/// at the earliest), the flag goes back to its previous version, by `vigil`, saying why in the
/// audit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackWhen {
    /// The figure: `notifications_failed` (notifications that failed for good).
    pub metric: RollbackMetric,
    /// `sms`, `email`, `webhook`, or `*` (any; the default).
    #[serde(default = "any_channel")]
    pub channel: String,
    /// More than this many trips the rollback.
    pub above: u64,
    /// The window, e.g. `"5m"`.
    pub within: ConfigDuration,
}

fn any_channel() -> String {
    "*".into()
}

/// The figures a rollback condition may watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackMetric {
    /// Notifications that failed for good (the outbox's `failed` rows).
    NotificationsFailed,
}

impl FlagRule {
    /// Problems with the rule of `switch`, as (field, reason).
    pub fn problems(&self, switch: &Switch) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.users.is_empty() && !switch.acts_for_users() {
            out.push((
                "users".into(),
                format!("{switch} is switched per tenant (no user acts through it); list tenants instead"),
            ));
        }
        if self.users.len() > MAX_LISTED_USERS {
            out.push((
                "users".into(),
                format!("at most {MAX_LISTED_USERS} users; use tenants or percent for more"),
            ));
        }
        if self
            .users
            .iter()
            .any(|u| u.trim().is_empty() || u.len() > MAX_USER_BYTES)
        {
            out.push((
                "users".into(),
                format!("users are token subjects of 1 to {MAX_USER_BYTES} bytes"),
            ));
        }
        if self.percent.is_some_and(|p| p > 100) {
            out.push(("percent".into(), "must be between 0 and 100".into()));
        }
        if self.tenants.len() > MAX_LISTED_TENANTS {
            out.push((
                "tenants".into(),
                format!("at most {MAX_LISTED_TENANTS} tenants; use percent for more"),
            ));
        }
        if self.tenants.contains(&0) {
            out.push(("tenants".into(), "tenant ids are positive integers".into()));
        }
        if let Some(when) = &self.rollback_when {
            if !["*", "sms", "email", "webhook"].contains(&when.channel.as_str()) {
                out.push((
                    "rollback_when.channel".into(),
                    "sms, email, webhook or * (any)".into(),
                ));
            }
            if when.within.as_millis() <= 0 {
                out.push((
                    "rollback_when.within".into(),
                    "must be longer than zero, e.g. \"5m\"".into(),
                ));
            }
            if !self.on {
                out.push((
                    "rollback_when".into(),
                    "only a flag that is on can be rolled back".into(),
                ));
            }
        }
        if !self.on
            && (self.percent.is_some() || !self.tenants.is_empty() || !self.users.is_empty())
        {
            out.push((
                "on".into(),
                "a flag that is off is off for everyone: drop tenants, users and percent, or set on"
                    .into(),
            ));
        }
        out
    }

    /// Whether the rule switches `switch` on for `tenant` (whoever acts).
    pub fn is_on(&self, switch: &Switch, tenant: u64) -> bool {
        self.is_on_for(switch, tenant, None)
    }

    /// Whether the rule switches `switch` on for `user` of `tenant` (`None`: no user acts).
    pub fn is_on_for(&self, switch: &Switch, tenant: u64, user: Option<&str>) -> bool {
        self.decides(tenant, user, || salt(switch))
    }

    /// [`is_on_for`](Self::is_on_for) with the flag's salt computed only when the percentage
    /// is what decides.
    fn decides(&self, tenant: u64, user: Option<&str>, salt: impl FnOnce() -> u64) -> bool {
        if !self.on {
            return false;
        }
        if self.tenants.is_empty() && self.percent.is_none() && self.users.is_empty() {
            return true;
        }
        self.tenants.contains(&tenant)
            || user.is_some_and(|u| self.users.iter().any(|listed| listed == u))
            || self
                .percent
                .is_some_and(|p| salted_bucket(salt(), tenant) < u64::from(p) * 100)
    }
}

/// The tenant's place in `0..10_000` for `switch`: stable across versions and instances.
pub fn bucket(switch: &Switch, tenant: u64) -> u64 {
    salted_bucket(salt(switch), tenant)
}

/// The salt of `switch`'s hash: its name's (so two flags pick different tenants).
fn salt(switch: &Switch) -> u64 {
    xxh3_64_with_seed(switch.to_string().as_bytes(), 0)
}

fn salted_bucket(salt: u64, tenant: u64) -> u64 {
    xxh3_64_with_seed(&tenant.to_le_bytes(), salt) % 10_000
}

/// The applied rules of every flag that has one, each with its flag's salt computed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagSet {
    rules: HashMap<Switch, Applied>,
}

/// A rule in force, with the salt of its flag's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    rule: FlagRule,
    salt: u64,
}

impl FlagSet {
    /// A set of rules.
    pub fn new(rules: impl IntoIterator<Item = (Switch, FlagRule)>) -> FlagSet {
        FlagSet {
            rules: rules
                .into_iter()
                .map(|(switch, rule)| {
                    let salt = salt(&switch);
                    (switch, Applied { rule, salt })
                })
                .collect(),
        }
    }

    /// Whether `switch` is on for `tenant` (on when no rule is set).
    pub fn is_on(&self, switch: &Switch, tenant: u64) -> bool {
        self.rules
            .get(switch)
            .is_none_or(|a| a.rule.decides(tenant, None, || a.salt))
    }

    /// Whether `switch` is on for `user` of `tenant` (on when no rule is set).
    pub fn is_on_for(&self, switch: &Switch, tenant: u64, user: &str) -> bool {
        self.rules
            .get(switch)
            .is_none_or(|a| a.rule.decides(tenant, Some(user), || a.salt))
    }

    /// Whether the rule of `switch` is on for some users it lists by name.
    pub fn lists_users(&self, switch: &Switch) -> bool {
        self.rule(switch)
            .is_some_and(|rule| rule.on && !rule.users.is_empty())
    }

    /// The rule of `switch`, if one is set.
    pub fn rule(&self, switch: &Switch) -> Option<&FlagRule> {
        self.rules.get(switch).map(|a| &a.rule)
    }
}

/// The flags every component consults: cheap to clone; swapped whole when a change applies.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    current: Arc<RwLock<Arc<FlagSet>>>,
}

impl Flags {
    /// Flags with the given rules (tests; the service starts empty and applies the store's).
    pub fn with(set: FlagSet) -> Flags {
        Flags {
            current: Arc::new(RwLock::new(Arc::new(set))),
        }
    }

    /// Whether `switch` is on for `tenant` now.
    pub fn is_on(&self, switch: &Switch, tenant: u64) -> bool {
        self.snapshot().is_on(switch, tenant)
    }

    /// The rules in force now.
    pub fn snapshot(&self) -> Arc<FlagSet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap: the last set it stored is still whole.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `set` in force.
    pub fn replace(&self, set: FlagSet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for name in [
            "notify.sms",
            "notify.retractions",
            "ws.tickets",
            "partner.acme-1",
        ] {
            assert_eq!(
                Switch::parse(name).map(|s| s.to_string()).as_deref(),
                Some(name)
            );
        }
        for bad in [
            "",
            "nope",
            "partner.",
            "partner.a b",
            "notify.SMS",
            "ws.tickets.",
        ] {
            assert_eq!(Switch::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_unset_flag_is_on_and_off_is_off_for_everyone() {
        let flags = FlagSet::default();
        assert!(flags.is_on(&Switch::WsTickets, 7));
        let off = FlagSet::new([(
            Switch::WsTickets,
            FlagRule {
                on: false,
                tenants: vec![],
                users: vec![],
                percent: None,
                rollback_when: None,
            },
        )]);
        assert!(!off.is_on(&Switch::WsTickets, 7));
    }

    #[test]
    fn different_flags_pick_different_tenants() {
        let half = |switch: &Switch| {
            (1..=1000u64)
                .filter(|t| bucket(switch, *t) < 5000)
                .collect::<Vec<_>>()
        };
        assert_ne!(half(&Switch::Sms), half(&Switch::WsTickets));
    }

    #[test]
    fn listed_users_are_on_in_any_tenant_where_a_user_acts_and_refused_elsewhere() {
        let rule: FlagRule =
            serde_json::from_str(r#"{"on": true, "tenants": [7], "users": ["carol"]}"#).unwrap();
        assert!(rule.problems(&Switch::WsTickets).is_empty());
        let tickets = Switch::WsTickets;
        assert!(rule.is_on_for(&tickets, 8, Some("carol")));
        assert!(!rule.is_on_for(&tickets, 8, Some("bob")));
        assert!(!rule.is_on(&tickets, 8), "no user acts: the tenant decides");
        assert!(rule.is_on_for(&tickets, 7, Some("bob")));
        let set = FlagSet::new([(tickets.clone(), rule.clone())]);
        assert!(set.lists_users(&tickets));
        assert!(set.is_on_for(&tickets, 8, "carol"));
        let fields: Vec<String> = rule
            .problems(&Switch::Sms)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, ["users"]);
        let off: FlagRule = serde_json::from_str(r#"{"on": false, "users": [""]}"#).unwrap();
        let fields: Vec<String> = off.problems(&tickets).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["users", "on"]);
    }

    #[test]
    fn listed_tenants_are_on_and_others_follow_the_percentage() {
        let rule = FlagRule {
            on: true,
            tenants: vec![7],
            users: vec![],
            percent: Some(0),
            rollback_when: None,
        };
        assert!(rule.is_on(&Switch::WsTickets, 7));
        assert!(!rule.is_on(&Switch::WsTickets, 8));
    }

    #[test]
    fn percentages_are_stable_within_tolerance_and_grow_monotonically() {
        let tenants = 1..=10_000u64;
        for percent in [1u8, 10, 25, 50, 90] {
            let rule = FlagRule {
                on: true,
                tenants: vec![],
                users: vec![],
                percent: Some(percent),
                rollback_when: None,
            };
            let on = tenants
                .clone()
                .filter(|t| rule.is_on(&Switch::WsTickets, *t))
                .count();
            let expected = usize::from(percent) * 100;
            // Binomial spread: within 4 standard deviations.
            let sd =
                (10_000.0 * f64::from(percent) / 100.0 * (1.0 - f64::from(percent) / 100.0)).sqrt();
            assert!(
                (on as f64 - expected as f64).abs() <= 4.0 * sd,
                "{percent}%: {on} of 10,000"
            );
        }
        let quarter = FlagRule {
            on: true,
            tenants: vec![],
            users: vec![],
            percent: Some(25),
            rollback_when: None,
        };
        let half = FlagRule {
            percent: Some(50),
            ..quarter.clone()
        };
        for t in tenants {
            assert_eq!(
                quarter.is_on(&Switch::WsTickets, t),
                quarter.is_on(&Switch::WsTickets, t),
                "stable"
            );
            if quarter.is_on(&Switch::WsTickets, t) {
                assert!(
                    half.is_on(&Switch::WsTickets, t),
                    "tenant {t} left when the rollout grew"
                );
            }
        }
    }

    #[test]
    fn bad_rules_are_reported() {
        let rule: FlagRule =
            serde_json::from_str(r#"{"on": false, "tenants": [0], "percent": 101}"#).unwrap();
        let fields: Vec<String> = rule
            .problems(&Switch::WsTickets)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, ["percent", "tenants", "on"]);
        assert!(serde_json::from_str::<FlagRule>(r#"{"on": true, "pct": 5}"#).is_err());
    }

    #[test]
    fn a_replaced_set_is_seen_by_every_clone() {
        let flags = Flags::default();
        let other = flags.clone();
        flags.replace(FlagSet::new([(
            Switch::WsTickets,
            FlagRule {
                on: false,
                tenants: vec![],
                users: vec![],
                percent: None,
                rollback_when: None,
            },
        )]));
        assert!(!other.is_on(&Switch::WsTickets, 1));
    }
}
