//! SLA policies: the settings as written ([`spec`]), merged and compiled into versions the
//! engine reads on the hot path ([`PolicyVersion`]), per tenant ([`TenantPolicies`]).
//!
//! # Layout
//! - [`spec`]: policy settings as written in TOML and in `sla.policy_updated` events.
//! - this module: merging ([`merge`]), compiling ([`PolicyBook`]), versions per tenant.

pub mod spec;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_schema::{parse_instant, Millis, Status};

use crate::calendar::{BusinessCalendar, Calendar, CalendarSpec, ALWAYS_NAME};
pub use spec::{DurationSpec, Fraction, GoalTargetsSpec, PolicySpec, ServiceTypeSpec};

/// A problem in a policy or calendar. `tenant` is `None` for the main file; `path` names the
/// field inside `[sla]`, `[policy]`, a policy update, or `calendars.<name>.…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// The tenant whose file or update is at fault, if any.
    pub tenant: Option<u64>,
    /// Field path, e.g. `targets.HIGH.response`, `calendars.business.hours.mon`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Compiled targets of one service type (or of the policy's base): calendar and per-priority
/// targets in milliseconds, indexed like [`PolicyVersion::priorities`].
#[derive(Debug)]
pub struct ServiceRules {
    /// The calendar SLA time runs on.
    pub calendar: Arc<Calendar>,
    /// `[response, resolution]` per priority index; `None` where the priority is unknown here.
    pub targets: Vec<Option<[i64; 2]>>,
}

/// One immutable version of a tenant's policy.
#[derive(Debug)]
pub struct PolicyVersion {
    /// 1 for the configured policy, then 2, 3, … per `sla.policy_updated`.
    pub version: u32,
    /// Tickets created at or after this instant may use it (`Millis::MIN` for version 1).
    pub effective_from: Millis,
    /// The fully merged settings this version was compiled from.
    pub spec: PolicySpec,
    /// Warning thresholds, ascending, without duplicates.
    pub warn_at: Vec<Fraction>,
    /// Whether each status (by [`Status::index`]) pauses the goals.
    pub pauses: [bool; 6],
    /// Priority names; a ticket stores the index.
    pub priorities: Vec<String>,
    /// The policy's own rules (its calendar and targets), for service types without an override.
    pub base: ServiceRules,
    service_types: Vec<(String, ServiceRules)>,
}

/// Which [`ServiceRules`] of a version apply: [`RULES_BASE`] or an override's index.
pub type RulesIndex = u16;
/// The policy's own rules, for service types without an override.
pub const RULES_BASE: RulesIndex = RulesIndex::MAX;

impl PolicyVersion {
    /// The rules index for a service type (its override, or the base).
    pub fn rules_index(&self, service_type: &str) -> RulesIndex {
        self.service_types
            .iter()
            .position(|(name, _)| name == service_type)
            .and_then(|i| RulesIndex::try_from(i).ok())
            .unwrap_or(RULES_BASE)
    }

    /// The rules at an index from [`PolicyVersion::rules_index`].
    pub fn rules_at(&self, index: RulesIndex) -> &ServiceRules {
        self.service_types
            .get(usize::from(index))
            .map_or(&self.base, |(_, r)| r)
    }

    /// The rules for a service type (its override, or the base).
    pub fn rules(&self, service_type: &str) -> &ServiceRules {
        self.rules_at(self.rules_index(service_type))
    }

    /// `[response, resolution]` targets of a priority under some rules.
    pub fn targets(&self, rules: RulesIndex, priority: u8) -> Option<[i64; 2]> {
        self.rules_at(rules)
            .targets
            .get(usize::from(priority))
            .copied()
            .flatten()
    }

