//! The key space of the runtime layer: which configuration keys may change while the service
//! runs, which may not (and why), and which tenant a key belongs to.
//!
//! Keys are dotted paths of the configuration. Runtime keys:
//! - `log.filter`: the `RUST_LOG`-style log filter of every instance.
//! - `http.rate_limit_per_ip`, `http.rate_limit_per_tenant`: the API's request limits (per
//!   minute; 0 switches one off).
//! - `flags.<name>`: a feature flag ([`super::flags::Switch`] names the known ones).
//! - `tenant.<id>.sla.<field>` with field `calendar`, `warn_at`, `pause_statuses`, `targets` or
//!   `service_types`: a tenant's SLA policy, applied as a new policy version exactly like an
//!   `sla.policy_updated` event (tickets created afterwards use it; open tickets keep theirs).
//! - `notify.<list>` and `tenant.<id>.notify.<list>` with list `contacts`, `schedules`,
//!   `policies` or `routes`: the on-call routing of everyone, or a tenant's own in front of it.
//! - `secrets.<VARIABLE>`: the value of a secret the configuration names by its environment
//!   variable (`notify.smtp.password_env = "SMTP_PASSWORD"` → `secrets.SMTP_PASSWORD`), stored
//!   sealed and never shown ([`crate::secrets`]).
//!
//! Every other key of `vigil.toml` is read once at start and refused with the reason.

use std::fmt;

use crate::flags::Switch;

/// A field of a tenant's SLA policy that the runtime layer may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlaField {
    /// `calendar`: the name of a calendar of `[calendars]`, or `24x7`.
    Calendar,
    /// `warn_at`: warning fractions in (0, 1).
    WarnAt,
    /// `pause_statuses`: statuses during which goals accrue nothing.
    PauseStatuses,
    /// `targets`: response and resolution targets per priority.
    Targets,
    /// `service_types`: overrides per service type.
    ServiceTypes,
}

impl SlaField {
    /// Every field, in the order of DESIGN.md §3's `[policy]`.
    pub const ALL: [SlaField; 5] = [
        SlaField::Calendar,
        SlaField::WarnAt,
        SlaField::PauseStatuses,
        SlaField::Targets,
        SlaField::ServiceTypes,
    ];

