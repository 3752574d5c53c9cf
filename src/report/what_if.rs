//! What-if: a tenant's history run through the engine twice in event time, under the policy in
//! force and under a proposed one, side by side: compliance per priority and service type, the
//! goals whose outcome would change, and the alerts that would appear or disappear. Nothing of
//! it touches live state, the store, alerts or notifications.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use vigil_engine::{
    AlertRecord, AlertState, EngineSettings, EventTimeDriver, FactKind, Goal, Level, PolicyBook,
    Sink, TicketFact,
};
use vigil_schema::{Event, Millis, Rejection};

use super::compute::figures;
use super::model::{Breakdown, GoalFigures, Period};
use crate::store::report_facts::FactCounts;

/// Events offered between two takes of the engines' facts.
const TAKE_EVERY: u64 = 4_096;
/// Changes listed per kind at most (the totals count them all).
pub const CHANGES_LISTED: usize = 10_000;

/// One run of both scenarios.
#[derive(Clone)]
pub struct WhatIfRun {
    /// The policies in force.
    pub current: Arc<PolicyBook>,
    /// The proposed policies.
    pub proposed: Arc<PolicyBook>,
    /// Engine settings (facts are kept whatever these say).
    pub settings: EngineSettings,
    /// Allowed lateness of the event-time driver.
    pub lateness_ms: i64,
    /// The period compared.
    pub period: Period,
    /// Only this tenant's events (all when `None`).
    pub tenant_id: Option<u64>,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// The tenant compared, or none for every tenant in the history.
    pub tenant_id: Option<u64>,
    /// The period compared.
    pub period: Period,
    /// Events read.
    pub events: u64,
    /// Events the engine rejected (under the policy in force).
    pub rejected: u64,
    /// Under the policy in force.
    pub current: ScenarioFigures,
    /// Under the proposed policy.
    pub proposed: ScenarioFigures,
    /// Goals stopped in the period whose outcome differs, worst first (at most
    /// [`CHANGES_LISTED`]).
    pub outcome_changes: Vec<OutcomeChange>,
    /// How many goals' outcome differs.
    pub outcome_changes_total: u64,
    /// Alerts that would fire in the period under the proposed policy and do not now.
    pub alerts_appearing: Vec<AlertChange>,
    /// Alerts that fire in the period now and would not under the proposed policy.
    pub alerts_disappearing: Vec<AlertChange>,
    /// How many appear, and disappear (the lists are cut at [`CHANGES_LISTED`]).
    pub alert_changes_total: (u64, u64),
}

/// One scenario's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioFigures {
    /// The response goal over every group.
    pub response: GoalFigures,
    /// The resolution goal over every group.
    pub resolution: GoalFigures,
    /// Warnings fired in the period (not retracted).
    pub warnings: u64,
    /// Breach alerts fired in the period (not retracted).
    pub breaches: u64,
    /// Per priority.
    pub by_priority: Vec<Breakdown>,
    /// Per service type.
    pub by_service_type: Vec<Breakdown>,
}

/// A goal whose outcome differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeChange {
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// `response` or `resolution`.
    pub goal: String,
    /// The ticket's priority when it stopped (now).
    pub priority: String,
    /// Its service type.
    pub service_type: String,
    /// The outcome now (`met`, `breached`, `cancelled`, or `running` if it did not stop in
    /// the period).
    pub current: String,
    /// The outcome under the proposal.
    pub proposed: String,
    /// SLA time it took now.
    pub elapsed_ms_current: Option<i64>,
    /// SLA time under the proposal (another calendar counts it differently).
    pub elapsed_ms_proposed: Option<i64>,
    /// Target now.
    pub target_ms_current: Option<i64>,
    /// Target under the proposal.
    pub target_ms_proposed: Option<i64>,
}

/// An alert fired in one scenario and not the other.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertChange {
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// `response` or `resolution`.
    pub goal: String,
    /// `warning` or `breach`.
    pub level: String,
    /// Fraction of the target.
    pub threshold: f64,
    /// The ticket's priority.
    pub priority: String,
    /// When it fired (in the scenario where it does).
    #[serde(serialize_with = "instant")]
    pub fired_at: Millis,
}

fn instant<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&vigil_schema::format_instant(*ms))
}

/// A goal of a ticket: tenant, ticket, goal.
type GoalKey = (u64, String, Goal);
/// An alert: tenant, ticket, goal, level and the bits of its threshold (the dedupe key's
/// parts, compared without formatting it).
type AlertKey = (u64, String, Goal, Level, u64);

