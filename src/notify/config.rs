//! `[notify]`: SMTP and SMS providers, contacts, on-call schedules, escalation policies and
//! routes (DESIGN.md §7.1), and the checks serde cannot express.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::lease::lease_problem;
use super::schedule::{parse_handover, parse_range, ScheduleSpec};
use crate::setting::ConfigDuration;
use crate::setting::FieldPath;

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[notify.smtp]`: the email relay; email is off without it.
    pub smtp: Option<SmtpConfig>,
    /// `[notify.sms]`: the SMS gateway; SMS is off without it.
    pub sms: Option<SmsConfig>,
    /// `[[notify.contacts]]`.
    pub contacts: Vec<ContactSpec>,
    /// `[[notify.schedules]]`.
    pub schedules: Vec<ScheduleSpec>,
    /// `[[notify.policies]]`.
    pub policies: Vec<PolicySpec>,
    /// `[[notify.routes]]`: the first that matches an alert wins.
    pub routes: Vec<RouteSpec>,
    /// `[notify.webhook]`: the signed webhook; the webhook channel is off without it.
    pub webhook: Option<WebhookConfig>,
    /// The address people reach this service at, for ack and dashboard links in messages
    /// (`https://vigil.example.com`). Default: `http://` + `http.listen`.
    pub public_url: Option<String>,
    /// The environment variable holding the key that signs ack links. Default: a random key
    /// kept in the store, shared by every instance.
    pub link_secret_env: Option<String>,
    /// How long an ack link works. Default 24h.
    pub ack_link_ttl: ConfigDuration,
    /// `[notify.limits]`: per recipient and channel.
    pub limits: LimitsConfig,
    /// `[notify.delivery]`: retries, time-outs and workers.
    pub delivery: DeliveryConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            smtp: None,
            sms: None,
            contacts: Vec::new(),
            schedules: Vec::new(),
            policies: Vec::new(),
            routes: Vec::new(),
            webhook: None,
            public_url: None,
            link_secret_env: None,
            ack_link_ttl: ConfigDuration::from_days(1),
            limits: LimitsConfig::default(),
            delivery: DeliveryConfig::default(),
        }
    }
}

/// A tenant file's `[notify]`: the tenant's own contacts, schedules, policies and routes. Its
/// routes are tried before the main file's; its contacts, schedules and policies are added to
/// the main file's, replacing those of the same id for this tenant. Providers, limits and
/// delivery settings are the main file's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantNotify {
    /// The sender address of this tenant's email (else `[notify.smtp].from`).
    pub from: Option<String>,
    /// `[[notify.contacts]]`.
    pub contacts: Vec<ContactSpec>,
    /// `[[notify.schedules]]`.
    pub schedules: Vec<ScheduleSpec>,
    /// `[[notify.policies]]`.
    pub policies: Vec<PolicySpec>,
    /// `[[notify.routes]]`: tried before the main file's.
    pub routes: Vec<RouteSpec>,
}

impl TenantNotify {
    /// Whether the file has a `[notify]` of its own.
    pub fn is_empty(&self) -> bool {
        self == &TenantNotify::default()
    }
}

impl NotifyConfig {
    /// The built-in routing when contacts exist but no route does: breaches of CRITICAL and
    /// HIGH page the on-call (every schedule's, or every contact without schedules) by SMS
    /// and email, again after 5 minutes if nobody acknowledged; other breaches and all
    /// warnings email them. Channels without a provider are left out.
    pub fn with_default_routes(mut self) -> NotifyConfig {
        if !self.routes.is_empty() || self.contacts.is_empty() {
            return self;
        }
        let on_call: Vec<String> = if self.schedules.is_empty() {
            self.contacts
                .iter()
                .map(|c| format!("contact:{}", c.id))
                .collect()
        } else {
            self.schedules
                .iter()
                .map(|s| format!("schedule:{}", s.id))
                .collect()
        };
        let page: Vec<Channel> = [
            (Channel::Sms, self.sms.is_some()),
            (Channel::Email, self.smtp.is_some()),
        ]
        .into_iter()
        .filter_map(|(c, on)| on.then_some(c))
        .collect();
        let email: Vec<Channel> = page
            .iter()
            .copied()
            .filter(|c| *c == Channel::Email)
            .collect();
        let mut policy = |id: &str, channels: Vec<Channel>, repeat: u32| {
            if channels.is_empty() {
                return None;
            }
            self.policies.push(PolicySpec {
                id: id.into(),
                repeat,
                steps: vec![StepSpec {
                    notify: on_call.clone(),
                    channels,
                    wait: default_wait(),
                }],
            });
            Some(id.to_string())
        };
        let breach = policy("default-page", page, 1);
        let mail = policy("default-email", email, 0);
        let route = |level: &str, priority: Option<Vec<String>>, policy: String| RouteSpec {
            matches: MatchSpec {
                level: Some(OneOrMany::One(level.into())),
                priority: priority.map(OneOrMany::Many),
                ..MatchSpec::default()
            },
            policy,
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            send_resolved: true,
        };
        if let Some(p) = breach {
            self.routes.push(route(
                "breach",
                Some(vec!["CRITICAL".into(), "HIGH".into()]),
                p,
            ));
        }
        if let Some(p) = mail {
            self.routes.push(route("breach", None, p.clone()));
            self.routes.push(route("warning", None, p));
        }
        self
    }

