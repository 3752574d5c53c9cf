//! The actors of the service: one [`TenantSupervisor`] per tenant, created on the tenant's
//! first event and placed on one of a fixed set of arbiters (one per core) by
//! [`TenantPool`]. Each owns its tenant's [`TenantEngine`](crate::TenantEngine), fires its
//! timers with one scheduled wake-up, and hands alert changes to a bounded channel.
//!
//! # Layout
//! - `tenant`: the tenant actor: applies events, fires timers, answers reads, contains panics.
//! - `pool`: placement of tenant actors on arbiters and routing of messages to them.
//! - `messages`: the actors' messages and answers.

mod messages;
mod pool;
mod tenant;

pub use messages::{
    Applied, ApplyBatch, ApplyEvent, BatchApplied, Inspect, Queued, Retire, TakeSnapshot,
};
pub use pool::{PoolError, PoolStats, TenantPool};
pub use tenant::{AlertBatch, TenantStats, TenantSupervisor};