/// A stopped goal's last stop in the period.
#[derive(Debug, Clone)]
struct Stop {
    priority: String,
    service_type: String,
    outcome: String,
    elapsed_ms: i64,
    target_ms: i64,
}

/// An alert firing in the period.
#[derive(Debug, Clone)]
struct Fired {
    priority: String,
    fired_at: Millis,
}

/// What one scenario saw.
#[derive(Default)]
struct Scenario {
    /// Counts by priority, then service type (looked up without allocating).
    groups: hashbrown::HashMap<String, hashbrown::HashMap<String, FactCounts>>,
    stops: hashbrown::HashMap<GoalKey, Stop>,
    alerts: hashbrown::HashMap<AlertKey, Fired>,
    rejected: u64,
    period: Option<Period>,
}

impl Scenario {
    fn inside(&self, at: Millis) -> bool {
        self.period.is_some_and(|p| at >= p.from && at < p.to)
    }

    fn facts(&mut self, facts: Vec<TicketFact>) {
        for fact in facts {
            if !self.inside(fact.at) {
                continue;
            }
            group(&mut self.groups, &fact.priority, &fact.service_type).count_fact(&fact);
            if let FactKind::Stopped(r) = fact.kind {
                self.stops.insert(
                    (r.tenant_id, r.ticket_id, r.goal),
                    Stop {
                        priority: r.priority,
                        service_type: r.service_type,
                        outcome: r.outcome,
                        elapsed_ms: r.actual_ms,
                        target_ms: r.target_ms,
                    },
                );
            }
        }
    }

    fn figures(&self) -> ScenarioFigures {
        let mut total = FactCounts::default();
        let mut by_priority: BTreeMap<&str, FactCounts> = BTreeMap::new();
        let mut by_type: BTreeMap<&str, FactCounts> = BTreeMap::new();
        for (priority, types) in &self.groups {
            for (service_type, c) in types {
                total.add(c);
                by_priority.entry(priority).or_default().add(c);
                by_type.entry(service_type).or_default().add(c);
            }
        }
        let rows = |m: BTreeMap<&str, FactCounts>| {
            m.into_iter()
                .map(|(key, c)| Breakdown {
                    key: key.to_string(),
                    opened: c.created,
                    response: figures(&c.goals[0]),
                    resolution: figures(&c.goals[1]),
                })
                .collect()
        };
        let count = |level: Level| self.alerts.keys().filter(|k| k.3 == level).count() as u64;
        ScenarioFigures {
            response: figures(&total.goals[0]),
            resolution: figures(&total.goals[1]),
            warnings: count(Level::Warning),
            breaches: count(Level::Breach),
            by_priority: rows(by_priority),
            by_service_type: rows(by_type),
        }
    }
}

impl Sink<()> for Scenario {
    fn applied(&mut self, _: &Event, _: ()) {}

    fn rejected(&mut self, _: &Event, _: (), _: Rejection) {
        self.rejected += 1;
    }

    fn alert(&mut self, record: AlertRecord) {
        let firing = match record.state {
            AlertState::Firing if self.inside(record.fired_at) => true,
            AlertState::Retracted => false,
            _ => return,
        };
        let key = (
            record.tenant_id,
            record.ticket_id,
            record.goal,
            record.level,
            record.threshold.to_bits(),
        );
        if firing {
            let fired = Fired {
                priority: record.priority,
                fired_at: record.fired_at,
            };
            self.alerts.insert(key, fired);
        } else {
            self.alerts.remove(&key);
        }
    }
}

/// Events handed to the proposed scenario's thread per batch.
const BATCH: usize = 4_096;