    /// The routing of a tenant with `own` in its file: its items first (so a problem's index
    /// in `notify.contacts[i]` is the same in the tenant file), then the main file's items whose
    /// ids it does not replace.
    pub fn for_tenant(&self, own: &TenantNotify) -> NotifyConfig {
        fn merged<T: Clone>(own: &[T], main: &[T], id: impl Fn(&T) -> &str) -> Vec<T> {
            let mut out = own.to_vec();
            out.extend(
                main.iter()
                    .filter(|m| !own.iter().any(|o| id(o) == id(m)))
                    .cloned(),
            );
            out
        }
        let mut routes = own.routes.clone();
        routes.extend(self.routes.iter().cloned());
        let mut smtp = self.smtp.clone();
        if let (Some(smtp), Some(from)) = (smtp.as_mut(), &own.from) {
            smtp.from = from.clone();
        }
        NotifyConfig {
            smtp,
            contacts: merged(&own.contacts, &self.contacts, |c| &c.id),
            schedules: merged(&own.schedules, &self.schedules, |s| &s.id),
            policies: merged(&own.policies, &self.policies, |p| &p.id),
            routes,
            ..self.clone()
        }
    }
}

/// `[notify.webhook]`: JSON POSTs signed with HMAC-SHA256 (`X-Vigil-Signature: sha256=<hex>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST when the contact names no `webhook` of their own.
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the signing secret.
    pub secret_env: String,
}

/// At most `per_minute` and `per_hour` messages to one recipient on one channel; the excess
/// waits and is folded into the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelLimit {
    /// Messages per minute.
    pub per_minute: u32,
    /// Messages per hour.
    pub per_hour: u32,
}

/// `[notify.limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Default 1 per minute, 30 per hour.
    pub sms: ChannelLimit,
    /// Default 6 per minute, 120 per hour.
    pub email: ChannelLimit,
    /// Default 60 per minute, 1,000 per hour.
    pub webhook: ChannelLimit,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            sms: ChannelLimit {
                per_minute: 1,
                per_hour: 30,
            },
            email: ChannelLimit {
                per_minute: 6,
                per_hour: 120,
            },
            webhook: ChannelLimit {
                per_minute: 60,
                per_hour: 1000,
            },
        }
    }
}

/// `[notify.delivery]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// How long one attempt may take. Default 10s.
    pub send_timeout: ConfigDuration,
    /// How long a taken notification is reserved for the worker that took it; after a crash
    /// it is sent again (with the same idempotency key) once this passes. Renewed every third
    /// of it while the round that took it is still sending; at least 1s. Default 60s.
    pub claim_timeout: ConfigDuration,
    /// How long a notification is retried before it ends `failed`. Default 24h.
    pub give_up_after: ConfigDuration,
    /// Consecutive failures that open a provider's circuit breaker. Default 5.
    pub breaker_failures: u32,
    /// How long an open breaker waits before one trial send. Default 30s.
    pub breaker_cooldown: ConfigDuration,
    /// Notifications taken per round. Default 2000.
    pub batch: u32,
    /// Sends in flight at once. Default 64.
    pub concurrency: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            send_timeout: ConfigDuration::from_secs(10),
            claim_timeout: ConfigDuration::from_secs(60),
            give_up_after: ConfigDuration::from_days(1),
            breaker_failures: 5,
            breaker_cooldown: ConfigDuration::from_secs(30),
            batch: 2000,
            concurrency: 64,
        }
    }
}

