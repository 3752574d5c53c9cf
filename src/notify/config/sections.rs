//! The shape of `[notify]` and of a tenant file's `[notify]`: SMTP and SMS providers, contacts,
//! on-call schedules, escalation policies, routes, limits and delivery settings, with every
//! default; and the lookups of a contact and of where it is reached.

use serde::{Deserialize, Serialize};

use crate::notify::schedule::ScheduleSpec;
use crate::setting::ConfigDuration;

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
    /// A contact by id.
    pub fn contact(&self, id: &str) -> Option<&ContactSpec> {
        self.contacts.iter().find(|c| c.id == id)
    }

    /// Where a contact is reached on a channel: an email address, a phone number or a
    /// webhook URL; `None` when they cannot be.
    pub fn address<'a>(&'a self, contact: &'a ContactSpec, channel: Channel) -> Option<&'a str> {
        match channel {
            Channel::Email => contact.email.as_deref(),
            Channel::Sms => contact.phone.as_deref(),
            Channel::Webhook => contact
                .webhook
                .as_deref()
                .or_else(|| self.webhook.as_ref().and_then(|w| w.url.as_deref())),
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

impl Channel {
    /// Its name in configuration and in the outbox's `channel` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Webhook => "webhook",
        }
    }

    /// The channel of a name [`Channel::as_str`] gives.
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
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

pub(crate) fn default_wait() -> ConfigDuration {
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

    /// The values, one or many.
    pub(super) fn values(&self) -> Vec<&str> {
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

pub(crate) fn default_group_wait() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}

pub(crate) fn default_group_interval() -> ConfigDuration {
    ConfigDuration::from_mins(5)
}

fn default_true() -> bool {
    true
}