impl WhatIfRun {
    /// Runs both scenarios over `events` (the history, oldest first as stored; the driver
    /// reorders within the allowed lateness): the policy in force on this thread, the
    /// proposed one on a second thread fed with copies of the events.
    pub fn over(&self, events: impl IntoIterator<Item = Event>) -> WhatIf {
        // Events after the period (and its lateness) change nothing inside it.
        let last = self.period.to.saturating_add(self.lateness_ms);
        let mut read = 0u64;
        let wanted = events.into_iter().filter(|event| {
            let keep =
                self.tenant_id.is_none_or(|t| t == event.tenant_id) && event.occurred_at <= last;
            read += u64::from(keep);
            keep
        });
        let (current, proposed) = std::thread::scope(|scope| {
            let (to_proposed, batches) = std::sync::mpsc::sync_channel::<Vec<Event>>(4);
            let proposed = scope
                .spawn(move || self.scenario(self.proposed.clone(), batches.into_iter().flatten()));
            let mut batch = Vec::with_capacity(BATCH);
            let copied = wanted.inspect(|event| {
                batch.push(event.clone());
                if batch.len() == BATCH {
                    // A closed channel means the other thread panicked: its join says so.
                    let _ =
                        to_proposed.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            });
            let current = self.scenario(self.current.clone(), copied);
            let _ = to_proposed.send(batch);
            drop(to_proposed);
            let proposed = proposed
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (current, proposed)
        });
        let (outcome_changes, outcome_changes_total) = outcome_changes(&current, &proposed);
        let appearing = differ(&proposed, &current);
        let disappearing = differ(&current, &proposed);
        WhatIf {
            tenant_id: self.tenant_id,
            period: self.period,
            events: read,
            rejected: current.rejected,
            current: current.figures(),
            proposed: proposed.figures(),
            outcome_changes,
            outcome_changes_total,
            alert_changes_total: (appearing.1, disappearing.1),
            alerts_appearing: appearing.0,
            alerts_disappearing: disappearing.0,
        }
    }

    /// One scenario: `events` through an event-time engine under `policies`.
    fn scenario(&self, policies: Arc<PolicyBook>, events: impl Iterator<Item = Event>) -> Scenario {
        // Outcomes and alerts are compared; the dashboards' metrics are not kept.
        let settings = Arc::new(EngineSettings {
            keep_facts: true,
            keep_metrics: false,
            ..self.settings.clone()
        });
        let mut driver = EventTimeDriver::<()>::new(policies, settings, self.lateness_ms);
        let mut scenario = Scenario {
            period: Some(self.period),
            ..Scenario::default()
        };
        for (offered, event) in (1u64..).zip(events) {
            driver.offer(event, (), &mut scenario);
            if offered.is_multiple_of(TAKE_EVERY) {
                scenario.facts(driver.take_facts());
            }
        }
        driver.finish(&mut scenario);
        scenario.facts(driver.take_facts());
        scenario
    }
}

/// The counts of a priority and service type, made on first use (the names are copied only
/// then).
fn group<'a>(
    groups: &'a mut hashbrown::HashMap<String, hashbrown::HashMap<String, FactCounts>>,
    priority: &str,
    service_type: &str,
) -> &'a mut FactCounts {
    groups
        .entry_ref(priority)
        .or_default()
        .entry_ref(service_type)
        .or_default()
}

/// Goals whose outcome differs between the scenarios, worst first (a met goal that would
/// breach before one that would be met), then by ticket. Each goal is looked up in the other
/// scenario; only the changes are sorted.
fn outcome_changes(current: &Scenario, proposed: &Scenario) -> (Vec<OutcomeChange>, u64) {
    let stopped_now = current
        .stops
        .iter()
        .map(|(key, now)| (key, Some(now), proposed.stops.get(key)));
    let stopped_only_then = proposed
        .stops
        .iter()
        .filter(|(key, _)| !current.stops.contains_key(*key))
        .map(|(key, then)| (key, None, Some(then)));
    let mut changes: Vec<OutcomeChange> = stopped_now
        .chain(stopped_only_then)
        .filter(|(_, now, then)| outcome(*now) != outcome(*then))
        .filter_map(|(key, now, then)| {
            let any = now.or(then)?;
            Some(OutcomeChange {
                tenant_id: key.0,
                ticket_id: key.1.clone(),
                goal: key.2.as_str().to_string(),
                priority: any.priority.clone(),
                service_type: any.service_type.clone(),
                current: outcome(now).to_string(),
                proposed: outcome(then).to_string(),
                elapsed_ms_current: now.map(|s| s.elapsed_ms),
                elapsed_ms_proposed: then.map(|s| s.elapsed_ms),
                target_ms_current: now.map(|s| s.target_ms),
                target_ms_proposed: then.map(|s| s.target_ms),
            })
        })
        .collect();
    changes.sort_unstable_by(|a, b| {
        (a.proposed != "breached", a.tenant_id, &a.ticket_id, &a.goal).cmp(&(
            b.proposed != "breached",
            b.tenant_id,
            &b.ticket_id,
            &b.goal,
        ))
    });
    let total = changes.len() as u64;
    changes.truncate(CHANGES_LISTED);
    (changes, total)
}

/// A goal's outcome in a scenario: `running` if it did not stop in the period.
fn outcome(stop: Option<&Stop>) -> &str {
    stop.map_or("running", |s| s.outcome.as_str())
}

