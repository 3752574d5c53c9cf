//! Vigil's engine: SLA clocks, business calendars, rolling metrics and alert state per tenant,
//! and the actix actors that own them in the service. The core is plain Rust with no I/O and
//! no clock of its own; `vigil replay` and `vigil run` drive the same code.
//!
//! # Layout
//! - [`policy`]: policy settings, merged and compiled into versions.
//! - [`calendar`]: business calendars (settings and compiled): SLA time between instants, and
//!   when an amount elapses.
//! - [`engine`]: one tenant's tickets, goal clocks, timers and alert state.
//! - [`metrics`]: rolling per-tenant service metrics over 1 h, 24 h, 7 d and 30 d.
//! - [`alert`]: the alert record shared by replay output, messages and the store.
//! - [`record`]: the SLA record of a stopped goal, for exchange partners, and the ticket facts
//!   SLA reports are computed from.
//! - [`clock`]: wall clock and manual clock.
//! - [`snapshot`]: the snapshot format (versioned, checksummed postcard) and engine state.
//! - [`event_time`]: the event-time driver (reorder buffer, watermark) used by replay.
//! - [`supervisor`]: actix actors, one per tenant, spread over arbiters.

pub mod alert;
pub mod calendar;
pub mod clock;
pub mod engine;
pub mod event_time;
pub mod metrics;
pub mod policy;
pub mod record;
pub mod snapshot;
pub mod supervisor;

pub use alert::{AlertRecord, AlertState, Goal, Level};
pub use engine::{EngineSettings, TenantEngine};
pub use event_time::{Collected, EventTimeDriver, Sink};
pub use policy::{PolicyBook, PolicyError, PolicySpec};
pub use record::{FactKind, SlaRecord, TicketFact};