    /// The field's name in a policy object.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaField::Calendar => "calendar",
            SlaField::WarnAt => "warn_at",
            SlaField::PauseStatuses => "pause_statuses",
            SlaField::Targets => "targets",
            SlaField::ServiceTypes => "service_types",
        }
    }

    fn parse(s: &str) -> Option<SlaField> {
        SlaField::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A list of the on-call routing (`[notify]`, or a tenant file's `[notify]`) that the runtime
/// layer may set: the whole list at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyField {
    /// `contacts`: people with their addresses, language, zone and quiet hours.
    Contacts,
    /// `schedules`: on-call rotations.
    Schedules,
    /// `policies`: escalation policies.
    Policies,
    /// `routes`: which alerts go to which policy.
    Routes,
}

impl NotifyField {
    /// Every list.
    pub const ALL: [NotifyField; 4] = [
        NotifyField::Contacts,
        NotifyField::Schedules,
        NotifyField::Policies,
        NotifyField::Routes,
    ];

    /// The list's name in `[notify]`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyField::Contacts => "contacts",
            NotifyField::Schedules => "schedules",
            NotifyField::Policies => "policies",
            NotifyField::Routes => "routes",
        }
    }

    fn parse(s: &str) -> Option<NotifyField> {
        NotifyField::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A request limit of `[http]` that the runtime layer may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpLimit {
    /// `rate_limit_per_ip`: requests per minute per client address.
    PerIp,
    /// `rate_limit_per_tenant`: requests per minute per tenant.
    PerTenant,
}

impl HttpLimit {
    /// Both limits.
    pub const ALL: [HttpLimit; 2] = [HttpLimit::PerIp, HttpLimit::PerTenant];

    /// The field's name in `[http]`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpLimit::PerIp => "rate_limit_per_ip",
            HttpLimit::PerTenant => "rate_limit_per_tenant",
        }
    }

    fn parse(s: &str) -> Option<HttpLimit> {
        HttpLimit::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A key of the runtime layer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuntimeKey {
    /// `log.filter`.
    LogFilter,
    /// `http.rate_limit_per_ip` or `http.rate_limit_per_tenant`.
    HttpLimit(HttpLimit),
    /// `flags.<name>`.
    Flag(Switch),
    /// `tenant.<id>.sla.<field>`.
    TenantSla {
        /// The tenant.
        tenant: u64,
        /// The policy field.
        field: SlaField,
    },
    /// `notify.<list>`: a list of the main file's on-call routing.
    Notify(NotifyField),
    /// `tenant.<id>.notify.<list>`: a list of a tenant's own on-call routing.
    TenantNotify {
        /// The tenant.
        tenant: u64,
        /// The list.
        field: NotifyField,
    },
    /// `secrets.<VARIABLE>`: a secret named by its environment variable.
    Secret(String),
}

/// Why a key is not a runtime key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a key of the configuration at all.
    #[error("{key}: unknown key; runtime keys are log.filter, http.rate_limit_per_ip, http.rate_limit_per_tenant, flags.<name>, notify.<contacts|schedules|policies|routes>, tenant.<id>.sla.<calendar|warn_at|pause_statuses|targets|service_types>, tenant.<id>.notify.<contacts|schedules|policies|routes> and secrets.<VARIABLE>")]
    Unknown {
        /// The key as given.
        key: String,
    },
    /// A key of the configuration that is read once at start.
    #[error("{key}: cannot change at run time: {reason}")]
    StartOnly {
        /// The key as given.
        key: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
}

/// Sections of `vigil.toml` read once at start, with the reason given when a key in them is
/// set at run time.
const START_ONLY: &[(&str, &str)] = &[
    ("nats", "the streams and their partitions are fixed at start (partitions for the life of the stream); change config/vigil.toml and restart"),
    ("store", "the store connection is opened at start; change config/vigil.toml and restart"),
    ("http", "the listeners are set up at start (the request limits change at run time as http.rate_limit_per_ip and http.rate_limit_per_tenant); change config/vigil.toml and restart"),
    ("ws", "the WebSocket hub is set up at start; change config/vigil.toml and restart"),
    ("notify", "notification providers, delivery settings and limits are set up at start (contacts, schedules, policies and routes change at run time as notify.<list>); change config/vigil.toml and restart"),
    ("partners", "exchange partners are connected at start; switch one off with flags.partner.<id>, or change config/vigil.toml and restart"),
    ("auth", "token verification is set up at start; change config/vigil.toml and restart"),
    ("engine", "the engine's clock and snapshot settings are fixed at start; change config/vigil.toml and restart"),
    ("cluster", "leases and shared limits are set up at start; change config/vigil.toml and restart"),
    ("metrics", "metric labels are bounded at start; change config/vigil.toml and restart"),
    ("tenants", "the tenant files are read at start; change a tenant's policy with tenant.<id>.sla.<field>"),
    ("sla", "the default policy is version 1 of every tenant and fixed at start; change a tenant's policy with tenant.<id>.sla.<field> (a new policy version)"),
    ("calendars", "calendars are compiled at start; define the calendar in config/vigil.toml and restart, then name it with tenant.<id>.sla.calendar"),
];

impl RuntimeKey {
    /// Parses a dotted key, or says why it cannot change at run time.
    pub fn parse(key: &str) -> Result<RuntimeKey, KeyError> {
        let unknown = || KeyError::Unknown { key: key.into() };
        let parts: Vec<&str> = key.split('.').collect();
        match parts.as_slice() {
            ["log", "filter"] => Ok(RuntimeKey::LogFilter),
            ["http", field] if HttpLimit::parse(field).is_some() => HttpLimit::parse(field)
                .map(RuntimeKey::HttpLimit)
                .ok_or_else(unknown),
            ["log", "format"] => Err(KeyError::StartOnly {
                key: key.into(),
                reason: "the log format is chosen at start; change config/vigil.toml and restart",
            }),
            ["flags", rest @ ..] if !rest.is_empty() => Switch::parse(&rest.join("."))
                .map(RuntimeKey::Flag)
                .ok_or_else(unknown),
            ["tenant", tenant, section @ ("sla" | "notify"), field] => {
                let tenant = tenant
                    .parse::<u64>()
                    .ok()
                    .filter(|t| *t > 0 && tenant.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(unknown)?;
                if *section == "sla" {
                    let field = SlaField::parse(field).ok_or_else(unknown)?;
                    Ok(RuntimeKey::TenantSla { tenant, field })
                } else {
                    let field = NotifyField::parse(field).ok_or_else(unknown)?;
                    Ok(RuntimeKey::TenantNotify { tenant, field })
                }
            }
            ["secrets", name] if is_variable_name(name) => Ok(RuntimeKey::Secret(name.to_string())),
            ["notify", field] if NotifyField::parse(field).is_some() => NotifyField::parse(field)
                .map(RuntimeKey::Notify)
                .ok_or_else(unknown),
            [section, ..] => match START_ONLY.iter().find(|(s, _)| s == section) {
                Some((_, reason)) => Err(KeyError::StartOnly {
                    key: key.into(),
                    reason,
                }),
                None => Err(unknown()),
            },
            [] => Err(unknown()),
        }
    }

    /// The tenant a key belongs to (`None` for global keys).
    pub fn tenant(&self) -> Option<u64> {
        match self {
            RuntimeKey::TenantSla { tenant, .. } | RuntimeKey::TenantNotify { tenant, .. } => {
                Some(*tenant)
            }
            RuntimeKey::LogFilter
            | RuntimeKey::HttpLimit(_)
            | RuntimeKey::Flag(_)
            | RuntimeKey::Notify(_)
            | RuntimeKey::Secret(_) => None,
        }
    }

    /// Whether the key holds a secret (stored sealed, never shown).
    pub fn is_secret(&self) -> bool {
        matches!(self, RuntimeKey::Secret(_))
    }

    /// Whether the key is part of the on-call routing.
    pub fn is_notify(&self) -> bool {
        matches!(
            self,
            RuntimeKey::Notify(_) | RuntimeKey::TenantNotify { .. }
        )
    }
}

impl fmt::Display for RuntimeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeKey::LogFilter => f.write_str("log.filter"),
            RuntimeKey::HttpLimit(limit) => write!(f, "http.{}", limit.as_str()),
            RuntimeKey::Flag(switch) => write!(f, "flags.{switch}"),
            RuntimeKey::TenantSla { tenant, field } => {
                write!(f, "tenant.{tenant}.sla.{}", field.as_str())
            }
            RuntimeKey::Notify(field) => write!(f, "notify.{}", field.as_str()),
            RuntimeKey::TenantNotify { tenant, field } => {
                write!(f, "tenant.{tenant}.notify.{}", field.as_str())
            }
            RuntimeKey::Secret(name) => write!(f, "secrets.{name}"),
        }
    }
}

