//! The SLA engine proper: tickets, goal clocks, timers and alert state of one tenant.

mod finals;
mod goal;
mod interner;
mod tenant;
mod ticket;
mod view;

#[cfg(test)]
mod tests;

pub use goal::{GoalClock, GoalOutcome, MAX_WARNINGS};
pub use tenant::{EngineSettings, TenantEngine};
pub use ticket::Ticket;
pub use view::{GoalView, TicketView};
