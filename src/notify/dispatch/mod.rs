//! The delivery side of the outbox: takes due notifications, holds back what must wait
//! (silences, quiet hours, rate limits, `group_interval`, an open circuit breaker), drops what
//! is no longer wanted (acknowledged, resolved, inhibited), folds what goes to one recipient on
//! one channel into one message, sends it, and records the outcome: sent, retried with backoff,
//! or failed; SMS that cannot go out falls back to email and webhook.
//!
//! # Layout
//! - `dispatcher`: the [`Dispatcher`], its loop and one [`Round`]: claim, screen, group, send,
//!   settle.
//! - `screen`: whether to send now: cancelled, inhibited, silenced, quiet hours (each
//!   notification); open breaker, `group_interval`, rate limits (each group).
//! - `compose`: which notifications go out as one message, and that message's words.
//! - `group`: what the steps hand each other: group keys, ready messages, holds.
//! - `settle`: a send's outcome (sent, retry with backoff, failed), the breaker and metrics it
//!   updates, and SMS fallbacks.

mod compose;
mod dispatcher;
mod group;
mod screen;
mod settle;

pub use dispatcher::{Dispatcher, Round};
pub use settle::retry_delay;