/// An environment variable's name: a letter or `_`, then letters, digits or `_`.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The secrets this configuration reads, by variable: the setting that names each (a variable
/// named twice gives its first setting). Only these may be set as `secrets.<VARIABLE>`.
pub fn secret_variables(config: &crate::config::VigilConfig) -> Vec<(String, String)> {
    use crate::partner::config::AuthConfig;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |var: &str, field: String| {
        if !out.iter().any(|(v, _)| v == var) {
            out.push((var.to_string(), field));
        }
    };
    if let Some(smtp) = &config.notify.smtp {
        if let Some(var) = &smtp.password_env {
            add(var, "notify.smtp.password_env".into());
        }
    }
    if let Some(var) = config
        .notify
        .sms
        .as_ref()
        .and_then(|s| s.auth_header_env.as_ref())
    {
        add(var, "notify.sms.auth_header_env".into());
    }
    if let Some(webhook) = &config.notify.webhook {
        add(&webhook.secret_env, "notify.webhook.secret_env".into());
    }
    for p in &config.partners {
        let field = |name: &str| format!("partners[{}].auth.{name}", p.id);
        match &p.auth {
            AuthConfig::ApiKey { key_env, .. } => add(key_env, field("key_env")),
            AuthConfig::Hmac { secret_env, .. } => add(secret_env, field("secret_env")),
            AuthConfig::Oauth2 {
                client_secret_env, ..
            } => add(client_secret_env, field("client_secret_env")),
            AuthConfig::None => {}
        }
    }
    out
}

/// Every flag of this configuration: the fixed ones and one per configured partner.
pub fn known_switches(config: &crate::config::VigilConfig) -> Vec<Switch> {
    Switch::FIXED
        .into_iter()
        .chain(
            config
                .partners
                .iter()
                .map(|p| Switch::Partner(p.id.clone())),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_keys_parse_and_print_back() {
        for key in [
            "log.filter",
            "http.rate_limit_per_ip",
            "http.rate_limit_per_tenant",
            "flags.ws.tickets",
            "flags.notify.sms",
            "flags.partner.acme",
            "tenant.7.sla.targets",
            "tenant.12345.sla.calendar",
            "notify.routes",
            "tenant.7.notify.contacts",
            "secrets.SMTP_PASSWORD",
            "secrets._x1",
        ] {
            let parsed = RuntimeKey::parse(key).unwrap();
            assert_eq!(parsed.to_string(), key);
        }
        assert_eq!(
            RuntimeKey::parse("tenant.7.sla.warn_at").unwrap().tenant(),
            Some(7)
        );
    }

    #[test]
    fn start_only_keys_are_refused_with_their_reason() {
        for key in [
            "http.listen",
            "store.url",
            "nats.partitions",
            "log.format",
            "notify.smtp",
        ] {
            match RuntimeKey::parse(key) {
                Err(KeyError::StartOnly { reason, .. }) => {
                    assert!(reason.contains("restart"), "{key}: {reason}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        for key in [
            "",
            "nope",
            "flags.nope",
            "tenant.0.sla.targets",
            "tenant.+7.sla.targets",
            "tenant.7.sla.nope",
            "tenant.x.sla.targets",
            "tenant.7.notify.smtp",
            "secrets.",
            "secrets.1ABC",
            "secrets.A-B",
            "secrets.A.B",
        ] {
            assert!(
                matches!(RuntimeKey::parse(key), Err(KeyError::Unknown { .. })),
                "{key}"
            );
        }
    }
}
