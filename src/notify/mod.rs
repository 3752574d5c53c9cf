//! On-call notifications (DESIGN.md §7.1): who hears about an alert, on which channel, and
//! when the next person is paged if nobody acknowledged.
//!
//! # Layout
//! - [`ack_link`]: signed, expiring ack links (`/ack/{token}`) and their key.
//! - [`channel`]: the providers (SMTP, HTTP SMS gateway, signed webhook).
//! - [`config`]: `[notify]`: providers, contacts, escalation policies, routes, with the checks
//!   `vigil check-config` reports.
//! - [`schedule`]: on-call schedules as written (`[[notify.schedules]]`) and who is on call at
//!   an instant (weekly rotations, hand-over in the schedule's time zone, overrides).
//! - [`routing`]: the main file's routing, or a tenant's own merged in front of it.
//! - [`route`]: which route an alert takes, and the escalation plan it starts.
//! - [`plan`]: what an alert change asks of the notification outbox.
//! - [`message`]: the words: one-segment SMS and emails, in English or Chinese.
//! - [`silence`]: what a silence (maintenance window, a [`crate::store::Silence`]) holds back.
//! - [`limits`]: rate limits per recipient and channel.
//! - [`lease`]: a round's claim on its notifications, renewed while the round sends.
//! - [`intake`]: alert changes (from `vigil.alerts.*`) into the outbox.
//! - [`dispatch`]: the outbox out to the providers: grouping, holds, retries, fallback.
//! - [`notifier`]: both of them running in the service.

pub mod ack_link;
pub mod channel;
pub mod config;
pub mod dispatch;
pub mod intake;
pub mod lease;
pub mod limits;
pub mod message;
pub mod notifier;
pub mod plan;
pub mod route;
pub mod routing;
pub mod schedule;
pub mod silence;

pub use config::NotifyConfig;
pub use notifier::Notifier;
pub use routing::Routing;