    /// The index of a priority name, if any rules know it.
    pub fn priority_index(&self, name: &str) -> Option<u8> {
        self.priorities
            .iter()
            .position(|p| p == name)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The priority name of an index.
    pub fn priority_name(&self, index: u8) -> &str {
        self.priorities
            .get(usize::from(index))
            .map_or("", String::as_str)
    }
}

/// The configured calendars and policies, compiled; shared by every tenant.
#[derive(Debug)]
pub struct PolicyBook {
    calendars: BTreeMap<String, Arc<Calendar>>,
    default: PolicySpec,
    tenants: BTreeMap<u64, PolicySpec>,
    default_version: Arc<PolicyVersion>,
    tenant_versions: BTreeMap<u64, Arc<PolicyVersion>>,
}

/// The built-in default policy (DESIGN.md §3), under whatever `[sla]` names.
pub fn builtin_default() -> PolicySpec {
    let t = |r: i64, s: i64| GoalTargetsSpec {
        response: Some(DurationSpec(r * 60_000)),
        resolution: Some(DurationSpec(s * 60_000)),
    };
    PolicySpec {
        calendar: Some(ALWAYS_NAME.into()),
        warn_at: Some(vec![Fraction {
            numerator: 8,
            scale: 1,
        }]),
        pause_statuses: Some(vec!["ON_HOLD".into()]),
        targets: BTreeMap::from([
            ("CRITICAL".into(), t(30, 240)),
            ("HIGH".into(), t(120, 1440)),
            ("MEDIUM".into(), t(480, 4320)),
            ("LOW".into(), t(1440, 10080)),
        ]),
        ..PolicySpec::default()
    }
}

impl PolicyBook {
    /// Compiles the calendars, the default policy (`[sla]`, over the built-in defaults when it
    /// leaves fields out) and every tenant's overrides, reporting every problem at once.
    pub fn build(
        default: &PolicySpec,
        calendars: &BTreeMap<String, CalendarSpec>,
        tenants: &BTreeMap<u64, PolicySpec>,
    ) -> Result<PolicyBook, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let mut compiled = BTreeMap::new();
        compiled.insert(ALWAYS_NAME.to_string(), Arc::new(Calendar::Always));
        for (name, spec) in calendars {
            if name == ALWAYS_NAME {
                errors.push(PolicyError {
                    tenant: None,
                    path: format!("calendars.{name}"),
                    message: "\"24x7\" is built in and cannot be redefined".into(),
                });
                continue;
            }
            match BusinessCalendar::new(name, spec) {
                Ok(c) => {
                    compiled.insert(name.clone(), Arc::new(Calendar::Business(Box::new(c))));
                }
                Err(errs) => errors.extend(errs.into_iter().map(|e| PolicyError {
                    tenant: None,
                    path: format!("calendars.{name}.{}", e.field),
                    message: e.message,
                })),
            }
        }
        let default = merge(&builtin_default(), default);
        let mut book = PolicyBook {
            calendars: compiled,
            default_version: Arc::new(PolicyVersion::placeholder()),
            default,
            tenants: tenants.clone(),
            tenant_versions: BTreeMap::new(),
        };
        let main_errors = match book.compile(&book.default, 1, Millis::MIN, None) {
            Ok(v) => {
                book.default_version = Arc::new(v);
                Vec::new()
            }
            Err(e) => e,
        };
        for (tenant, spec) in tenants {
            let merged = merge(&book.default, spec);
            match book.compile(&merged, 1, Millis::MIN, Some(*tenant)) {
                Ok(v) => {
                    book.tenant_versions.insert(*tenant, Arc::new(v));
                }
                // A problem inherited from the main file is reported once, for the main file.
                Err(e) => errors.extend(e.into_iter().filter(|t| {
                    !main_errors
                        .iter()
                        .any(|m| m.path == t.path && m.message == t.message)
                })),
            }
        }
        errors.extend(main_errors);
        if errors.is_empty() {
            Ok(book)
        } else {
            Err(errors)
        }
    }

    /// The configured policy of a tenant: version 1.
    pub fn initial(&self, tenant: u64) -> Arc<PolicyVersion> {
        self.tenant_versions
            .get(&tenant)
            .unwrap_or(&self.default_version)
            .clone()
    }

