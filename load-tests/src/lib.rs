//! Load tools for Vigil: deterministic event generators for benchmarks, demos and soak tests.
//!
//! # Layout
//! - [`rng`]: a small seeded pseudo-random generator (reproducible workloads).
//! - [`workload`]: the SLA workload generator (tenants, tickets, realistic lifecycles).

pub mod rng;
pub mod workload;
