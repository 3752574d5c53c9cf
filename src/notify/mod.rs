//! On-call notifications (DESIGN.md §7.1): who hears about an alert, on which channel, and
//! when the next person is paged if nobody acknowledged.
//!
//! # Layout
//! - [`ack_link`]: signed, expiring ack links (`/ack/{token}`) and their key.
//! - [`channel`]: the providers (SMTP, HTTP SMS gateway, signed webhook).
//! - [`config`]: `[notify]`: providers, contacts, schedules, escalation policies, routes, with
//!   the checks `vigil check-config` reports.
//! - [`schedule`]: who is on call at an instant (weekly rotations, hand-over in the schedule's
//!   time zone, overrides).
//! - [`route`]: which route an alert takes, and the escalation plan it starts.
//! - [`plan`]: what an alert change asks of the notification outbox.
//! - [`message`]: the words: one-segment SMS and emails, in English or Chinese.
//! - [`group`]: grouping bursts into one message (`group_wait`, `group_interval`).
//! - [`silence`]: maintenance windows that hold notifications back.

pub mod ack_link;
pub mod channel;
pub mod config;
pub mod group;
pub mod message;
pub mod plan;
pub mod route;
pub mod schedule;
pub mod silence;

pub use config::NotifyConfig;
