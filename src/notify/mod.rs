//! On-call notifications (DESIGN.md §7.1): who hears about an alert, on which channel, and
//! when the next person is paged if nobody acknowledged.
//!
//! # Layout
//! - [`config`]: `[notify]` as written (providers, contacts, escalation policies, routes,
//!   limits, delivery), with the checks `vigil check-config` reports.
//! - [`schedule`]: on-call schedules as written (`[[notify.schedules]]`) and who is on call at
//!   an instant (weekly rotations, hand-over in the schedule's time zone, overrides).
//! - [`tenant_routing`]: whose routing applies to an alert: the main file's (with built-in
//!   routes when it names none), or a tenant's own merged in front of it.
//! - [`escalation`]: which route an alert takes, and the timed pages its policy starts.
//! - [`outbox_work`]: what an alert change asks of the notification outbox (pages to write,
//!   pages to cancel, resolution messages).
//! - [`intake`]: alert changes (from `vigil.alerts.*`) into the outbox.
//! - [`dispatch`]: the outbox out to the providers: screening, grouping, sending, settling.
//! - [`silence`]: what a silence (maintenance window, a [`crate::store::Silence`]) holds back.
//! - [`limits`]: rate limits per recipient and channel.
//! - [`lease`]: a round's claim on its notifications, renewed while the round sends.
//! - [`message`]: the words: one-segment SMS and emails, in English or Chinese.
//! - [`channel`]: the providers (SMTP, HTTP SMS gateway, signed webhook).
//! - [`ack_token`]: the signed, expiring tokens of ack links (`/ack/{token}`): encoding,
//!   signing, checking, and their key.
//! - [`notifier`]: intake and dispatch running in the service.

pub mod ack_token;
pub mod channel;
pub mod config;
pub mod dispatch;
pub mod escalation;
pub mod intake;
pub mod lease;
pub mod limits;
pub mod message;
pub mod notifier;
pub mod outbox_work;
pub mod schedule;
pub mod silence;
pub mod tenant_routing;

pub use config::NotifyConfig;
pub use notifier::Notifier;
pub use tenant_routing::{Routing, RoutingHandle};
