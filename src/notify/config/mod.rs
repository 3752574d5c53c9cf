//! `[notify]` (DESIGN.md §7.1) as written in `vigil.toml` and in tenant files, and the checks
//! serde cannot express.
//!
//! # Layout
//! - `sections`: the types (providers, contacts, policies, routes, limits, delivery) with every
//!   default, and the lookups of a contact and of where it is reached on a channel.
//! - `checks`: validation: every problem of a `[notify]` at once, each with its field.

mod checks;
mod sections;

pub use checks::NotifyProblem;
pub(crate) use sections::{default_group_interval, default_group_wait, default_wait};
pub use sections::{
    Channel, ChannelLimit, ContactSpec, DeliveryConfig, LimitsConfig, Locale, MatchSpec,
    NotifyConfig, OneOrMany, PolicySpec, RouteSpec, SmsConfig, SmsFormat, SmtpConfig, StepSpec,
    TenantNotify, TlsMode, WebhookConfig,
};
