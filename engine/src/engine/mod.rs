//! The SLA engine proper: tickets, goal clocks, timers and alert state of one tenant.
//!
//! # Layout
//! - `tenant`: one tenant's engine: judging and applying events, ticket lifecycle;
//!   `tenant::alerting`: its timer heap, firing due crossings, alert records.
//! - `ticket`: an open ticket: status, priority, policy version, its two goal clocks.
//! - `goal`: one goal's clock: accrued calendar time, stops, fired thresholds.
//! - `finals`: final tickets, remembered for the stream's retention.
//! - `interner`: the per-tenant string interner (service types, assignees).
//! - `probe`: the index of a tenant's tickets (and interned names), whose lookups can be
//!   prefetched.
//! - `view`: read-only views of a ticket's clocks, for the API.

mod finals;
mod goal;
mod interner;
mod probe;
mod tenant;
mod ticket;
mod view;

#[cfg(test)]
mod tests;

pub use goal::{GoalClock, GoalOutcome, MAX_WARNINGS};
pub use tenant::{EngineSettings, TenantEngine};
pub use ticket::{FiredAlert, Ticket};
pub use view::{GoalView, TicketView};