/// Alerts of `a` that `b` has not, by tenant, ticket, goal, level and threshold; and how many.
fn differ(a: &Scenario, b: &Scenario) -> (Vec<AlertChange>, u64) {
    let mut only_a: Vec<(&AlertKey, &Fired)> = a
        .alerts
        .iter()
        .filter(|(key, _)| !b.alerts.contains_key(*key))
        .collect();
    let total = only_a.len() as u64;
    only_a.sort_unstable_by(|x, y| x.0.cmp(y.0));
    let listed = only_a
        .into_iter()
        .take(CHANGES_LISTED)
        .map(|(key, fired)| AlertChange {
            tenant_id: key.0,
            ticket_id: key.1.clone(),
            goal: key.2.as_str().into(),
            level: key.3.as_str().into(),
            threshold: f64::from_bits(key.4),
            priority: fired.priority.clone(),
            fired_at: fired.fired_at,
        })
        .collect();
    (listed, total)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::history::PolicySources;

    const HOUR: i64 = 3_600_000;
    const T0: Millis = 1_795_000_000_000;

    fn event(id: &str, ticket: &str, at: Millis, body: &str) -> Event {
        let json = format!(
            r#"{{"schema":1,"event_id":"{id}","tenant_id":3,"ticket_id":"{ticket}","occurred_at":"{}",{body}}}"#,
            vigil_schema::format_instant(at)
        );
        vigil_schema::decode(json.as_bytes()).expect("a valid event")
    }

    /// Three HIGH tickets (default targets: response 2 h, a warning at 96 min): responded
    /// after 1 h, 100 min and 3 h.
    fn history() -> Vec<Event> {
        let mut events = Vec::new();
        for (i, minutes) in [60, 100, 180].into_iter().enumerate() {
            let t = T0 + i as i64 * HOUR;
            let ticket = format!("T{i}");
            events.push(event(
                &format!("c{i}"),
                &ticket,
                t,
                r#""event_type":"ticket.created","priority":"HIGH""#,
            ));
            events.push(event(
                &format!("r{i}"),
                &ticket,
                t + minutes * 60_000,
                r#""event_type":"ticket.responded""#,
            ));
        }
        events.sort_by_key(|e| e.occurred_at);
        events
    }

    fn run(proposal: &str) -> WhatIf {
        let sources = PolicySources::default();
        let spec: vigil_engine::PolicySpec = serde_json::from_str(proposal).expect("a policy");
        let run = WhatIfRun {
            current: Arc::new(sources.current().expect("default policy")),
            proposed: Arc::new(sources.proposed(Some(3), &spec).expect("proposal")),
            settings: EngineSettings::default(),
            lateness_ms: 0,
            period: Period {
                from: T0,
                to: T0 + 24 * HOUR,
            },
            tenant_id: Some(3),
        };
        run.over(history())
    }

    #[test]
    fn the_policy_in_force_proposed_again_changes_nothing() {
        let same = run("{}");
        assert_eq!((same.events, same.rejected), (6, 0));
        assert_eq!(same.current, same.proposed);
        assert_eq!(
            (same.current.response.met, same.current.response.breached),
            (2, 1)
        );
        assert_eq!(same.outcome_changes_total, 0);
        assert_eq!(same.alert_changes_total, (0, 0));
    }

    #[test]
    fn a_shorter_target_breaches_what_it_no_longer_covers_and_fires_new_alerts() {
        // 90 minutes: the 100-minute response now breaches (its warning, at 72 minutes now,
        // fired at 96 before: the same alert).
        let tighter = run(r#"{"targets":{"HIGH":{"response":90}}}"#);
        assert_eq!(
            (
                tighter.proposed.response.met,
                tighter.proposed.response.breached
            ),
            (1, 2)
        );
        assert_eq!(tighter.outcome_changes_total, 1);
        let change = &tighter.outcome_changes[0];
        assert_eq!(
            (
                change.ticket_id.as_str(),
                change.current.as_str(),
                change.proposed.as_str()
            ),
            ("T1", "met", "breached")
        );
        assert_eq!(change.target_ms_proposed, Some(90 * 60_000));
        let appearing: BTreeMap<(&str, &str), f64> = tighter
            .alerts_appearing
            .iter()
            .map(|a| ((a.ticket_id.as_str(), a.level.as_str()), a.threshold))
            .collect();
        assert_eq!(appearing.len(), 1, "{appearing:?}");
        assert!(appearing.contains_key(&("T1", "breach")), "{appearing:?}");
        // The 3-hour ticket breached before and still does, earlier: the same alerts.
        assert_eq!(tighter.alert_changes_total, (1, 0));
        // A policy that does not compile is refused with its reason.
        let sources = PolicySources::default();
        let bad: vigil_engine::PolicySpec =
            serde_json::from_str(r#"{"calendar":"nowhere"}"#).expect("parses");
        let err = sources.proposed(Some(3), &bad).expect_err("refused");
        assert!(err.to_string().contains("proposed policy"), "{err}");
    }
}