/// How to talk to the SMTP relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP (local relays and test sinks only).
    None,
    /// STARTTLS after connecting.
    #[default]
    Starttls,
    /// TLS from the start (port 465).
    Tls,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host.
    pub host: String,
    /// Relay port. Default 587.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `none`, `starttls` or `tls`. Default `starttls`.
    #[serde(default)]
    pub tls: TlsMode,
    /// The sender address.
    pub from: String,
    /// User name, when the relay wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

/// How the SMS gateway takes a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsFormat {
    /// JSON POST `{"to": …, "text": …, "idempotency_key": …}`.
    #[default]
    Json,
    /// Form POST `to=…&text=…&idempotency_key=…` (Twilio style).
    Form,
}

/// `[notify.sms]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway's URL.
    pub url: String,
    /// `json` or `form`. Default `json`.
    #[serde(default)]
    pub format: SmsFormat,
    /// The environment variable holding the `Authorization` header's value.
    #[serde(default)]
    pub auth_header_env: Option<String>,
}

/// A contact's language for messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Locale {
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
}

/// `[[notify.contacts]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// Referenced as `contact:<id>` and in rotations.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number in E.164 (`+8613800000001`).
    #[serde(default)]
    pub phone: Option<String>,
    /// `zh-CN` or `en`. Default `en`.
    #[serde(default)]
    pub locale: Locale,
    /// IANA time zone of the contact (for quiet hours). Default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Local hours (`"22:00-07:00"`) in which warnings wait; breaches still page.
    #[serde(default)]
    pub quiet_hours: Option<String>,
    /// The contact's own webhook URL (else `[notify.webhook].url`).
    #[serde(default)]
    pub webhook: Option<String>,
}

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email over SMTP.
    Email,
    /// SMS through the HTTP gateway.
    Sms,
    /// A signed HTTP webhook.
    Webhook,
}

/// `[[notify.policies]]`: escalation steps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Referenced by routes.
    pub id: String,
    /// How many times the steps run again after the last one if nobody acknowledged.
    /// Default 0.
    #[serde(default)]
    pub repeat: u32,
    /// In order.
    pub steps: Vec<StepSpec>,
}

/// One escalation step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// `contact:<id>` or `schedule:<id>` (its current on-call).
    pub notify: Vec<String>,
    /// Channels to use. Default `["email"]`.
    #[serde(default = "default_channels")]
    pub channels: Vec<Channel>,
    /// How long to wait for an acknowledgement before the next step. Default `"5m"`.
    #[serde(default = "default_wait")]
    pub wait: ConfigDuration,
}

fn default_channels() -> Vec<Channel> {
    vec![Channel::Email]
}

fn default_wait() -> ConfigDuration {
    ConfigDuration::from_mins(5)
}

/// One value or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Any of these.
    Many(Vec<String>),
}

impl OneOrMany {
    /// Whether `value` is (one of) it.
    pub fn contains(&self, value: &str) -> bool {
        match self {
            OneOrMany::One(v) => v == value,
            OneOrMany::Many(vs) => vs.iter().any(|v| v == value),
        }
    }

    fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(v) => vec![v.as_str()],
            OneOrMany::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

/// What a route matches; an absent field matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchSpec {
    /// `warning` and/or `breach`.
    pub level: Option<OneOrMany>,
    /// `response` and/or `resolution`.
    pub goal: Option<OneOrMany>,
    /// Priority names.
    pub priority: Option<OneOrMany>,
    /// Service types.
    pub service_type: Option<OneOrMany>,
}

/// `[[notify.routes]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Which alerts; absent: all.
    #[serde(default, rename = "match")]
    pub matches: MatchSpec,
    /// The escalation policy.
    pub policy: String,
    /// Alerts of one tenant and route arriving within this go out as one message. Default
    /// `"30s"`.
    #[serde(default = "default_group_wait")]
    pub group_wait: ConfigDuration,
    /// Later alerts of the group go out at most this often. Default `"5m"`.
    #[serde(default = "default_group_interval")]
    pub group_interval: ConfigDuration,
    /// Send a short message when the alert resolves or is retracted. Default true.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_group_wait() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}

fn default_group_interval() -> ConfigDuration {
    ConfigDuration::from_mins(5)
}

fn default_true() -> bool {
    true
}

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