    /// Tenants with their own policy file.
    pub fn configured_tenants(&self) -> impl Iterator<Item = u64> + '_ {
        self.tenants.keys().copied()
    }

    /// Calendar names, `24x7` included.
    pub fn calendar_names(&self) -> impl Iterator<Item = &str> {
        self.calendars.keys().map(String::as_str)
    }

    /// Compiles a merged spec into a version.
    fn compile(
        &self,
        spec: &PolicySpec,
        version: u32,
        effective_from: Millis,
        tenant: Option<u64>,
    ) -> Result<PolicyVersion, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let mut err = |path: String, message: String| {
            errors.push(PolicyError {
                tenant,
                path,
                message,
            })
        };
        let calendar_of =
            |name: &Option<String>, path: &str, err: &mut dyn FnMut(String, String)| {
                let name = name.as_deref().unwrap_or(ALWAYS_NAME);
                match self.calendars.get(name) {
                    Some(c) => Some(c.clone()),
                    None => {
                        let known: Vec<&str> = self.calendar_names().collect();
                        err(
                            path.to_string(),
                            format!("unknown calendar {name:?}; known: {}", known.join(", ")),
                        );
                        None
                    }
                }
            };
        let mut warn_at: Vec<Fraction> = spec.warn_at.clone().unwrap_or_default();
        if let Some(bad) = warn_at.iter().find(|f| !f.is_proper()) {
            err(
                "warn_at".into(),
                format!("{} is not strictly between 0 and 1", bad.as_f64()),
            );
        }
        warn_at.sort_by(|a, b| {
            let (x, y) = (10i128.pow(b.scale), 10i128.pow(a.scale));
            (i128::from(a.numerator) * x).cmp(&(i128::from(b.numerator) * y))
        });
        warn_at.dedup();
        if warn_at.len() > crate::engine::MAX_WARNINGS {
            err(
                "warn_at".into(),
                format!("at most {} thresholds", crate::engine::MAX_WARNINGS),
            );
        }
        let mut pauses = [false; 6];
        for s in spec.pause_statuses.iter().flatten() {
            match Status::parse(s) {
                Some(st) => pauses[st.index()] = true,
                None => err(
                    "pause_statuses".into(),
                    format!("{s:?} is not a status (PENDING, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED, CANCELLED)"),
                ),
            }
        }
        let mut priorities: Vec<String> = spec.targets.keys().cloned().collect();
        for st in spec.service_types.values() {
            for p in st.targets.keys() {
                if !priorities.contains(p) {
                    priorities.push(p.clone());
                }
            }
        }
        if priorities.len() > 250 {
            err("targets".into(), "at most 250 priorities".into());
        }
        let compile_targets = |targets: &BTreeMap<String, GoalTargetsSpec>,
                               prefix: &str,
                               err: &mut dyn FnMut(String, String)| {
            priorities
                .iter()
                .map(|p| {
                    let t = targets.get(p)?;
                    match (t.response, t.resolution) {
                        (Some(r), Some(s)) => Some([r.0, s.0]),
                        (r, _) => {
                            let missing = if r.is_none() {
                                "response"
                            } else {
                                "resolution"
                            };
                            err(
                                format!("{prefix}targets.{p}.{missing}"),
                                format!("priority {p} has no {missing} target"),
                            );
                            None
                        }
                    }
                })
                .collect::<Vec<_>>()
        };
        let base_calendar = calendar_of(&spec.calendar, "calendar", &mut err);
        let base_targets = compile_targets(&spec.targets, "", &mut err);
        let mut service_types = Vec::new();
        for (name, st) in &spec.service_types {
            let cal_name = st.calendar.clone().or_else(|| spec.calendar.clone());
            let cal = calendar_of(
                &cal_name,
                &format!("service_types.{name}.calendar"),
                &mut err,
            );
            let targets = merge_targets(&spec.targets, &st.targets);
            let targets = compile_targets(&targets, &format!("service_types.{name}."), &mut err);
            if let Some(calendar) = cal {
                service_types.push((name.clone(), ServiceRules { calendar, targets }));
            }
        }
        match base_calendar {
            Some(calendar) if errors.is_empty() => Ok(PolicyVersion {
                version,
                effective_from,
                spec: spec.clone(),
                warn_at,
                pauses,
                priorities,
                base: ServiceRules {
                    calendar,
                    targets: base_targets,
                },
                service_types,
            }),
            _ => Err(errors),
        }
    }
}

impl PolicyVersion {
    fn placeholder() -> PolicyVersion {
        PolicyVersion {
            version: 0,
            effective_from: Millis::MIN,
            spec: PolicySpec::default(),
            warn_at: Vec::new(),
            pauses: [false; 6],
            priorities: Vec::new(),
            base: ServiceRules {
                calendar: Arc::new(Calendar::Always),
                targets: Vec::new(),
            },
            service_types: Vec::new(),
        }
    }
}

/// Merges targets per priority and per goal: `over` wins where it names a goal.
fn merge_targets(
    base: &BTreeMap<String, GoalTargetsSpec>,
    over: &BTreeMap<String, GoalTargetsSpec>,
) -> BTreeMap<String, GoalTargetsSpec> {
    let mut out = base.clone();
    for (p, t) in over {
        let e = out.entry(p.clone()).or_default();
        e.response = t.response.or(e.response);
        e.resolution = t.resolution.or(e.resolution);
    }
    out
}

/// `over` on top of `base`: fields `over` names win; targets and service types merge per key.
pub fn merge(base: &PolicySpec, over: &PolicySpec) -> PolicySpec {
    let mut service_types = base.service_types.clone();
    for (name, st) in &over.service_types {
        let e = service_types.entry(name.clone()).or_default();
        e.calendar = st.calendar.clone().or_else(|| e.calendar.clone());
        e.targets = merge_targets(&e.targets, &st.targets);
    }
    PolicySpec {
        calendar: over.calendar.clone().or_else(|| base.calendar.clone()),
        warn_at: over.warn_at.clone().or_else(|| base.warn_at.clone()),
        pause_statuses: over
            .pause_statuses
            .clone()
            .or_else(|| base.pause_statuses.clone()),
        targets: merge_targets(&base.targets, &over.targets),
        service_types,
        effective_from: None,
    }
}

