//! Exchange partners (DESIGN.md §7): every stopped goal goes to each partner serving its
//! tenant through a partner outbox in the store, delivered by a per-partner worker behind a
//! rate limit and a circuit breaker; a nightly reconciliation compares both sides, repairs
//! what differs and keeps a report.

pub mod auth;
pub mod client;
pub mod config;
pub mod link;
pub mod mapping;
pub mod mask;

pub use auth::Authenticator;
pub use client::{CallError, ErrorClass, Page, PartnerClient};
pub use config::PartnerConfig;
pub use mapping::Mapper;
