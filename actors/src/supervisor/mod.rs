//! The actors of the service: one [`TenantSupervisor`] per tenant, created on the tenant's
//! first event and placed on one of a fixed set of arbiters (one per core) by
//! [`TenantPool`]. Each owns its tenant's [`TenantEngine`](crate::TenantEngine), fires its
//! timers with one scheduled wake-up, and hands alert changes to a bounded channel.

mod messages;
mod pool;
mod tenant;

pub use messages::{Applied, ApplyBatch, ApplyEvent, BatchApplied, Inspect};
pub use pool::{PoolError, PoolStats, TenantPool};
pub use tenant::{AlertBatch, TenantStats, TenantSupervisor};