/// A tenant's policy versions, in the order they were applied.
#[derive(Debug, Clone)]
pub struct TenantPolicies {
    versions: Vec<Arc<PolicyVersion>>,
}

impl TenantPolicies {
    /// Starts from the configured policy (version 1).
    pub fn new(initial: Arc<PolicyVersion>) -> TenantPolicies {
        TenantPolicies {
            versions: vec![initial],
        }
    }

    /// The version a ticket created at `t` runs under: the greatest `effective_from <= t`; of
    /// equal ones, the later version.
    pub fn in_force_at(&self, t: Millis) -> &Arc<PolicyVersion> {
        let mut best = &self.versions[0];
        for v in &self.versions[1..] {
            if v.effective_from <= t && v.effective_from >= best.effective_from {
                best = v;
            }
        }
        best
    }

    /// The latest version applied.
    pub fn latest(&self) -> &Arc<PolicyVersion> {
        // `versions` is never empty: it starts with version 1.
        &self.versions[self.versions.len() - 1]
    }

    /// A version by number.
    pub fn get(&self, version: u32) -> Option<&Arc<PolicyVersion>> {
        self.versions
            .get(usize::try_from(version).ok()?.checked_sub(1)?)
    }

    /// Compiles an `sla.policy_updated` policy object over the latest version, without adding
    /// it: the judgement of the event on its own.
    pub fn prepare_update(
        &self,
        book: &PolicyBook,
        tenant: u64,
        policy_json: &str,
    ) -> Result<PolicyVersion, PolicyError> {
        let invalid = |path: &str, message: String| PolicyError {
            tenant: Some(tenant),
            path: path.to_string(),
            message,
        };
        let update: PolicySpec =
            serde_json::from_str(policy_json).map_err(|e| invalid("policy", e.to_string()))?;
        let effective_from = update
            .effective_from
            .as_deref()
            .ok_or_else(|| invalid("policy.effective_from", "is required".into()))?;
        let effective_from = parse_instant(effective_from).ok_or_else(|| {
            invalid(
                "policy.effective_from",
                "must be an RFC 3339 instant".into(),
            )
        })?;
        let merged = merge(&self.latest().spec, &update);
        let next = u32::try_from(self.versions.len() + 1).unwrap_or(u32::MAX);
        book.compile(&merged, next, effective_from, Some(tenant))
            .map_err(|mut errs| errs.swap_remove(0))
    }

    /// Every version, oldest (1) first.
    pub fn versions(&self) -> &[Arc<PolicyVersion>] {
        &self.versions
    }

    /// The versions of a snapshot, compiled again with the configured calendars: version 1
    /// must be the configured policy as it is now (else the snapshot no longer describes what
    /// this configuration would have built, and the caller rebuilds from the stream).
    pub fn restore(
        book: &PolicyBook,
        tenant: u64,
        saved: &[(u32, Millis, PolicySpec)],
    ) -> Result<TenantPolicies, String> {
        let initial = book.initial(tenant);
        match saved.first() {
            Some((1, _, spec)) if *spec == initial.spec => {}
            Some(_) => return Err("the configured policy changed since the snapshot".into()),
            None => return Err("no policy versions".into()),
        }
        let mut versions = vec![initial];
        for (number, effective_from, spec) in &saved[1..] {
            if usize::try_from(*number).ok() != Some(versions.len() + 1) {
                return Err(format!("policy version {number} out of order"));
            }
            let version = book
                .compile(spec, *number, *effective_from, Some(tenant))
                .map_err(|errs| {
                    errs.first()
                        .map_or_else(|| "does not compile".to_string(), |e| e.message.clone())
                })?;
            versions.push(Arc::new(version));
        }
        Ok(TenantPolicies { versions })
    }

    /// Adds a version made by [`prepare_update`](Self::prepare_update) from the latest one.
    pub fn push(&mut self, version: PolicyVersion) -> &Arc<PolicyVersion> {
        self.versions.push(Arc::new(version));
        self.latest()
    }

    /// Applies an `sla.policy_updated` policy object: [`prepare_update`](Self::prepare_update),
    /// then [`push`](Self::push).
    pub fn apply_update(
        &mut self,
        book: &PolicyBook,
        tenant: u64,
        policy_json: &str,
    ) -> Result<&Arc<PolicyVersion>, PolicyError> {
        let version = self.prepare_update(book, tenant, policy_json)?;
        Ok(self.push(version))
    }
}
